//! The HTTP API: login (accounts and connect tokens), health, metrics and admin: an axum router
//! served over hyper's HTTP/1.1 connections on its own tokio runtime ([`spawn_http`]).
//!
//! # Limits
//!
//! A client must send a request's line and headers within [`HttpLimits::header_timeout`] of the
//! moment the server starts waiting for it (a new connection, or the previous answer on a
//! kept-alive one, so this is also the idle timeout), its body within
//! [`HttpLimits::body_timeout`] (else 408), and read an answer before it stalls for that long;
//! otherwise the connection is closed. At most [`HttpLimits::max_connections`] connections are
//! open; one more is answered 503 and closed at once. Request heads are limited to
//! [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] (431), bodies to [`MAX_BODY_BYTES`] (413).
//!
//! # Routes
//!
//! Every error body is `{"error": "<sentence>"}` (JSON, `Content-Length` framed), including
//! malformed requests (400, 431 and 414 answered by hyper itself, see `conn_io::JsonErrors`),
//! unknown routes (404), wrong methods (405), a body too slow (408) and the connection limit
//! (503). Request bodies are JSON; `Content-Type` is not checked.
//!
//! ## `POST /v1/login`
//! Request: `{"username": "ann", "password": "correct horse", "protocol_version": 1}`.
//! An unknown username creates the account and its starting empire; a known one checks the
//! password. Usernames are 3–32 characters of `A-Z a-z 0-9 _ -` (case-sensitive); passwords
//! 8–128 bytes. On success any live connection of the player is kicked ("logged in from another
//! client") before the answer is sent.
//!
//! | Status | When | Body |
//! |---|---|---|
//! | 200 | logged in or created | `{"player_id": 42, "empire_id": 42, "udp_addr": "203.0.113.5:5000", "connect_token": "<hex>", "token_expires_in_s": 300, "protocol_version": 1, "tick_hz": 20, "created": true}` |
//! | 400 | malformed JSON, missing field (or `protocol_version` not a number), bad username or password format | `{"error": ...}` |
//! | 401 | wrong password | `{"error": "wrong username or password"}` |
//! | 408 | the body did not arrive within the body timeout | `{"error": ...}` |
//! | 409 | the username was taken by a concurrent login on another server | `{"error": ...}` |
//! | 413 | body over 16 KiB | `{"error": ...}` |
//! | 426 | `protocol_version` is a number other than this server's (negative, fractional, too large…) | `{"error": "protocol version 2 is not supported; this server speaks 1"}` |
//! | 500 | a connect token could not be issued | `{"error": ...}` |
//! | 503 | game loop stopped, overloaded or refused to create the empire; account store down | `{"error": ...}` |
//!
//! `connect_token` is the hex of a netcode secure connect token (renet_netcode
//! `ConnectToken::write`, ~1 KB): its client id is `player_id`, it names `udp_addr`, and it can
//! start a connection for `token_expires_in_s` seconds. `empire_id` equals `player_id`.
//!
//! ## `GET /health`
//! 200 `{"status": "ok", "tick": 1234, "clients": 5}`; 503
//! `{"status": "degraded", "reason": "..."}` while degraded (e.g. the database is unreachable) or
//! when the game loop has stopped.
//!
//! ## `GET /metrics`
//! 200, Prometheus text format 0.0.4 (`Content-Type: text/plain; version=0.0.4; charset=utf-8`);
//! see [`crate::metrics`].
//!
//! ## `POST /v1/admin/kick`
//! Header `Authorization: Bearer <admin token>` (`STARFORGE_ADMIN_TOKEN`); request
//! `{"player_id": 42, "reason": "..."}` (`reason` optional, at most 256 bytes).
//!
//! | Status | When | Body |
//! |---|---|---|
//! | 202 | kick queued (ignored by the game loop if the player is not connected) | `{"status": "queued", "player_id": 42}` |
//! | 400 | malformed JSON or reason too long | `{"error": ...}` |
//! | 401 | no `Authorization: Bearer` header | `{"error": ...}` |
//! | 403 | wrong admin token | `{"error": "wrong admin token"}` |
//! | 404 | no admin token configured: the admin API is disabled | `{"error": ...}` |
//! | 503 | game loop stopped | `{"error": ...}` |

