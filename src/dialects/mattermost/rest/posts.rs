//! `posts/…` and `channels/{id}/posts`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::status_ok;
use crate::dialects::mattermost::request;
use crate::dialects::mattermost::ws::notify;
use crate::services::mattermost::posts::{self, NewPost, PostEdit, PostsQuery};
use crate::services::mattermost::MmError;
use crate::state::AppState;

#[derive(Deserialize)]
struct PostBody {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    root_id: String,
    #[serde(default)]
    props: Value,
    #[serde(default)]
    pending_post_id: String,
}

/// `POST posts` → 201 Post (the author is the session's user, whatever the body says).
pub async fn create(
    req: HttpRequest,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let b: PostBody = request::body(&bytes, "post")?;
    let new = NewPost {
        channel_id: b.channel_id,
        message: b.message,
        root_id: b.root_id,
        props: b.props,
        pending_post_id: b.pending_post_id,
    };
    let change = posts::create_post(&state.db, me.user.id.clone(), new).await?;
    notify::posted(&state, &change, &me.user.username);
    Ok(HttpResponse::Created().json(change.view()))
}

/// `GET posts/{id}`.
pub async fn get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    Ok(HttpResponse::Ok().json(posts::get_post(&state.db, me.user.id, path.into_inner()).await?))
}

#[derive(Deserialize)]
struct EditBody {
    #[serde(default)]
    id: Option<String>,
    message: Option<String>,
    is_pinned: Option<bool>,
    props: Option<Value>,
}

async fn edit(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let id = path.into_inner();
    let b: EditBody = request::body(&bytes, "post")?;
    if b.id.as_ref().is_some_and(|body_id| *body_id != id) {
        return Err(MmError::invalid_param("id"));
    }
    let edit = PostEdit {
        message: b.message,
        is_pinned: b.is_pinned,
        props: b.props,
    };
    let change = posts::edit_post(&state.db, me.user.id, id, edit).await?;
    notify::post_edited(&state, &change);
    Ok(HttpResponse::Ok().json(change.view()))
}

/// `PUT posts/{id}` with the whole post → the updated post.
pub async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    edit(req, path, bytes, state).await
}

/// `PUT posts/{id}/patch` with the fields to change → the updated post.
pub async fn patch(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    edit(req, path, bytes, state).await
}

/// `DELETE posts/{id}` → `{"status":"OK"}`.
pub async fn delete(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let change = posts::delete_post(&state.db, me.user.id, path.into_inner()).await?;
    notify::post_deleted(&state, &change);
    Ok(status_ok())
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
    since: Option<i64>,
    before: Option<String>,
    after: Option<String>,
}

/// `GET channels/{id}/posts?page&per_page&since&before&after` → PostList.
pub async fn channel_posts(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let q: PageQuery = request::query(&req)?;
    let q = PostsQuery {
        page: q.page.unwrap_or(0),
        per_page: q.per_page,
        since: q.since,
        before: q.before.filter(|s| !s.is_empty()),
        after: q.after.filter(|s| !s.is_empty()),
    };
    let list = posts::channel_posts(&state.db, me.user.id, path.into_inner(), q).await?;
    Ok(HttpResponse::Ok().json(list))
}
