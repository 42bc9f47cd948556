//! The Pusher HTTP API, what the app's server SDK (Laravel's `pusher` broadcaster, the Node
//! `pusher` package) calls: trigger events on channels, and ask which channels are occupied
//! and who is in a presence channel.
//!
//! Every request is signed (`auth_key`, `auth_timestamp` within [`TIMESTAMP_WINDOW_S`] of the
//! hub's clock, `auth_version=1.0`, `body_md5` of a body, `auth_signature` over
//! `METHOD\npath\nsorted query`); a bad one gets 401. Errors are `{"error": …}`. Channel
//! counts are this node's ([`super::occupancy`]).

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::channel::{self, Kind};
use super::occupancy::ChannelInfo;
use super::protocol::Published;
use super::socket::event_excluding;
use super::{signature, App, Pusher};
use crate::dialects::Shared;
use crate::error::ApiError;
use crate::http::rest::{endpoint, JsonBody};
use crate::hub::registry::HubError;
use crate::hub::{Event, Target};
use crate::state::AppState;

/// How far `auth_timestamp` may be from the hub's clock, in seconds (Pusher's 600).
pub const TIMESTAMP_WINDOW_S: i64 = 600;

/// Most channels one event may name.
pub const MAX_CHANNELS: usize = 100;

/// Most events in one batch.
pub const MAX_BATCH: usize = 10;

/// Longest event name.
pub const MAX_EVENT_NAME: usize = 200;

/// Mounts the API under `/apps/{app_id}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    endpoint(
        cfg,
        "/apps/{app_id}/events",
        &[(Method::POST, || web::to(events))],
    );
    endpoint(
        cfg,
        "/apps/{app_id}/batch_events",
        &[(Method::POST, || web::to(batch_events))],
    );
    endpoint(
        cfg,
        "/apps/{app_id}/channels",
        &[(Method::GET, || web::to(channels))],
    );
    endpoint(
        cfg,
        "/apps/{app_id}/channels/{channel}",
        &[(Method::GET, || web::to(channel_info))],
    );
    endpoint(
        cfg,
        "/apps/{app_id}/channels/{channel}/users",
        &[(Method::GET, || web::to(users))],
    );
}

/// The app a path names, once the request's signature is right.
fn authorized(req: &HttpRequest, pusher: &Pusher, body: &[u8]) -> Result<Arc<App>, ApiError> {
    let app_id = req.match_info().get("app_id").unwrap_or_default();
    let app = pusher
        .by_id(app_id)
        .ok_or_else(|| ApiError::NotFound(format!("unknown app id {app_id:?}")))?;
    let params: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| ApiError::BadRequest("malformed query string".into()))?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let unauthorized = |why: &str| Err(ApiError::Unauthorized(why.to_string()));
    if param("auth_key") != Some(app.config.key.as_str()) {
        return unauthorized("auth_key is missing or not this app's key");
    }
    let Some(timestamp) = param("auth_timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return unauthorized("auth_timestamp is missing or not a number");
    };
    let now = crate::auth::unix_now();
    if (now - timestamp).abs() > TIMESTAMP_WINDOW_S {
        return Err(ApiError::Unauthorized(format!(
            "auth_timestamp is more than {TIMESTAMP_WINDOW_S} s from the server's time ({now})"
        )));
    }
    if param("auth_version") != Some("1.0") {
        return unauthorized("auth_version must be 1.0");
    }
    if !body.is_empty() && param("body_md5") != Some(signature::body_md5(body).as_str()) {
        return unauthorized("body_md5 does not match the body");
    }
    let Some(given) = param("auth_signature") else {
        return unauthorized("auth_signature is missing");
    };
    let text = signature::api_string(req.method().as_str(), req.path(), &params);
    if !signature::verify(&app.config.secret, text.as_bytes(), given) {
        return unauthorized("invalid signature");
    }
    Ok(app)
}

/// One event to trigger, as `/events` takes it and each entry of `/batch_events`.
#[derive(Deserialize)]
struct Trigger {
    name: String,
    data: Box<RawValue>,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    socket_id: Option<String>,
    #[serde(default)]
    info: Option<String>,
}

