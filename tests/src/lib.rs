//! Starforge integration tests that span crates: the server's tuning loader driving the
//! generated world and the rules, determinism of the assembled server app, and (from the
//! network and persistence issues on) real sockets and real databases.
//!
//! The tests live in `tests/tests/`; this library holds their shared helpers.

pub mod hostile;
pub mod nats;
pub mod net;
pub mod persist;
pub mod services;

use std::path::{Path, PathBuf};

/// A private copy of the shipped `tuning/` folder that a test may edit; removed on drop.
pub struct TuningCopy {
    /// The folder.
    pub dir: PathBuf,
}

impl TuningCopy {
    /// Copies the workspace's `tuning/` into a fresh temporary folder named after `tag`.
    pub fn new(tag: &str) -> std::io::Result<TuningCopy> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tuning");
        let dir = std::env::temp_dir().join(format!("starforge-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
        }
        Ok(TuningCopy { dir })
    }

    /// Replaces `from` by `to` in `file` (which must contain `from`).
    pub fn edit(&self, file: &str, from: &str, to: &str) -> std::io::Result<()> {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path)?;
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(path, text.replacen(from, to, 1))
    }
}

impl Drop for TuningCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
