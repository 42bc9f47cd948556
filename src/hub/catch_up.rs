//! Catching up after a relay gap: what was committed while events could not cross between
//! nodes, read back from the database.
//!
//! Redis pub/sub keeps nothing: an event published while a node's link was down is gone for
//! that node. Every event worth keeping is committed before it is published, so the database
//! still has it. When a relay gets its link back it tells the registry (and every other node)
//! since when events may have been lost; each room then asks its dialect's [`CatchUp`] for what
//! was stored since that moment and delivers to its local members what they have not seen,
//! judged by the events' storage keys ([`super::Event::key`]), in the order the source gives.
//!
//! The hub does not know what a dialect stores: dialects register a source per topic
//! namespace at start ([`super::Hub::register_catch_up`]). Namespaces without one (broadcast,
//! whose events are never stored) have nothing to catch up.

use futures_util::future::BoxFuture;

use super::event::{Event, Target};
use super::topic::Topic;

/// What a dialect stored for a topic since a moment, as the events its members would have
/// received, oldest first, each with its storage key so repeats can be dropped. Events without
/// a key summarise the keyed ones before them (a fresh unread count): the room delivers them
/// only after at least one keyed event that was news.
pub trait CatchUp: Send + Sync + 'static {
    /// Events of `topic` committed at or after `since_ms` (Unix milliseconds).
    fn since(
        &self,
        topic: &Topic,
        since_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<(Event, Target)>, String>>;
}
