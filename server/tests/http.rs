//! The HTTP API end to end: a real server on a free port, the blocking test client, and a fake
//! game loop answering through the gate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use renet_netcode::ConnectToken;
use serde_json::{Value, json};
use starforge_server::accounts::{AccountStore, MemoryAccounts};
use starforge_server::gate::{GameGate, GameRequest, StartingEmpire};
use starforge_server::http::{HealthState, HttpHandle, HttpState, LoginResponse, spawn_http};
use starforge_server::metrics::{Metrics, parse_metric};
use starforge_server::ratelimit::RateLimits;
use starforge_server::token::{TokenIssuer, from_hex, protocol_id};
use starforge_shared::PROTOCOL_VERSION;
use starforge_shared::http::{self as http_client, Response};

const UDP: &str = "127.0.0.1:40000";

/// What the fake game loop saw.
#[derive(Default)]
struct Seen {
    created: Mutex<Vec<String>>,
    kicks: Mutex<Vec<(u64, String)>>,
}

struct Server {
    http: HttpHandle,
    seen: Arc<Seen>,
    metrics: Arc<Metrics>,
    health: Arc<HealthState>,
    accounts: Arc<MemoryAccounts>,
}

fn make_state(
    gate: GameGate,
    admin_token: Option<&str>,
) -> (HttpState, Arc<Metrics>, Arc<HealthState>, Arc<MemoryAccounts>) {
    let key = [7u8; 32];
    let udp: SocketAddr = UDP.parse().expect("addr");
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(HealthState::new());
    let accounts = Arc::new(MemoryAccounts::new());
    let state = HttpState {
        accounts: accounts.clone() as Arc<dyn AccountStore>,
        gate,
        tokens: Arc::new(TokenIssuer::new(key, protocol_id(PROTOCOL_VERSION), udp, 300, 15)),
        metrics: metrics.clone(),
        health: health.clone(),
        admin_token: admin_token.map(str::to_string),
        tick_hz: 20,
        rate_limits: Default::default(),
        limits: Default::default(),
    };
    (state, metrics, health, accounts)
}

/// A server whose fake game loop (a plain thread) answers CreatePlayer with ids 1000, 1001, …
fn start(admin_token: Option<&str>) -> Server {
    start_limited(admin_token, None)
}

/// Like [`start`], with rate limits that apply to loopback too.
fn start_limited(admin_token: Option<&str>, limits: Option<RateLimits>) -> Server {
    let (gate, mut rx) = GameGate::channel(1024);
    let seen = Arc::new(Seen::default());
    let loop_seen = seen.clone();
    std::thread::spawn(move || {
        let next = AtomicU64::new(1000);
        while let Some(request) = rx.blocking_recv() {
            match request {
                GameRequest::CreatePlayer { name, reply } => {
                    loop_seen.created.lock().expect("lock").push(name);
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    let _ = reply.send(Ok(StartingEmpire { player_id: id, home_colony: id + 1, ships: vec![id + 2] }));
                }
                GameRequest::Kick { player_id, reason, .. } => {
                    loop_seen.kicks.lock().expect("lock").push((player_id, reason));
                }
            }
        }
    });
    let (mut state, metrics, health, accounts) = make_state(gate, admin_token);
    if let Some(limits) = limits {
        state.rate_limits = limits;
    }
    let http = spawn_http("127.0.0.1:0".parse().expect("addr"), state).expect("server starts");
    Server { http, seen, metrics, health, accounts }
}

fn login(addr: SocketAddr, username: &str, password: &str) -> Response {
    let body = json!({ "username": username, "password": password, "protocol_version": PROTOCOL_VERSION });
    http_client::post_json(addr, "/v1/login", &body).expect("login request")
}

fn error_of(r: &Response) -> String {
    let v: Value = r.json().unwrap_or_else(|e| panic!("error body is not JSON ({e}): {:?}", r.text()));
    v["error"].as_str().unwrap_or_else(|| panic!("no error field: {v}")).to_string()
}

