//! `users/…`: login, logout, me, users by id.

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::status_ok;
use crate::dialects::mattermost::request::{self, AUTH_COOKIE, USER_COOKIE};
use crate::dialects::mattermost::ws::notify;
use crate::services::mattermost::users::{self, SESSION_LIFETIME_MS};
use crate::services::mattermost::views::UserView;
use crate::services::mattermost::{channels, statuses, MmError};
use crate::state::AppState;

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password: String,
}

fn cookie(name: &str, value: String, http_only: bool, age: CookieAge) -> Cookie<'static> {
    Cookie::build(name.to_string(), value)
        .path("/")
        .http_only(http_only)
        .same_site(SameSite::Lax)
        .max_age(age)
        .finish()
}

/// `POST users/login` → the user; the session token in the `Token` header (Client4 reads it
/// there) and in the `MMAUTHTOKEN` cookie (browsers), the user id in `MMUSERID`.
pub async fn login(bytes: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, MmError> {
    let b: LoginBody = request::body(&bytes, "login_id")?;
    let session = users::login(&state.db, b.login_id, b.password).await?;
    let age = CookieAge::milliseconds(SESSION_LIFETIME_MS);
    Ok(HttpResponse::Ok()
        .insert_header(("Token", session.token.clone()))
        .cookie(cookie(AUTH_COOKIE, session.token.clone(), true, age))
        .cookie(cookie(USER_COOKIE, session.user.id.clone(), false, age))
        .json(UserView::from(&session.user)))
}

/// `POST users/logout` → `{"status":"OK"}`; the session ends and the cookies are cleared.
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, MmError> {
    if let Some((token, _)) = request::token(&req) {
        users::logout(&state.db, token).await?;
    }
    let mut res = status_ok();
    for name in [AUTH_COOKIE, USER_COOKIE] {
        res.add_cookie(&cookie(
            name,
            String::new(),
            name == AUTH_COOKIE,
            CookieAge::ZERO,
        ))
        .map_err(|_| MmError::invalid_param("cookie"))?;
    }
    Ok(res)
}

/// `GET users/me`.
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&me.user)))
}

/// `GET users/{id}`.
pub async fn get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    request::me(&req, &state).await?;
    Ok(HttpResponse::Ok().json(users::get_user(&state.db, path.into_inner()).await?))
}

/// `POST users/ids` with `["id", …]` → the users that exist.
pub async fn by_ids(
    req: HttpRequest,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    request::me(&req, &state).await?;
    let ids: Vec<String> = request::body(&bytes, "user_ids")?;
    Ok(HttpResponse::Ok().json(users::users_by_ids(&state.db, ids).await?))
}

/// `GET users/me/teams`.
pub async fn my_teams(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    Ok(HttpResponse::Ok().json(channels::my_teams(&state.db, me.user.id).await?))
}

/// `GET users/{id}/status`.
pub async fn get_status(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    request::me(&req, &state).await?;
    Ok(HttpResponse::Ok().json(statuses::get_status(&state.db, path.into_inner()).await?))
}

#[derive(Deserialize)]
struct StatusBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    dnd_end_time: i64,
}

/// `PUT users/{id}/status` → the status; `status_change` follows.
pub async fn set_status(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let b: StatusBody = request::body(&bytes, "status")?;
    let change = statuses::set_status(
        &state.db,
        me.user.id,
        path.into_inner(),
        b.status,
        b.dnd_end_time,
    )
    .await?;
    notify::status_change(&state, &change);
    Ok(HttpResponse::Ok().json(&change.status))
}

/// `POST users/status/ids` with `["id", …]` → `[Status]`.
pub async fn statuses_by_ids(
    req: HttpRequest,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    request::me(&req, &state).await?;
    let ids: Vec<String> = request::body(&bytes, "user_ids")?;
    Ok(HttpResponse::Ok().json(statuses::statuses_by_ids(&state.db, ids).await?))
}