mod conn_io;
mod serve;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use starforge_shared::PROTOCOL_VERSION;
use tokio::sync::{OwnedMutexGuard, Semaphore};

use crate::accounts::{self, Account, AccountStore, StoreError};
use crate::gate::{GameGate, GateError};
use crate::metrics::Metrics;
use crate::token::{TokenIssuer, to_hex};

pub use serve::{HttpHandle, spawn_http};

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The largest request line and headers accepted, in bytes (more: 431).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most request headers accepted (more: 431).
pub const MAX_HEADERS: usize = 100;
/// The longest admin kick reason, in bytes.
pub const MAX_KICK_REASON_BYTES: usize = 256;
/// The reason sent with the kick that a successful login issues.
pub const RELOGIN_KICK_REASON: &str = "logged in from another client";
/// How long [`HttpHandle::shutdown`] lets in-flight requests finish before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What `GET /health` reports. The game loop updates `tick` and `clients`; the persistence layer
/// sets and clears `degraded`.
#[derive(Debug, Default)]
pub struct HealthState {
    tick: AtomicU64,
    clients: AtomicU64,
    degraded: Mutex<Option<String>>,
}

impl HealthState {
    /// Healthy, at tick 0 with no clients.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the current simulation tick.
    pub fn set_tick(&self, tick: u64) {
        self.tick.store(tick, Relaxed);
    }

    /// Records the number of connected clients.
    pub fn set_clients(&self, n: u64) {
        self.clients.store(n, Relaxed);
    }

    /// Marks the server degraded with a reason shown by `/health` (503), or healthy again with
    /// `None`.
    pub fn set_degraded(&self, reason: Option<String>) {
        *self.degraded_lock() = reason;
    }

    /// The last recorded tick.
    pub fn tick(&self) -> u64 {
        self.tick.load(Relaxed)
    }

    /// The last recorded client count.
    pub fn clients(&self) -> u64 {
        self.clients.load(Relaxed)
    }

    /// Why the server is degraded, if it is.
    pub fn degraded(&self) -> Option<String> {
        self.degraded_lock().clone()
    }

    fn degraded_lock(&self) -> MutexGuard<'_, Option<String>> {
        self.degraded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long clients may take and how many connections they may hold (see the module's
/// "Limits").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a request's line and headers, from when the connection opens or answered
    /// its previous request (so also the idle keep-alive timeout); then the connection is closed.
    pub header_timeout: Duration,
    /// Longest wait for a request body (then 408 and the connection is closed), and longest an
    /// answer may wait for the client to read it.
    pub body_timeout: Duration,
    /// Open connections at most; more are answered 503 and closed at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    /// The `starforge` defaults: 10 s, 10 s, 512 connections.
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(10), max_connections: 512 }
    }
}

/// Everything the HTTP handlers need. Cheap to clone (shared handles).
#[derive(Clone)]
pub struct HttpState {
    /// Where accounts live.
    pub accounts: Arc<dyn AccountStore>,
    /// The way to the game loop.
    pub gate: GameGate,
    /// Issues connect tokens for the UDP server.
    pub tokens: Arc<TokenIssuer>,
    /// The server's metrics (logins are counted here; `/metrics` renders it).
    pub metrics: Arc<Metrics>,
    /// What `/health` reports.
    pub health: Arc<HealthState>,
    /// The bearer token for `/v1/admin/*`; `None` (or empty) disables the admin API.
    pub admin_token: Option<String>,
    /// The simulation tick rate, told to clients at login.
    pub tick_hz: u32,
    /// New accounts and failed logins allowed per address.
    pub rate_limits: crate::ratelimit::RateLimits,
    /// Timeouts and the connection limit.
    pub limits: HttpLimits,
}

/// The body of `POST /v1/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The account name; an unknown name creates the account.
    pub username: String,
    /// The password.
    pub password: String,
    /// The client's `starforge_shared::PROTOCOL_VERSION`.
    pub protocol_version: u32,
}

