//! Chat room operations (seeds/003).

use chrono::Utc;

use crate::db::chat_message::{self, ChatMessage, NewChatMessage};
use crate::db::Db;
use crate::error::DbError;

/// Stores a message for `room` by `user_id`/`user_name`; returns it with its id and time.
pub async fn post(
    db: &Db,
    room: String,
    user_id: Option<i64>,
    user_name: String,
    body: String,
) -> Result<ChatMessage, DbError> {
    db.run(move |conn| {
        chat_message::insert(
            conn,
            &NewChatMessage {
                room: &room,
                user_id,
                user_name: &user_name,
                body: &body,
                created_at: Utc::now().naive_utc(),
            },
        )
    })
    .await
}

/// The newest `limit` messages of `room`, oldest first.
pub async fn history(db: &Db, room: String, limit: i64) -> Result<Vec<ChatMessage>, DbError> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    db.run(move |conn| chat_message::recent(conn, &room, limit))
        .await
}
