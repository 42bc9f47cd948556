//! Statuses: online while connected, offline after the last connection left, or what the user
//! set by hand (which connecting and leaving then leave alone, as in Mattermost).
//!
//! Each change returns the new status and who should hear of it: the user and everyone who
//! shares a channel with them (Mattermost tells only the user; the seed's client expects news
//! of others, and official clients ignore what they did not ask for).

use serde::Serialize;

use super::{is_id, now_ms, MmError};
use crate::db::mattermost::statuses::{self as store, Status};
use crate::db::mattermost::users as user_store;
use crate::db::{Db, DbConnection};

/// The statuses a user may set.
pub const STATUSES: [&str; 4] = ["online", "away", "dnd", "offline"];

/// `model.Status` as clients receive it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusView {
    /// The user.
    pub user_id: String,
    /// `online`, `away`, `dnd` or `offline`.
    pub status: String,
    /// Set by the user.
    pub manual: bool,
    /// Last activity, Unix ms.
    pub last_activity_at: i64,
    /// When `dnd` ends, Unix seconds (0: never).
    pub dnd_end_time: i64,
}

impl From<Status> for StatusView {
    fn from(s: Status) -> StatusView {
        StatusView {
            user_id: s.user_id,
            status: s.status,
            manual: s.manual != 0,
            last_activity_at: s.last_activity_at,
            dnd_end_time: s.dnd_end_time,
        }
    }
}

/// A status change and who should hear of it.
#[derive(Debug, Clone)]
pub struct StatusChange {
    /// The new status.
    pub status: StatusView,
    /// The user and those who share a channel with them.
    pub audience: Vec<String>,
}

fn offline(user: &str) -> StatusView {
    StatusView {
        user_id: user.to_string(),
        status: "offline".into(),
        manual: false,
        last_activity_at: 0,
        dnd_end_time: 0,
    }
}

fn change(conn: &mut DbConnection, status: Status) -> Result<StatusChange, MmError> {
    store::put(conn, &status)?;
    let mut audience = user_store::channel_peers(conn, &status.user_id)?;
    if !audience.contains(&status.user_id) {
        audience.push(status.user_id.clone());
    }
    Ok(StatusChange {
        status: status.into(),
        audience,
    })
}

/// Sets the automatic status (`online` on a first connection, `offline` after the last);
/// nothing changes when the user set one by hand or already has this one.
pub async fn automatic(
    db: &Db,
    user: String,
    status: &'static str,
) -> Result<Option<StatusChange>, MmError> {
    db.run(move |conn| {
        let current = store::get(conn, &user)?;
        if current
            .as_ref()
            .is_some_and(|s| s.manual != 0 || s.status == status)
        {
            return Ok(None);
        }
        let s = Status {
            user_id: user,
            status: status.into(),
            manual: 0,
            last_activity_at: now_ms(),
            dnd_end_time: 0,
        };
        change(conn, s).map(Some)
    })
    .await
}

/// `PUT users/{id}/status`: a user sets their own status by hand. Setting `online` hands
/// the status back to connecting and leaving.
pub async fn set_status(
    db: &Db,
    me: String,
    user: String,
    status: String,
    dnd_end_time: i64,
) -> Result<StatusChange, MmError> {
    if !is_id(&user) {
        return Err(MmError::invalid_param("user_id"));
    }
    if user != me {
        return Err(MmError::forbidden());
    }
    if !STATUSES.contains(&status.as_str()) {
        return Err(MmError::invalid_param("status"));
    }
    db.run(move |conn| {
        let manual = i64::from(status != "online");
        let dnd_end_time = if status == "dnd" { dnd_end_time } else { 0 };
        let s = Status {
            user_id: user,
            status,
            manual,
            last_activity_at: now_ms(),
            dnd_end_time,
        };
        change(conn, s)
    })
    .await
}

/// `GET users/{id}/status`; a user never seen is `offline`.
pub async fn get_status(db: &Db, user: String) -> Result<StatusView, MmError> {
    if !is_id(&user) {
        return Err(MmError::invalid_param("user_id"));
    }
    db.run(move |conn| {
        Ok(store::get(conn, &user)?
            .map(StatusView::from)
            .unwrap_or_else(|| offline(&user)))
    })
    .await
}

/// `POST users/status/ids` and `get_statuses_by_ids`: one status per id asked, in order;
/// users never seen (or unknown) are `offline`.
pub async fn statuses_by_ids(db: &Db, ids: Vec<String>) -> Result<Vec<StatusView>, MmError> {
    if ids.is_empty() || ids.len() > 1000 || !ids.iter().all(|id| is_id(id)) {
        return Err(MmError::invalid_param("user_ids"));
    }
    db.run(move |conn| {
        let found = store::many(conn, &ids)?;
        Ok(ids
            .iter()
            .map(|id| {
                found
                    .iter()
                    .find(|s| s.user_id == *id)
                    .cloned()
                    .map(StatusView::from)
                    .unwrap_or_else(|| offline(id))
            })
            .collect())
    })
    .await
}

/// `get_statuses`: every status but `offline`.
pub async fn known_statuses(db: &Db) -> Result<Vec<StatusView>, MmError> {
    db.run(|conn| {
        Ok(store::not_offline(conn)?
            .into_iter()
            .map(StatusView::from)
            .collect())
    })
    .await
}
