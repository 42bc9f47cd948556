-- The Mattermost dialect (seeds/002): its own users (26-character ids, Argon2 password
-- hashes), login sessions, teams, channels, memberships and posts. Times are Unix
-- milliseconds, as Mattermost keeps and sends them.
CREATE TABLE mm_users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    nickname TEXT NOT NULL,
    roles TEXT NOT NULL,
    create_at BIGINT NOT NULL,
    update_at BIGINT NOT NULL,
    delete_at BIGINT NOT NULL
);

CREATE TABLE mm_sessions (
    token TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES mm_users (id),
    create_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mm_sessions_user ON mm_sessions (user_id);

CREATE TABLE mm_teams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    type TEXT NOT NULL,
    create_at BIGINT NOT NULL,
    update_at BIGINT NOT NULL,
    delete_at BIGINT NOT NULL
);

CREATE TABLE mm_team_members (
    team_id TEXT NOT NULL REFERENCES mm_teams (id),
    user_id TEXT NOT NULL REFERENCES mm_users (id),
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE mm_channels (
    id TEXT PRIMARY KEY NOT NULL,
    team_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    create_at BIGINT NOT NULL,
    update_at BIGINT NOT NULL,
    delete_at BIGINT NOT NULL,
    last_post_at BIGINT NOT NULL,
    total_msg_count BIGINT NOT NULL,
    UNIQUE (team_id, name)
);

CREATE TABLE mm_channel_members (
    channel_id TEXT NOT NULL REFERENCES mm_channels (id),
    user_id TEXT NOT NULL REFERENCES mm_users (id),
    last_viewed_at BIGINT NOT NULL,
    msg_count BIGINT NOT NULL,
    mention_count BIGINT NOT NULL,
    last_update_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
-- "the channels I am in" (who shares a channel with me, my statuses' audience)
CREATE INDEX mm_channel_members_user ON mm_channel_members (user_id);

CREATE TABLE mm_posts (
    id TEXT PRIMARY KEY NOT NULL,
    channel_id TEXT NOT NULL REFERENCES mm_channels (id),
    user_id TEXT NOT NULL REFERENCES mm_users (id),
    root_id TEXT NOT NULL,
    message TEXT NOT NULL,
    type TEXT NOT NULL,
    props TEXT NOT NULL,
    hashtags TEXT NOT NULL,
    pending_post_id TEXT NOT NULL,
    is_pinned BIGINT NOT NULL,
    create_at BIGINT NOT NULL,
    update_at BIGINT NOT NULL,
    edit_at BIGINT NOT NULL,
    delete_at BIGINT NOT NULL
);
-- a channel's pages, newest first, and "changed since"
CREATE INDEX mm_posts_channel_create ON mm_posts (channel_id, create_at);
CREATE INDEX mm_posts_channel_update ON mm_posts (channel_id, update_at);
