//! Tables as diesel sees them. Written by hand to the common subset of SQLite and PostgreSQL
//! types (`BigInt`, `Text`, `Timestamp`), which is what the multi-backend connection supports.

diesel::table! {
    /// Users, upserted from token claims on every authenticated connection or request.
    users (id) {
        id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Chat room messages (seeds/003), kept so a joining member sees the recent history.
    chat_messages (id) {
        id -> BigInt,
        room -> Text,
        user_id -> Nullable<BigInt>,
        user_name -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}
