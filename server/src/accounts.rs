//! Player accounts: the [`AccountStore`] trait, the in-memory [`MemoryAccounts`], the
//! database-backed [`DbAccounts`] (with the Redis profile cache in front), argon2id password
//! hashing and the username/password rules.
//!
//! Hashing and verifying are CPU-heavy (tens of milliseconds, 19 MiB each): HTTP handlers call
//! [`hash_password`] and [`verify_password`] through `tokio::task::spawn_blocking`, never on an
//! async worker thread.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use starforge_persistence::{AccountError, PlayerProfile, Profiles};

/// Shortest allowed username, in characters.
pub const USERNAME_MIN: usize = 3;
/// Longest allowed username, in characters.
pub const USERNAME_MAX: usize = 32;
/// Shortest allowed password, in bytes (UTF-8).
pub const PASSWORD_MIN: usize = 8;
/// Longest allowed password, in bytes (UTF-8).
pub const PASSWORD_MAX: usize = 128;

/// One player account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The login name (see [`validate_username`]); compared exactly, case-sensitively.
    pub username: String,
    /// The player's id: the raw `EntityId` of the empire the game loop created for them. It is
    /// also the netcode client id in the player's connect tokens.
    pub player_id: u64,
    /// The argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
    pub password_hash: String,
}

/// Why an [`AccountStore`] operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `insert` found an account with this username already.
    #[error("username {0:?} is already taken")]
    UsernameTaken(String),
    /// The backing store could not be reached or failed (a database store's errors).
    #[error("account store unavailable: {0}")]
    Unavailable(String),
}

/// The future returned by [`AccountStore`] methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where accounts live.
///
/// The methods return boxed futures rather than blocking: the database-backed store that the
/// persistence issue brings is async (sqlx), and the HTTP server runs on only two tokio worker
/// threads, so a blocking store would stall every request while one query waits. Boxed futures
/// keep the trait object-safe (`Arc<dyn AccountStore>`) without an `async-trait` dependency;
/// [`MemoryAccounts`] answers with ready futures.
pub trait AccountStore: Send + Sync + 'static {
    /// The account with exactly this username, if any.
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>>;
    /// Stores a new account; [`StoreError::UsernameTaken`] if the username exists (the
    /// existing account is left unchanged).
    fn insert(&self, account: Account) -> StoreFuture<'_, ()>;
}

/// An [`AccountStore`] in memory: lost on restart. For tests, development and until the
/// persistence issue lands.
#[derive(Debug, Default)]
pub struct MemoryAccounts {
    by_name: Mutex<HashMap<String, Account>>,
}

impl MemoryAccounts {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many accounts are stored.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no account is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts).
        self.by_name.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl AccountStore for MemoryAccounts {
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>> {
        let found = self.map().get(username).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn insert(&self, account: Account) -> StoreFuture<'_, ()> {
        let result = {
            let mut map = self.map();
            if map.contains_key(&account.username) {
                Err(StoreError::UsernameTaken(account.username))
            } else {
                map.insert(account.username.clone(), account);
                Ok(())
            }
        };
        Box::pin(std::future::ready(result))
    }
}

/// An [`AccountStore`] in the database ([`Profiles`]: Postgres or SQLite, with the Redis
/// profile cache in front when configured). Accounts survive restarts.
///
/// Database failures are logged and reported as [`StoreError::Unavailable`]; Redis failures
/// never reach the caller (the database answers; see [`Profiles::lookup`]).
#[derive(Debug, Clone)]
pub struct DbAccounts {
    profiles: Arc<Profiles>,
}

impl DbAccounts {
    /// A store over `profiles`.
    pub fn new(profiles: Arc<Profiles>) -> Self {
        Self { profiles }
    }

    /// The profiles (for the cache counters: `profiles().stats()`).
    pub fn profiles(&self) -> &Arc<Profiles> {
        &self.profiles
    }
}

impl From<PlayerProfile> for Account {
    fn from(p: PlayerProfile) -> Self {
        Account { username: p.username, player_id: p.player_id, password_hash: p.password_hash }
    }
}

impl From<Account> for PlayerProfile {
    fn from(a: Account) -> Self {
        PlayerProfile { player_id: a.player_id, username: a.username, password_hash: a.password_hash }
    }
}

impl AccountStore for DbAccounts {
    fn get<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<Account>> {
        Box::pin(async move {
            match self.profiles.lookup(username).await {
                Ok(found) => Ok(found.map(Account::from)),
                Err(error) => {
                    tracing::error!(%error, "account lookup failed");
                    Err(StoreError::Unavailable(error.to_string()))
                }
            }
        })
    }

    fn insert(&self, account: Account) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            match self.profiles.create(&account.into()).await {
                Ok(()) => Ok(()),
                Err(AccountError::UsernameTaken(name)) => Err(StoreError::UsernameTaken(name)),
                Err(error) => {
                    tracing::error!(%error, "storing an account failed");
                    Err(StoreError::Unavailable(error.to_string()))
                }
            }
        })
    }
}

