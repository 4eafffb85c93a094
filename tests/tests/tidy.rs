//! House rules, checked cheaply: every Rust file starts with a `//!` doc line, and no
//! `dbg!`, `todo!()` or `unimplemented!()` outside tests.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_follows_the_house_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in ["components", "systems", "shared", "persistence", "server", "bench", "tests"] {
        rust_files(&root.join(krate), &mut files);
    }
    assert!(files.len() > 20, "found only {} files; is the walk broken?", files.len());
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable source");
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let is_main = f.ends_with("main.rs")
            || f.to_string_lossy().contains("/bin/")
            || f.to_string_lossy().contains("/benches/");
        let documented = first.starts_with("//!") || (is_main && first.starts_with("//"));
        if !documented {
            problems.push(format!("{}: does not start with a //! line", f.display()));
        }
        let in_tests = f.to_string_lossy().contains("/tests/");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let banned = [concat!("db", "g!("), concat!("to", "do!("), concat!("unimple", "mented!(")];
            if !in_tests && banned.iter().any(|b| code.contains(b)) {
                problems.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(problems.is_empty(), "house rules broken:\n{}", problems.join("\n"));
}
