//! `starforge placement apply FILE` and `starforge placement show`: the operator's side of
//! which shard owns which star system (docs/SHARDING.md).

use std::fmt::Write as _;

use anyhow::{Context, bail};
use starforge_components::placement::Placement;
use starforge_persistence::placement::{self, Current};
use starforge_persistence::{Db, DbTarget};

use crate::config::{PlacementCommand, ServerConfig};
use crate::read_tuning_dir;

/// Runs `command`; what it did goes to standard output.
pub fn run(config: &ServerConfig, command: &PlacementCommand) -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start tokio")?;
    match command {
        PlacementCommand::Apply { file, check } => {
            let systems = match config.systems {
                Some(n) => n,
                None => read_tuning_dir(&config.tuning).context("cannot read the galaxy size")?.world.systems,
            };
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let placement = Placement::parse(&file.display().to_string(), &text, systems)?;
            if *check {
                return Ok(format!(
                    "{}: valid for a galaxy of {systems} systems\n{}",
                    file.display(),
                    summary(&placement)
                ));
            }
            let db = rt.block_on(connect(config))?;
            let applied = rt.block_on(placement::apply(&db, &placement))?;
            let mut out = format!(
                "placement of galaxy {:?} applied: {} systems assigned, {} moved to another shard, {} unchanged",
                placement.galaxy, applied.assigned, applied.moved, applied.unchanged
            );
            if !applied.new_shards.is_empty() {
                let _ = write!(out, "; new shards: {}", applied.new_shards.join(", "));
            }
            out.push('\n');
            out.push_str(&summary(&placement));
            Ok(out)
        }
        PlacementCommand::Show => {
            // Read only: no migrations run (a database without the tables has no placement).
            let db = rt.block_on(open(config))?;
            match rt.block_on(placement::read(&db))? {
                Some(current) => Ok(show(&current)),
                None => Ok("no placement: this database holds a single server's world (no --shard)\n".to_owned()),
            }
        }
    }
}

/// The database, migrated; Postgres only (a placement is shared by the shards of a galaxy).
async fn connect(config: &ServerConfig) -> anyhow::Result<Db> {
    let db = open(config).await?;
    db.migrate().await.context("database migrations failed")?;
    Ok(db)
}

/// The database as it is; Postgres only.
async fn open(config: &ServerConfig) -> anyhow::Result<Db> {
    let Some(url) = config.database_url.clone() else {
        bail!(
            "a placement lives in the galaxy's Postgres database: set DATABASE_URL (or --database-url). A single \
             server without --shard needs no placement"
        );
    };
    Db::connect(&DbTarget::Postgres(url)).await.context("cannot open the database")
}

/// One line per shard: name, ordinal, systems as ranges.
fn summary(p: &Placement) -> String {
    let mut out = String::new();
    for s in &p.shards {
        let systems: Vec<u32> = s.systems.iter().flat_map(|r| r.first..=r.last).collect();
        let exchange = if s.name == p.exchange { ", exchange" } else { "" };
        let _ = writeln!(
            out,
            "  {} (ordinal {}{exchange}): {} systems {}",
            s.name,
            s.ordinal,
            systems.len(),
            ranges(systems)
        );
    }
    out
}

fn show(c: &Current) -> String {
    let mut out = format!("galaxy {:?}, exchange on {}\n", c.galaxy, c.exchange);
    for s in &c.shards {
        let state = if s.systems.is_empty() { " (owns no system)" } else { "" };
        let _ = writeln!(
            out,
            "  {} (ordinal {}){state}: {} systems {}",
            s.name,
            s.ordinal,
            s.systems.len(),
            ranges(s.systems.clone())
        );
    }
    let moved = c.epochs.iter().filter(|(_, e)| *e > 1).count();
    let _ = writeln!(out, "  {moved} systems have changed owner at least once");
    out
}

/// `0-3, 8-9`: sorted ids as ranges.
fn ranges(mut ids: Vec<u32>) -> String {
    ids.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { ids[i].to_string() } else { format!("{}-{}", ids[i], ids[j]) });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(vec![9, 0, 1, 2, 3, 8, 5]), "0-3, 5, 8-9");
        assert_eq!(ranges(vec![]), "");
    }
}
