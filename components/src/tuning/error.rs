//! Errors of loading tuning: what a designer needs to fix a file (file, line, field, reason).

use std::fmt;

use super::FILE_NAMES;

/// Why a set of tuning files was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TuningError {
    /// The text is not valid RON, or a value has the wrong type, or a field is unknown/missing.
    #[error("{file}:{line}:{column}: {reason}")]
    Syntax {
        /// File name, e.g. `ships.ron`.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected or found.
        reason: String,
    },
    /// The file parsed, but values are out of range (every problem found, not only the first).
    #[error("{}", Problems(.0))]
    Invalid(Vec<FieldError>),
    /// A file name that is not one of the tuning files.
    #[error("{file}: not a tuning file (expected one of: {})", FILE_NAMES.join(", "))]
    UnknownFile {
        /// The name given.
        file: String,
    },
    /// One of the tuning files is missing.
    #[error("{file}: missing (every tuning file is required: {})", FILE_NAMES.join(", "))]
    MissingFile {
        /// The missing file's name.
        file: String,
    },
    /// The same file was given twice.
    #[error("{file}: given more than once")]
    DuplicateFile {
        /// The repeated name.
        file: String,
    },
}

impl TuningError {
    /// The problems of an [`TuningError::Invalid`] error (empty for other kinds).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            TuningError::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

/// One out-of-range value: `ships.ron:12: classes.fighter.max_speed: must be > 0 (got -3)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// File name, e.g. `ships.ron`.
    pub file: String,
    /// 1-based line of the field in the file, when the text was at hand and the field found.
    pub line: Option<usize>,
    /// Field path inside the file, e.g. `classes.fighter.max_speed`.
    pub path: String,
    /// What is wrong, with the value found.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.path, self.reason),
            None => write!(f, "{}: {}: {}", self.file, self.path, self.reason),
        }
    }
}

/// Displays a list of problems on one line, separated by `; `.
struct Problems<'a>(&'a [FieldError]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
