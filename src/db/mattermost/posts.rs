//! Posts and a channel's pages of them.

use diesel::prelude::*;

use super::{mm_posts, Post};
use crate::db::DbConnection;
use crate::error::DbError;

/// Stores a post.
pub fn insert(conn: &mut DbConnection, p: &Post) -> Result<(), DbError> {
    diesel::insert_into(mm_posts::table)
        .values((
            mm_posts::id.eq(&p.id),
            mm_posts::channel_id.eq(&p.channel_id),
            mm_posts::user_id.eq(&p.user_id),
            mm_posts::root_id.eq(&p.root_id),
            mm_posts::message.eq(&p.message),
            mm_posts::kind.eq(&p.kind),
            mm_posts::props.eq(&p.props),
            mm_posts::hashtags.eq(&p.hashtags),
            mm_posts::pending_post_id.eq(&p.pending_post_id),
            mm_posts::is_pinned.eq(p.is_pinned),
            mm_posts::create_at.eq(p.create_at),
            mm_posts::update_at.eq(p.update_at),
            mm_posts::edit_at.eq(p.edit_at),
            mm_posts::delete_at.eq(p.delete_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A post by id, deleted or not.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Post>, DbError> {
    Ok(mm_posts::table.find(id).first(conn).optional()?)
}

/// Writes back what an edit may change: message, props, pin, hashtags and the times.
pub fn update(conn: &mut DbConnection, p: &Post) -> Result<(), DbError> {
    diesel::update(mm_posts::table.find(&p.id))
        .set((
            mm_posts::message.eq(&p.message),
            mm_posts::props.eq(&p.props),
            mm_posts::hashtags.eq(&p.hashtags),
            mm_posts::is_pinned.eq(p.is_pinned),
            mm_posts::update_at.eq(p.update_at),
            mm_posts::edit_at.eq(p.edit_at),
            mm_posts::delete_at.eq(p.delete_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which posts of a channel a page holds.
#[derive(Debug, Clone, Copy)]
pub enum Window<'a> {
    /// Live posts, newest first, `limit` from `offset`.
    Page {
        /// Posts to skip.
        offset: i64,
        /// Most posts returned.
        limit: i64,
    },
    /// Posts changed (created, edited or deleted) after this Unix ms, deleted ones included.
    Since(i64),
    /// Live posts created before this one, newest first.
    Before(&'a Post, i64),
    /// Live posts created after this one, oldest first.
    After(&'a Post, i64),
}

/// A channel's posts in `window`. Ties in `create_at` are broken by id, so pages are stable.
pub fn in_channel(
    conn: &mut DbConnection,
    channel: &str,
    window: Window<'_>,
) -> Result<Vec<Post>, DbError> {
    let base = mm_posts::table
        .filter(mm_posts::channel_id.eq(channel))
        .into_boxed();
    let newest_first = (mm_posts::create_at.desc(), mm_posts::id.desc());
    Ok(match window {
        Window::Page { offset, limit } => base
            .filter(mm_posts::delete_at.eq(0))
            .order(newest_first)
            .offset(offset)
            .limit(limit)
            .load(conn)?,
        Window::Since(since) => base
            .filter(mm_posts::update_at.gt(since))
            .order(newest_first)
            .load(conn)?,
        Window::Before(post, limit) => base
            .filter(mm_posts::delete_at.eq(0))
            .filter(
                mm_posts::create_at
                    .lt(post.create_at)
                    .or(mm_posts::create_at
                        .eq(post.create_at)
                        .and(mm_posts::id.lt(post.id.clone()))),
            )
            .order(newest_first)
            .limit(limit)
            .load(conn)?,
        Window::After(post, limit) => base
            .filter(mm_posts::delete_at.eq(0))
            .filter(
                mm_posts::create_at
                    .gt(post.create_at)
                    .or(mm_posts::create_at
                        .eq(post.create_at)
                        .and(mm_posts::id.gt(post.id.clone()))),
            )
            .order((mm_posts::create_at.asc(), mm_posts::id.asc()))
            .limit(limit)
            .load(conn)?,
    })
}
