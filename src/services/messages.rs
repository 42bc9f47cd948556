//! Messaging operations (seeds/000): one function per operation, called by the REST handlers
//! and the WebSocket alike. Each commits before returning; callers publish afterwards.

use std::collections::HashMap;

use chrono::Utc;
use diesel::Connection;
use serde::Serialize;

use crate::db::messages::{self as store, Community, ListFilter, Message, NewMessage};
use crate::db::{Db, DbConnection};
use crate::error::{ApiError, DbError};
use crate::time::rfc3339;

/// Longest subject, in characters.
pub const MAX_SUBJECT: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY: usize = 10_000;
/// Largest page of the message list.
pub const MAX_LIMIT: i64 = 100;

/// Why a messaging operation was refused. `code` is the machine code sockets send.
#[derive(Debug, thiserror::Error)]
pub enum MessagesError {
    /// Unknown — or not visible to this user.
    #[error("{0}")]
    NotFound(&'static str),
    /// Visible but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Input that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl MessagesError {
    /// The `code` of a socket error frame.
    pub fn code(&self) -> &'static str {
        match self {
            MessagesError::NotFound(_) => "not_found",
            MessagesError::Forbidden(_) => "forbidden",
            MessagesError::Invalid(_) => "invalid_field",
            MessagesError::Db(_) => "internal_error",
        }
    }
}

impl From<diesel::result::Error> for MessagesError {
    fn from(e: diesel::result::Error) -> MessagesError {
        MessagesError::Db(e.into())
    }
}

impl From<MessagesError> for ApiError {
    fn from(e: MessagesError) -> ApiError {
        match e {
            MessagesError::NotFound(m) => ApiError::NotFound(m.into()),
            MessagesError::Forbidden(m) => ApiError::Forbidden(m.into()),
            MessagesError::Invalid(m) => ApiError::Unprocessable(m),
            MessagesError::Db(db) => db.into(),
        }
    }
}

/// A user inside a message, as a Django REST framework serializer of seeds/000's user model
/// shows one: clients written against it read `username`, others `name`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Name as last seen in a token (`name`, `username` or `preferred_username`); a token
    /// without one keeps the stored name.
    pub name: String,
    /// The same name again: the hub keeps one name per user, and a Django client reads this
    /// field for it.
    pub username: String,
}

/// A community as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommunityView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A community with its details (REST).
#[derive(Debug, Clone, Serialize)]
pub struct CommunityDetail {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Its creator.
    pub created_by: i64,
    /// RFC 3339.
    pub created_at: String,
}

/// A message as REST returns it and `new_message` carries it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    /// Id.
    pub id: i64,
    /// Author.
    pub sender: UserView,
    /// Addressee.
    pub recipient: UserView,
    /// The community, or `null`.
    pub community: Option<CommunityView>,
    /// Subject line.
    pub subject: String,
    /// Text.
    pub body: String,
    /// Whether the recipient read it.
    pub is_read: bool,
    /// When first read, or `null`.
    pub read_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What an event about a message needs: the message and the recipient's fresh unread counts.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message as stored.
    pub message: MessageView,
    /// The recipient's unread messages, overall.
    pub recipient_unread: i64,
    /// The recipient's unread messages in the message's community, if it has one.
    pub recipient_unread_in_community: Option<i64>,
}

/// A page of the message list.
#[derive(Debug, Serialize)]
pub struct Page {
    /// Newest first.
    pub results: Vec<MessageView>,
    /// The id to pass as `before` for the next page, `null` on the last.
    pub next_before: Option<i64>,
}

/// What `POST /api/messages/` takes.
#[derive(Debug, Clone)]
pub struct Compose {
    /// Addressee.
    pub recipient_id: i64,
    /// Community, if any.
    pub community_id: Option<i64>,
    /// Subject line (0–200 characters).
    pub subject: String,
    /// Text (1–10 000 characters).
    pub body: String,
}

