//! Reading the tuning files from disk (the components crate only parses text).

use std::io;
use std::path::{Path, PathBuf};

use starforge_components::tuning::{Tuning, TuningError};

/// Why tuning could not be read from a directory.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory could not be listed.
    #[error("cannot read tuning directory `{}`: {error} (set it with --tuning <DIR>)", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error (in the message, not a `source`, so it is printed once).
        error: io::Error,
    },
    /// A file could not be read.
    #[error("cannot read `{}`: {error}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`, so it is printed once).
        error: io::Error,
    },
    /// The files were read but are not valid tuning.
    #[error("invalid tuning in `{}`: {error}", dir.display())]
    Tuning {
        /// The directory.
        dir: PathBuf,
        /// What is wrong, with file, line and field.
        error: TuningError,
    },
}

/// Reads every `*.ron` file in `dir` and parses them into a validated [`Tuning`].
///
/// All six tuning files must be present; any other `.ron` file is an error (a typo in a
/// file name would otherwise be silently ignored).
pub fn read_tuning_dir(dir: &Path) -> Result<Tuning, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|error| LoadError::ReadDir { dir: dir.to_owned(), error })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| LoadError::ReadDir { dir: dir.to_owned(), error })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "ron") && path.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let files = read_files(dir, names.iter().map(String::as_str))?;
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Tuning::from_files(&refs).map_err(|error| LoadError::Tuning { dir: dir.to_owned(), error })
}

/// Reads the named files from `dir` as `(name, text)`.
pub fn read_files<'a>(
    dir: &Path,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, LoadError> {
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .map(|text| (name.to_owned(), text))
                .map_err(|error| LoadError::ReadFile { path, error })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTuningDir;

    #[test]
    fn reads_the_shipped_files() {
        let dir = TempTuningDir::new("read_ok");
        assert_eq!(read_tuning_dir(dir.path()).expect("valid"), Tuning::default());
    }

    #[test]
    fn missing_dir_and_files_are_clear_errors() {
        let err = read_tuning_dir(Path::new("/nonexistent/tuning")).expect_err("no dir");
        assert!(err.to_string().contains("--tuning"), "{err}");

        let dir = TempTuningDir::new("read_missing");
        std::fs::remove_file(dir.path().join("npc.ron")).expect("remove");
        let err = read_tuning_dir(dir.path()).expect_err("missing npc.ron");
        assert!(err.to_string().contains("npc.ron: missing"), "{err}");
    }

    #[test]
    fn invalid_file_names_file_line_and_reason() {
        let dir = TempTuningDir::new("read_invalid");
        dir.edit("ships.ron", "max_speed: 300.0", "max_speed: -3.0");
        let err = read_tuning_dir(dir.path()).expect_err("invalid");
        assert!(err.to_string().ends_with("ships.ron:6: classes.fighter.max_speed: must be > 0 (got -3)"), "{err}");
    }
}
