//! The database connection: Postgres when `DATABASE_URL` is set, otherwise an embedded SQLite
//! file, and the migrations (embedded in the binary, so an installed server needs no files).
//!
//! Postgres is spoken in plaintext (no `tls-*` sqlx feature): fine on loopback and private
//! networks, not across the internet.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, SqlStr};

/// How long [`Db::connect`] waits for a database before reporting it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a slow startup step says it is still waiting ([`Db::patiently`]).
pub const STEP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// How long [`Db::patiently`] waits for the database to say who holds the locks.
const BLOCKERS_TIMEOUT: Duration = Duration::from_secs(2);

/// The `application_name` of the server's Postgres sessions when neither the URL nor
/// `PGAPPNAME` names one (how [`Db::blockers`] tells its own sessions from others: other
/// programs given the same name would count as the server's).
pub const APPLICATION_NAME: &str = "starforge";

/// SQL condition on `pg_stat_activity w`: `w` is another session of this server (its
/// `application_name`) on this database. Shared by [`Db::blockers`] and the cancellation in
/// [`Db::patiently`], which must mean the same sessions.
macro_rules! own_sessions {
    () => {
        "w.datname = current_database() \
         AND w.application_name = current_setting('application_name') \
         AND w.pid <> pg_backend_pid()"
    };
}

/// A Postgres session holding a lock that the server waits for.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocker {
    /// Its server process id (what `pg_terminate_backend` takes).
    pub pid: i32,
    /// Its `application_name` (empty if it set none).
    pub application: String,
    /// `active`, `idle in transaction`, ...
    pub state: String,
    /// How long its transaction has been open (0 outside a transaction).
    pub transaction_secs: f64,
    /// Its current or last statement (at most 200 characters).
    pub query: String,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let application = if self.application.is_empty() { "no application name" } else { &self.application };
        write!(
            f,
            "pid {} ({application}, {}, transaction open {:.0} s, statement `{}`)",
            self.pid,
            self.state,
            self.transaction_secs,
            self.query.split_whitespace().collect::<Vec<_>>().join(" ")
        )
    }
}

/// The environment variable that selects Postgres (a `postgres://` URL).
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// One embedded migration: version, description, SQL.
type EmbeddedMigration = (i64, &'static str, &'static str);

/// Postgres migrations, in version order (`persistence/migrations/postgres/`).
const POSTGRES_MIGRATIONS: &[EmbeddedMigration] = &[
    (1, "players", include_str!("../migrations/postgres/0001_players.sql")),
    (2, "world tables", include_str!("../migrations/postgres/0002_world.sql")),
    (3, "placement", include_str!("../migrations/postgres/0003_placement.sql")),
];

/// SQLite migrations, in version order (`persistence/migrations/sqlite/`); the same versions
/// and descriptions as [`POSTGRES_MIGRATIONS`].
const SQLITE_MIGRATIONS: &[EmbeddedMigration] = &[
    (1, "players", include_str!("../migrations/sqlite/0001_players.sql")),
    (2, "world tables", include_str!("../migrations/sqlite/0002_world.sql")),
    (3, "placement", include_str!("../migrations/sqlite/0003_placement.sql")),
];

/// Which database engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL (selected by `DATABASE_URL`).
    Postgres,
    /// An embedded SQLite file (the default).
    Sqlite,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "Postgres",
            Backend::Sqlite => "SQLite",
        })
    }
}

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A Postgres URL (`postgres://user[:password]@host[:port]/database`).
    Postgres(String),
    /// A SQLite file; created (with its parent directories) if missing.
    Sqlite(PathBuf),
}

impl DbTarget {
    /// Postgres if [`DATABASE_URL_ENV`] is set (and not empty), else the SQLite file at `path`.
    pub fn from_env_or(path: impl Into<PathBuf>) -> Self {
        Self::from_url_or(std::env::var(DATABASE_URL_ENV).ok(), path)
    }

