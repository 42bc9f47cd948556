-- Mattermost statuses: online/away/dnd/offline per user, whether the user set it by hand
-- (then connecting and disconnecting do not change it), and the last activity (Unix ms).
CREATE TABLE mm_status (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES mm_users (id),
    status TEXT NOT NULL,
    manual BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    dnd_end_time BIGINT NOT NULL
);
