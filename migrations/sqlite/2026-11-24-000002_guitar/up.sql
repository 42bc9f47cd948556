CREATE TABLE guitar_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    current_chord TEXT,
    chord_at TIMESTAMP
);

CREATE TABLE guitar_members (
    session_id TEXT NOT NULL REFERENCES guitar_sessions (id),
    user_id BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);

CREATE TABLE practice_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    session_id TEXT NOT NULL REFERENCES guitar_sessions (id),
    user_id BIGINT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    duration_seconds BIGINT
);

CREATE INDEX practice_logs_session ON practice_logs (session_id, id);
-- at most one practice in progress per session: a second start fails here, whatever the race
CREATE UNIQUE INDEX practice_logs_open ON practice_logs (session_id) WHERE ended_at IS NULL;