fn raw(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Response {
    http_client::request(addr, method, path, &[], Some(body), http_client::DEFAULT_TIMEOUT).expect("request")
}

#[test]
fn first_login_creates_then_logs_in() {
    let s = start(None);
    let r = login(s.http.addr, "ann", "correct horse");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-length").is_some(), "JSON answers are Content-Length framed");
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let first: LoginResponse = r.json().expect("login response");
    assert!(first.created);
    assert_eq!(first.player_id, 1000);
    assert_eq!(first.empire_id, first.player_id);
    assert_eq!(first.udp_addr, UDP);
    assert_eq!((first.protocol_version, first.tick_hz, first.token_expires_in_s), (PROTOCOL_VERSION, 20, 300));
    let bytes = from_hex(&first.connect_token).expect("hex token");
    let token = ConnectToken::read(&mut bytes.as_slice()).expect("a netcode connect token");
    assert_eq!(token.client_id, first.player_id);
    assert_eq!(token.protocol_id, protocol_id(PROTOCOL_VERSION));
    assert_eq!(token.server_addresses[0], Some(UDP.parse().expect("addr")));
    assert_eq!(s.seen.created.lock().expect("lock").as_slice(), ["ann"]);
    assert_eq!(s.accounts.len(), 1);

    let r = login(s.http.addr, "ann", "correct horse");
    assert_eq!(r.status, 200, "{}", r.text());
    let second: LoginResponse = r.json().expect("login response");
    assert!(!second.created);
    assert_eq!(second.player_id, first.player_id);
    assert_ne!(second.connect_token, first.connect_token, "a fresh token each time");
    // Both logins queued a kick of older connections before answering; one more creation makes
    // sure the fake loop (on its own thread) has handled everything queued before it.
    assert!(login(s.http.addr, "sync", "password1").json::<LoginResponse>().expect("login").created);
    assert_eq!(s.seen.created.lock().expect("lock").as_slice(), ["ann", "sync"], "no second empire for ann");
    let kicks: Vec<_> = s.seen.kicks.lock().expect("lock").iter().filter(|k| k.0 == 1000).cloned().collect();
    assert_eq!(kicks, vec![(1000, "logged in from another client".to_string()); 2]);

    let text = http_client::get(s.http.addr, "/metrics").expect("metrics").text();
    assert_eq!(parse_metric(&text, "starforge_logins_total{outcome=\"created\"}"), Some(2.0));
    assert_eq!(parse_metric(&text, "starforge_logins_total{outcome=\"ok\"}"), Some(1.0));
}

#[test]
fn login_errors_have_statuses_and_json_bodies() {
    let s = start(None);
    let addr = s.http.addr;
    assert_eq!(login(addr, "ann", "correct horse").status, 200);

    let r = login(addr, "ann", "wrong horse!");
    assert_eq!((r.status, error_of(&r).as_str()), (401, "wrong username or password"));

    let r = http_client::post_json(
        addr,
        "/v1/login",
        &json!({ "username": "ann", "password": "correct horse", "protocol_version": PROTOCOL_VERSION + 1 }),
    )
    .expect("request");
    assert_eq!(r.status, 426);
    assert_eq!(
        error_of(&r),
        format!("protocol version {} is not supported; this server speaks {PROTOCOL_VERSION}", PROTOCOL_VERSION + 1)
    );
    // An old client with another request shape still learns about the version.
    let r = raw(addr, "POST", "/v1/login", br#"{"user":"ann","protocol_version":0}"#);
    assert_eq!(r.status, 426);

    let r = raw(addr, "POST", "/v1/login", b"{\"username\": \"ann\", ");
    assert_eq!(r.status, 400);
    assert!(error_of(&r).starts_with("malformed login request"), "{}", error_of(&r));
    let r = raw(addr, "POST", "/v1/login", br#"{"username":"ann","protocol_version":1}"#);
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("password"), "{}", error_of(&r));
    let r = raw(addr, "POST", "/v1/login", &[0xff, 0xfe, 0x00]);
    assert_eq!(r.status, 400);
    error_of(&r);

    let r = login(addr, "al", "correct horse");
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("3 to 32 characters"));
    let r = login(addr, "al ice", "correct horse");
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("may only contain"));
    let r = login(addr, "bob", "short");
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("8 to 128 bytes"));

    let r = raw(addr, "POST", "/v1/login", &vec![b' '; 64 * 1024]);
    assert_eq!(r.status, 413);
    error_of(&r);
    let r = http_client::get(addr, "/nope").expect("request");
    assert_eq!(r.status, 404);
    assert!(error_of(&r).contains("/nope"));
    let r = http_client::get(addr, "/v1/login").expect("request");
    assert_eq!(r.status, 405);
    error_of(&r);

    assert_eq!(s.seen.created.lock().expect("lock").len(), 1, "no failed login created anything");
    let text = s.metrics.render();
    assert_eq!(parse_metric(&text, "starforge_logins_total{outcome=\"wrong_password\"}"), Some(1.0));
    assert_eq!(parse_metric(&text, "starforge_logins_total{outcome=\"version\"}"), Some(2.0));
    assert_eq!(parse_metric(&text, "starforge_logins_total{outcome=\"bad_request\"}"), Some(7.0));
}

