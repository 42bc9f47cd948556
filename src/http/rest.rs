//! What every REST handler needs from a request: the authenticated user.

use actix_web::HttpRequest;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::hub::handshake;
use crate::state::AppState;

/// The user a REST request's `Authorization: Bearer` (or `?token=`) token names, recorded in
/// the users table as a socket's would be. No Origin check: a bearer token is not sent by
/// browsers on their own, so cross-site requests cannot borrow it.
pub async fn user(req: &HttpRequest, state: &AppState) -> Result<Identity, ApiError> {
    let identity = state
        .auth
        .from_request(req)?
        .ok_or_else(|| ApiError::Unauthorized("authentication required".into()))?;
    handshake::remember(state, &identity).await?;
    Ok(identity)
}
