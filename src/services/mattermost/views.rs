//! What Mattermost clients receive: `model.User`, `model.Team`, `model.Channel`, their members,
//! `model.Post` and `model.PostList`, with Mattermost's key names and types. REST answers with
//! them and events carry them, so the two cannot drift.
//!
//! Fields the hub has no notion of are sent with the value Mattermost sends for a plain
//! account or object (`roles: "system_user"`, `header: ""`), because clients read them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::db::mattermost::{Channel, ChannelMember, Post, Team, User};

/// `model.User`, without what never leaves the server (the password hash).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change, Unix ms.
    pub update_at: i64,
    /// Deactivated at; 0 when active.
    pub delete_at: i64,
    /// Login name.
    pub username: String,
    /// Always `""`: the hub has no external auth services.
    pub auth_service: &'static str,
    /// Email.
    pub email: String,
    /// Whether the email was verified; true, as no verification is done.
    pub email_verified: bool,
    /// Nickname.
    pub nickname: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Job position; the hub keeps none.
    pub position: &'static str,
    /// Space-separated roles.
    pub roles: String,
    /// UI language; `en`.
    pub locale: &'static str,
    /// Mattermost's timezone object with its default values.
    pub timezone: Value,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id.clone(),
            create_at: u.create_at,
            update_at: u.update_at,
            delete_at: u.delete_at,
            username: u.username.clone(),
            auth_service: "",
            email: u.email.clone(),
            email_verified: true,
            nickname: u.nickname.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            position: "",
            roles: u.roles.clone(),
            locale: "en",
            timezone: json!({"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"}),
        }
    }
}

/// `model.Team`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TeamView {
    /// Id.
    pub id: String,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change, Unix ms.
    pub update_at: i64,
    /// Deleted at; 0 when live.
    pub delete_at: i64,
    /// Shown name.
    pub display_name: String,
    /// URL name.
    pub name: String,
    /// Description; the hub keeps none.
    pub description: &'static str,
    /// Contact email; the hub keeps none.
    pub email: &'static str,
    /// `O` open, `I` invite only.
    #[serde(rename = "type")]
    pub kind: String,
    /// Company name; the hub keeps none.
    pub company_name: &'static str,
    /// Email domains allowed to join; none.
    pub allowed_domains: &'static str,
    /// Invitation id; none.
    pub invite_id: &'static str,
    /// Whether anyone may join: an open team.
    pub allow_open_invite: bool,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> TeamView {
        TeamView {
            id: t.id.clone(),
            create_at: t.create_at,
            update_at: t.update_at,
            delete_at: t.delete_at,
            display_name: t.display_name.clone(),
            name: t.name.clone(),
            description: "",
            email: "",
            kind: t.kind.clone(),
            company_name: "",
            allowed_domains: "",
            invite_id: "",
            allow_open_invite: t.kind == "O",
        }
    }
}

/// `model.TeamMember`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TeamMemberView {
    /// The team.
    pub team_id: String,
    /// The member.
    pub user_id: String,
    /// `team_user`.
    pub roles: &'static str,
    /// 0: members are never removed here.
    pub delete_at: i64,
    /// Not a guest.
    pub scheme_guest: bool,
    /// A user.
    pub scheme_user: bool,
    /// Not an admin.
    pub scheme_admin: bool,
    /// None.
    pub explicit_roles: &'static str,
}

impl TeamMemberView {
    /// The membership of `user` in `team`.
    pub fn new(team: &str, user: &str) -> TeamMemberView {
        TeamMemberView {
            team_id: team.to_string(),
            user_id: user.to_string(),
            roles: "team_user",
            delete_at: 0,
            scheme_guest: false,
            scheme_user: true,
            scheme_admin: false,
            explicit_roles: "",
        }
    }
}

/// `model.Channel`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelView {
    /// Id.
    pub id: String,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change, Unix ms.
    pub update_at: i64,
    /// Deleted at; 0 when live.
    pub delete_at: i64,
    /// Its team.
    pub team_id: String,
    /// `O` open, `P` private.
    #[serde(rename = "type")]
    pub kind: String,
    /// Shown name.
    pub display_name: String,
    /// URL name.
    pub name: String,
    /// Header; the hub keeps none.
    pub header: &'static str,
    /// Purpose; the hub keeps none.
    pub purpose: &'static str,
    /// Newest post, Unix ms.
    pub last_post_at: i64,
    /// Posts ever made.
    pub total_msg_count: i64,
    /// 0.
    pub extra_update_at: i64,
    /// Who created it.
    pub creator_id: String,
}

impl From<&Channel> for ChannelView {
    fn from(c: &Channel) -> ChannelView {
        ChannelView {
            id: c.id.clone(),
            create_at: c.create_at,
            update_at: c.update_at,
            delete_at: c.delete_at,
            team_id: c.team_id.clone(),
            kind: c.kind.clone(),
            display_name: c.display_name.clone(),
            name: c.name.clone(),
            header: "",
            purpose: "",
            last_post_at: c.last_post_at,
            total_msg_count: c.total_msg_count,
            extra_update_at: 0,
            creator_id: c.creator_id.clone(),
        }
    }
}