/// The 200 answer of `POST /v1/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The player's id (the netcode client id in the token).
    pub player_id: u64,
    /// The player's empire's `EntityId` raw value (equal to `player_id`).
    pub empire_id: u64,
    /// The UDP address to connect to, `ip:port`.
    pub udp_addr: String,
    /// The serialized netcode connect token, lower-case hex.
    pub connect_token: String,
    /// Seconds from now until the token can no longer start a connection.
    pub token_expires_in_s: u64,
    /// The server's protocol version.
    pub protocol_version: u32,
    /// The simulation tick rate.
    pub tick_hz: u32,
    /// Whether this login created the account and empire.
    pub created: bool,
}

/// The body of `POST /v1/admin/kick`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KickRequest {
    /// The player to disconnect.
    pub player_id: u64,
    /// What the client is told; defaults to "kicked by an administrator".
    #[serde(default)]
    pub reason: Option<String>,
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// A sentence saying what went wrong.
    pub error: String,
}

/// An error answer, with the login outcome it counts as.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    outcome: &'static str,
}

impl ApiError {
    fn new(status: StatusCode, outcome: &'static str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), outcome }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn too_many(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "unavailable", message)
    }

    /// A rejected body (too large, unreadable) in our shape, with axum's status.
    fn body(rejection: &axum::extract::rejection::BytesRejection) -> Self {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("request body is larger than {MAX_BODY_BYTES} bytes")
        } else {
            format!("could not read the request body: {}", rejection.body_text())
        };
        Self::new(status, "bad_request", message)
    }

    /// The body did not arrive within `limit`.
    fn body_timeout(limit: Duration) -> Self {
        let message = format!("the request body did not arrive within {} s", limit.as_secs_f64());
        Self::new(StatusCode::REQUEST_TIMEOUT, "bad_request", message)
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        Self::unavailable(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken(_) => Self::new(
                StatusCode::CONFLICT,
                "unavailable",
                "this username was just taken by a concurrent login; try again",
            ),
            StoreError::Unavailable(_) => Self::unavailable("the account store is unavailable; try again later"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = error_response(self.status, self.message);
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still come: the connection cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        response
    }
}

/// A request body read within [`HttpLimits::body_timeout`] and [`MAX_BODY_BYTES`], or the error
/// answer saying why not.
struct TimedBody(Result<Bytes, ApiError>);

impl FromRequest<Arc<Shared>> for TimedBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: axum::extract::Request, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let limit = shared.state.limits.body_timeout;
        // On timeout the body is dropped unread; hyper then stops reading the connection and
        // closes it after the answer.
        Ok(Self(match tokio::time::timeout(limit, Bytes::from_request(request, shared)).await {
            Ok(body) => body.map_err(|r| ApiError::body(&r)),
            Err(_) => Err(ApiError::body_timeout(limit)),
        }))
    }
}

fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(ErrorResponse { error: message.into() })).into_response()
}

/// The handlers' shared state: the configuration plus login bookkeeping.
struct Shared {
    state: HttpState,
    /// One lock per username whose account is being created right now, so concurrent first
    /// logins of the same name create one empire, while different names proceed in parallel.
    creating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Bounds concurrent argon2 computations (19 MiB and one core each) to the core count:
    /// more would only queue on the CPU and multiply memory (1,000 bots log in at once).
    hash_slots: Semaphore,
    /// New accounts per address.
    signups: crate::ratelimit::Limiter,
    /// Failed logins per address.
    failures: crate::ratelimit::Limiter,
    /// Number of the latest login; starts at the wall clock in microseconds so numbers keep
    /// growing across restarts (a token from before a restart is older than any new login).
    logins: std::sync::atomic::AtomicU64,
}

/// Holds the creation lock of one username; removes it from the map when the last user is done.
struct CreationTurn {
    shared: Arc<Shared>,
    name: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Shared {
    fn creating(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.creating.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn creation_turn(self: &Arc<Self>, name: &str) -> CreationTurn {
        let lock = self.creating().entry(name.to_string()).or_default().clone();
        let guard = lock.clone().lock_owned().await;
        CreationTurn { shared: self.clone(), name: name.to_string(), lock, guard: Some(guard) }
    }

    /// Runs a CPU-heavy password function on the blocking pool, at most one per core at a time.
    async fn hash_work<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let _slot =
            self.hash_slots.acquire().await.map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::internal("password hashing failed"))
    }
}

