//! Helpers for the crate's unit tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use starforge_components::tuning::BUILTIN_FILES;

/// A fresh temporary directory holding the shipped tuning files; removed on drop.
pub(crate) struct TempTuningDir(PathBuf);

impl TempTuningDir {
    /// Creates `…/starforge-<name>-<pid>-<n>` with the six shipped files.
    pub(crate) fn new(name: &str) -> TempTuningDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("starforge-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        for (file, text) in BUILTIN_FILES {
            std::fs::write(dir.join(file), text).expect("write tuning file");
        }
        TempTuningDir(dir)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Replaces the first `from` with `to` in `file` (which must contain `from`).
    pub(crate) fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.0.join(file);
        let text = std::fs::read_to_string(&path).expect("read tuning file");
        assert!(text.contains(from), "{file} contains {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write tuning file");
    }
}

impl Drop for TempTuningDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