/// `model.ChannelMember`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelMemberView {
    /// The channel.
    pub channel_id: String,
    /// The member.
    pub user_id: String,
    /// `channel_user`.
    pub roles: &'static str,
    /// Last viewed, Unix ms.
    pub last_viewed_at: i64,
    /// Messages seen.
    pub msg_count: i64,
    /// Mentions not yet seen.
    pub mention_count: i64,
    /// Mattermost's default notification settings.
    pub notify_props: Value,
    /// Last change, Unix ms.
    pub last_update_at: i64,
    /// Not a guest.
    pub scheme_guest: bool,
    /// A user.
    pub scheme_user: bool,
    /// Not an admin.
    pub scheme_admin: bool,
    /// None.
    pub explicit_roles: &'static str,
}

impl From<&ChannelMember> for ChannelMemberView {
    fn from(m: &ChannelMember) -> ChannelMemberView {
        ChannelMemberView {
            channel_id: m.channel_id.clone(),
            user_id: m.user_id.clone(),
            roles: "channel_user",
            last_viewed_at: m.last_viewed_at,
            msg_count: m.msg_count,
            mention_count: m.mention_count,
            notify_props: json!({"desktop": "default", "email": "default", "ignore_channel_mentions": "default", "mark_unread": "all", "push": "default"}),
            last_update_at: m.last_update_at,
            scheme_guest: false,
            scheme_user: true,
            scheme_admin: false,
            explicit_roles: "",
        }
    }
}

/// `model.Post`, key for key as Mattermost serializes a plain post.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostView {
    /// Id.
    pub id: String,
    /// Created, Unix ms.
    pub create_at: i64,
    /// Last change of any kind, Unix ms.
    pub update_at: i64,
    /// Last edit of the message; 0 if never.
    pub edit_at: i64,
    /// Deleted at; 0 when live.
    pub delete_at: i64,
    /// Pinned to the channel.
    pub is_pinned: bool,
    /// Author.
    pub user_id: String,
    /// Channel.
    pub channel_id: String,
    /// Thread root, or `""`.
    pub root_id: String,
    /// `""`: the hub keeps no edit history.
    pub original_id: &'static str,
    /// Text.
    pub message: String,
    /// `""` for user posts.
    #[serde(rename = "type")]
    pub kind: String,
    /// Props (an object).
    pub props: Value,
    /// Hashtags in the message.
    pub hashtags: String,
    /// The client's pending id.
    pub pending_post_id: String,
    /// Replies in the thread (0: threads are not counted here).
    pub reply_count: i64,
    /// Newest reply, Unix ms (0).
    pub last_reply_at: i64,
    /// `null`.
    pub participants: Option<()>,
    /// `{}`: no embeds, emojis or files.
    pub metadata: Value,
}

impl From<&Post> for PostView {
    fn from(p: &Post) -> PostView {
        PostView {
            id: p.id.clone(),
            create_at: p.create_at,
            update_at: p.update_at,
            edit_at: p.edit_at,
            delete_at: p.delete_at,
            is_pinned: p.is_pinned != 0,
            user_id: p.user_id.clone(),
            channel_id: p.channel_id.clone(),
            root_id: p.root_id.clone(),
            original_id: "",
            message: p.message.clone(),
            kind: p.kind.clone(),
            props: serde_json::from_str(&p.props).unwrap_or_else(|_| json!({})),
            hashtags: p.hashtags.clone(),
            pending_post_id: p.pending_post_id.clone(),
            reply_count: 0,
            last_reply_at: 0,
            participants: None,
            metadata: json!({}),
        }
    }
}

/// `model.PostList`: ids newest first in `order`, the posts in a map keyed by id.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostList {
    /// Ids, newest first.
    pub order: Vec<String>,
    /// The posts by id.
    pub posts: BTreeMap<String, PostView>,
    /// The post just newer than this list, or `""`.
    pub next_post_id: String,
    /// The post just older than this list, or `""`.
    pub prev_post_id: String,
    /// Whether newer posts exist.
    pub has_next: bool,
    /// 0: no posts are hidden by a plan's limits.
    pub first_inaccessible_post_time: i64,
}

impl PostList {
    /// A list of `posts`, newest first.
    pub fn of(posts: Vec<Post>) -> PostList {
        PostList {
            order: posts.iter().map(|p| p.id.clone()).collect(),
            posts: posts.iter().map(|p| (p.id.clone(), p.into())).collect(),
            next_post_id: String::new(),
            prev_post_id: String::new(),
            has_next: false,
            first_inaccessible_post_time: 0,
        }
    }
}
