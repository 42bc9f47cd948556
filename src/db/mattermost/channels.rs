//! Teams, channels and their memberships.

use diesel::prelude::*;

use super::{
    mm_channel_members, mm_channels, mm_team_members, mm_teams, Channel, ChannelMember, Team,
};
use crate::db::DbConnection;
use crate::error::DbError;

/// Stores a team; a taken name is a unique violation the caller reports.
pub fn insert_team(conn: &mut DbConnection, team: &Team) -> Result<(), DbError> {
    diesel::insert_into(mm_teams::table)
        .values((
            mm_teams::id.eq(&team.id),
            mm_teams::name.eq(&team.name),
            mm_teams::display_name.eq(&team.display_name),
            mm_teams::kind.eq(&team.kind),
            mm_teams::create_at.eq(team.create_at),
            mm_teams::update_at.eq(team.update_at),
            mm_teams::delete_at.eq(team.delete_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A team by id.
pub fn team(conn: &mut DbConnection, id: &str) -> Result<Option<Team>, DbError> {
    Ok(mm_teams::table.find(id).first(conn).optional()?)
}

/// Whether `user` belongs to `team`.
pub fn is_team_member(conn: &mut DbConnection, team: &str, user: &str) -> Result<bool, DbError> {
    Ok(mm_team_members::table
        .find((team, user))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Adds `user` to `team`; returns false when already a member.
pub fn add_team_member(conn: &mut DbConnection, team: &str, user: &str) -> Result<bool, DbError> {
    if is_team_member(conn, team, user)? {
        return Ok(false);
    }
    diesel::insert_into(mm_team_members::table)
        .values((
            mm_team_members::team_id.eq(team),
            mm_team_members::user_id.eq(user),
        ))
        .execute(conn)?;
    Ok(true)
}

/// The teams `user` belongs to, by name.
pub fn teams_of(conn: &mut DbConnection, user: &str) -> Result<Vec<Team>, DbError> {
    let mine = mm_team_members::table
        .filter(mm_team_members::user_id.eq(user))
        .select(mm_team_members::team_id);
    Ok(mm_teams::table
        .filter(mm_teams::id.eq_any(mine))
        .order(mm_teams::name)
        .load(conn)?)
}

/// Stores a channel; a taken name within the team is a unique violation the caller reports.
pub fn insert_channel(conn: &mut DbConnection, c: &Channel) -> Result<(), DbError> {
    diesel::insert_into(mm_channels::table)
        .values((
            mm_channels::id.eq(&c.id),
            mm_channels::team_id.eq(&c.team_id),
            mm_channels::kind.eq(&c.kind),
            mm_channels::name.eq(&c.name),
            mm_channels::display_name.eq(&c.display_name),
            mm_channels::creator_id.eq(&c.creator_id),
            mm_channels::create_at.eq(c.create_at),
            mm_channels::update_at.eq(c.update_at),
            mm_channels::delete_at.eq(c.delete_at),
            mm_channels::last_post_at.eq(c.last_post_at),
            mm_channels::total_msg_count.eq(c.total_msg_count),
        ))
        .execute(conn)?;
    Ok(())
}

/// A channel by id.
pub fn channel(conn: &mut DbConnection, id: &str) -> Result<Option<Channel>, DbError> {
    Ok(mm_channels::table.find(id).first(conn).optional()?)
}

/// Counts a new post in the channel.
pub fn count_post(conn: &mut DbConnection, id: &str, at: i64) -> Result<(), DbError> {
    diesel::update(mm_channels::table.find(id))
        .set((
            mm_channels::total_msg_count.eq(mm_channels::total_msg_count + 1),
            mm_channels::last_post_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A membership.
pub fn member(
    conn: &mut DbConnection,
    channel: &str,
    user: &str,
) -> Result<Option<ChannelMember>, DbError> {
    Ok(mm_channel_members::table
        .find((channel, user))
        .first(conn)
        .optional()?)
}

/// Adds `user` to `channel`, having read nothing yet; returns the membership, and whether it
/// is new.
pub fn add_member(
    conn: &mut DbConnection,
    channel: &str,
    user: &str,
    now: i64,
) -> Result<(ChannelMember, bool), DbError> {
    if let Some(m) = member(conn, channel, user)? {
        return Ok((m, false));
    }
    let m = ChannelMember {
        channel_id: channel.to_string(),
        user_id: user.to_string(),
        last_viewed_at: 0,
        msg_count: 0,
        mention_count: 0,
        last_update_at: now,
    };
    diesel::insert_into(mm_channel_members::table)
        .values((
            mm_channel_members::channel_id.eq(&m.channel_id),
            mm_channel_members::user_id.eq(&m.user_id),
            mm_channel_members::last_viewed_at.eq(m.last_viewed_at),
            mm_channel_members::msg_count.eq(m.msg_count),
            mm_channel_members::mention_count.eq(m.mention_count),
            mm_channel_members::last_update_at.eq(m.last_update_at),
        ))
        .execute(conn)?;
    Ok((m, true))
}

/// A channel's members, by user id.
pub fn members(conn: &mut DbConnection, channel: &str) -> Result<Vec<ChannelMember>, DbError> {
    Ok(mm_channel_members::table
        .filter(mm_channel_members::channel_id.eq(channel))
        .order(mm_channel_members::user_id)
        .load(conn)?)
}

/// The ids of a channel's members.
pub fn member_ids(conn: &mut DbConnection, channel: &str) -> Result<Vec<String>, DbError> {
    Ok(mm_channel_members::table
        .filter(mm_channel_members::channel_id.eq(channel))
        .select(mm_channel_members::user_id)
        .order(mm_channel_members::user_id)
        .load(conn)?)
}

/// The channels `user` is in.
pub fn channel_ids_of(conn: &mut DbConnection, user: &str) -> Result<Vec<String>, DbError> {
    Ok(mm_channel_members::table
        .filter(mm_channel_members::user_id.eq(user))
        .select(mm_channel_members::channel_id)
        .load(conn)?)
}

/// Marks `channel` read by `user` at `now`: everything posted so far counts as seen. Returns
/// whether `user` is a member.
pub fn mark_viewed(
    conn: &mut DbConnection,
    channel: &str,
    user: &str,
    now: i64,
) -> Result<bool, DbError> {
    let Some(c) = self::channel(conn, channel)? else {
        return Ok(false);
    };
    let n = diesel::update(mm_channel_members::table.find((channel, user)))
        .set((
            mm_channel_members::last_viewed_at.eq(now),
            mm_channel_members::msg_count.eq(c.total_msg_count),
            mm_channel_members::mention_count.eq(0),
            mm_channel_members::last_update_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n > 0)
}
