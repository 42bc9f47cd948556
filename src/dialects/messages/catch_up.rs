//! What messaging sockets on one node missed during a relay gap: messages sent and read since
//! then (`new_message`, `message_read`, keyed as live events are, so what a socket already has
//! is dropped), followed by the recipients' current unread counts.

use std::sync::Arc;

use chrono::NaiveDateTime;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::{notify, protocol};
use crate::db::Db;
use crate::hub::{CatchUp, Event, Target, Topic};
use crate::services::messages::{self, MessageView};

/// Reads `user:` and `community:` topics back from the database.
pub struct MessagesCatchUp {
    /// Where messages are stored.
    pub db: Db,
}

fn at(stamp: Option<&str>) -> Option<NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(stamp?)
        .ok()
        .map(|t| t.naive_utc())
}

impl CatchUp for MessagesCatchUp {
    fn since(
        &self,
        topic: &Topic,
        since_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<(Event, Target)>, String>> {
        let db = self.db.clone();
        let (namespace, key) = (topic.namespace().to_string(), topic.key().parse::<i64>());
        async move {
            let id = key.map_err(|_| "topic key is not an id".to_string())?;
            let community = (namespace == "community").then_some(id);
            let user = community.is_none().then_some(id);
            let since = crate::time::from_unix_ms(since_ms);
            let (views, counts) = messages::changes_since(&db, user, community, since)
                .await
                .map_err(|e| e.to_string())?;
            // Stored times are shown to the second: an event of the gap's first second may be
            // one already delivered, which its key then drops.
            let from = since.and_utc().timestamp();
            let mut changes: Vec<(NaiveDateTime, Event, &MessageView)> = Vec::new();
            for view in &views {
                for (time, event) in [
                    (at(Some(&view.created_at)), notify::new_message_event(view)),
                    (
                        at(view.read_at.as_deref()),
                        notify::message_read_event(view),
                    ),
                ] {
                    if let Some(t) = time.filter(|t| t.and_utc().timestamp() >= from) {
                        changes.push((t, event, view));
                    }
                }
            }
            changes.sort_by_key(|(t, _, _)| *t);
            let people = |v: &MessageView| {
                Target::Users(vec![
                    Arc::from(v.sender.id.to_string()),
                    Arc::from(v.recipient.id.to_string()),
                ])
            };
            let mut out: Vec<(Event, Target)> = changes
                .into_iter()
                .map(|(_, event, view)| match community {
                    Some(_) => (event, people(view)),
                    None => (event, Target::All),
                })
                .collect();
            if !out.is_empty() {
                for (recipient, count) in counts {
                    let frame = Event::text(protocol::unread(count, community));
                    let target = match community {
                        Some(_) => Target::Users(vec![Arc::from(recipient.to_string())]),
                        None => Target::All,
                    };
                    out.push((frame, target));
                }
            }
            Ok(out)
        }
        .boxed()
    }
}
