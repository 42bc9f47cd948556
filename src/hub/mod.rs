//! The dialect-agnostic core: sessions, rooms, the registry, and what flows between them.
//!
//! Nothing here names a dialect. Dialects choose topics (namespaced names), serialize their
//! events once into [`Event`]s, and decide who receives them with a [`Target`]; the core does
//! membership, presence, numbering, catch-up, delivery and slow-reader eviction. Dialects and
//! services publish through one door, the [`Hub`] handle; only the hub knows rooms, the
//! registry, the relay and presence.

pub mod catch_up;
pub mod conn;
#[cfg(test)]
mod contract_tests;
pub mod event;
pub mod frame;
pub mod handle;
pub mod handshake;
pub mod inbox;
pub mod limits;
pub mod parking;
pub mod presence;
pub mod registry;
pub mod room;
pub mod seen;
pub mod sequence;
pub mod session;
pub mod topic;
pub mod transport;
pub mod watch;

pub use catch_up::CatchUp;
pub use event::{Announce, AnnounceWhen, Event, Said, Target, UserRef};
pub use handle::Hub;
pub use session::{Ctx, Dialect, Session, SessionCore};
pub use topic::Topic;
pub use watch::PresenceWatch;