    /// Postgres if `url` is `Some` and not empty, else the SQLite file at `path`.
    pub fn from_url_or(url: Option<String>, path: impl Into<PathBuf>) -> Self {
        match url {
            Some(url) if !url.trim().is_empty() => DbTarget::Postgres(url),
            _ => DbTarget::Sqlite(path.into()),
        }
    }

    /// The engine this target selects.
    pub fn backend(&self) -> Backend {
        match self {
            DbTarget::Postgres(_) => Backend::Postgres,
            DbTarget::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A printable description with any password hidden: the redacted URL or the file path.
    pub fn redacted(&self) -> String {
        match self {
            DbTarget::Postgres(url) => redact_url(url),
            DbTarget::Sqlite(path) => path.display().to_string(),
        }
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbTarget::Postgres(_) => f.debug_tuple("Postgres").field(&self.redacted()).finish(),
            DbTarget::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
        }
    }
}

/// What went wrong with the database; the message names the database and carries the driver's
/// text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The Postgres URL could not be parsed.
    #[error("bad Postgres URL {url}: {reason}")]
    BadUrl {
        /// The URL, password hidden.
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// No connection could be made (network error, refused, timed out, file not openable).
    #[error("{backend} at {location} is unreachable: {reason}")]
    Unreachable {
        /// Which engine.
        backend: Backend,
        /// `host:port/database` or the file path.
        location: String,
        /// The driver's message or the timeout.
        reason: String,
    },
    /// The server answered but refused the session (authentication, missing database, ...).
    #[error("{backend} at {location} refused the connection: {reason}")]
    Refused {
        /// Which engine.
        backend: Backend,
        /// `host:port/database` or the file path.
        location: String,
        /// The server's message.
        reason: String,
    },
    /// Another server is using this database's world (see [`crate::lock`]).
    #[error(
        "{backend} at {location} is in use: {holder}. Two servers writing one world overwrite each other's saves: \
         stop the other server first (or give this one another database)"
    )]
    InUse {
        /// Which engine.
        backend: Backend,
        /// The database.
        location: String,
        /// Who holds it, as far as can be told.
        holder: String,
    },
    /// The database holds a world in the format before relational tables.
    #[error(
        "the {backend} database holds a world saved in the old format (one `entities` table of encoded blobs); \
         this server keeps the world in relational tables and cannot read it. No released version wrote that \
         format, so there is no conversion: start with a new database (Postgres: `dropdb` and `createdb` it, or \
         set DATABASE_URL to another one; SQLite: move the file and its -wal/-shm files away)"
    )]
    OldFormat {
        /// Which engine.
        backend: Backend,
    },
    /// One migration failed; nothing of it was applied (each runs in a transaction).
    #[error("{backend}: migration {version} ({description}) failed: {reason}")]
    Migration {
        /// Which engine.
        backend: Backend,
        /// The migration's version.
        version: i64,
        /// The migration's description.
        description: String,
        /// The driver's message.
        reason: String,
    },
    /// Migrating failed outside any single migration (bookkeeping table, a migration applied
    /// earlier that was modified or is unknown to this binary, ...).
    #[error("{backend}: migrations failed: {reason}")]
    Migrations {
        /// Which engine.
        backend: Backend,
        /// sqlx's message.
        reason: String,
    },
    /// A startup step (migrations, a spill file, reading the saved world, listing accounts) did
    /// not finish within the startup limit; its waiting statement was cancelled and the
    /// transaction it was in rolled back ([`Db::patiently`]).
    #[error(
        "{backend}: {step} did not finish within {limit:?}{blockers}. Its waiting statement was cancelled and its \
         transaction rolled back; end what holds the lock (or wait for the database) and start again, or allow more \
         time with --startup-timeout"
    )]
    Stalled {
        /// Which engine.
        backend: Backend,
        /// The step.
        step: &'static str,
        /// The limit it ran into.
        limit: Duration,
        /// Who holds the locks it waited for (`: it waits for pid ...`), or why that is unknown;
        /// empty when nothing was found.
        blockers: String,
    },
    /// A statement failed.
    #[error("{backend}: {what} failed: {reason}")]
    Query {
        /// Which engine.
        backend: Backend,
        /// What was being done.
        what: &'static str,
        /// The driver's message.
        reason: String,
    },
}

