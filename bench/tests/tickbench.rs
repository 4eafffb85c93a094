//! Runs the built `tickbench` binary on a tiny world and checks its JSON summary line.

use std::process::Command;

fn tickbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tickbench")).args(args).output().expect("tickbench runs")
}

#[test]
fn tiny_world_prints_a_sane_json_summary_last() {
    let out = tickbench(&[
        "--ships",
        "500",
        "--colonies",
        "20",
        "--orders",
        "200",
        "--ticks",
        "20",
        "--warmup",
        "5",
        "--seed",
        "3",
        "--per-set",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tickbench failed: {stderr}");
    assert!(stderr.contains("Combat"), "--per-set prints the sets: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let last = stdout.lines().last().expect("some stdout");
    let v: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    for key in ["ships", "colonies", "resting_orders", "ticks", "mean_ms", "p50_ms", "p99_ms", "max_ms"] {
        assert!(v.get(key).is_some(), "missing {key}: {last}");
    }
    let n = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} is not a number: {last}"));
    assert_eq!(v["ticks"].as_u64(), Some(20));
    // Ships can die or be built, orders can fill or expire, but the world is not empty.
    assert!(n("ships") > 0.0 && n("ships") <= 600.0, "{last}");
    assert!(n("colonies") > 0.0 && n("colonies") <= 20.0, "{last}");
    assert!(n("resting_orders") > 0.0, "{last}");
    let (mean, p50, p99, max) = (n("mean_ms"), n("p50_ms"), n("p99_ms"), n("max_ms"));
    assert!(mean > 0.0 && mean <= max, "{last}");
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{last}");
}

#[test]
fn bad_flags_are_rejected_with_a_message() {
    for args in [&["--ticks", "0"][..], &["--ships", "many"], &["--nope"]] {
        let out = tickbench(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}
