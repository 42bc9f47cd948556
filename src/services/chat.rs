//! Chat room operations (seeds/003).

use chrono::{SubsecRound, Utc};

use crate::db::chat_message::{self, ChatMessage, NewChatMessage};
use crate::db::Db;
use crate::error::DbError;

/// A chat message to store.
#[derive(Debug, Clone)]
pub struct NewPost {
    /// The room name.
    pub room: String,
    /// The author's id, `None` when anonymous.
    pub user_id: Option<i64>,
    /// The author's display name.
    pub user_name: String,
    /// The text.
    pub body: String,
}

/// Stores messages with one statement (all or none); returns them with ids and times, in the
/// same order.
pub async fn post_batch(db: &Db, posts: Vec<NewPost>) -> Result<Vec<ChatMessage>, DbError> {
    db.run(move |conn| {
        // To the microsecond, as PostgreSQL keeps it: what is returned is what history reads.
        let now = Utc::now().naive_utc().trunc_subsecs(6);
        let rows: Vec<NewChatMessage<'_>> = posts
            .iter()
            .map(|p| NewChatMessage {
                room: &p.room,
                user_id: p.user_id,
                user_name: &p.user_name,
                body: &p.body,
                created_at: now,
            })
            .collect();
        let ids = chat_message::insert_many(conn, &rows)?;
        drop(rows);
        Ok(posts
            .into_iter()
            .zip(ids)
            .map(|(p, id)| ChatMessage {
                id,
                room: p.room,
                user_id: p.user_id,
                user_name: p.user_name,
                body: p.body,
                created_at: now,
            })
            .collect())
    })
    .await
}

/// Most messages a catch-up after a relay gap reads back.
pub const CATCH_UP_LIMIT: i64 = 1000;

/// Messages of `room` stored from `since` on, oldest first (what a relay gap may have kept
/// from members on other nodes).
pub async fn since(
    db: &Db,
    room: String,
    since: chrono::NaiveDateTime,
) -> Result<Vec<ChatMessage>, DbError> {
    db.run(move |conn| chat_message::since(conn, &room, since, CATCH_UP_LIMIT))
        .await
}

/// Most messages replayed to a socket that resumes with `?since_id=`; a client further behind
/// must reload the room (it is closed with 4203).
pub const RESUME_LIMIT: i64 = 1_000;

/// What a member who last saw message `since_id` missed in `room`, oldest first; `None` when
/// that is more than [`RESUME_LIMIT`] messages.
pub async fn missed(
    db: &Db,
    room: String,
    since_id: i64,
) -> Result<Option<Vec<ChatMessage>>, DbError> {
    let rows = db
        .run(move |conn| chat_message::after(conn, &room, since_id, RESUME_LIMIT + 1))
        .await?;
    Ok((rows.len() as i64 <= RESUME_LIMIT).then_some(rows))
}

/// The newest `limit` messages of `room`, oldest first.
pub async fn history(db: &Db, room: String, limit: i64) -> Result<Vec<ChatMessage>, DbError> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    db.run(move |conn| chat_message::recent(conn, &room, limit))
        .await
}
