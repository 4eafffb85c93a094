//! The HTTP server under hostile clients, over real TCP on 127.0.0.1: connections that stall
//! (idle, trickled headers, a partial body, kept alive after an answer, an answer never read) are
//! closed within the configured timeouts, requests hyper cannot parse get JSON errors, and the
//! connection limit refuses the excess while logins keep working.
//!
//! Timeouts here are short (1–3 s); every assertion on time is a generous upper bound (closed
//! within ten times the timeout) or a lower bound that a slow machine only makes safer.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use starforge_server::accounts::{AccountStore, MemoryAccounts};
use starforge_server::gate::{GameGate, GameRequest, StartingEmpire};
use starforge_server::http::{HealthState, HttpHandle, HttpLimits, HttpState, MAX_HEAD_BYTES, spawn_http};
use starforge_server::metrics::Metrics;
use starforge_server::token::{TokenIssuer, protocol_id};
use starforge_shared::PROTOCOL_VERSION;
use starforge_shared::http::{self as http_client, Response, parse_response};

/// A server with `limits` and a fake game loop that creates every empire asked for.
fn start(limits: HttpLimits) -> HttpHandle {
    let (gate, mut rx) = GameGate::channel(1024);
    std::thread::spawn(move || {
        let next = AtomicU64::new(1000);
        while let Some(request) = rx.blocking_recv() {
            if let GameRequest::CreatePlayer { reply, .. } = request {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(Ok(StartingEmpire { player_id: id, home_colony: id + 1, ships: vec![] }));
            }
        }
    });
    let udp: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let state = HttpState {
        accounts: Arc::new(MemoryAccounts::new()) as Arc<dyn AccountStore>,
        gate,
        tokens: Arc::new(TokenIssuer::new([7; 32], protocol_id(PROTOCOL_VERSION), udp, 300, 15)),
        metrics: Arc::new(Metrics::new()),
        health: Arc::new(HealthState::new()),
        admin_token: None,
        tick_hz: 20,
        rate_limits: Default::default(),
        limits,
    };
    spawn_http("127.0.0.1:0".parse().expect("addr"), state).expect("server starts")
}