fn views(conn: &mut DbConnection, rows: Vec<Message>) -> Result<Vec<MessageView>, DbError> {
    let mut user_ids: Vec<i64> = rows
        .iter()
        .flat_map(|m| [m.sender_id, m.recipient_id])
        .collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let names: HashMap<i64, String> = store::user_names(conn, &user_ids)?.into_iter().collect();
    let mut community_ids: Vec<i64> = rows.iter().filter_map(|m| m.community_id).collect();
    community_ids.sort_unstable();
    community_ids.dedup();
    let communities: HashMap<i64, Community> = store::communities_by_id(conn, &community_ids)?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let user = |id: i64| {
        let name = names.get(&id).cloned().unwrap_or_default();
        UserView {
            id,
            username: name.clone(),
            name,
        }
    };
    Ok(rows
        .into_iter()
        .map(|m| MessageView {
            id: m.id,
            sender: user(m.sender_id),
            recipient: user(m.recipient_id),
            community: m
                .community_id
                .and_then(|c| communities.get(&c))
                .map(|c| CommunityView {
                    id: c.id,
                    name: c.name.clone(),
                }),
            subject: m.subject,
            body: m.body,
            is_read: m.read_at.is_some(),
            read_at: m.read_at.map(rfc3339),
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        })
        .collect())
}

fn one_view(conn: &mut DbConnection, message: Message) -> Result<MessageView, DbError> {
    Ok(views(conn, vec![message])?.remove(0))
}

fn delivery(conn: &mut DbConnection, message: Message) -> Result<Delivery, DbError> {
    let recipient_unread = store::unread_count(conn, message.recipient_id, None)?;
    let recipient_unread_in_community = match message.community_id {
        Some(c) => Some(store::unread_count(conn, message.recipient_id, Some(c))?),
        None => None,
    };
    Ok(Delivery {
        message: one_view(conn, message)?,
        recipient_unread,
        recipient_unread_in_community,
    })
}

/// A community `user` may use: 404 unknown, 403 not a member.
fn member_of(
    conn: &mut DbConnection,
    community: i64,
    user: i64,
) -> Result<Community, MessagesError> {
    let found = store::find_community(conn, community)?
        .ok_or(MessagesError::NotFound("community not found"))?;
    if !store::is_member(conn, community, user)? {
        return Err(MessagesError::Forbidden("not a member of this community"));
    }
    Ok(found)
}

/// Sends a message.
pub async fn create_message(
    db: &Db,
    sender: i64,
    compose: Compose,
) -> Result<Delivery, MessagesError> {
    let subject_len = compose.subject.chars().count();
    let body_len = compose.body.chars().count();
    if subject_len > MAX_SUBJECT {
        return Err(MessagesError::Invalid(format!(
            "subject must be at most {MAX_SUBJECT} characters"
        )));
    }
    if body_len == 0 || body_len > MAX_BODY {
        return Err(MessagesError::Invalid(format!(
            "body must be 1 to {MAX_BODY} characters"
        )));
    }
    let now = Utc::now().naive_utc();
    db.run(move |conn| {
        conn.transaction(|conn| {
            if !store::user_exists(conn, compose.recipient_id)? {
                return Err(MessagesError::NotFound("recipient not found"));
            }
            if let Some(c) = compose.community_id {
                if store::find_community(conn, c)?.is_none() {
                    return Err(MessagesError::NotFound("community not found"));
                }
                if !store::is_member(conn, c, sender)?
                    || !store::is_member(conn, c, compose.recipient_id)?
                {
                    return Err(MessagesError::Forbidden(
                        "sender and recipient must both be members of the community",
                    ));
                }
            }
            let new = NewMessage {
                sender_id: sender,
                recipient_id: compose.recipient_id,
                community_id: compose.community_id,
                subject: compose.subject,
                body: compose.body,
            };
            let stored = store::insert(conn, &new, now)?;
            Ok(delivery(conn, stored)?)
        })
    })
    .await
}

/// A message visible to `user` (sender or recipient); others get "not found".
fn visible(conn: &mut DbConnection, id: i64, user: i64) -> Result<Message, MessagesError> {
    store::find(conn, id)?
        .filter(|m| m.sender_id == user || m.recipient_id == user)
        .ok_or(MessagesError::NotFound("message not found"))
}

/// One message, for its sender or recipient.
pub async fn get_message(db: &Db, user: i64, id: i64) -> Result<MessageView, MessagesError> {
    db.run(move |conn| {
        let message = visible(conn, id, user)?;
        Ok(one_view(conn, message)?)
    })
    .await
}

