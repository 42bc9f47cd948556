//! Teams, channels and memberships: create, get, add a member, list members, mark viewed.
//!
//! Permissions are Mattermost's defaults for a plain `system_user`: anyone may create a team
//! (and is its first member); team members may create channels in it (and are their first
//! member); a member of a team may join its open channels and add other team members to
//! channels they are in; reading a channel takes membership (or, for an open channel, the
//! team's).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;

use super::views::{ChannelMemberView, ChannelView, TeamMemberView, TeamView};
use super::{is_id, new_id, now_ms, MmError};
use crate::db::mattermost::{channels as store, Channel, Team};
use crate::db::{Db, DbConnection};
use crate::error::DbError;

/// What `POST teams` takes.
#[derive(Debug, Clone)]
pub struct NewTeam {
    /// URL name: 2–64 of `a-z0-9-`.
    pub name: String,
    /// Shown name: 1–64 characters.
    pub display_name: String,
    /// `O` or `I`.
    pub kind: String,
}

/// What `POST channels` takes.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// The team.
    pub team_id: String,
    /// URL name: 1–64 of `a-z0-9-_`.
    pub name: String,
    /// Shown name: 1–64 characters.
    pub display_name: String,
    /// `O` or `P`.
    pub kind: String,
}

fn url_name(name: &str, min: usize, extra: &str) -> bool {
    (min..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
}

fn display_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
}

