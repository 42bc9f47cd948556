//! What a practice session's devices on one node missed during a relay gap: the chord played
//! since then and practice runs started or ended since then, as the frames live delivery
//! sends, keyed the same way so nothing a device already has is sent again.
//!
//! The chord's player is not stored; a caught-up `chord_change` names the session's owner (the
//! phone and the PC usually sign in as the owner).

use chrono::SecondsFormat;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::protocol::{self, ChordOut};
use crate::db::Db;
use crate::hub::{CatchUp, Event, Target, Topic};
use crate::services::guitar;

/// Reads guitar sessions back from the database.
pub struct GuitarCatchUp {
    /// Where sessions are stored.
    pub db: Db,
}

impl CatchUp for GuitarCatchUp {
    fn since(
        &self,
        topic: &Topic,
        since_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<(Event, Target)>, String>> {
        let (db, id) = (self.db.clone(), topic.key().to_string());
        async move {
            let since = crate::time::from_unix_ms(since_ms);
            let Some((session, logs)) = guitar::changes_since(&db, id, since)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            if let (Some(chord), Some(at)) = (&session.current_chord, session.chord_at) {
                if at >= since {
                    let frame = ChordOut {
                        chord,
                        user_id: session.owner_id,
                        timestamp: at.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true),
                    };
                    let event = Event::text(protocol::text("chord_change", frame))
                        .stored(super::CHORD, at.and_utc().timestamp_micros());
                    out.push((event, Target::All));
                }
            }
            for log in logs {
                if log.started_at >= since {
                    let event = super::practice_event("started", log.started_at)
                        .stored(super::PRACTICE_STARTED, log.id);
                    out.push((event, Target::All));
                }
                if let Some(end) = log.ended_at.filter(|e| *e >= since) {
                    let event =
                        super::practice_event("ended", end).stored(super::PRACTICE_ENDED, log.id);
                    out.push((event, Target::All));
                }
            }
            Ok(out)
        }
        .boxed()
    }
}