impl DbError {
    /// A failed statement.
    pub(crate) fn query(backend: Backend, what: &'static str, error: impl fmt::Display) -> Self {
        DbError::Query { backend, what, reason: error.to_string() }
    }
}

/// A connection pool to the selected database.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite (WAL journal, foreign keys on).
    Sqlite(SqlitePool),
}

impl Db {
    /// Connects to `target` within [`CONNECT_TIMEOUT`]; see [`Db::connect_with_timeout`].
    pub async fn connect(target: &DbTarget) -> Result<Db, DbError> {
        Self::connect_with_timeout(target, CONNECT_TIMEOUT).await
    }

    /// Connects to `target`, giving up after `timeout` with [`DbError::Unreachable`].
    ///
    /// A SQLite file (and its parent directories) is created if missing and put in WAL mode.
    /// Migrations are not run: call [`Db::migrate`].
    pub async fn connect_with_timeout(target: &DbTarget, timeout: Duration) -> Result<Db, DbError> {
        match target {
            DbTarget::Postgres(url) => connect_postgres(url, timeout).await.map(Db::Postgres),
            DbTarget::Sqlite(path) => connect_sqlite(path, timeout).await.map(Db::Sqlite),
        }
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies the embedded migrations that this database has not seen yet; running it again
    /// does nothing. Fails if a migration fails or one applied earlier differs from the
    /// embedded one.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let backend = self.backend();
        if self.holds_old_format().await? {
            return Err(DbError::OldFormat { backend });
        }
        let migrator = migrator(backend);
        let result = match self {
            Db::Postgres(pool) => run(&migrator, pool).await,
            Db::Sqlite(pool) => run(&migrator, pool).await,
        };
        result.map_err(|error| migrate_error(backend, error))
    }

    /// Whether the database holds the blob tables of the format before relational tables.
    async fn holds_old_format(&self) -> Result<bool, DbError> {
        const WHAT: &str = "checking the saved world's format";
        let found: Result<bool, sqlx::Error> = match self {
            Db::Postgres(pool) => {
                sqlx::query_scalar("SELECT to_regclass('entities') IS NOT NULL").fetch_one(pool).await
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'entities'")
                    .fetch_one(pool)
                    .await
            }
        };
        found.map_err(|e| DbError::query(self.backend(), WHAT, e))
    }

    /// Awaits `step`, a startup step against this database (migrations, a spill file, reading
    /// the saved world, listing accounts): every [`STEP_REPORT_EVERY`] it takes, a log line
    /// says it is still waiting and names the sessions holding a lock it waits for
    /// ([`Db::blockers`]); after `limit` it is given up with [`DbError::Stalled`].
    ///
    /// Giving up cancels this server's waiting statements (`pg_cancel_backend`: a backend
    /// waiting for a lock would not notice its client leaving, and would stay queued for the
    /// lock, blocking others, until the holder ends), lets the step see the cancellation and
    /// drops it: the transaction it was in is rolled back. What it committed before stays
    /// (migrations that finished before the one that waited; a spill file whose write
    /// committed just at the limit is recognised as held at the next start).
    pub async fn patiently<T>(
        &self,
        step_name: &'static str,
        limit: Duration,
        step: impl Future<Output = T>,
    ) -> Result<T, DbError> {
        let started = tokio::time::Instant::now();
        let deadline = started + limit;
        let mut step = std::pin::pin!(step);
        loop {
            let next = (tokio::time::Instant::now() + STEP_REPORT_EVERY).min(deadline);
            if let Ok(done) = tokio::time::timeout_at(next, step.as_mut()).await {
                return Ok(done);
            }
            // Asking who blocks it, the step keeps going.
            let ask = tokio::time::timeout(BLOCKERS_TIMEOUT, self.blockers());
            let asked = tokio::select! {
                done = step.as_mut() => return Ok(done),
                asked = ask => asked,
            };
            let blockers = match asked {
                Ok(Ok(b)) if b.is_empty() => String::new(),
                Ok(Ok(b)) => {
                    format!(": it waits for {}", b.iter().map(Blocker::to_string).collect::<Vec<_>>().join("; "))
                }
                Ok(Err(e)) => format!(" (who holds its locks is unknown: {e})"),
                Err(_) => format!(" (who holds its locks is unknown: no answer within {BLOCKERS_TIMEOUT:?})"),
            };
            if tokio::time::Instant::now() >= deadline {
                // A failed cancel changes nothing: the process is about to give up anyway.
                let _ = tokio::time::timeout(BLOCKERS_TIMEOUT, self.cancel_waiting()).await;
                let _ = tokio::time::timeout(BLOCKERS_TIMEOUT, step.as_mut()).await;
                return Err(DbError::Stalled { backend: self.backend(), step: step_name, limit, blockers });
            }
            tracing::warn!(
                "startup: still {step_name} after {} s{blockers} (it gives up after {} s: --startup-timeout)",
                started.elapsed().as_secs(),
                limit.as_secs_f64()
            );
        }
    }