#[derive(Deserialize)]
struct Batch {
    batch: Vec<Trigger>,
}

/// Whether `id` looks like a socket id (`\d+.\d+`).
fn valid_socket_id(id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    id.split_once('.')
        .is_some_and(|(a, b)| digits(a) && digits(b))
}

/// The requested `info` attributes, checked against the channel kinds they apply to.
fn info_fields(info: Option<&str>) -> Result<(bool, bool), ApiError> {
    let mut fields = (false, false);
    for field in info
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        match field {
            "subscription_count" => fields.0 = true,
            "user_count" => fields.1 = true,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown info attribute {other:?}"
                )))
            }
        }
    }
    Ok(fields)
}

fn describe(info: Option<&ChannelInfo>, (subs, users): (bool, bool), kind: Kind) -> Value {
    let mut out = Map::new();
    if subs {
        out.insert(
            "subscription_count".into(),
            info.map_or(0, |i| i.subscription_count).into(),
        );
    }
    if users && kind == Kind::Presence {
        out.insert("user_count".into(), info.map_or(0, |i| i.user_count).into());
    }
    Value::Object(out)
}

impl Trigger {
    /// Checks the event and returns its channels.
    fn channels(&self, app: &App) -> Result<Vec<&str>, ApiError> {
        let bad = |why: String| Err(ApiError::BadRequest(why));
        if self.name.is_empty() || self.name.len() > MAX_EVENT_NAME {
            return bad(format!("name must be 1 to {MAX_EVENT_NAME} characters"));
        }
        let channels: Vec<&str> = match (&self.channels, &self.channel) {
            (Some(list), None) => list.iter().map(String::as_str).collect(),
            (None, Some(one)) => vec![one.as_str()],
            _ => return bad("give either channels or channel".into()),
        };
        if channels.is_empty() || channels.len() > MAX_CHANNELS {
            return bad(format!("channels must name 1 to {MAX_CHANNELS} channels"));
        }
        if let Some(bad_name) = channels.iter().find(|c| !channel::valid_name(c)) {
            return bad(format!("invalid channel name {bad_name:?}"));
        }
        if let Some(id) = &self.socket_id {
            if !valid_socket_id(id) {
                return bad(format!("invalid socket_id {id:?}"));
            }
        }
        let size = self.data.get().len();
        if size > app.config.max_event_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "event data is {size} bytes, over the limit of {}",
                app.config.max_event_bytes
            )));
        }
        info_fields(self.info.as_deref())?;
        Ok(channels)
    }

    /// Publishes to every channel; the `info` the caller asked for, per channel.
    fn publish(&self, app: &App, state: &AppState, pusher: &Pusher) -> Result<Value, ApiError> {
        let channels = self.channels(app)?;
        let fields = info_fields(self.info.as_deref())?;
        let mut info = Map::new();
        for name in channels {
            let json = serde_json::to_string(&Published {
                event: &self.name,
                channel: name,
                data: &self.data,
            })
            .expect("plain struct");
            let event = match &self.socket_id {
                Some(id) => event_excluding(id, &json),
                None => Event::text(json),
            };
            let topic = super::topic(&app.config.id, name);
            state
                .hub
                .publish(topic, event, Target::All)
                .map_err(|e| match e {
                    HubError::Full => ApiError::Unavailable("the hub is overloaded; retry".into()),
                    other => ApiError::Unavailable(other.to_string()),
                })?;
            if fields != (false, false) {
                let now = pusher.occupancy.info(&app.config.id, name);
                info.insert(
                    name.to_string(),
                    describe(now.as_ref(), fields, Kind::of(name)),
                );
            }
        }
        Ok(Value::Object(info))
    }
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
}

/// `POST /apps/{app_id}/events`.
async fn events(
    req: HttpRequest,
    body: JsonBody,
    state: web::Data<AppState>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let app = authorized(&req, &shared.pusher, &body.0)?;
    let trigger: Trigger = parse(&body.0)?;
    let info = trigger.publish(&app, &state, &shared.pusher)?;
    Ok(HttpResponse::Ok().json(match trigger.info {
        Some(_) => json!({ "channels": info }),
        None => json!({}),
    }))
}

