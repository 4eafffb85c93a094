//! One server per world: a second server started on the same database stops at startup
//! instead of overwriting the first one's saves.
//!
//! - Postgres: a session advisory lock (`pg_try_advisory_lock`) held on a connection of its
//!   own for as long as the [`WorldLock`] lives. Postgres releases it when that session ends,
//!   so a crashed or killed server never leaves it behind. If the session is lost (database
//!   restart, network cut), a keeper task reconnects and takes the lock again; if another
//!   server took it meanwhile, the keeper logs an error every 10 s.
//! - SQLite: an exclusive lock (`flock`) on the file `<database>.lock` beside the database,
//!   released by the operating system when the process ends.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{PgPool, Postgres};
use tracing::{error, info, warn};

use crate::db::{Backend, Db, DbError, connect_error, pg_location};

/// The advisory lock key of a Starforge world (`"STARFORG"` in ASCII).
pub const LOCK_KEY: i64 = 0x5354_4152_464F_5247;

/// Held while this process is the database's only server; released when dropped.
#[derive(Debug)]
pub struct WorldLock {
    _held: Held,
}

#[derive(Debug)]
enum Held {
    Postgres(tokio::task::AbortHandle),
    /// The open, locked file: closing it releases the lock.
    Sqlite {
        _file: File,
    },
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::Postgres(keeper) = self {
            // Dropping the keeper's connection ends the session and releases the lock.
            keeper.abort();
        }
    }
}

/// The lock file of the SQLite database at `path`.
pub fn lock_file(path: &Path) -> PathBuf {
    crate::db::beside(path, ".lock")
}

impl Db {
    /// Takes the world lock of this database; fails with [`DbError::InUse`] if another
    /// server holds it. Call it on a tokio runtime that outlives the lock (Postgres: the keeper
    /// task runs there).
    pub async fn lock_world(&self) -> Result<WorldLock, DbError> {
        let held = match self {
            Db::Postgres(pool) => Held::Postgres(lock_postgres(pool).await?),
            Db::Sqlite(pool) => Held::Sqlite { _file: lock_sqlite(pool.connect_options().get_filename())? },
        };
        Ok(WorldLock { _held: held })
    }
}

fn lock_sqlite(path: &Path) -> Result<File, DbError> {
    let lock = lock_file(path);
    let location = path.display().to_string();
    let unusable =
        |reason: String| DbError::Unreachable { backend: Backend::Sqlite, location: location.clone(), reason };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| unusable(format!("cannot open the lock file {}: {e}", lock.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(DbError::InUse {
            backend: Backend::Sqlite,
            location: location.clone(),
            holder: format!("another process holds {} (a server running on this file)", lock.display()),
        }),
        Err(TryLockError::Error(e)) => Err(unusable(format!("cannot lock {}: {e}", lock.display()))),
    }
}

/// One attempt on a connection of its own: `Ok(Some(connection))` holding the lock,
/// `Ok(None)` if another session holds it.
async fn try_take(pool: &PgPool) -> Result<Option<sqlx::pool::PoolConnection<Postgres>>, sqlx::Error> {
    let mut connection = pool.acquire().await?;
    let taken: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut *connection).await?;
    Ok(taken.then_some(connection))
}

/// The holder's session: pid, client address, start time.
type Session = (i32, Option<String>, Option<String>);

/// Who holds the lock, for the message (best effort).
async fn holder(pool: &PgPool) -> String {
    let row: Result<Option<Session>, _> = sqlx::query_as(
        "SELECT a.pid, host(a.client_addr), to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1",
    )
    .bind(LOCK_KEY)
    .fetch_optional(pool)
    .await;
    match row {
        Ok(Some((pid, addr, since))) => format!(
            "another server holds the world lock (Postgres session pid {pid} from {} since {})",
            addr.as_deref().unwrap_or("a local socket"),
            since.as_deref().unwrap_or("?")
        ),
        _ => "another server holds the world lock".into(),
    }
}

async fn lock_postgres(pool: &PgPool) -> Result<tokio::task::AbortHandle, DbError> {
    let location = pg_location(&pool.connect_options());
    let connection = try_take(pool).await.map_err(|e| connect_error(Backend::Postgres, location.clone(), e))?;
    let Some(connection) = connection else {
        return Err(DbError::InUse { backend: Backend::Postgres, location, holder: holder(pool).await });
    };
    // The session must not go back to the pool (it would keep the lock for whoever gets it).
    let connection = connection.detach();
    let keeper = tokio::spawn(keep(pool.clone(), connection, location));
    Ok(keeper.abort_handle())
}

/// Keeps the lock's session alive; takes the lock again on a new session if it was lost.
async fn keep(pool: PgPool, mut connection: sqlx::PgConnection, location: String) {
    const EVERY: Duration = Duration::from_secs(10);
    loop {
        tokio::time::sleep(EVERY).await;
        if sqlx::query("SELECT 1").execute(&mut connection).await.is_ok() {
            continue;
        }
        warn!("persistence: the world lock's session on {location} was lost; taking the lock again");
        loop {
            match try_take(&pool).await {
                Ok(Some(c)) => {
                    connection = c.detach();
                    info!("persistence: world lock on {location} taken again");
                    break;
                }
                Ok(None) => error!(
                    "persistence: {} on {location} while this server runs: two servers are writing one world; stop \
                     one of them",
                    holder(&pool).await
                ),
                Err(e) => warn!("persistence: cannot take the world lock again yet: {e}"),
            }
            tokio::time::sleep(EVERY).await;
        }
    }
}
