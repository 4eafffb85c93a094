//! Player accounts in the database (`players` table): look up by username, insert with a
//! distinct error when the username is taken. Passwords are never stored, only their argon2id
//! PHC strings, which the caller computes.

use crate::db::{Backend, Db, DbError};

/// Why [`Db::insert_account`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// An account with this username exists already (it is left unchanged).
    #[error("username {0:?} is already taken")]
    UsernameTaken(String),
    /// An account with this player id exists already (it is left unchanged).
    #[error("player id {0} is already taken")]
    PlayerIdTaken(u64),
    /// The player id does not fit the database's `BIGINT` (above `i64::MAX`).
    #[error("player id {0} does not fit a BIGINT")]
    PlayerIdOutOfRange(u64),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Db {
    /// The `(player_id, password_hash)` of the account with exactly this username, if any.
    pub async fn get_account(&self, username: &str) -> Result<Option<(u64, String)>, DbError> {
        const WHAT: &str = "looking up an account";
        let backend = self.backend();
        let row: Option<(i64, String)> = match self {
            Db::Postgres(pool) => {
                sqlx::query_as("SELECT player_id, password_hash FROM players WHERE username = $1")
                    .bind(username)
                    .fetch_optional(pool)
                    .await
            }
            Db::Sqlite(pool) => {
                sqlx::query_as("SELECT player_id, password_hash FROM players WHERE username = ?1")
                    .bind(username)
                    .fetch_optional(pool)
                    .await
            }
        }
        .map_err(|error| DbError::query(backend, WHAT, error))?;
        row.map(|(id, hash)| {
            u64::try_from(id)
                .map(|id| (id, hash))
                .map_err(|_| DbError::query(backend, WHAT, format_args!("negative player_id {id} in players")))
        })
        .transpose()
    }

    /// Stores a new account. [`AccountError::UsernameTaken`] if the username exists,
    /// [`AccountError::PlayerIdTaken`] if the player id does; the existing row is unchanged.
    pub async fn insert_account(
        &self,
        player_id: u64,
        username: &str,
        password_hash: &str,
    ) -> Result<(), AccountError> {
        let id = i64::try_from(player_id).map_err(|_| AccountError::PlayerIdOutOfRange(player_id))?;
        let backend = self.backend();
        let result = match self {
            Db::Postgres(pool) => {
                sqlx::query("INSERT INTO players (player_id, username, password_hash) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(username)
                    .bind(password_hash)
                    .execute(pool)
                    .await
                    .map(drop)
            }
            Db::Sqlite(pool) => {
                sqlx::query("INSERT INTO players (player_id, username, password_hash) VALUES (?1, ?2, ?3)")
                    .bind(id)
                    .bind(username)
                    .bind(password_hash)
                    .execute(pool)
                    .await
                    .map(drop)
            }
        };
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(classify_insert_error(backend, player_id, username, error)),
        }
    }
}

fn classify_insert_error(backend: Backend, player_id: u64, username: &str, error: sqlx::Error) -> AccountError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        // Postgres names the constraint (`players_username_key`); SQLite names the column in
        // its message (`UNIQUE constraint failed: players.username`).
        let on_username =
            db.constraint().is_some_and(|c| c.contains("username")) || db.message().contains("players.username");
        return if on_username {
            AccountError::UsernameTaken(username.to_owned())
        } else {
            AccountError::PlayerIdTaken(player_id)
        };
    }
    AccountError::Db(DbError::query(backend, "inserting an account", error))
}