impl Drop for CreationTurn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.shared.creating();
        // New clones are only made under the map lock: the map's and ours are the only ones
        // left exactly when nobody else waits for this name.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.name);
        }
    }
}

/// The axum router with every route, for [`spawn_http`] or for serving elsewhere.
pub fn router(state: HttpState) -> Router {
    let slots = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let limits = state.rate_limits;
    let shared = Arc::new(Shared {
        signups: crate::ratelimit::Limiter::new(limits.signups_per_minute, limits.exempt_loopback),
        failures: crate::ratelimit::Limiter::new(limits.failed_logins_per_minute, limits.exempt_loopback),
        state,
        creating: Mutex::new(HashMap::new()),
        hash_slots: Semaphore::new(slots),
        logins: std::sync::atomic::AtomicU64::new(start.as_micros() as u64),
    });
    Router::new()
        .route("/v1/login", post(login))
        .route("/v1/admin/kick", post(admin_kick))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    error_response(StatusCode::NOT_FOUND, format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let health = &shared.state.health;
    let degraded =
        health.degraded().or_else(|| shared.state.gate.is_closed().then(|| "the game loop is not running".to_string()));
    match degraded {
        Some(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({ "status": "degraded", "reason": reason })))
                .into_response()
        }
        None => axum::Json(serde_json::json!({ "status": "ok", "tick": health.tick(), "clients": health.clients() }))
            .into_response(),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], shared.state.metrics.render())
        .into_response()
}

async fn login(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    TimedBody(body): TimedBody,
) -> Response {
    match login_inner(&shared, peer.ip(), body).await {
        Ok(answer) => {
            shared.state.metrics.add_login(if answer.created { "created" } else { "ok" });
            axum::Json(answer).into_response()
        }
        Err(e) => {
            shared.state.metrics.add_login(e.outcome);
            if e.status.is_server_error() {
                tracing::warn!(status = %e.status, error = %e.message, "login failed");
            }
            e.into_response()
        }
    }
}

/// Parses a JSON body into `T`, with our error shape.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed {what}: {e}")))
}

async fn login_inner(
    shared: &Arc<Shared>,
    peer: std::net::IpAddr,
    body: Result<Bytes, ApiError>,
) -> Result<LoginResponse, ApiError> {
    let body = body?;
    // The version first, from any JSON object that has it, so an old client with a different
    // request shape still learns that it must update.
    let mut value: serde_json::Value = parse_json(&body, "login request")?;
    check_version(&mut value)?;
    let request: LoginRequest =
        serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("malformed login request: {e}")))?;
    accounts::validate_username(&request.username).map_err(ApiError::bad_request)?;
    accounts::validate_password(&request.password).map_err(ApiError::bad_request)?;

    let state = &shared.state;
    let now = std::time::Instant::now();
    if let Some(wait) = shared.failures.blocked(peer, now) {
        return Err(ApiError::too_many(format!("too many failed logins from your address; try again in {wait} s")));
    }
    let (player_id, created) = match state.accounts.get(&request.username).await? {
        Some(account) => match check_password(shared, account, request.password).await {
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                let _ = shared.failures.check(peer, now);
                return Err(e);
            }
            other => (other?, false),
        },
        None => {
            if let Some(wait) = shared.signups.check(peer, now) {
                return Err(ApiError::too_many(format!(
                    "too many new accounts from your address; try again in {wait} s"
                )));
            }
            create_or_check(shared, request.username, request.password).await?
        }
    };
    // Replace any older connection; queued before we answer, so it is handled before the new
    // client can connect with its token.
    // Logins are numbered; the token carries the number, and the kick only closes connections
    // of older logins, so it can never close the connection this token is about to open.
    // The token first: a login that cannot issue one must not kick the player's connection.
    let login = shared.logins.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let token = state.tokens.issue_for_login(player_id, login).map_err(|e| {
        tracing::error!(error = %e, "connect token generation failed");
        ApiError::internal("could not issue a connect token")
    })?;
    state.gate.replace(player_id, login, RELOGIN_KICK_REASON.to_string()).await?;
    Ok(LoginResponse {
        player_id,
        empire_id: player_id,
        udp_addr: state.tokens.udp_addr().to_string(),
        connect_token: to_hex(&token),
        token_expires_in_s: state.tokens.expire_seconds(),
        protocol_version: PROTOCOL_VERSION,
        tick_hz: state.tick_hz,
        created,
    })
}