/// `POST /apps/{app_id}/batch_events`: up to [`MAX_BATCH`] events, all checked before any is
/// published.
async fn batch_events(
    req: HttpRequest,
    body: JsonBody,
    state: web::Data<AppState>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let app = authorized(&req, &shared.pusher, &body.0)?;
    let batch: Batch = parse(&body.0)?;
    if batch.batch.is_empty() || batch.batch.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "batch must hold 1 to {MAX_BATCH} events"
        )));
    }
    for trigger in &batch.batch {
        trigger.channels(&app)?;
    }
    let mut infos = Vec::new();
    for trigger in &batch.batch {
        let info = trigger.publish(&app, &state, &shared.pusher)?;
        // Each entry describes its own (one) channel, as Pusher's batch answer does.
        infos.push(
            info.as_object()
                .and_then(|m| m.values().next().cloned())
                .unwrap_or(json!({})),
        );
    }
    let any_info = batch.batch.iter().any(|t| t.info.is_some());
    Ok(HttpResponse::Ok().json(if any_info {
        json!({ "batch": infos })
    } else {
        json!({})
    }))
}

#[derive(Deserialize)]
struct ChannelsQuery {
    #[serde(default)]
    filter_by_prefix: Option<String>,
    #[serde(default)]
    info: Option<String>,
}

fn query<T: for<'de> Deserialize<'de>>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `GET /apps/{app_id}/channels`: occupied channels, optionally by prefix; `user_count` only
/// with a `presence-` prefix (as Pusher).
async fn channels(req: HttpRequest, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let app = authorized(&req, &shared.pusher, &[])?;
    let q: ChannelsQuery = query(&req)?;
    let prefix = q.filter_by_prefix.unwrap_or_default();
    let fields = info_fields(q.info.as_deref())?;
    if fields.1 && !prefix.starts_with("presence-") {
        return Err(ApiError::BadRequest(
            "user_count needs filter_by_prefix=presence-".into(),
        ));
    }
    let list: Map<String, Value> = shared
        .pusher
        .occupancy
        .channels(&app.config.id, &prefix)
        .into_iter()
        .map(|(name, info)| {
            let kind = Kind::of(&name);
            (name, describe(Some(&info), (false, fields.1), kind))
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "channels": list })))
}

#[derive(Deserialize)]
struct InfoQuery {
    #[serde(default)]
    info: Option<String>,
}

fn channel_name(req: &HttpRequest) -> Result<String, ApiError> {
    let name = req
        .match_info()
        .get("channel")
        .unwrap_or_default()
        .to_string();
    if !channel::valid_name(&name) {
        return Err(ApiError::BadRequest(format!(
            "invalid channel name {name:?}"
        )));
    }
    Ok(name)
}

/// `GET /apps/{app_id}/channels/{channel}`.
async fn channel_info(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let app = authorized(&req, &shared.pusher, &[])?;
    let name = channel_name(&req)?;
    let q: InfoQuery = query(&req)?;
    let fields = info_fields(q.info.as_deref())?;
    let kind = Kind::of(&name);
    if fields.1 && kind != Kind::Presence {
        return Err(ApiError::BadRequest(
            "user_count is only for presence channels".into(),
        ));
    }
    let info = shared.pusher.occupancy.info(&app.config.id, &name);
    let mut out = describe(info.as_ref(), fields, kind);
    out["occupied"] = info.is_some().into();
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /apps/{app_id}/channels/{channel}/users`: presence channels only.
async fn users(req: HttpRequest, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let app = authorized(&req, &shared.pusher, &[])?;
    let name = channel_name(&req)?;
    if Kind::of(&name) != Kind::Presence {
        return Err(ApiError::BadRequest(
            "users are only listed for presence channels".into(),
        ));
    }
    let users: Vec<Value> = shared
        .pusher
        .occupancy
        .users(&app.config.id, &name)
        .into_iter()
        .map(|id| json!({ "id": id }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_ids() {
        for ok in ["1.2", "123456.7890123"] {
            assert!(valid_socket_id(ok), "{ok}");
        }
        for bad in ["", "1", "1.", ".2", "a.b", "1.2.3", "1 .2"] {
            assert!(!valid_socket_id(bad), "{bad}");
        }
    }
}
