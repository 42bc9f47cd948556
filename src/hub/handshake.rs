//! The HTTP side of opening a WebSocket, shared by every dialect: Origin, token, quotas, the
//! user recorded, then the upgrade. Every refusal is an HTTP error with `{"error": …}` before
//! any upgrade, and is counted by reason.

use std::net::IpAddr;
use std::time::Duration;

use actix::{Actor, AsyncContext};
use actix_web::{web, HttpRequest, HttpResponse};

use super::conn::{ConnAbort, ConnId};
use super::event::UserRef;
use super::session::{Dialect, Parts, Session};
use super::transport::{self, Inbound};
use crate::auth::{origin, Identity};
use crate::db::user;
use crate::error::ApiError;
use crate::state::AppState;

/// Checks the Origin and the token. `required` refuses requests without a token; a token that
/// is present but invalid is refused either way, never treated as anonymous.
pub fn identify(
    req: &HttpRequest,
    state: &AppState,
    required: bool,
) -> Result<Option<Identity>, ApiError> {
    origin::check(req, &state.config)?;
    let identity = state.auth.from_request(req)?;
    if required && identity.is_none() {
        return Err(ApiError::Unauthorized("authentication required".into()));
    }
    Ok(identity)
}

/// A socket that needs a user: Origin checked, token required (401 without one). The
/// dialects that are not anonymous start with this; [`upgrade`] records the user.
pub fn authenticated(req: &HttpRequest, state: &AppState) -> Result<Identity, ApiError> {
    identify(req, state, true)?
        .ok_or_else(|| ApiError::Unauthorized("authentication required".into()))
}

/// Records the user a token names (id, and name when the token has one) before it is used
/// anywhere — a write only when the database does not hold them so already — and sets
/// `identity.name` to the name the database now holds. A token without a name (a simplejwt
/// access token carries only `user_id`) is thereby shown under the stored name, never under
/// the decimal id that stands in for a name it does not carry.
pub async fn remember(state: &AppState, identity: &mut Identity) -> Result<(), ApiError> {
    let id = identity.id;
    let name = identity.named.then(|| identity.name.clone());
    if let Some(known) = state.known_users.name(id, name.as_deref()) {
        identity.name = known;
        return Ok(());
    }
    let stored = state
        .db
        .run(move |conn| user::record(conn, id, name.as_deref()))
        .await?;
    state.known_users.learned(id, stored.clone());
    identity.name = stored;
    Ok(())
}

/// The client's address: the TCP peer, or — when the peer is a trusted proxy such as the
/// Nginx of `deploy/` — the last address that proxy appended to `X-Forwarded-For`. Without
/// this, every connection through a proxy would share the proxy's per-address quota.
pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok());
    Some(forwarded.unwrap_or(peer))
}

/// Counts a refused handshake and passes the error on as the response.
pub fn refused(state: &AppState, error: ApiError) -> ApiError {
    state.metrics.handshake_failure(error.label());
    log::info!("handshake refused: {} ({})", error, error.label());
    error
}

/// Takes a quota place, records the user (after the quota, so refused handshakes write
/// nothing) and upgrades the request to a session speaking `dialect`. Anonymous connections
/// are named `anonymous_name` and are each their own presence entry.
pub async fn upgrade<D: Dialect>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    identity: Option<Identity>,
    anonymous_name: &str,
    dialect: D,
) -> Result<HttpResponse, ApiError> {
    let authenticated = identity.is_some();
    let opening = Opening {
        identity,
        user: None,
        authenticated,
        anonymous_name,
        auth_deadline: None,
        max_frame_bytes: state.config.max_frame_bytes,
    };
    upgrade_with(req, payload, state, opening, dialect).await
}

/// How a connection opens, for dialects that need more than [`upgrade`] says.
pub struct Opening<'a> {
    /// The token identity, when a JWT named the user.
    pub identity: Option<Identity>,
    /// Who the connection is, when a dialect's own credentials name it at the handshake.
    /// `None`: the token identity's user, under the name the database holds once the token
    /// is recorded (see [`remember`]), or an anonymous connection without a token.
    pub user: Option<UserRef>,
    /// Whether `user` is authenticated (false: the session may authenticate later with
    /// [`super::SessionCore::authenticate`]).
    pub authenticated: bool,
    /// The name of an anonymous connection.
    pub anonymous_name: &'a str,
    /// Closes the connection (1008) if it has not authenticated this long after opening.
    pub auth_deadline: Option<Duration>,
    /// The largest message the client may send (its protocol's limit; `HUB_MAX_FRAME_BYTES`
    /// by default); larger ones close the connection with 1009.
    pub max_frame_bytes: usize,
}

/// Takes a quota place (the user's too, when authenticated) and upgrades the request to a
/// session speaking `dialect`, opened as `opening` says.
pub async fn upgrade_with<D: Dialect>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    opening: Opening<'_>,
    dialect: D,
) -> Result<HttpResponse, ApiError> {
    // Draining: the load balancer learns it from `/readyz`; a client that still comes here is
    // told to go elsewhere rather than upgraded and closed at once.
    if *state.shutdown.borrow() {
        return Err(ApiError::Unavailable("server shutting down".into()));
    }
    let client = client_ip(req, &state.config.trusted_proxies);
    let Opening {
        mut identity,
        user,
        authenticated,
        anonymous_name,
        auth_deadline,
        max_frame_bytes,
    } = opening;
    let quota_key = match (&user, &identity) {
        (Some(user), _) => Some(user.key.clone()),
        (None, Some(identity)) => Some(identity.id.to_string().into()),
        (None, None) => None,
    }
    .filter(|_| authenticated);
    let permit = state.limits.acquire(quota_key, client)?;
    // Only after the quota: a refused handshake writes nothing.
    if let Some(identity) = &mut identity {
        remember(state, identity).await?;
    }
    let conn = ConnId::next();
    let user = match (user, &identity) {
        (Some(user), _) => user,
        (None, Some(identity)) => UserRef::user(identity.id, &identity.name),
        (None, None) => UserRef::anonymous(conn, anonymous_name),
    };
    let abort = req
        .conn_data::<ConnAbort>()
        .cloned()
        .unwrap_or_else(ConnAbort::none);
    let peer = client.map_or_else(|| "-".to_string(), |ip| ip.to_string());
    let (out, body) = transport::outbound();
    let response =
        transport::upgrade(req, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let parts = Parts {
        identity,
        authenticated,
        auth_deadline,
        user,
        conn,
        abort,
        permit,
        peer,
        out,
    };
    let session = Session::new(state.clone(), parts, dialect);
    let inbound = Inbound::new(payload, max_frame_bytes);
    Session::create(move |ctx| {
        ctx.add_stream(inbound);
        session
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "10.0.0.9, 203.0.113.7"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &[proxy]),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(client_ip(&req, &[]), Some(proxy));
    }
}