    /// Cancels the statements of this server's sessions (its `application_name`) on this
    /// database that wait for a lock (Postgres; nothing on SQLite).
    async fn cancel_waiting(&self) -> Result<(), DbError> {
        let Db::Postgres(pool) = self else { return Ok(()) };
        sqlx::query(concat!(
            "SELECT pg_cancel_backend(w.pid) FROM pg_stat_activity w WHERE ",
            own_sessions!(),
            " AND cardinality(pg_blocking_pids(w.pid)) > 0"
        ))
        .execute(pool)
        .await
        .map(drop)
        .map_err(|e| DbError::query(Backend::Postgres, "cancelling the waiting statements", e))
    }

    /// The sessions holding a lock that a session of this server (its `application_name`) on
    /// this database waits for, oldest transaction first. Postgres only: SQLite cannot tell who
    /// holds its lock (empty; its busy timeout reports a lock held too long as "database is
    /// locked").
    pub async fn blockers(&self) -> Result<Vec<Blocker>, DbError> {
        let Db::Postgres(pool) = self else { return Ok(Vec::new()) };
        let rows: Vec<(i32, String, String, f64, String)> = sqlx::query_as(concat!(
            "SELECT DISTINCT b.pid, coalesce(b.application_name, ''), coalesce(b.state, ''), \
                    coalesce(extract(epoch FROM now() - b.xact_start), 0)::float8, left(coalesce(b.query, ''), 200) \
             FROM pg_stat_activity w \
             CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) \
             JOIN pg_stat_activity b ON b.pid = bp.pid \
             WHERE ",
            own_sessions!(),
            " ORDER BY 4 DESC, 1"
        ))
        .fetch_all(pool)
        .await
        .map_err(|e| DbError::query(Backend::Postgres, "asking who holds the locks", e))?;
        Ok(rows
            .into_iter()
            .map(|(pid, application, state, transaction_secs, query)| Blocker {
                pid,
                application,
                state,
                transaction_secs,
                query,
            })
            .collect())
    }

    /// Closes every connection of the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        match self {
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }
}

async fn run<'a, A>(migrator: &Migrator, pool: A) -> Result<(), MigrateError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: Migrate,
{
    migrator.run(pool).await
}

/// The embedded migrations of `backend`, in version order.
fn embedded(backend: Backend) -> &'static [EmbeddedMigration] {
    match backend {
        Backend::Postgres => POSTGRES_MIGRATIONS,
        Backend::Sqlite => SQLITE_MIGRATIONS,
    }
}

/// A migrator over the embedded migrations of `backend`.
fn migrator(backend: Backend) -> Migrator {
    let migrations = embedded(backend)
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, SqlStr::from_static(sql), false)
        })
        .collect();
    Migrator::with_migrations(migrations)
}