/// Marks a message read (recipient only; the first read time is kept).
pub async fn mark_read(db: &Db, user: i64, id: i64) -> Result<Delivery, MessagesError> {
    let now = Utc::now().naive_utc();
    db.run(move |conn| {
        let message = visible(conn, id, user)?;
        if message.recipient_id != user {
            return Err(MessagesError::Forbidden(
                "only the recipient can mark a message read",
            ));
        }
        store::mark_read(conn, message.id, now)?;
        let stored = store::find(conn, message.id)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
        Ok(delivery(conn, stored)?)
    })
    .await
}

/// The user's unread messages, overall or in a community they belong to.
pub async fn unread_count(
    db: &Db,
    user: i64,
    community: Option<i64>,
) -> Result<i64, MessagesError> {
    db.run(move |conn| {
        if let Some(c) = community {
            member_of(conn, c, user)?;
        }
        Ok(store::unread_count(conn, user, community)?)
    })
    .await
}

/// Messages sent or read from `since` on (to or from `user`, or in `community`), as views,
/// oldest first, with the recipients' current unread counts (in the community when one is
/// given): what a relay gap may have kept from sockets on other nodes.
pub async fn changes_since(
    db: &Db,
    user: Option<i64>,
    community: Option<i64>,
    since: chrono::NaiveDateTime,
) -> Result<(Vec<MessageView>, Vec<(i64, i64)>), MessagesError> {
    db.run(move |conn| {
        let rows = store::changed_since(conn, user, community, since, MAX_LIMIT * 10)?;
        let mut recipients: Vec<i64> = rows.iter().map(|m| m.recipient_id).collect();
        recipients.sort_unstable();
        recipients.dedup();
        recipients.retain(|r| user.is_none_or(|u| u == *r));
        let counts = recipients
            .into_iter()
            .map(|r| Ok((r, store::unread_count(conn, r, community)?)))
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok((views(conn, rows)?, counts))
    })
    .await
}

/// A page of the user's messages, newest first.
pub async fn list_messages(
    db: &Db,
    user: i64,
    filter: ListFilter,
    limit: i64,
) -> Result<Page, MessagesError> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(MessagesError::Invalid(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    db.run(move |conn| {
        if let Some(c) = filter.community {
            member_of(conn, c, user)?;
        }
        let mut rows = store::newest(conn, user, filter, limit + 1)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_before = if more {
            rows.last().map(|m| m.id)
        } else {
            None
        };
        Ok(Page {
            results: views(conn, rows)?,
            next_before,
        })
    })
    .await
}

/// Whether `user` may open a socket on `community` (404 unknown, 403 not a member).
pub async fn community_access(db: &Db, user: i64, community: i64) -> Result<(), MessagesError> {
    db.run(move |conn| member_of(conn, community, user).map(|_| ()))
        .await
}

fn community_detail(c: Community) -> CommunityDetail {
    CommunityDetail {
        id: c.id,
        name: c.name,
        created_by: c.created_by,
        created_at: rfc3339(c.created_at),
    }
}

/// Creates a community; its creator becomes a member.
pub async fn create_community(
    db: &Db,
    creator: i64,
    name: String,
) -> Result<CommunityDetail, MessagesError> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(MessagesError::Invalid(
            "name must be 1 to 100 characters".into(),
        ));
    }
    let now = Utc::now().naive_utc();
    db.run(
        move |conn| Ok(store::create_community(conn, &name, creator, now).map(community_detail)?),
    )
    .await
}

/// The communities the user belongs to.
pub async fn list_communities(db: &Db, user: i64) -> Result<Vec<CommunityDetail>, MessagesError> {
    db.run(move |conn| {
        Ok(store::communities_of(conn, user)?
            .into_iter()
            .map(community_detail)
            .collect())
    })
    .await
}

/// Adds `new_member` to a community the caller belongs to; true when newly added.
pub async fn add_member(
    db: &Db,
    caller: i64,
    community: i64,
    new_member: i64,
) -> Result<bool, MessagesError> {
    let now = Utc::now().naive_utc();
    db.run(move |conn| {
        member_of(conn, community, caller)?;
        if !store::user_exists(conn, new_member)? {
            return Err(MessagesError::NotFound("user not found"));
        }
        Ok(store::add_member(conn, community, new_member, now)?)
    })
    .await
}
