//! `teams/…` and `channels/…`: create, get, members, viewing.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::dialects::mattermost::request;
use crate::dialects::mattermost::ws::notify;
use crate::services::mattermost::channels::{self, NewChannel, NewTeam};
use crate::services::mattermost::MmError;
use crate::state::AppState;

#[derive(Deserialize)]
struct TeamBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default, rename = "type")]
    kind: String,
}

/// `POST teams` → 201 Team.
pub async fn create_team(
    req: HttpRequest,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let b: TeamBody = request::body(&bytes, "team")?;
    let new = NewTeam {
        name: b.name,
        display_name: b.display_name,
        kind: b.kind,
    };
    Ok(HttpResponse::Created().json(channels::create_team(&state.db, me.user.id, new).await?))
}

/// `GET teams/{id}`.
pub async fn get_team(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let team = channels::get_team(&state.db, me.user.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(team))
}

#[derive(Deserialize)]
struct MemberBody {
    #[serde(default)]
    user_id: String,
}

/// `POST teams/{id}/members` with `{"team_id","user_id"}` → 201 TeamMember.
pub async fn add_team_member(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let b: MemberBody = request::body(&bytes, "team_member")?;
    let m = channels::add_team_member(&state.db, me.user.id, path.into_inner(), b.user_id).await?;
    Ok(HttpResponse::Created().json(m))
}

#[derive(Deserialize)]
struct ChannelBody {
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default, rename = "type")]
    kind: String,
}

/// `POST channels` → 201 Channel.
pub async fn create_channel(
    req: HttpRequest,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let b: ChannelBody = request::body(&bytes, "channel")?;
    let new = NewChannel {
        team_id: b.team_id,
        name: b.name,
        display_name: b.display_name,
        kind: b.kind,
    };
    let channel = channels::create_channel(&state.db, me.user.id, new).await?;
    Ok(HttpResponse::Created().json(channel))
}

/// `GET channels/{id}`.
pub async fn get_channel(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let channel = channels::get_channel(&state.db, me.user.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(channel))
}

/// `POST channels/{id}/members` with `{"user_id"}` → 201 ChannelMember.
pub async fn add_channel_member(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let b: MemberBody = request::body(&bytes, "user_id")?;
    let channel = path.into_inner();
    let (m, team) =
        channels::add_channel_member(&state.db, me.user.id, channel.clone(), b.user_id).await?;
    notify::user_added(&state, &channel, &team, &m.user_id);
    Ok(HttpResponse::Created().json(m))
}

/// `GET channels/{id}/members` → `[ChannelMember]`.
pub async fn channel_members(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let members = channels::channel_members(&state.db, me.user.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(members))
}

#[derive(Deserialize)]
struct ViewBody {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    prev_channel_id: String,
}

/// `POST channels/members/me/view` → `{"status":"OK","last_viewed_at_times":{…}}`.
pub async fn view(
    req: HttpRequest,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, MmError> {
    let me = request::me(&req, &state).await?;
    let b: ViewBody = request::body(&bytes, "channel_view")?;
    let viewed = channels::view_channel(
        &state.db,
        me.user.id.clone(),
        b.channel_id,
        b.prev_channel_id,
    )
    .await?;
    notify::channels_viewed(&state, &me.user.id, &viewed);
    let times: BTreeMap<String, i64> = viewed.into_iter().collect();
    Ok(HttpResponse::Ok().json(json!({"status": "OK", "last_viewed_at_times": times})))
}