/// Timeouts of `secs` seconds and `max_connections`.
fn limits(secs: f64, max_connections: usize) -> HttpLimits {
    let timeout = Duration::from_secs_f64(secs);
    HttpLimits { header_timeout: timeout, body_timeout: timeout, max_connections }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Reads until the server closes the connection, for at most `limit`; returns what arrived and
/// when the connection closed. Panics if it is still open after `limit`.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = limit.checked_sub(start.elapsed()).filter(|d| !d.is_zero());
        let Some(left) = left else {
            panic!("the connection is still open after {limit:?} ({} bytes received)", received.len());
        };
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return (received, start.elapsed()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return (received, start.elapsed());
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// Reads one `Content-Length` framed answer from a connection that stays open.
fn read_one_response(stream: &mut TcpStream) -> Response {
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(response) = parse_response(&raw) {
            let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
            let length: usize = response.header("content-length").expect("content-length").parse().expect("number");
            assert_eq!(raw.len(), head_end + length, "exactly one answer");
            return response;
        }
        let n = stream.read(&mut buf).expect("read an answer");
        assert!(n > 0, "closed before a whole answer: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
    }
}

fn error_of(r: &Response) -> String {
    let v: Value = r.json().unwrap_or_else(|e| panic!("error body is not JSON ({e}): {:?}", r.text()));
    v["error"].as_str().unwrap_or_else(|| panic!("no error field: {v}")).to_string()
}

fn login(addr: SocketAddr, username: &str) -> Response {
    let body = json!({ "username": username, "password": "correct horse", "protocol_version": PROTOCOL_VERSION });
    http_client::post_json(addr, "/v1/login", &body).expect("login request")
}

const ONE_SECOND: Duration = Duration::from_secs(1);
/// Generous: a stalled connection must be closed within this when the timeout is 1 s.
const CLOSED_WITHIN: Duration = Duration::from_secs(10);

#[test]
fn an_idle_connection_is_closed() {
    let http = start(limits(1.0, 64));
    let mut stream = connect(http.addr);
    let (received, after) = read_until_closed(&mut stream, CLOSED_WITHIN);
    assert!(received.is_empty(), "nothing to answer: {:?}", String::from_utf8_lossy(&received));
    assert!(after >= ONE_SECOND.mul_f64(0.9), "not before the timeout: {after:?}");
}

#[test]
fn trickled_headers_are_cut_off() {
    let http = start(limits(1.0, 64));
    let mut stream = connect(http.addr);
    let mut writer = stream.try_clone().expect("clone");
    // 60 bytes at one per 200 ms would take 12 s to complete the head.
    let head = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n", "a".repeat(20));
    let trickler = std::thread::spawn(move || {
        for byte in head.bytes() {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (received, after) = read_until_closed(&mut stream, CLOSED_WITHIN);
    assert!(received.is_empty(), "no answer to half a head: {:?}", String::from_utf8_lossy(&received));
    assert!(after >= ONE_SECOND.mul_f64(0.9), "not before the timeout: {after:?}");
    trickler.join().expect("trickler");
}

#[test]
fn a_partial_body_gets_408_and_the_connection_closes() {
    let http = start(limits(1.0, 64));
    let mut stream = connect(http.addr);
    stream
        .write_all(b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"username\": ")
        .expect("write");
    let (received, after) = read_until_closed(&mut stream, CLOSED_WITHIN);
    let r = parse_response(&received).expect("an answer");
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(error_of(&r).contains("did not arrive within 1 s"), "{}", error_of(&r));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(after >= ONE_SECOND.mul_f64(0.9), "not before the timeout: {after:?}");
}

#[test]
fn a_kept_alive_connection_is_closed_when_idle() {
    let http = start(limits(1.0, 64));
    let mut stream = connect(http.addr);
    // Two requests on one connection: keep-alive works...
    for _ in 0..2 {
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let r = read_one_response(&mut stream);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // ...and the connection is closed once it idles for the header timeout.
    let (received, after) = read_until_closed(&mut stream, CLOSED_WITHIN);
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    assert!(after >= ONE_SECOND.mul_f64(0.9), "not before the timeout: {after:?}");
}

#[test]
fn an_answer_never_read_does_not_hold_the_connection() {
    let http = start(limits(1.0, 64));
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    // A small receive window, so that the server's answers back up quickly.
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    socket.connect(&http.addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    // Pipelined requests whose answers (a few hundred bytes each) far exceed both socket buffers.
    let requests = 2_000;
    let pipeline = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(requests);
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(pipeline.as_bytes());
    });
    // Read nothing while the server's writes stall for longer than the timeout...
    std::thread::sleep(Duration::from_secs(4));
    // ...then everything: the connection ends before all the answers were sent.
    let (received, _) = read_until_closed(&mut stream, Duration::from_secs(60));
    let answers = received.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert!(answers < requests, "the stalled connection was cut off ({answers} answers)");
    sender.join().expect("sender");
}

#[test]
fn framing_errors_get_json_bodies() {
    let http = start(limits(5.0, 64));
    let send = |raw: &[u8]| {
        let mut stream = connect(http.addr);
        stream.write_all(raw).expect("write");
        let (received, _) = read_until_closed(&mut stream, Duration::from_secs(30));
        parse_response(&received).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&received)))
    };
    let bad: [&[u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for raw in bad {
        let r = send(raw);
        assert_eq!(r.status, 400, "{:?}: {}", String::from_utf8_lossy(raw), r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(error_of(&r).contains("not valid HTTP/1.1"), "{}", error_of(&r));
    }
    // A head over the limit (read whole, so the answer is not lost to a reset).
    let big = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(MAX_HEAD_BYTES + 100));
    let r = send(big.as_bytes());
    assert_eq!(r.status, 431, "{}", r.text());
    assert!(error_of(&r).contains("too large"), "{}", error_of(&r));
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = send(format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes());
    assert_eq!(r.status, 431, "{}", r.text());
    error_of(&r);
    // Ordinary answers are untouched, HEAD included (the head of the 404, no body).
    let mut stream = connect(http.addr);
    stream.write_all(b"HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
    let (received, _) = read_until_closed(&mut stream, Duration::from_secs(30));
    let head = String::from_utf8_lossy(&received);
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n") && head.ends_with("\r\n\r\n"), "{head}");
    assert!(!head.contains("content-length: 0\r\n"), "{head}");
    assert_eq!(http_client::get(http.addr, "/health").expect("health").status, 200);
}

#[test]
fn connections_over_the_limit_are_refused_until_slots_free_up() {
    let max = 8;
    let http = start(limits(3.0, max));
    let held: Vec<TcpStream> = (0..max).map(|_| connect(http.addr)).collect();
    // The server accepts in order: these come after the held ones.
    let extra: Vec<TcpStream> = (0..4).map(|_| connect(http.addr)).collect();
    for mut stream in extra {
        let (received, _) = read_until_closed(&mut stream, Duration::from_secs(30));
        let r = parse_response(&received).expect("an answer");
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(error_of(&r).contains("too many open HTTP connections"), "{}", error_of(&r));
    }
    // The held connections time out, and their slots serve new clients.
    for mut stream in held {
        let (received, _) = read_until_closed(&mut stream, Duration::from_secs(30));
        assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    }
    // The server may see a close a moment after the client does.
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let r = http_client::get(http.addr, "/health").expect("health");
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health.status, 200, "{}", health.text());
    let r = login(http.addr, "after_the_flood");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The soft limit on open files of this process, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn five_hundred_slow_connections_do_not_block_logins() {
    let timeout = 3.0;
    let mut slow = 500;
    // Each slow connection costs two descriptors here (client and server side).
    if let Some(limit) = open_files_limit()
        && limit < 2 * slow + 200
    {
        slow = limit.saturating_sub(200) / 2;
        eprintln!("only {limit} open files allowed (ulimit -n): testing {slow} slow connections instead of 500");
    }
    let http = start(limits(timeout, slow + 12));
    let addr = http.addr;
    let opened = Instant::now();
    let mut stalled: Vec<Option<TcpStream>> = (0..slow)
        .map(|_| {
            let mut stream = connect(addr);
            stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Stall: ").expect("write");
            stream.set_nonblocking(true).expect("nonblocking");
            Some(stream)
        })
        .collect();
    let opening = opened.elapsed();

    // Fresh clients during the stall: a health check and a login, again and again; each pair's
    // completion time since `opened`.
    let stop = Arc::new(AtomicBool::new(false));
    let client_stop = stop.clone();
    let client = std::thread::spawn(move || {
        let (mut done, mut slowest) = (Vec::new(), Duration::ZERO);
        while !client_stop.load(Ordering::Relaxed) {
            let asked = Instant::now();
            let r = http_client::get(addr, "/health").expect("health during the stall");
            assert_eq!(r.status, 200, "health during the stall: {}", r.text());
            let r = login(addr, &format!("player_{}", done.len()));
            assert_eq!(r.status, 200, "login during the stall: {}", r.text());
            slowest = slowest.max(asked.elapsed());
            done.push(opened.elapsed());
        }
        (done, slowest)
    });

    // Watch every stalled connection until the server closes it.
    let mut first_closed = None;
    let mut open = slow;
    let mut buf = [0u8; 1024];
    while open > 0 {
        assert!(opened.elapsed() < Duration::from_secs(60), "{open} of {slow} slow connections still open after 60 s");
        for slot in stalled.iter_mut() {
            let Some(stream) = slot else { continue };
            let closed = match stream.read(&mut buf) {
                Ok(0) => true,
                Ok(n) => panic!("a stalled connection got an answer: {:?}", String::from_utf8_lossy(&buf[..n])),
                Err(e) => e.kind() != ErrorKind::WouldBlock,
            };
            if closed {
                *slot = None;
                open -= 1;
                first_closed.get_or_insert_with(|| opened.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let all_closed = opened.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (done, slowest) = client.join().expect("fresh clients");
    let first_closed = first_closed.unwrap_or_default();
    let during = done.iter().filter(|&&at| at < first_closed).count();
    eprintln!(
        "{slow} slow connections (timeout {timeout} s): opened in {opening:?}, first closed at {first_closed:?}, all \
         closed at {all_closed:?}; {during} health checks and {during} logins succeeded while all were stalled, {} \
         until all were closed; slowest health + login {slowest:?}",
        done.len()
    );
    assert!(
        during >= 1,
        "no fresh client was served while every slow connection was open (opening them took {opening:?})"
    );
    assert!(first_closed >= Duration::from_secs_f64(timeout * 0.9), "not before the timeout");
}
