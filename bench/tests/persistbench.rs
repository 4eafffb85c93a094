//! Smoke test of the `persistbench` binary: a tiny world against the test Postgres (and Redis
//! when it answers); the last stdout line is JSON with every required key, and the scratch
//! database is gone afterwards.
//!
//! Prints "skipped: ..." when Postgres is absent, unless `STARFORGE_REQUIRE_SERVICES=1`.
//! `STARFORGE_TEST_POSTGRES_URL` (`postgres://user@host:port`) and `REDIS_URL` override the
//! default services.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::Duration;

use sqlx::Connection;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";

fn required() -> bool {
    std::env::var("STARFORGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Whether something listens at the `host:port` of `url` (a quick TCP probe).
fn listening(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

#[test]
fn persistbench_prints_the_json_line_and_cleans_up() {
    let server = std::env::var("STARFORGE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    if !listening(&server) {
        assert!(!required(), "Postgres not reachable at {server} and STARFORGE_REQUIRE_SERVICES=1");
        println!("skipped: Postgres not reachable at {server}");
        return;
    }
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS.to_owned());
    let with_redis = listening(&redis);
    if !with_redis {
        println!("note: Redis not reachable at {redis}; the login phase runs without it");
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_persistbench"));
    cmd.args(["--database-url", &format!("{server}/postgres")]);
    cmd.args(["--ships", "2000", "--ticks", "20", "--warmup", "25", "--pairs", "1", "--census-ticks", "20"]);
    cmd.args(["--bulk-batches", "1", "--accounts", "50", "--tick-hz", "0"]);
    if with_redis {
        cmd.args(["--redis-url", &redis]);
    }
    let out = cmd.output().expect("run persistbench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "persistbench failed: {}\n{stderr}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("some output");
    let json: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    for key in ["rows_per_s", "batch_rows", "flush_tick_extra_ms", "tick_mean_ratio", "changed_per_tick"] {
        assert!(json[key].as_f64().is_some_and(|v| v >= 0.0), "{key} in {json}");
    }
    assert!(json["batch_rows"].as_f64().unwrap_or(0.0) > 0.0, "batches were written: {json}");
    for key in ["p50", "max"] {
        assert!(json["transaction_ms"][key].as_f64().is_some(), "transaction_ms.{key} in {json}");
    }
    assert!(json["login_ms"]["miss_p95"].as_f64().is_some(), "{json}");
    assert_eq!(json["login_ms"]["redis_hit_p95"].is_f64(), with_redis, "{json}");
    assert!(json["login_ms"].as_object().is_some_and(|o| o.contains_key("redis_hit_p95")), "{json}");

    // The scratch database was dropped.
    let name = stderr
        .lines()
        .find_map(|l| l.strip_prefix("scratch database ").and_then(|r| r.split_whitespace().next()))
        .expect("the scratch database is named on stderr");
    assert!(stderr.contains(&format!("dropped database {name}")), "{stderr}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let exists: bool = rt
        .block_on(async {
            let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
            let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await;
            let _ = conn.close().await;
            exists
        })
        .expect("query pg_database");
    assert!(!exists, "{name} still exists");
}
