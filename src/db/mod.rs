//! Storage through diesel: one connection type over SQLite (the embedded default) and
//! PostgreSQL (a store shared by many nodes), one pool, and [`Db::run`] — the only door through
//! which blocking diesel calls leave the async world.
//!
//! Queries are written once against [`DbConnection`]; the derive behind it dispatches to the
//! backend the URL chose. Migrations exist once per backend under `migrations/` and are
//! embedded in the binary, so a fresh install migrates itself at start.

pub mod chat_message;
pub mod guitar;
pub mod mattermost;
pub mod messages;
pub mod schema;
pub mod user;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::Config;
use crate::error::DbError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to whichever backend `DATABASE_URL` names. Every query in the crate is written
/// against this type, so adding PostgreSQL did not mean writing queries twice.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// `postgres://…`: shared by every node of a cluster.
    Pg(PgConnection),
    /// `sqlite://path`: the single-node default, a file in the working directory.
    Sqlite(SqliteConnection),
}

/// Per-connection settings SQLite needs under concurrent use: a busy timeout instead of an
/// immediate "database is locked", foreign keys on. (WAL, which lets readers proceed while one
/// connection writes, is a property of the file and is set once in [`Db::connect`].)
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// The pool, cheap to clone into every handler and actor.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<DbConnection>>,
}

impl Db {
    /// Opens the pool for `config.database_url` and applies pending migrations.
    pub fn connect(config: &Config) -> Result<Db, DbError> {
        let url = diesel_url(&config.database_url);
        if config.sqlite_path().is_some() {
            // Switching to WAL needs the file to itself: do it once, before the pool opens
            // several connections at the same moment.
            let mut first =
                SqliteConnection::establish(&url).map_err(|e| DbError::Pool(e.to_string()))?;
            first
                .batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")
                .map_err(DbError::Query)?;
        }
        let pool = Pool::builder()
            .max_size(config.db_pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(ConnectionManager::<DbConnection>::new(url))
            .map_err(|e| DbError::Pool(e.to_string()))?;
        let db = Db { pool };
        db.migrate()?;
        Ok(db)
    }

    /// Applies the pending migrations of the configured backend; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.pool.get().map_err(|e| DbError::Pool(e.to_string()))?;
        let applied = match &mut *conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            DbConnection::Pg(c) => {
                // Nodes of a cluster starting together on a fresh database would otherwise race
                // each other's migrations; an advisory lock lets one run them at a time.
                c.batch_execute("SELECT pg_advisory_lock(724100001)")
                    .map_err(|e| DbError::Migration(e.to_string()))?;
                let ran = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.len());
                let _ = c.batch_execute("SELECT pg_advisory_unlock(724100001)");
                ran
            }
        }
        .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(applied)
    }

    /// Runs blocking diesel work on the blocking thread pool with a pooled connection. Every
    /// query goes through here, so no actor or HTTP worker thread ever waits on the database.
    /// The work may fail with a service's own error type, so refusals need no nesting.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| E::from(DbError::Pool(e.to_string())))?;
            work(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// A pooled connection for code that is not async (the command line).
    pub fn blocking_conn(
        &self,
    ) -> Result<diesel::r2d2::PooledConnection<ConnectionManager<DbConnection>>, DbError> {
        self.pool.get().map_err(|e| DbError::Pool(e.to_string()))
    }

    /// Whether the database answers a trivial query (`/readyz`).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
    }
}

/// diesel's SQLite driver takes a plain path; PostgreSQL takes the URL as is.
fn diesel_url(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) => path.to_string(),
        None => url.to_string(),
    }
}