/// 426 if `request` has a `protocol_version` that is a number other than [`PROTOCOL_VERSION`]:
/// negative, fractional, beyond `u64`, anything; 400 if it is not a number. JSON has one number
/// type, so `1.0` is the number `1`: it passes, rewritten as `1` for the typed parse.
fn check_version(request: &mut serde_json::Value) -> Result<(), ApiError> {
    let v = match request.get_mut("protocol_version") {
        None => return Ok(()),
        Some(serde_json::Value::Number(v)) => v,
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "malformed login request: protocol_version must be a number (this server speaks {PROTOCOL_VERSION})"
            )));
        }
    };
    if v.as_u64() == Some(u64::from(PROTOCOL_VERSION)) {
        return Ok(());
    }
    if v.as_f64() == Some(f64::from(PROTOCOL_VERSION)) {
        *v = PROTOCOL_VERSION.into();
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "version",
        format!("protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"),
    ))
}

/// The player id of `account` if `password` is right; 401 otherwise.
async fn check_password(shared: &Shared, account: Account, password: String) -> Result<u64, ApiError> {
    let phc = account.password_hash;
    if shared.hash_work(move || accounts::verify_password(&password, &phc)).await? {
        Ok(account.player_id)
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong_password", "wrong username or password"))
    }
}

/// Creates the account and empire for a new username, or, if a concurrent login created it
/// meanwhile, checks the password against that account.
async fn create_or_check(shared: &Arc<Shared>, username: String, password: String) -> Result<(u64, bool), ApiError> {
    enum Created {
        Now(u64),
        Meanwhile(Account),
    }
    // In its own task: a client hanging up must not abandon a half-made account (an empire
    // created in the game loop with no account, or a username lock never released).
    let task_shared = shared.clone();
    let task_password = password.clone();
    let task = tokio::spawn(async move {
        let shared = task_shared;
        let turn = shared.creation_turn(&username).await;
        if let Some(account) = shared.state.accounts.get(&username).await? {
            return Ok(Created::Meanwhile(account));
        }
        let phc = shared
            .hash_work(move || accounts::hash_password(&task_password))
            .await?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let empire = shared.state.gate.create_player(username.clone()).await?;
        let player_id = empire.player_id;
        shared.state.accounts.insert(Account { username: username.clone(), player_id, password_hash: phc }).await?;
        tracing::info!(%username, player_id, home_colony = empire.home_colony, ships = empire.ships.len(), "account created");
        drop(turn);
        Ok::<_, ApiError>(Created::Now(player_id))
    });
    match task.await.map_err(|_| ApiError::internal("account creation failed"))?? {
        Created::Now(player_id) => Ok((player_id, true)),
        Created::Meanwhile(account) => Ok((check_password(shared, account, password).await?, false)),
    }
}

/// Compares in time independent of where the strings first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn admin_kick(State(shared): State<Arc<Shared>>, headers: HeaderMap, TimedBody(body): TimedBody) -> Response {
    match admin_kick_inner(&shared, &headers, body).await {
        Ok(player_id) => {
            (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "status": "queued", "player_id": player_id })))
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn admin_kick_inner(
    shared: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Result<u64, ApiError> {
    let Some(expected) = shared.state.admin_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "",
            "the admin API is disabled: set STARFORGE_ADMIN_TOKEN to enable it",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "", "missing or malformed 'Authorization: Bearer <token>' header")
        })?;
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "", "wrong admin token"));
    }
    let body = body?;
    let request: KickRequest = parse_json(&body, "kick request")?;
    let reason = request.reason.unwrap_or_else(|| "kicked by an administrator".to_string());
    if reason.len() > MAX_KICK_REASON_BYTES {
        return Err(ApiError::bad_request(format!("reason must be at most {MAX_KICK_REASON_BYTES} bytes")));
    }
    tracing::info!(player_id = request.player_id, %reason, "admin kick");
    shared.state.gate.kick(request.player_id, reason).await?;
    Ok(request.player_id)
}
