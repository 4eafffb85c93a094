//! The spill file: the whole world, written to a local file at shutdown when the database does
//! not confirm the final state in time (unreachable, hanging), and written to the database at
//! the next start before the world is restored. So a shutdown during a database outage loses
//! no entity state (credits, ships, cargo, colonies, orders) and no trade or combat report,
//! unless the file cannot be written either.
//!
//! Layout: the magic `SFSPILL1`, then the payload's length (u64, little endian), an FNV-1a 64
//! checksum of the payload, and the payload: a bincode [`Spill`]. The file is written to a
//! temporary name, synced and renamed, so a crash while writing leaves the previous state (no
//! file, or an older complete one). A file that does not check out is an error naming it; it is
//! never applied and never deleted; so is one written with another format ([`FORMAT`]). A file whose batch the database already holds (or a newer one) is
//! renamed to `<file>.stale` with a warning, never applied.
//!
//! What it holds: every entity and open order at the shutdown tick (applied as a replacement of
//! the saved entities, so ships destroyed since the last write do not come back), the world
//! row, and the trades and combat reports the database did not confirm: those not yet handed
//! to the writer and those of the batches it held unconfirmed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Db;
use crate::apply::{Applied, apply};
use crate::db::beside;
use crate::tables::schema::Rows;

const MAGIC: &[u8; 8] = b"SFSPILL1";

/// Version of the payload ([`Spill`] and the [`Rows`] it holds); a file of another version is
/// refused rather than misread.
pub const FORMAT: i32 = 3;

/// The spill file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spill {
    /// The database the world belongs to (as the server names it, password hidden): a spill is
    /// only applied to that database.
    pub database: String,
    /// The payload format ([`FORMAT`]).
    pub format: i32,
    /// The whole world as one batch's rows ([`Rows::replace`] set).
    pub rows: Rows,
}

/// Where a server spills, and for which database.
#[derive(Debug, Clone)]
pub struct SpillTarget {
    /// The file.
    pub path: PathBuf,
    /// The database's name as [`Spill::database`] records it.
    pub database: String,
}

/// Why a spill file could not be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// Reading, writing or removing the file failed.
    #[error("spill file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a complete spill file written by this server version.
    #[error(
        "spill file {path} is damaged or not a Starforge spill file ({reason}); it was not applied. Move it away to \
         start without it (the world it holds is then lost)"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file belongs to another database.
    #[error(
        "spill file {path} holds the world of {belongs_to}, not of {this}; start with that database to write it, or \
         move the file away"
    )]
    OtherDatabase {
        /// The file.
        path: PathBuf,
        /// The database it was written for.
        belongs_to: String,
        /// The database this server uses.
        this: String,
    },
    /// The file was written by a server with another row format.
    #[error(
        "spill file {path} holds records in row format {found}; this server writes format {expected}. Start the \
         server version that wrote it to apply it, or move the file away"
    )]
    OtherFormat {
        /// The file.
        path: PathBuf,
        /// The file's format.
        found: i32,
        /// This server's.
        expected: i32,
    },
    /// The database refused it.
    #[error("spill file {path} could not be written to the database: {source}")]
    Database {
        /// The file.
        path: PathBuf,
        /// The error.
        source: sqlx::Error,
    },
}