#[test]
fn any_other_protocol_version_number_gets_426() {
    let s = start(None);
    let addr = s.http.addr;
    let with_version = |version: &str| {
        let body = format!(r#"{{"username": "ann", "password": "correct horse", "protocol_version": {version}}}"#);
        raw(addr, "POST", "/v1/login", body.as_bytes())
    };
    for version in ["-1", "1.5", "1e30", "18446744073709551616", "-18446744073709551617", "2", "0", "4294967297"] {
        let r = with_version(version);
        assert_eq!(r.status, 426, "{version}: {}", r.text());
        let error = error_of(&r);
        assert!(error.ends_with(&format!("is not supported; this server speaks {PROTOCOL_VERSION}")), "{error}");
    }
    assert!(error_of(&with_version("-1")).starts_with("protocol version -1 is"));
    assert!(error_of(&with_version("1.5")).starts_with("protocol version 1.5 is"));
    // Not a number: a malformed request, not a version.
    for version in [r#""1""#, "null", "[1]", "true"] {
        let r = with_version(version);
        assert_eq!(r.status, 400, "{version}: {}", r.text());
        assert!(error_of(&r).contains("protocol_version"), "{}", error_of(&r));
    }
    // JSON has one number type: 1.0 is the server's version.
    let r = with_version(&format!("{PROTOCOL_VERSION}.0"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(s.seen.created.lock().expect("lock").len() == 1);
}

#[test]
fn concurrent_first_logins_create_one_empire() {
    let s = start(None);
    let addr = s.http.addr;
    let answers: Vec<LoginResponse> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..20).map(|_| scope.spawn(move || login(addr, "zed", "same password"))).collect();
        workers
            .into_iter()
            .map(|w| {
                let r = w.join().expect("client thread");
                assert_eq!(r.status, 200, "{}", r.text());
                r.json().expect("login response")
            })
            .collect()
    });
    assert_eq!(s.seen.created.lock().expect("lock").as_slice(), ["zed"]);
    assert_eq!(answers.iter().filter(|a| a.created).count(), 1);
    assert!(answers.iter().all(|a| a.player_id == 1000));
}

