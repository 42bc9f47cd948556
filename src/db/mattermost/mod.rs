//! The Mattermost dialect's storage (seeds/002): users with their own 26-character ids and
//! Argon2 password hashes, login sessions, teams, channels, memberships and posts.
//!
//! These tables stand apart from `users` (whose ids are the integers the JWT dialects carry):
//! Mattermost clients expect Mattermost's ids and log in with a password, not a JWT. Times are
//! Unix milliseconds, as Mattermost stores and sends them, so nothing is converted on the wire.

pub mod channels;
pub mod posts;
pub mod statuses;
pub mod users;

use diesel::prelude::*;

diesel::table! {
    /// Mattermost users.
    mm_users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        nickname -> Text,
        roles -> Text,
        create_at -> BigInt,
        update_at -> BigInt,
        delete_at -> BigInt,
    }
}

diesel::table! {
    /// Login sessions: the token `users/login` returns, and until when it is good.
    mm_sessions (token) {
        token -> Text,
        user_id -> Text,
        create_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Teams.
    mm_teams (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        #[sql_name = "type"]
        kind -> Text,
        create_at -> BigInt,
        update_at -> BigInt,
        delete_at -> BigInt,
    }
}

diesel::table! {
    /// Who belongs to which team.
    mm_team_members (team_id, user_id) {
        team_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    /// Channels (`O` open, `P` private) of a team.
    mm_channels (id) {
        id -> Text,
        team_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        name -> Text,
        display_name -> Text,
        creator_id -> Text,
        create_at -> BigInt,
        update_at -> BigInt,
        delete_at -> BigInt,
        last_post_at -> BigInt,
        total_msg_count -> BigInt,
    }
}

diesel::table! {
    /// Who belongs to which channel, and how far they have read it.
    mm_channel_members (channel_id, user_id) {
        channel_id -> Text,
        user_id -> Text,
        last_viewed_at -> BigInt,
        msg_count -> BigInt,
        mention_count -> BigInt,
        last_update_at -> BigInt,
    }
}

diesel::table! {
    /// Posts. Deleting sets `delete_at`; the row stays, as in Mattermost.
    mm_posts (id) {
        id -> Text,
        channel_id -> Text,
        user_id -> Text,
        root_id -> Text,
        message -> Text,
        #[sql_name = "type"]
        kind -> Text,
        props -> Text,
        hashtags -> Text,
        pending_post_id -> Text,
        is_pinned -> BigInt,
        create_at -> BigInt,
        update_at -> BigInt,
        edit_at -> BigInt,
        delete_at -> BigInt,
    }
}

diesel::table! {
    /// Statuses (online, away, dnd, offline), set by connecting or by hand.
    mm_status (user_id) {
        user_id -> Text,
        status -> Text,
        manual -> BigInt,
        last_activity_at -> BigInt,
        dnd_end_time -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    mm_status,
    mm_users,
    mm_sessions,
    mm_teams,
    mm_team_members,
    mm_channels,
    mm_channel_members,
    mm_posts,
);

/// A stored user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mm_users)]
pub struct User {
    /// 26-character id.
    pub id: String,
    /// Login name, unique.
    pub username: String,
    /// Argon2 PHC string; never leaves the server.
    pub password_hash: String,
    /// Email (may be empty).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Nickname.
    pub nickname: String,
    /// Space-separated roles (`system_user`).
    pub roles: String,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change, Unix ms.
    pub update_at: i64,
    /// Deactivated at, Unix ms; 0 when active.
    pub delete_at: i64,
}

/// A stored team.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mm_teams)]
pub struct Team {
    /// 26-character id.
    pub id: String,
    /// URL name, unique.
    pub name: String,
    /// Shown name.
    pub display_name: String,
    /// `O` open (anyone may join), `I` invite only.
    pub kind: String,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change, Unix ms.
    pub update_at: i64,
    /// Deleted at, Unix ms; 0 when live.
    pub delete_at: i64,
}

/// A stored channel.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mm_channels)]
pub struct Channel {
    /// 26-character id.
    pub id: String,
    /// Its team.
    pub team_id: String,
    /// `O` open, `P` private.
    pub kind: String,
    /// URL name, unique within the team.
    pub name: String,
    /// Shown name.
    pub display_name: String,
    /// Who created it.
    pub creator_id: String,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change, Unix ms.
    pub update_at: i64,
    /// Deleted at, Unix ms; 0 when live.
    pub delete_at: i64,
    /// Newest post, Unix ms.
    pub last_post_at: i64,
    /// Posts ever made in it.
    pub total_msg_count: i64,
}

/// A stored channel membership.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mm_channel_members)]
pub struct ChannelMember {
    /// The channel.
    pub channel_id: String,
    /// The member.
    pub user_id: String,
    /// When the member last viewed the channel, Unix ms.
    pub last_viewed_at: i64,
    /// The channel's message count the member has seen.
    pub msg_count: i64,
    /// Mentions not yet seen.
    pub mention_count: i64,
    /// Last change, Unix ms.
    pub last_update_at: i64,
}

/// A stored post.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mm_posts)]
pub struct Post {
    /// 26-character id.
    pub id: String,
    /// Its channel.
    pub channel_id: String,
    /// Its author.
    pub user_id: String,
    /// The thread's root post, or empty.
    pub root_id: String,
    /// Text.
    pub message: String,
    /// `""` for user posts, `system_*` for system messages.
    pub kind: String,
    /// Props as JSON text (an object).
    pub props: String,
    /// Hashtags found in the message, space-separated.
    pub hashtags: String,
    /// The client's id for the post before it was stored (`<user>:<ms>`).
    pub pending_post_id: String,
    /// 1 when pinned.
    pub is_pinned: i64,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change of any kind, Unix ms.
    pub update_at: i64,
    /// Last edit of the message, Unix ms; 0 if never edited.
    pub edit_at: i64,
    /// Deleted at, Unix ms; 0 when live.
    pub delete_at: i64,
}