fn migrate_error(backend: Backend, error: MigrateError) -> DbError {
    match error {
        MigrateError::ExecuteMigration(source, version) => {
            let description = embedded(backend)
                .iter()
                .find(|m| m.0 == version)
                .map_or_else(|| "unknown".to_owned(), |m| m.1.to_owned());
            DbError::Migration { backend, version, description, reason: source.to_string() }
        }
        other => DbError::Migrations { backend, reason: other.to_string() },
    }
}

/// `host:port/database` of a Postgres connection (how messages name it; no password).
pub(crate) fn pg_location(options: &PgConnectOptions) -> String {
    format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or("(default)"))
}

async fn connect_postgres(url: &str, timeout: Duration) -> Result<PgPool, DbError> {
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|error| DbError::BadUrl { url: redact_url(url), reason: error.to_string() })?;
    if options.get_application_name().is_none() {
        options = options.application_name(APPLICATION_NAME);
    }
    let location = pg_location(&options);
    let backend = Backend::Postgres;
    // One direct attempt first: the pool would retry a refused connection until its timeout
    // and then report only "pool timed out", losing the reason.
    let probe = tokio::time::timeout(timeout, options.connect()).await;
    match probe {
        Err(_) => {
            return Err(DbError::Unreachable { backend, location, reason: format!("no answer within {timeout:?}") });
        }
        Ok(Err(error)) => return Err(connect_error(backend, location, error)),
        Ok(Ok(connection)) => {
            // Closing is courtesy; the pool below opens its own connections.
            let _ = sqlx::Connection::close(connection).await;
        }
    }
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
        .map_err(|error| connect_error(backend, location, error))
}

async fn connect_sqlite(path: &Path, timeout: Duration) -> Result<SqlitePool, DbError> {
    let backend = Backend::Sqlite;
    let location = path.display().to_string();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Startup-only and tiny: a blocking call is fine here.
        std::fs::create_dir_all(parent).map_err(|error| DbError::Unreachable {
            backend,
            location: location.clone(),
            reason: format!("cannot create directory {}: {error}", parent.display()),
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(timeout);
    SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
        .map_err(|error| connect_error(backend, location, error))
}

pub(crate) fn connect_error(backend: Backend, location: String, error: sqlx::Error) -> DbError {
    match error {
        sqlx::Error::Database(db) => DbError::Refused { backend, location, reason: db.to_string() },
        sqlx::Error::PoolTimedOut => {
            DbError::Unreachable { backend, location, reason: "timed out waiting for a connection".to_owned() }
        }
        other => DbError::Unreachable { backend, location, reason: other.to_string() },
    }
}

/// The file beside `path` whose name is `path`'s with `suffix` appended (`world.db` →
/// `world.db.lock`).
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `url` with the password (if any) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else { return url.to_owned() };
    format!("{}{}:***{}", &url[..rest_start], &userinfo[..colon], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_embed_the_same_migration_versions() {
        let versions = |list: &[EmbeddedMigration]| list.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>();
        assert_eq!(versions(POSTGRES_MIGRATIONS), versions(SQLITE_MIGRATIONS));
        let mut sorted = versions(POSTGRES_MIGRATIONS);
        sorted.sort();
        sorted.dedup_by_key(|m| m.0);
        assert_eq!(sorted, versions(POSTGRES_MIGRATIONS), "versions ascend without duplicates");
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db?x=a@b"), "postgres://h/db?x=a@b");
        let debug = format!("{:?}", DbTarget::Postgres("postgres://u:pw@h/db".into()));
        assert!(!debug.contains("pw"), "{debug}");
    }

    #[test]
    fn empty_database_url_means_sqlite() {
        assert_eq!(DbTarget::from_url_or(Some(" ".into()), "a.db"), DbTarget::Sqlite("a.db".into()));
        assert_eq!(DbTarget::from_url_or(None, "a.db"), DbTarget::Sqlite("a.db".into()));
        assert_eq!(
            DbTarget::from_url_or(Some("postgres://h".into()), "a.db"),
            DbTarget::Postgres("postgres://h".into())
        );
    }
}
