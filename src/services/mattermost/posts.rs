//! Posts: create, get, update, patch, delete, and a channel's pages.
//!
//! Writing takes channel membership; editing and deleting take authorship (the hub has no
//! system admins who could edit others' posts). Each change returns the post with its channel,
//! which is what the events about it carry.

use serde_json::Value;

use super::channels::{member_channel, readable_channel};
use super::views::{PostList, PostView};
use super::{is_id, new_id, now_ms, MmError};
use crate::db::mattermost::posts::{self as store, Window};
use crate::db::mattermost::{channels, Channel, Post};
use crate::db::{Db, DbConnection};

/// Mattermost's limit on a message (`PostMessageMaxRunesV2`), in characters.
pub const MAX_MESSAGE: usize = 16_383;
/// Default page size of `channels/{id}/posts`.
pub const DEFAULT_PER_PAGE: i64 = 60;
/// Largest page Mattermost serves.
pub const MAX_PER_PAGE: i64 = 200;

/// A post as it now is, with its channel: what REST returns and events are made of.
#[derive(Debug, Clone)]
pub struct PostChange {
    /// The post after the change.
    pub post: Post,
    /// Its channel.
    pub channel: Channel,
}

impl PostChange {
    /// The post as clients see it.
    pub fn view(&self) -> PostView {
        PostView::from(&self.post)
    }
}

/// What `POST posts` takes.
#[derive(Debug, Clone, Default)]
pub struct NewPost {
    /// The channel.
    pub channel_id: String,
    /// Text.
    pub message: String,
    /// Thread root, or empty.
    pub root_id: String,
    /// Props: a JSON object, or `null`.
    pub props: Value,
    /// The client's id for the post until it is stored.
    pub pending_post_id: String,
}

/// What `PUT posts/{id}` and `PUT posts/{id}/patch` change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct PostEdit {
    /// New text.
    pub message: Option<String>,
    /// Pin or unpin.
    pub is_pinned: Option<bool>,
    /// New props (an object).
    pub props: Option<Value>,
}

fn post_not_found() -> MmError {
    MmError::new("app.post.get.app_error", "Unable to get the post.", 404)
}

fn check_message(message: &str) -> Result<(), MmError> {
    if message.chars().count() > MAX_MESSAGE {
        return Err(MmError::new(
            "model.post.is_valid.message_length.app_error",
            format!("Post Message property is longer than the maximum permitted length of {MAX_MESSAGE} characters."),
            400,
        ));
    }
    Ok(())
}

fn props_text(props: &Value) -> Result<String, MmError> {
    match props {
        Value::Null => Ok("{}".into()),
        Value::Object(_) => Ok(props.to_string()),
        _ => Err(MmError::invalid_body("props")),
    }
}