fn unique_violation(e: &DbError) -> bool {
    matches!(
        e,
        DbError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

fn team_not_found() -> MmError {
    MmError::new(
        "app.team.get.find.app_error",
        "Unable to find the existing team.",
        404,
    )
}

/// 404 for a channel that does not exist.
pub fn channel_not_found() -> MmError {
    MmError::new(
        "app.channel.get.existing.app_error",
        "Unable to find the existing channel.",
        404,
    )
}

/// `POST teams` → 201: the team, with its creator as first member.
pub async fn create_team(db: &Db, me: String, new: NewTeam) -> Result<TeamView, MmError> {
    if !url_name(&new.name, 2, "-") {
        return Err(MmError::new(
            "model.team.is_valid.url.app_error",
            "Team URL must start with a letter, be 2-64 characters and contain only lowercase letters, numbers and '-'.",
            400,
        ));
    }
    if !display_name(&new.display_name) {
        return Err(MmError::new(
            "model.team.is_valid.name.app_error",
            "Invalid name.",
            400,
        ));
    }
    if new.kind != "O" && new.kind != "I" {
        return Err(MmError::new(
            "model.team.is_valid.type.app_error",
            "Invalid type.",
            400,
        ));
    }
    let now = now_ms();
    let team = Team {
        id: new_id(),
        name: new.name,
        display_name: new.display_name,
        kind: new.kind,
        create_at: now,
        update_at: now,
        delete_at: 0,
    };
    db.run(move |conn| {
        conn.transaction(|conn| {
            store::insert_team(conn, &team)?;
            store::add_team_member(conn, &team.id, &me)?;
            Ok::<_, DbError>(())
        })
        .map_err(|e| {
            if unique_violation(&e) {
                MmError::new(
                    "app.team.save.existing.app_error",
                    "A team with that name already exists",
                    400,
                )
            } else {
                e.into()
            }
        })?;
        Ok(TeamView::from(&team))
    })
    .await
}

/// The team, if `me` may see it (a member, or the team is open).
fn visible_team(conn: &mut DbConnection, me: &str, id: &str) -> Result<Team, MmError> {
    if !is_id(id) {
        return Err(MmError::invalid_param("team_id"));
    }
    let team = store::team(conn, id)?.ok_or_else(team_not_found)?;
    if team.kind != "O" && !store::is_team_member(conn, id, me)? {
        return Err(MmError::forbidden());
    }
    Ok(team)
}

/// `GET teams/{id}`.
pub async fn get_team(db: &Db, me: String, id: String) -> Result<TeamView, MmError> {
    db.run(move |conn| visible_team(conn, &me, &id).map(|t| TeamView::from(&t)))
        .await
}

/// `GET users/me/teams`.
pub async fn my_teams(db: &Db, me: String) -> Result<Vec<TeamView>, MmError> {
    db.run(move |conn| {
        let teams = store::teams_of(conn, &me)?;
        Ok(teams.iter().map(TeamView::from).collect())
    })
    .await
}

/// `POST teams/{id}/members` → 201: members add others; anyone may join an open team.
pub async fn add_team_member(
    db: &Db,
    me: String,
    team: String,
    user: String,
) -> Result<TeamMemberView, MmError> {
    if !is_id(&user) {
        return Err(MmError::invalid_param("user_id"));
    }
    db.run(move |conn| {
        let t = visible_team(conn, &me, &team)?;
        let member = store::is_team_member(conn, &t.id, &me)?;
        let joining_open = t.kind == "O" && user == me;
        if !(member || joining_open) {
            return Err(MmError::forbidden());
        }
        if crate::db::mattermost::users::find(conn, &user)?.is_none() {
            return Err(MmError::invalid_param("user_id"));
        }
        store::add_team_member(conn, &t.id, &user)?;
        Ok(TeamMemberView::new(&t.id, &user))
    })
    .await
}

/// `POST channels` → 201: the channel, with its creator as first member.
pub async fn create_channel(db: &Db, me: String, new: NewChannel) -> Result<ChannelView, MmError> {
    if !is_id(&new.team_id) {
        return Err(MmError::invalid_param("team_id"));
    }
    if !url_name(&new.name, 1, "-_") {
        return Err(MmError::new(
            "model.channel.is_valid.name.app_error",
            "Invalid channel name. User ids are not permitted in channel name for non-direct message channels.",
            400,
        ));
    }
    if !display_name(&new.display_name) {
        return Err(MmError::new(
            "model.channel.is_valid.display_name.app_error",
            "Invalid display name.",
            400,
        ));
    }
    if new.kind != "O" && new.kind != "P" {
        return Err(MmError::new(
            "model.channel.is_valid.type.app_error",
            "Invalid type.",
            400,
        ));
    }
    db.run(move |conn| {
        if store::team(conn, &new.team_id)?.is_none() {
            return Err(team_not_found());
        }
        if !store::is_team_member(conn, &new.team_id, &me)? {
            return Err(MmError::forbidden());
        }
        let now = now_ms();
        let channel = Channel {
            id: new_id(),
            team_id: new.team_id,
            kind: new.kind,
            name: new.name,
            display_name: new.display_name,
            creator_id: me.clone(),
            create_at: now,
            update_at: now,
            delete_at: 0,
            last_post_at: now,
            total_msg_count: 0,
        };
        conn.transaction(|conn| {
            store::insert_channel(conn, &channel)?;
            store::add_member(conn, &channel.id, &me, now)?;
            Ok::<_, DbError>(())
        })
        .map_err(|e| {
            if unique_violation(&e) {
                MmError::new(
                    "store.sql_channel.save_channel.exists.app_error",
                    "A channel with that name already exists on the same team",
                    400,
                )
            } else {
                e.into()
            }
        })?;
        Ok(ChannelView::from(&channel))
    })
    .await
}

/// The channel, if `me` may read it: a member, or a member of the team of an open channel.
pub fn readable_channel(conn: &mut DbConnection, me: &str, id: &str) -> Result<Channel, MmError> {
    if !is_id(id) {
        return Err(MmError::invalid_param("channel_id"));
    }
    let channel = store::channel(conn, id)?
        .filter(|c| c.delete_at == 0)
        .ok_or_else(channel_not_found)?;
    if store::member(conn, id, me)?.is_some()
        || channel.kind == "O" && store::is_team_member(conn, &channel.team_id, me)?
    {
        return Ok(channel);
    }
    Err(MmError::forbidden())
}

/// The channel, if `me` is a member (what posting and typing take).
pub fn member_channel(conn: &mut DbConnection, me: &str, id: &str) -> Result<Channel, MmError> {
    if !is_id(id) {
        return Err(MmError::invalid_param("channel_id"));
    }
    let channel = store::channel(conn, id)?
        .filter(|c| c.delete_at == 0)
        .ok_or_else(channel_not_found)?;
    if store::member(conn, id, me)?.is_none() {
        return Err(MmError::forbidden());
    }
    Ok(channel)
}

/// Whether `me` is a member of `channel` (what typing in it takes).
pub async fn check_member(db: &Db, me: String, channel: String) -> Result<(), MmError> {
    db.run(move |conn| member_channel(conn, &me, &channel).map(|_| ()))
        .await
}

/// `GET channels/{id}`.
pub async fn get_channel(db: &Db, me: String, id: String) -> Result<ChannelView, MmError> {
    db.run(move |conn| readable_channel(conn, &me, &id).map(|c| ChannelView::from(&c)))
        .await
}

/// `POST channels/{id}/members` → 201: joining an open channel of one's team, or adding a
/// team member to a channel one is in. Adding a member twice returns the membership.
/// Returns it with the channel's team.
pub async fn add_channel_member(
    db: &Db,
    me: String,
    channel: String,
    user: String,
) -> Result<(ChannelMemberView, String), MmError> {
    if !is_id(&user) {
        return Err(MmError::invalid_param("user_id"));
    }
    db.run(move |conn| {
        let c = readable_channel(conn, &me, &channel)?;
        let joining_open = user == me && c.kind == "O";
        if !joining_open && store::member(conn, &c.id, &me)?.is_none() {
            return Err(MmError::forbidden());
        }
        if !store::is_team_member(conn, &c.team_id, &user)? {
            return Err(MmError::new(
                "api.channel.add_user.to.channel.failed.app_error",
                "Failed to add user to channel.",
                400,
            ));
        }
        let (m, _) = store::add_member(conn, &c.id, &user, now_ms())?;
        Ok((ChannelMemberView::from(&m), c.team_id))
    })
    .await
}

/// `GET channels/{id}/members`.
pub async fn channel_members(
    db: &Db,
    me: String,
    channel: String,
) -> Result<Vec<ChannelMemberView>, MmError> {
    db.run(move |conn| {
        let c = readable_channel(conn, &me, &channel)?;
        let members = store::members(conn, &c.id)?;
        Ok(members.iter().map(ChannelMemberView::from).collect())
    })
    .await
}

/// `POST channels/members/me/view`: marks `channel` (and `prev`, when given) read now.
/// Returns the channels marked, with the time; channels `me` is not in are left out.
pub async fn view_channel(
    db: &Db,
    me: String,
    channel: String,
    prev: String,
) -> Result<Vec<(String, i64)>, MmError> {
    for id in [&channel, &prev] {
        if !id.is_empty() && !is_id(id) {
            return Err(MmError::invalid_param("channel_id"));
        }
    }
    db.run(move |conn| {
        let now = now_ms();
        let mut viewed = Vec::new();
        for id in [channel, prev] {
            if !id.is_empty()
                && !viewed.iter().any(|(v, _)| *v == id)
                && store::mark_viewed(conn, &id, &me, now)?
            {
                viewed.push((id, now));
            }
        }
        Ok(viewed)
    })
    .await
}
