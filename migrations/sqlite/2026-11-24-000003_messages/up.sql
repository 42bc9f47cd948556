CREATE TABLE communities (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE community_members (
    community_id BIGINT NOT NULL REFERENCES communities (id),
    user_id BIGINT NOT NULL,
    joined_at TIMESTAMP NOT NULL,
    PRIMARY KEY (community_id, user_id)
);
-- "my communities"
CREATE INDEX community_members_user ON community_members (user_id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    sender_id BIGINT NOT NULL REFERENCES users (id),
    recipient_id BIGINT NOT NULL REFERENCES users (id),
    community_id BIGINT REFERENCES communities (id),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    read_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- "my newest messages", received and sent, walked backwards by id
CREATE INDEX messages_recipient ON messages (recipient_id, id);
CREATE INDEX messages_sender ON messages (sender_id, id);
-- "my unread count", overall and per community: only unread rows are in this index
CREATE INDEX messages_unread ON messages (recipient_id, community_id) WHERE read_at IS NULL;