/// Mattermost's hashtags: words of the message that start with `#` and a letter, trailing
/// punctuation removed, space-separated.
pub fn hashtags(message: &str) -> String {
    message
        .split_whitespace()
        .filter_map(|w| {
            let tag = w.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_');
            let rest = tag.strip_prefix('#')?;
            (rest.chars().next()?.is_alphabetic() && tag.chars().count() >= 3).then_some(tag)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `POST posts` → 201.
pub async fn create_post(db: &Db, me: String, new: NewPost) -> Result<PostChange, MmError> {
    check_message(&new.message)?;
    let props = props_text(&new.props)?;
    if !new.root_id.is_empty() && !is_id(&new.root_id) {
        return Err(MmError::invalid_param("root_id"));
    }
    db.run(move |conn| {
        let channel = member_channel(conn, &me, &new.channel_id)?;
        if !new.root_id.is_empty() {
            let root = store::find(conn, &new.root_id)?;
            if !root.is_some_and(|r| {
                r.channel_id == channel.id && r.root_id.is_empty() && r.delete_at == 0
            }) {
                return Err(MmError::new(
                    "api.post.create_post.root_id.app_error",
                    "Invalid RootId parameter.",
                    400,
                ));
            }
        }
        let now = now_ms();
        let post = Post {
            id: new_id(),
            channel_id: channel.id.clone(),
            user_id: me,
            root_id: new.root_id,
            hashtags: hashtags(&new.message),
            message: new.message,
            kind: String::new(),
            props,
            pending_post_id: new.pending_post_id,
            is_pinned: 0,
            create_at: now,
            update_at: now,
            edit_at: 0,
            delete_at: 0,
        };
        diesel::Connection::transaction(conn, |conn| {
            store::insert(conn, &post)?;
            channels::count_post(conn, &channel.id, now)
        })?;
        let mut channel = channel;
        channel.total_msg_count += 1;
        channel.last_post_at = now;
        Ok(PostChange { post, channel })
    })
    .await
}

/// A live post `me` may read, with its channel.
fn readable_post(conn: &mut DbConnection, me: &str, id: &str) -> Result<PostChange, MmError> {
    if !is_id(id) {
        return Err(MmError::invalid_param("post_id"));
    }
    let post = store::find(conn, id)?
        .filter(|p| p.delete_at == 0)
        .ok_or_else(post_not_found)?;
    let channel = readable_channel(conn, me, &post.channel_id).map_err(|e| {
        if e.status == 404 {
            post_not_found()
        } else {
            e
        }
    })?;
    Ok(PostChange { post, channel })
}

/// `GET posts/{id}`.
pub async fn get_post(db: &Db, me: String, id: String) -> Result<PostView, MmError> {
    db.run(move |conn| readable_post(conn, &me, &id).map(|c| c.view()))
        .await
}

/// `PUT posts/{id}` and `PUT posts/{id}/patch`: the author changes message, pin or props.
/// A changed message sets `edit_at`; any change sets `update_at`.
pub async fn edit_post(
    db: &Db,
    me: String,
    id: String,
    edit: PostEdit,
) -> Result<PostChange, MmError> {
    if let Some(m) = &edit.message {
        check_message(m)?;
    }
    let props = edit.props.as_ref().map(props_text).transpose()?;
    db.run(move |conn| {
        let mut change = readable_post(conn, &me, &id)?;
        if change.post.user_id != me {
            return Err(MmError::forbidden());
        }
        let now = now_ms();
        let post = &mut change.post;
        if let Some(message) = edit.message.filter(|m| *m != post.message) {
            post.hashtags = hashtags(&message);
            post.message = message;
            post.edit_at = now;
        }
        if let Some(pinned) = edit.is_pinned {
            post.is_pinned = i64::from(pinned);
        }
        if let Some(props) = props {
            post.props = props;
        }
        post.update_at = now;
        store::update(conn, post)?;
        Ok(change)
    })
    .await
}

/// `DELETE posts/{id}`: the author deletes; the post keeps its row with `delete_at` set.
pub async fn delete_post(db: &Db, me: String, id: String) -> Result<PostChange, MmError> {
    db.run(move |conn| {
        let mut change = readable_post(conn, &me, &id)?;
        if change.post.user_id != me {
            return Err(MmError::forbidden());
        }
        let now = now_ms();
        change.post.delete_at = now;
        change.post.update_at = now;
        store::update(conn, &change.post)?;
        Ok(change)
    })
    .await
}

/// Which page of `channels/{id}/posts`; Mattermost's precedence: `since`, then `before`,
/// then `after`, then `page`.
#[derive(Debug, Clone, Default)]
pub struct PostsQuery {
    /// Page number from 0.
    pub page: i64,
    /// Posts per page (default 60, at most 200).
    pub per_page: Option<i64>,
    /// Only posts changed after this Unix ms (deleted ones included).
    pub since: Option<i64>,
    /// Only posts older than this one.
    pub before: Option<String>,
    /// Only posts newer than this one.
    pub after: Option<String>,
}

/// `GET channels/{id}/posts`: a [`PostList`], newest first. `prev_post_id` names the post just
/// older than the page (so clients know there is more), `next_post_id` the one just newer.
pub async fn channel_posts(
    db: &Db,
    me: String,
    channel: String,
    q: PostsQuery,
) -> Result<PostList, MmError> {
    let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(MmError::invalid_param("per_page"));
    }
    if q.page < 0 || q.page > 10_000 {
        return Err(MmError::invalid_param("page"));
    }
    for (name, id) in [("before", &q.before), ("after", &q.after)] {
        if id.as_ref().is_some_and(|id| !is_id(id)) {
            return Err(MmError::invalid_param(name));
        }
    }
    db.run(move |conn| {
        let c = readable_channel(conn, &me, &channel)?;
        if let Some(since) = q.since {
            return Ok(PostList::of(store::in_channel(
                conn,
                &c.id,
                Window::Since(since),
            )?));
        }
        let skip = q.page * per_page;
        let pivot = |conn: &mut DbConnection, id: &str| {
            store::find(conn, id)?
                .filter(|p| p.channel_id == c.id)
                .ok_or_else(|| MmError::invalid_param("post_id"))
        };
        // One post past the page, to name the next one (and say that there is one).
        let want = skip + per_page + 1;
        let (posts, newer) = match (&q.before, &q.after) {
            (Some(before), _) => {
                let p = pivot(conn, before)?;
                let posts = store::in_channel(conn, &c.id, Window::Before(&p, want))?;
                (posts.into_iter().skip(skip as usize).collect(), false)
            }
            (None, Some(after)) => {
                let p = pivot(conn, after)?;
                let posts = store::in_channel(conn, &c.id, Window::After(&p, want))?;
                (
                    posts.into_iter().skip(skip as usize).collect::<Vec<_>>(),
                    true,
                )
            }
            (None, None) => {
                let page = Window::Page {
                    offset: skip,
                    limit: per_page + 1,
                };
                (store::in_channel(conn, &c.id, page)?, false)
            }
        };
        let mut posts: Vec<Post> = posts;
        let beyond = (posts.len() as i64 > per_page).then(|| posts.remove(per_page as usize));
        let beyond = beyond.map(|p| p.id).unwrap_or_default();
        Ok(if newer {
            posts.reverse();
            let mut list = PostList::of(posts);
            list.has_next = !beyond.is_empty();
            list.next_post_id = beyond;
            list
        } else {
            let mut list = PostList::of(posts);
            list.prev_post_id = beyond;
            list
        })
    })
    .await
}