#[test]
fn creations_of_different_names_are_not_serialized() {
    // The game loop holds the first CreatePlayer unanswered until a second one arrives: if
    // creations were serialized behind one lock, the second would never come and the first login
    // would time out with 503.
    let (gate, mut rx) = GameGate::channel(16);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let mut next = 1;
        while let Some(request) = rx.blocking_recv() {
            if let GameRequest::CreatePlayer { reply, .. } = request {
                held.push(reply);
                if held.len() == 2 {
                    for reply in held.drain(..) {
                        let _ = reply.send(Ok(StartingEmpire { player_id: next, home_colony: 0, ships: vec![] }));
                        next += 1;
                    }
                }
            }
        }
    });
    let (state, ..) = make_state(gate, None);
    let http = spawn_http("127.0.0.1:0".parse().expect("addr"), state).expect("server starts");
    let addr = http.addr;
    let mut ids: Vec<u64> = std::thread::scope(|scope| {
        let a = scope.spawn(move || login(addr, "amy", "password-a"));
        let b = scope.spawn(move || login(addr, "ben", "password-b"));
        [a, b]
            .into_iter()
            .map(|w| {
                let r = w.join().expect("client");
                assert_eq!(r.status, 200, "{}", r.text());
                r.json::<LoginResponse>().expect("login response").player_id
            })
            .collect()
    });
    ids.sort_unstable();
    assert_eq!(ids, [1, 2]);
}

#[test]
fn a_stopped_game_loop_answers_503() {
    let (gate, rx) = GameGate::channel(4);
    drop(rx);
    let (state, metrics, ..) = make_state(gate, None);
    let http = spawn_http("127.0.0.1:0".parse().expect("addr"), state).expect("server starts");
    let r = login(http.addr, "ann", "correct horse");
    assert_eq!(r.status, 503);
    assert!(error_of(&r).contains("not running"), "{}", error_of(&r));
    let r = http_client::get(http.addr, "/health").expect("health");
    assert_eq!(r.status, 503);
    let v: Value = r.json().expect("json");
    assert_eq!(v["status"], "degraded");
    assert_eq!(parse_metric(&metrics.render(), "starforge_logins_total{outcome=\"unavailable\"}"), Some(1.0));

    // The game loop refusing to create an empire is a 503 with its reason.
    let (gate, mut rx) = GameGate::channel(4);
    std::thread::spawn(move || {
        while let Some(request) = rx.blocking_recv() {
            if let GameRequest::CreatePlayer { reply, .. } = request {
                let _ = reply.send(Err("no free home system".into()));
            }
        }
    });
    let (state, _, _, accounts) = make_state(gate, None);
    let http = spawn_http("127.0.0.1:0".parse().expect("addr"), state).expect("server starts");
    let r = login(http.addr, "ann", "correct horse");
    assert_eq!(r.status, 503);
    assert!(error_of(&r).contains("no free home system"), "{}", error_of(&r));
    assert!(accounts.is_empty(), "no account without an empire");
}

