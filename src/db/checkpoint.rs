//! SQLite checkpoints on a thread of their own.
//!
//! In WAL mode a commit appends to the log without syncing (with `synchronous = NORMAL`); the
//! fsyncs happen when the log is copied back into the database file — a checkpoint. Left to
//! SQLite, the committing connection runs that checkpoint itself every 1,000 pages, and the
//! one writer that every chat message and chord change waits on then waits for two fsyncs:
//! measured here, up to 15 ms each, several times a second under the benchmark's many-rooms
//! workload, where they made the whole p99 (9 ms against a median of 0.6 ms). So pooled
//! connections never checkpoint (`wal_autocheckpoint = 0`, see [`super::Db::connect`]), and this
//! thread runs a passive checkpoint — one that never blocks a writer or a reader — every
//! [`INTERVAL`] over its own connection. It stops when the last handle to the pool is gone.

use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use crate::error::DbError;

/// How often the log is copied into the database file.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// Kept by every clone of the pool; the thread ends once none is left.
#[derive(Clone)]
pub struct Checkpointer {
    _alive: Arc<()>,
}

impl Checkpointer {
    /// Opens a connection to the database at `path` and starts checkpointing it.
    pub fn start(path: &str) -> Result<Checkpointer, DbError> {
        let mut conn =
            SqliteConnection::establish(path).map_err(|e| DbError::Pool(e.to_string()))?;
        conn.batch_execute("PRAGMA busy_timeout = 5000;")
            .map_err(DbError::Query)?;
        let alive = Arc::new(());
        let watch: Weak<()> = Arc::downgrade(&alive);
        thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(conn, watch))
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Checkpointer { _alive: alive })
    }
}

fn run(mut conn: SqliteConnection, watch: Weak<()>) {
    while watch.upgrade().is_some() {
        thread::sleep(INTERVAL);
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
            log::warn!("sqlite checkpoint failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use crate::config::Config;
    use crate::db::chat_message::{insert_many, NewChatMessage};
    use crate::db::schema::chat_messages;
    use crate::db::Db;

    /// Rows in the database file alone, read from a copy made without its log: what a
    /// checkpoint has written back.
    fn rows_in_main_file(dir: &std::path::Path) -> Option<i64> {
        let copy = dir.join("copy.db");
        std::fs::copy(dir.join("hub.db"), &copy).ok()?;
        let _ = std::fs::remove_file(dir.join("copy.db-wal"));
        let mut conn = SqliteConnection::establish(copy.to_str()?).ok()?;
        chat_messages::table.count().get_result(&mut conn).ok()
    }

    #[test]
    fn committed_rows_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        let config = Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone())).unwrap();
        let db = Db::connect(&config).unwrap();
        let now = chrono::Utc::now().naive_utc();
        let rows: Vec<NewChatMessage<'_>> = (0..50)
            .map(|_| NewChatMessage {
                room: "r",
                user_id: None,
                user_name: "n",
                body: "b",
                created_at: now,
            })
            .collect();
        insert_many(&mut db.blocking_conn().unwrap(), &rows).unwrap();
        // 50 rows are far below SQLite's own 1,000-page threshold, and pooled connections do
        // not checkpoint at all: only the checkpointing thread can have put them there.
        let mut found = None;
        for _ in 0..40 {
            std::thread::sleep(super::INTERVAL / 5);
            found = rows_in_main_file(dir.path());
            if found == Some(50) {
                break;
            }
        }
        assert_eq!(found, Some(50));
    }
}
