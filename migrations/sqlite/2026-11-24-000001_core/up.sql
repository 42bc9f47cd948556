CREATE TABLE users (
    id BIGINT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    room TEXT NOT NULL,
    user_id BIGINT,
    user_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- history on join: the newest N of one room
CREATE INDEX chat_messages_room_id ON chat_messages (room, id);