#[test]
fn health_and_metrics() {
    let s = start(None);
    s.health.set_tick(77);
    s.health.set_clients(3);
    let r = http_client::get(s.http.addr, "/health").expect("health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json::<Value>().expect("json"), json!({ "status": "ok", "tick": 77, "clients": 3 }));

    s.health.set_degraded(Some("database unreachable".into()));
    let r = http_client::get(s.http.addr, "/health").expect("health");
    assert_eq!(r.status, 503);
    assert_eq!(r.json::<Value>().expect("json"), json!({ "status": "degraded", "reason": "database unreachable" }));
    s.health.set_degraded(None);
    assert_eq!(http_client::get(s.http.addr, "/health").expect("health").status, 200);

    s.metrics.set_clients(4);
    s.metrics.observe_tick(std::time::Duration::from_millis(3));
    let r = http_client::get(s.http.addr, "/metrics").expect("metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    assert!(r.header("content-length").is_some(), "metrics are Content-Length framed");
    let text = r.text();
    assert_eq!(parse_metric(&text, "starforge_clients"), Some(4.0));
    assert_eq!(parse_metric(&text, "starforge_tick_seconds_count"), Some(1.0));
}

#[test]
fn admin_kick_needs_the_token() {
    let s = start(Some("s3cret-admin"));
    let addr = s.http.addr;
    let kick = |auth: Option<&str>, body: &[u8]| {
        let headers: Vec<(&str, &str)> = auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        http_client::request(addr, "POST", "/v1/admin/kick", &headers, Some(body), http_client::DEFAULT_TIMEOUT)
            .expect("request")
    };
    let body = br#"{"player_id": 77, "reason": "cheating"}"#;
    let r = kick(None, body);
    assert_eq!(r.status, 401);
    assert!(error_of(&r).contains("Authorization"));
    let r = kick(Some("Basic s3cret-admin"), body);
    assert_eq!(r.status, 401);
    let r = kick(Some("Bearer s3cret-admim"), body);
    assert_eq!((r.status, error_of(&r).as_str()), (403, "wrong admin token"));
    let r = kick(Some("Bearer s3cret-admin"), b"{\"player_id\": \"x\"}");
    assert_eq!(r.status, 400);
    error_of(&r);
    let long = format!(r#"{{"player_id": 1, "reason": "{}"}}"#, "x".repeat(300));
    assert_eq!(kick(Some("Bearer s3cret-admin"), long.as_bytes()).status, 400);
    assert!(s.seen.kicks.lock().expect("lock").is_empty());

    let r = kick(Some("Bearer s3cret-admin"), body);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json::<Value>().expect("json"), json!({ "status": "queued", "player_id": 77 }));
    let r = kick(Some("Bearer s3cret-admin"), br#"{"player_id": 78}"#);
    assert_eq!(r.status, 202);
    // The fake loop runs on its own thread; the kick was queued before the answer, so give the
    // loop the chance to record it by doing one more round trip through the gate.
    assert_eq!(login(addr, "sync", "password1").status, 200);
    let kicks = s.seen.kicks.lock().expect("lock").clone();
    assert_eq!(kicks[..2], [(77, "cheating".to_string()), (78, "kicked by an administrator".to_string())]);

    // No token configured: the admin API does not exist.
    let s = start(None);
    let r = http_client::request(
        s.http.addr,
        "POST",
        "/v1/admin/kick",
        &[("Authorization", "Bearer anything")],
        Some(body),
        http_client::DEFAULT_TIMEOUT,
    )
    .expect("request");
    assert_eq!(r.status, 404);
    assert!(error_of(&r).contains("STARFORGE_ADMIN_TOKEN"));
}

#[test]
fn binding_and_shutdown() {
    let s = start(None);
    let addr = s.http.addr;
    assert_ne!(addr.port(), 0, "the real port is known");
    // The port is taken: a clear, immediate error.
    let (state, ..) = make_state(GameGate::channel(1).0, None);
    let err = spawn_http(addr, state).expect_err("port in use");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    s.http.shutdown();
    assert!(http_client::get(addr, "/health").is_err(), "nothing listens after shutdown");
}

#[test]
fn new_accounts_and_failed_logins_are_rate_limited_per_address() {
    let limits = RateLimits { signups_per_minute: 2, failed_logins_per_minute: 3, exempt_loopback: false };
    let s = start_limited(None, Some(limits));
    assert_eq!(login(s.http.addr, "one", "password-1").status, 200);
    assert_eq!(login(s.http.addr, "two", "password-2").status, 200);
    let r = login(s.http.addr, "three", "password-3");
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(error_of(&r).contains("too many new accounts"), "{}", error_of(&r));
    assert_eq!(s.accounts.len(), 2, "the refused signup created nothing");
    assert_eq!(login(s.http.addr, "one", "password-1").status, 200, "existing accounts still log in");
    for _ in 0..3 {
        assert_eq!(login(s.http.addr, "one", "wrong-password").status, 401);
    }
    let r = login(s.http.addr, "one", "password-1");
    assert_eq!(r.status, 429, "after 3 failures even the right password waits: {}", r.text());
    assert!(error_of(&r).contains("too many failed logins"), "{}", error_of(&r));
    let text = s.metrics.render();
    assert!(text.contains("starforge_logins_total{outcome=\"rate_limited\"} 2"), "counted");
}
