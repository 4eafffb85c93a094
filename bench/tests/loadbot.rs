//! Runs the built `loadbot` against the real `starforge` server binary (found next to
//! `loadbot` in the same target directory; `cargo test --workspace` builds it) and checks the
//! JSON summary line. No wall-clock thresholds: only that the run worked and measured something.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const LOADBOT: &str = env!("CARGO_BIN_EXE_loadbot");

/// Kills the server when the test ends, however it ends.
struct ServerGuard {
    child: Child,
    log: PathBuf,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl ServerGuard {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The `starforge` binary next to `loadbot`, if it was built.
fn server_binary() -> Option<PathBuf> {
    let dir = Path::new(LOADBOT).parent()?;
    let p = dir.join(format!("starforge{}", std::env::consts::EXE_SUFFIX));
    p.is_file().then_some(p)
}

/// Two ports that were free a moment ago (TCP for HTTP, UDP for the game).
fn free_ports() -> (u16, u16) {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    (tcp.local_addr().expect("addr").port(), udp.local_addr().expect("addr").port())
}

fn start_server(bin: &Path, http: u16, udp: u16) -> ServerGuard {
    let tuning = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tuning");
    let log = std::env::temp_dir().join(format!("loadbot-test-server-{}-{http}.log", std::process::id()));
    let file = std::fs::File::create(&log).expect("server log file");
    let child = Command::new(bin)
        .args(["--http", &format!("127.0.0.1:{http}"), "--udp", &format!("127.0.0.1:{udp}")])
        // Nothing to keep: no database file in the working directory.
        .arg("--ephemeral")
        .arg("--tuning")
        .arg(&tuning)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("the starforge binary starts");
    let mut guard = ServerGuard { child, log };
    // Wait until the HTTP API answers (generous: a loaded CI machine may be slow).
    let deadline = Instant::now() + Duration::from_secs(120);
    let url = format!("http://127.0.0.1:{http}");
    loop {
        if let Ok(r) = starforge_shared::http::request_url("GET", &url, "/health", None, Duration::from_secs(2))
            && r.status == 200
        {
            return guard;
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!("the server exited ({status}) before answering:\n{}", guard.log_text());
        }
        assert!(Instant::now() < deadline, "the server did not answer /health:\n{}", guard.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn loadbot(args: &[&str]) -> Output {
    Command::new(LOADBOT).args(args).stdin(Stdio::null()).output().expect("loadbot runs")
}

#[test]
fn five_bots_connect_play_and_report() {
    let Some(bin) = server_binary() else {
        eprintln!(
            "SKIPPED: no starforge binary next to {LOADBOT}; build it first (`cargo test --workspace` or `cargo build --bin starforge`)"
        );
        return;
    };
    let (http, udp) = free_ports();
    let server = start_server(&bin, http, udp);
    let url = format!("http://127.0.0.1:{http}");
    let report = std::env::temp_dir().join(format!("loadbot-test-{}.svg", std::process::id()));
    let out = loadbot(&[
        "--server",
        &url,
        "--clients",
        "5",
        "--seconds",
        "3",
        "--warmup",
        "0",
        "--prefix",
        &format!("t{}x", std::process::id()),
        "--report",
        report.to_str().expect("utf-8 temp path"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadbot failed: {stderr}\nserver log:\n{}", server.log_text());
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let last = stdout.lines().last().expect("some stdout");
    let v: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    let n = |path: &[&str]| {
        path.iter().fold(&v, |v, k| &v[k]).as_f64().unwrap_or_else(|| panic!("{path:?} is not a number: {last}"))
    };
    assert_eq!(v["clients"].as_u64(), Some(5), "{last}");
    assert_eq!(v["connected"].as_u64(), Some(5), "{last}\n{stderr}");
    assert_eq!(v["failed"].as_u64(), Some(0), "{last}\n{stderr}");
    assert_eq!(v["disconnects"].as_u64(), Some(0), "{last}\n{stderr}");
    assert!(n(&["rtt_ms", "p99"]) > 0.0, "{last}");
    assert!(n(&["rtt_ms", "p50"]) <= n(&["rtt_ms", "p99"]), "{last}");
    assert!(n(&["bytes_per_entity_update"]) > 0.0, "{last}");
    assert!(n(&["snapshot_interval_ms", "p50"]) > 0.0, "{last}");
    assert!(n(&["visible_entities_mean"]) > 0.0, "{last}");
    for key in ["bytes_per_moving_update", "json_bytes_per_moving_update", "json_ratio", "server_tick_ms"] {
        assert!(v.get(key).is_some(), "missing {key}: {last}");
    }
    // The chart needs a system font; without one loadbot says so and still succeeds.
    if loadbot_font_exists() {
        let svg = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
        assert!(svg.contains("<svg") && svg.contains("RTT"), "not the chart: {}", &svg[..svg.len().min(200)]);
    } else {
        assert!(stderr.contains("report not written"), "{stderr}");
    }
    let _ = std::fs::remove_file(&report);
}

fn loadbot_font_exists() -> bool {
    ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf"]
        .iter()
        .any(|p| Path::new(p).is_file())
}

#[test]
fn bad_arguments_fail_with_a_message() {
    for args in [
        &["--clients", "0"][..],
        &["--seconds", "zero"],
        &["--report", "chart.jpg"],
        &["--prefix", "no spaces"],
        &["--password", "short"],
        &["--nope"],
    ] {
        let out = loadbot(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}

#[test]
fn an_unreachable_server_is_an_error() {
    // A port nobody listens on: bind one and drop it.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let out = loadbot(&["--server", &format!("http://127.0.0.1:{port}"), "--clients", "1", "--seconds", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(out.stdout.is_empty());
}
