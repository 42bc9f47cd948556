//! Messages, communities and memberships (seeds/000).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::DbConnection;
use crate::error::DbError;

diesel::table! {
    /// Groups of users that message each other within the group.
    communities (id) {
        id -> BigInt,
        name -> Text,
        created_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Who belongs to which community.
    community_members (community_id, user_id) {
        community_id -> BigInt,
        user_id -> BigInt,
        joined_at -> Timestamp,
    }
}

diesel::table! {
    /// Direct messages, optionally within a community. Read when `read_at` is set.
    messages (id) {
        id -> BigInt,
        sender_id -> BigInt,
        recipient_id -> BigInt,
        community_id -> Nullable<BigInt>,
        subject -> Text,
        body -> Text,
        read_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(community_members -> communities (community_id));
diesel::allow_tables_to_appear_in_same_query!(communities, community_members, messages, users);

/// A stored message.
#[derive(Debug, Clone, Queryable)]
pub struct Message {
    /// Increasing id; the list cursor.
    pub id: i64,
    /// Author.
    pub sender_id: i64,
    /// Addressee; the only one who may mark it read.
    pub recipient_id: i64,
    /// The community it was sent in, if any.
    pub community_id: Option<i64>,
    /// Subject line.
    pub subject: String,
    /// Text.
    pub body: String,
    /// First time the recipient read it.
    pub read_at: Option<NaiveDateTime>,
    /// When it was sent.
    pub created_at: NaiveDateTime,
    /// Last change (sending or reading).
    pub updated_at: NaiveDateTime,
}

/// A stored community.
#[derive(Debug, Clone, Queryable)]
pub struct Community {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Its creator (a member from the start).
    pub created_by: i64,
    /// When it was created.
    pub created_at: NaiveDateTime,
}

/// What a new message consists of.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Author.
    pub sender_id: i64,
    /// Addressee.
    pub recipient_id: i64,
    /// Community, if any.
    pub community_id: Option<i64>,
    /// Subject line.
    pub subject: String,
    /// Text.
    pub body: String,
}

/// Stores a message.
pub fn insert(
    conn: &mut DbConnection,
    new: &NewMessage,
    now: NaiveDateTime,
) -> Result<Message, DbError> {
    Ok(diesel::insert_into(messages::table)
        .values((
            messages::sender_id.eq(new.sender_id),
            messages::recipient_id.eq(new.recipient_id),
            messages::community_id.eq(new.community_id),
            messages::subject.eq(&new.subject),
            messages::body.eq(&new.body),
            messages::created_at.eq(now),
            messages::updated_at.eq(now),
        ))
        .returning(messages::all_columns)
        .get_result(conn)?)
}

/// A message by id.
pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<Message>, DbError> {
    Ok(messages::table.find(id).first(conn).optional()?)
}

/// Sets `read_at` the first time only; later calls change nothing.
pub fn mark_read(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(messages::table.find(id).filter(messages::read_at.is_null()))
        .set((messages::read_at.eq(now), messages::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Unread messages addressed to `user`, overall or in one community (served by the partial
/// index `messages_unread`).
pub fn unread_count(
    conn: &mut DbConnection,
    user: i64,
    community: Option<i64>,
) -> Result<i64, DbError> {
    let mut query = messages::table
        .filter(messages::recipient_id.eq(user))
        .filter(messages::read_at.is_null())
        .into_boxed();
    if let Some(c) = community {
        query = query.filter(messages::community_id.eq(c));
    }
    Ok(query.count().get_result(conn)?)
}

/// Which of a user's messages to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    /// Only ids below this (the cursor).
    pub before: Option<i64>,
    /// Only this community's.
    pub community: Option<i64>,
    /// Only unread messages addressed to the user.
    pub unread: bool,
}

/// The user's newest `limit` messages, sent and received, newest first. Two index walks (by
/// recipient and by sender, each newest first) merged here, instead of one OR that would make
/// the database scan every message.
pub fn newest(
    conn: &mut DbConnection,
    user: i64,
    filter: ListFilter,
    limit: i64,
) -> Result<Vec<Message>, DbError> {
    let side = |conn: &mut DbConnection, received: bool| -> Result<Vec<Message>, DbError> {
        let mut q = messages::table.into_boxed();
        q = if received {
            q.filter(messages::recipient_id.eq(user))
        } else {
            q.filter(messages::sender_id.eq(user))
        };
        if let Some(before) = filter.before {
            q = q.filter(messages::id.lt(before));
        }
        if let Some(c) = filter.community {
            q = q.filter(messages::community_id.eq(c));
        }
        if filter.unread {
            q = q.filter(messages::read_at.is_null());
        }
        Ok(q.order(messages::id.desc()).limit(limit).load(conn)?)
    };
    let mut rows = side(conn, true)?;
    if !filter.unread {
        rows.extend(side(conn, false)?);
    }
    rows.sort_by_key(|m| std::cmp::Reverse(m.id));
    rows.dedup_by_key(|m| m.id);
    rows.truncate(limit.max(0) as usize);
    Ok(rows)
}

/// Messages sent or read from `since` on, oldest first, at most `limit`: those to or from
/// `user`, or those of `community`.
pub fn changed_since(
    conn: &mut DbConnection,
    user: Option<i64>,
    community: Option<i64>,
    since: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Message>, DbError> {
    let mut q = messages::table
        .filter(
            messages::created_at
                .ge(since)
                .or(messages::read_at.ge(since)),
        )
        .into_boxed();
    if let Some(u) = user {
        q = q.filter(messages::sender_id.eq(u).or(messages::recipient_id.eq(u)));
    }
    if let Some(c) = community {
        q = q.filter(messages::community_id.eq(c));
    }
    Ok(q.order(messages::id).limit(limit).load(conn)?)
}

/// Names of the given users.
pub fn user_names(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<(i64, String)>, DbError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::name))
        .load(conn)?)
}

/// Whether a user row exists.
pub fn user_exists(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    let n: i64 = users::table
        .filter(users::id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Creates a community with its creator as the first member.
pub fn create_community(
    conn: &mut DbConnection,
    name: &str,
    creator: i64,
    now: NaiveDateTime,
) -> Result<Community, DbError> {
    conn.transaction(|conn| {
        let community: Community = diesel::insert_into(communities::table)
            .values((
                communities::name.eq(name),
                communities::created_by.eq(creator),
                communities::created_at.eq(now),
            ))
            .returning(communities::all_columns)
            .get_result(conn)?;
        add_member(conn, community.id, creator, now)?;
        Ok(community)
    })
}

/// A community by id.
pub fn find_community(conn: &mut DbConnection, id: i64) -> Result<Option<Community>, DbError> {
    Ok(communities::table.find(id).first(conn).optional()?)
}

/// Communities by id (for message views).
pub fn communities_by_id(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<Community>, DbError> {
    Ok(communities::table
        .filter(communities::id.eq_any(ids))
        .load(conn)?)
}

/// Whether `user` belongs to `community`.
pub fn is_member(conn: &mut DbConnection, community: i64, user: i64) -> Result<bool, DbError> {
    let n: i64 = community_members::table
        .filter(community_members::community_id.eq(community))
        .filter(community_members::user_id.eq(user))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Adds a member; false when they already were one.
pub fn add_member(
    conn: &mut DbConnection,
    community: i64,
    user: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    if is_member(conn, community, user)? {
        return Ok(false);
    }
    diesel::insert_into(community_members::table)
        .values((
            community_members::community_id.eq(community),
            community_members::user_id.eq(user),
            community_members::joined_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// The communities `user` belongs to, oldest first.
pub fn communities_of(conn: &mut DbConnection, user: i64) -> Result<Vec<Community>, DbError> {
    Ok(communities::table
        .inner_join(community_members::table)
        .filter(community_members::user_id.eq(user))
        .select(communities::all_columns)
        .order(communities::id)
        .load(conn)?)
}
