//! The REST back end of the messaging app: what creates the events the sockets push.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::notify;
use crate::db::messages::ListFilter;
use crate::error::ApiError;
use crate::http::rest;
use crate::services::messages::{self, Compose};
use crate::state::AppState;

/// A JSON body: 400 when it is not JSON, 422 when it does not fit.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() || e.is_eof() && !bytes.is_empty() {
            ApiError::Unprocessable(e.to_string())
        } else {
            ApiError::BadRequest("invalid JSON".into())
        }
    })
}

/// Query parameters: 400 when they do not fit.
fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("bad query: {e}")))
}

/// A numeric path id; anything else names nothing.
fn id(raw: &str, what: &'static str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("{what} not found")))
}

#[derive(Deserialize)]
struct ComposeBody {
    recipient_id: i64,
    #[serde(default)]
    community_id: Option<i64>,
    #[serde(default)]
    subject: String,
    body: String,
}

/// `POST /api/messages/` → 201 with the message; `new_message` and counts follow.
pub async fn create(
    req: HttpRequest,
    rest::JsonBody(bytes): rest::JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let b: ComposeBody = body(&bytes)?;
    let compose = Compose {
        recipient_id: b.recipient_id,
        community_id: b.community_id,
        subject: b.subject,
        body: b.body,
    };
    let delivery = messages::create_message(&state.db, me.id, compose).await?;
    notify::new_message(&state, &delivery);
    Ok(HttpResponse::Created().json(&delivery.message))
}

#[derive(Deserialize)]
struct ListQuery {
    before: Option<i64>,
    limit: Option<i64>,
    community_id: Option<i64>,
    unread: Option<bool>,
}

/// `GET /api/messages/` — sent and received, newest first, `before`/`limit` cursor.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let q: ListQuery = query(&req)?;
    let filter = ListFilter {
        before: q.before,
        community: q.community_id,
        unread: q.unread.unwrap_or(false),
    };
    let page = messages::list_messages(&state.db, me.id, filter, q.limit.unwrap_or(20)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/messages/{id}/` — its sender and recipient only.
pub async fn get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let message = messages::get_message(&state.db, me.id, id(&path, "message")?).await?;
    Ok(HttpResponse::Ok().json(message))
}

/// `POST /api/messages/{id}/read/` — the same operation as the socket's `mark_read`.
pub async fn read(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let delivery = messages::mark_read(&state.db, me.id, id(&path, "message")?).await?;
    notify::message_read(&state, &delivery);
    Ok(HttpResponse::Ok().json(&delivery.message))
}

#[derive(Deserialize)]
struct CountQuery {
    community_id: Option<i64>,
}

/// `GET /api/messages/unread_count/?community_id=`.
pub async fn unread_count(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let q: CountQuery = query(&req)?;
    let count = messages::unread_count(&state.db, me.id, q.community_id).await?;
    Ok(HttpResponse::Ok().json(match q.community_id {
        Some(c) => json!({"count": count, "community_id": c}),
        None => json!({"count": count}),
    }))
}

#[derive(Deserialize)]
struct NewCommunity {
    name: String,
}

/// `POST /api/communities/` → 201; the creator is a member.
pub async fn create_community(
    req: HttpRequest,
    rest::JsonBody(bytes): rest::JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let b: NewCommunity = body(&bytes)?;
    let community = messages::create_community(&state.db, me.id, b.name).await?;
    Ok(HttpResponse::Created().json(community))
}

/// `GET /api/communities/` — mine.
pub async fn list_communities(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    Ok(HttpResponse::Ok().json(messages::list_communities(&state.db, me.id).await?))
}

#[derive(Deserialize)]
struct NewMember {
    user_id: i64,
}

/// `POST /api/communities/{id}/members/` → 201 added, 200 already a member.
pub async fn add_member(
    req: HttpRequest,
    path: web::Path<String>,
    rest::JsonBody(bytes): rest::JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let community = id(&path, "community")?;
    let b: NewMember = body(&bytes)?;
    let added = messages::add_member(&state.db, me.id, community, b.user_id).await?;
    let reply = json!({"community_id": community, "user_id": b.user_id});
    Ok(if added {
        HttpResponse::Created().json(reply)
    } else {
        HttpResponse::Ok().json(reply)
    })
}