/// FNV-1a, 64 bits: catches a torn or damaged file before anything is decoded.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Writes `spill` to `path` (through a temporary file, synced, then renamed).
pub fn write(path: &Path, spill: &Spill) -> Result<(), SpillError> {
    let io = |source| SpillError::Io { path: path.to_path_buf(), source };
    let payload =
        bincode::serde::encode_to_vec(spill, bincode::config::standard()).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = beside(path, ".tmp");
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(MAGIC).map_err(io)?;
    f.write_all(&(payload.len() as u64).to_le_bytes()).map_err(io)?;
    f.write_all(&checksum(&payload).to_le_bytes()).map_err(io)?;
    f.write_all(&payload).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename itself is durable once the directory is synced.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// Reads the spill file at `path`; `Ok(None)` if there is none.
pub fn read(path: &Path) -> Result<Option<Spill>, SpillError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SpillError::Io { path: path.to_path_buf(), source }),
    };
    let damaged = |reason: String| SpillError::Damaged { path: path.to_path_buf(), reason };
    if bytes.len() < 24 || &bytes[..8] != MAGIC {
        return Err(damaged("no spill header".into()));
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let sum = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let payload = &bytes[24..];
    if payload.len() as u64 != len {
        return Err(damaged(format!("{} bytes of payload, the header says {len}", payload.len())));
    }
    if checksum(payload) != sum {
        return Err(damaged("checksum mismatch".into()));
    }
    match bincode::serde::decode_from_slice::<Spill, _>(payload, bincode::config::standard()) {
        Ok((spill, used)) if used == payload.len() => Ok(Some(spill)),
        Ok((_, used)) => Err(damaged(format!("{} trailing bytes", payload.len() - used))),
        Err(e) => Err(damaged(format!("cannot decode: {e}"))),
    }
}

/// At startup, before the world is read: writes a spill file left by the last shutdown to
/// `db` (in one transaction) and removes it. Returns the spilled batch's tick if it was written;
/// `None` if there was no file, or the database already held that batch or a newer one (the
/// file is then renamed to `<file>.stale`, with a warning). An unreadable file, or one of
/// another database or row format, is an error and stays.
pub async fn apply_pending(db: &Db, target: &SpillTarget) -> Result<Option<u64>, SpillError> {
    let path = &target.path;
    let Some(spill) = read(path)? else { return Ok(None) };
    if spill.database != target.database {
        return Err(SpillError::OtherDatabase {
            path: path.clone(),
            belongs_to: spill.database,
            this: target.database.clone(),
        });
    }
    if spill.format != FORMAT {
        return Err(SpillError::OtherFormat { path: path.clone(), found: spill.format, expected: FORMAT });
    }
    let applied = apply(db, &spill.rows).await.map_err(|source| SpillError::Database { path: path.clone(), source })?;
    let tick = spill.rows.world.tick.first().copied().unwrap_or_default() as u64;
    if applied == Applied::Written {
        std::fs::remove_file(path).map_err(|source| SpillError::Io { path: path.clone(), source })?;
        return Ok(Some(tick));
    }
    // Written already (a crash between the write and the removal) or older than the database.
    let stale = beside(path, ".stale");
    std::fs::rename(path, &stale).map_err(|source| SpillError::Io { path: path.clone(), source })?;
    tracing::warn!(
        batch = spill.rows.batch(),
        tick,
        "spill file {} was not applied: the database already holds that batch or a newer one; it is kept as {}",
        path.display(),
        stale.display()
    );
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Spill {
        let mut rows = Rows { replace: true, ..Rows::default() };
        rows.world.batch.push(7);
        rows.world.tick.push(140);
        rows.ships.id.push(3);
        rows.deletes.orders.push(9);
        Spill { database: "Sqlite(\"world.db\")".into(), format: FORMAT, rows }
    }

    #[test]
    fn a_spill_file_reads_back_and_a_damaged_one_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("starforge-spill-unit-{}", std::process::id()));
        let path = dir.join("sub").join("w.spill");
        assert!(read(&path).expect("no file is no spill").is_none());
        write(&path, &sample()).expect("write");
        assert_eq!(read(&path).expect("read"), Some(sample()));
        assert!(!dir.join("sub").join("w.spill.tmp").exists(), "the temporary file was renamed");

        let good = std::fs::read(&path).expect("bytes");
        let damaged = |bytes: Vec<u8>, why: &str| {
            std::fs::write(&path, bytes).expect("write");
            let err = read(&path).expect_err(why);
            assert!(matches!(err, SpillError::Damaged { .. }), "{why}: {err}");
            assert!(err.to_string().contains("w.spill"), "{why}: the error names the file: {err}");
        };
        let mut flipped = good.clone();
        *flipped.last_mut().expect("bytes") ^= 0x40;
        damaged(flipped, "a flipped bit");
        damaged(good[..good.len() - 3].to_vec(), "a torn write");
        damaged(b"not a spill file at all, just text".to_vec(), "another file");
        let mut huge = good.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        damaged(huge, "an absurd length");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
