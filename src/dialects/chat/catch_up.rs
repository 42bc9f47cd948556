//! What a chat room's members on one node missed during a relay gap: the messages stored in
//! the room since then, as the same frames live delivery sends, keyed by message id.

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::protocol::ChatOut;
use crate::db::Db;
use crate::hub::{CatchUp, Event, Target, Topic};
use crate::services;

/// Reads chat rooms back from the database.
pub struct ChatCatchUp {
    /// Where messages are stored.
    pub db: Db,
}

impl CatchUp for ChatCatchUp {
    fn since(
        &self,
        topic: &Topic,
        since_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<(Event, Target)>, String>> {
        let (db, room) = (self.db.clone(), topic.key().to_string());
        async move {
            let since = crate::time::from_unix_ms(since_ms);
            let messages = services::chat::since(&db, room, since)
                .await
                .map_err(|e| e.to_string())?;
            Ok(messages
                .iter()
                .map(|m| {
                    let event = Event::json(&ChatOut::of(m, false)).with_key(m.id);
                    (event, Target::All)
                })
                .collect())
        }
        .boxed()
    }
}