/// Hashing a password failed (the system random generator failed; never for valid input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn argon2id() -> Argon2<'static> {
    // OWASP's argon2id recommendation, which is also the crate's default: 19 MiB, 2 passes, 1 lane.
    let params =
        Params::new(Params::DEFAULT_M_COST, Params::DEFAULT_T_COST, Params::DEFAULT_P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with argon2id (m=19456 KiB, t=2, p=1) and a random 16-byte salt, as a PHC
/// string. CPU-heavy: call through `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    argon2id().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (its own parameters and salt are used).
/// A malformed `phc` is a mismatch, never a panic. CPU-heavy: call through `spawn_blocking`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    argon2id().verify_password(password.as_bytes(), phc).is_ok()
}

/// Checks the username rules: 3–32 characters, each one of `A-Z a-z 0-9 _ -`.
/// The error is a sentence to show the user.
pub fn validate_username(username: &str) -> Result<(), String> {
    if let Some(bad) = username.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(format!("username may only contain letters A-Z and a-z, digits 0-9, '_' and '-' (found {bad:?})"));
    }
    // Only ASCII is left, so bytes are characters.
    let n = username.len();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&n) {
        return Err(format!("username must be {USERNAME_MIN} to {USERNAME_MAX} characters long (got {n})"));
    }
    Ok(())
}

/// Checks the password rules: 8–128 bytes of UTF-8. The error is a sentence to show the user
/// (it never contains the password).
pub fn validate_password(password: &str) -> Result<(), String> {
    let n = password.len();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        return Err(format!("password must be {PASSWORD_MIN} to {PASSWORD_MAX} bytes long (got {n})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
    }

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horsE", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert!(!verify_password("correct horse", ""));
        // Salted: the same password hashes differently twice.
        assert_ne!(phc, hash_password("correct horse").expect("hash"));
    }

    #[test]
    fn username_rules() {
        assert!(validate_username("abc").is_ok());
        assert!(validate_username("Ann_the-2nd").is_ok());
        assert!(validate_username(&"x".repeat(32)).is_ok());
        assert!(validate_username("ab").unwrap_err().contains("3 to 32 characters"));
        assert!(validate_username("").unwrap_err().contains("got 0"));
        assert!(validate_username(&"x".repeat(33)).unwrap_err().contains("got 33"));
        assert!(validate_username("ann smith").unwrap_err().contains("' '"));
        assert!(validate_username("anné").unwrap_err().contains("may only contain"));
    }

    #[test]
    fn password_rules() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"p".repeat(128)).is_ok());
        let short = validate_password("secret7").unwrap_err();
        assert!(short.contains("8 to 128 bytes") && !short.contains("secret7"), "{short}");
        assert!(validate_password(&"p".repeat(129)).unwrap_err().contains("got 129"));
    }

    /// What every [`AccountStore`] must do: get, insert, case-sensitive names, taken names.
    async fn store_contract(store: &dyn AccountStore) {
        let ann = Account { username: "ann".into(), player_id: 7, password_hash: "h".into() };
        assert_eq!(store.get("ann").await, Ok(None));
        store.insert(ann.clone()).await.expect("insert");
        assert_eq!(store.get("ann").await, Ok(Some(ann.clone())));
        assert_eq!(store.get("Ann").await, Ok(None), "usernames are case-sensitive");
        let again = Account { player_id: 8, ..ann.clone() };
        assert_eq!(store.insert(again).await, Err(StoreError::UsernameTaken("ann".into())));
        assert_eq!(store.get("ann").await, Ok(Some(ann)), "the first account is kept");
        let bob = Account { username: "bob".into(), player_id: 9, password_hash: "h2".into() };
        store.insert(bob.clone()).await.expect("insert another");
        assert_eq!(store.get("bob").await, Ok(Some(bob)));
    }

    #[test]
    fn memory_store_get_and_insert() {
        let store = MemoryAccounts::new();
        block_on(store_contract(&store));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn database_store_behaves_like_the_memory_store() {
        /// Removes the directory when dropped, also when the test panics.
        struct TempDir(std::path::PathBuf);
        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = TempDir(std::env::temp_dir().join(format!("starforge-dbaccounts-{}-{nanos}", std::process::id())));
        let target = starforge_persistence::DbTarget::Sqlite(dir.0.join("accounts.db"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let db = starforge_persistence::Db::connect(&target).await.expect("connect");
            db.migrate().await.expect("migrate");
            let store = DbAccounts::new(Arc::new(Profiles::new(db.clone(), None)));
            store_contract(&store).await;
            // A duplicate player id is a store failure, not a panic.
            let clash = Account { username: "cat".into(), player_id: 7, password_hash: "h".into() };
            assert!(matches!(store.insert(clash).await, Err(StoreError::Unavailable(_))));
            db.close().await;
            // Another connection to the same file (a restart) still knows the accounts.
            let db = starforge_persistence::Db::connect(&target).await.expect("reconnect");
            let store = DbAccounts::new(Arc::new(Profiles::new(db.clone(), None)));
            assert_eq!(store.get("bob").await.expect("get").map(|a| a.player_id), Some(9));
            db.close().await;
        });
    }
}
