//! Chat messages (seeds/003): appended by the chat service, read back as history on join.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::chat_messages;
use super::DbConnection;
use crate::error::DbError;

/// One stored chat message.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_messages)]
pub struct ChatMessage {
    /// Increasing id; also orders history and de-duplicates it against live events.
    pub id: i64,
    /// The room name (without the `chat:` topic prefix).
    pub room: String,
    /// The author's user id, `None` for anonymous members.
    pub user_id: Option<i64>,
    /// The author's display name at the time of writing.
    pub user_name: String,
    /// The text as sent.
    pub body: String,
    /// When it was stored (UTC).
    pub created_at: NaiveDateTime,
}

/// What the chat service stores; the id and time come from the database and the clock.
///
/// `None` is written as NULL rather than as SQL `DEFAULT`: SQLite has no `DEFAULT` in a
/// multi-row `VALUES` list, and only without it does a batch become one statement.
#[derive(Debug, Insertable)]
#[diesel(table_name = chat_messages, treat_none_as_default_value = false)]
pub struct NewChatMessage<'a> {
    /// See [`ChatMessage::room`].
    pub room: &'a str,
    /// See [`ChatMessage::user_id`].
    pub user_id: Option<i64>,
    /// See [`ChatMessage::user_name`].
    pub user_name: &'a str,
    /// See [`ChatMessage::body`].
    pub body: &'a str,
    /// See [`ChatMessage::created_at`].
    pub created_at: NaiveDateTime,
}

/// Stores messages with one statement and returns their ids, in the order given.
///
/// One statement rather than one per row: building and binding a statement through diesel
/// cost more than SQLite's own work when chat messages were inserted one by one, and only the
/// ids come back, not copies of the text the caller already holds (both measured in the
/// fan-out benchmark, BENCHMARKS.md).
pub fn insert_many(
    conn: &mut DbConnection,
    rows: &[NewChatMessage<'_>],
) -> Result<Vec<i64>, DbError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let insert = || {
        diesel::insert_into(chat_messages::table)
            .values(rows)
            .returning(chat_messages::id)
    };
    // Per backend: the multi-backend connection cannot express a multi-row insert.
    let mut ids: Vec<i64> = match conn {
        DbConnection::Pg(c) => insert().get_results(c)?,
        DbConnection::Sqlite(c) => insert().get_results(c)?,
    };
    // RETURNING's row order is not promised by either database; ids are given in order.
    ids.sort_unstable();
    Ok(ids)
}

/// Messages of `room` stored at or after `since`, oldest first, at most `limit`.
pub fn since(
    conn: &mut DbConnection,
    room: &str,
    since: chrono::NaiveDateTime,
    limit: i64,
) -> Result<Vec<ChatMessage>, DbError> {
    Ok(chat_messages::table
        .filter(chat_messages::room.eq(room))
        .filter(chat_messages::created_at.ge(since))
        .order(chat_messages::id)
        .limit(limit)
        .select(ChatMessage::as_select())
        .load(conn)?)
}

/// Messages of `room` stored after the message `after_id`, oldest first, at most `limit`.
pub fn after(
    conn: &mut DbConnection,
    room: &str,
    after_id: i64,
    limit: i64,
) -> Result<Vec<ChatMessage>, DbError> {
    Ok(chat_messages::table
        .filter(chat_messages::room.eq(room))
        .filter(chat_messages::id.gt(after_id))
        .order(chat_messages::id)
        .limit(limit)
        .select(ChatMessage::as_select())
        .load(conn)?)
}

/// The newest `limit` messages of `room`, returned oldest first (the order they are replayed).
pub fn recent(
    conn: &mut DbConnection,
    room: &str,
    limit: i64,
) -> Result<Vec<ChatMessage>, DbError> {
    let mut rows: Vec<ChatMessage> = chat_messages::table
        .filter(chat_messages::room.eq(room))
        .order(chat_messages::id.desc())
        .limit(limit)
        .select(ChatMessage::as_select())
        .load(conn)?;
    rows.reverse();
    Ok(rows)
}
