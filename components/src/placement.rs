//! The placement: which shard owns which star systems (docs/SHARDING.md), as an operator
//! writes it in a RON file (`deploy/placement.ron`) for `starforge placement apply`. This is
//! the file and its checks; writing it into the database is `starforge_persistence::placement`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole placement file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The galaxy's name: prefixes every NATS subject and stream of its shards.
    pub galaxy: String,
    /// The shard that owns the exchange.
    pub exchange: String,
    /// Every shard with its systems.
    pub shards: Vec<ShardPlacement>,
}

/// One shard of a placement.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardPlacement {
    /// Its name (`starforge --shard NAME`).
    pub name: String,
    /// Its number, 1 to 65 535: the entity ids it allocates are `ordinal × 2^48 + n`.
    pub ordinal: u16,
    /// The star systems it owns.
    pub systems: Vec<SystemRange>,
}

/// Star systems `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemRange {
    /// The first system id.
    pub first: u32,
    /// The last system id (included).
    pub last: u32,
}

/// What is wrong with a placement file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Not RON, or not the shape of a placement.
    #[error("{file}:{line}:{column}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        reason: String,
    },
    /// Well-formed, but not a valid placement of this galaxy.
    #[error("{file}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, naming the shard or system.
        reason: String,
    },
}

/// Whether `name` can be a galaxy or shard name: it becomes a NATS subject token and a
/// Kubernetes pod name, so lowercase letters, digits and `-`, starting with a letter or
/// digit, at most 63 characters.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

impl Placement {
    /// Reads `text` (named `file` in errors) and checks it against a galaxy of `systems` star
    /// systems: valid names, unique names and ordinals, an existing exchange shard, every system
    /// `0..systems` owned by exactly one shard.
    pub fn parse(file: &str, text: &str, systems: u32) -> Result<Placement, PlacementError> {
        let placement: Placement = ron::from_str(text).map_err(|e| PlacementError::Syntax {
            file: file.to_owned(),
            line: e.span.start.line,
            column: e.span.start.col,
            reason: e.code.to_string(),
        })?;
        placement.check(systems).map_err(|reason| PlacementError::Invalid { file: file.to_owned(), reason })?;
        Ok(placement)
    }

    fn check(&self, systems: u32) -> Result<(), String> {
        if !valid_name(&self.galaxy) {
            return Err(format!("galaxy name {:?} is not lowercase letters, digits and '-' (at most 63)", self.galaxy));
        }
        if self.shards.is_empty() {
            return Err("no shards".into());
        }
        let mut names = BTreeMap::new();
        let mut ordinals = BTreeMap::new();
        // Which shard owns each system.
        let mut owner: Vec<Option<&str>> = vec![None; systems as usize];
        for shard in &self.shards {
            let name = shard.name.as_str();
            if !valid_name(name) {
                return Err(format!("shard name {name:?} is not lowercase letters, digits and '-' (at most 63)"));
            }
            if names.insert(name, ()).is_some() {
                return Err(format!("shard {name:?} is named twice"));
            }
            if shard.ordinal == 0 {
                return Err(format!("shard {name:?}: ordinal 0 is the server without --shard; use 1 to 65535"));
            }
            if let Some(other) = ordinals.insert(shard.ordinal, name) {
                return Err(format!("shards {other:?} and {name:?} both have ordinal {}", shard.ordinal));
            }
            for r in &shard.systems {
                if r.first > r.last {
                    return Err(format!("shard {name:?}: range {}..={} is empty (first > last)", r.first, r.last));
                }
                if r.last >= systems {
                    return Err(format!(
                        "shard {name:?}: system {} does not exist (the galaxy has {systems} systems, 0 to {})",
                        r.last,
                        systems.saturating_sub(1)
                    ));
                }
                for s in r.first..=r.last {
                    if let Some(other) = owner[s as usize].replace(name) {
                        return Err(format!("system {s} is placed on both {other:?} and {name:?}"));
                    }
                }
            }
        }
        if !names.contains_key(self.exchange.as_str()) {
            return Err(format!("the exchange shard {:?} is not one of the shards", self.exchange));
        }
        if let Some(s) = owner.iter().position(Option::is_none) {
            let missing = owner.iter().filter(|o| o.is_none()).count();
            return Err(format!("{missing} systems have no shard, the first is system {s}: every system needs one"));
        }
        Ok(())
    }

    /// The owning shard of every system, indexed by system id.
    pub fn owners(&self) -> Vec<&str> {
        let mut owners = Vec::new();
        for shard in &self.shards {
            for r in &shard.systems {
                let end = r.last as usize + 1;
                if owners.len() < end {
                    owners.resize(end, "");
                }
                for s in r.first..=r.last {
                    owners[s as usize] = shard.name.as_str();
                }
            }
        }
        owners
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = r#"(
        galaxy: "dev",
        exchange: "shard-1",
        shards: [
            (name: "shard-0", ordinal: 1, systems: [(first: 0, last: 3)]),
            (name: "shard-1", ordinal: 2, systems: [(first: 4, last: 5), (first: 8, last: 9)]),
            (name: "shard-2", ordinal: 3, systems: [(first: 6, last: 7)]),
        ],
    )"#;

    fn invalid(text: &str, systems: u32) -> String {
        match Placement::parse("p.ron", text, systems) {
            Err(PlacementError::Invalid { reason, .. }) => reason,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_placement_gives_every_system_one_owner() {
        let p = Placement::parse("p.ron", THREE, 10).expect("valid");
        assert_eq!(
            p.owners(),
            [
                "shard-0", "shard-0", "shard-0", "shard-0", "shard-1", "shard-1", "shard-2", "shard-2", "shard-1",
                "shard-1"
            ]
        );
    }

    #[test]
    fn each_mistake_is_named() {
        assert_eq!(invalid(THREE, 12), "2 systems have no shard, the first is system 10: every system needs one");
        assert_eq!(invalid(THREE, 9), "shard \"shard-1\": system 9 does not exist (the galaxy has 9 systems, 0 to 8)");
        assert_eq!(
            invalid(&THREE.replace("(first: 6, last: 7)", "(first: 5, last: 7)"), 10),
            "system 5 is placed on both \"shard-1\" and \"shard-2\""
        );
        assert_eq!(
            invalid(&THREE.replace("ordinal: 3", "ordinal: 1"), 10),
            "shards \"shard-0\" and \"shard-2\" both have ordinal 1"
        );
        assert_eq!(
            invalid(&THREE.replace("ordinal: 3", "ordinal: 0"), 10),
            "shard \"shard-2\": ordinal 0 is the server without --shard; use 1 to 65535"
        );
        assert_eq!(
            invalid(&THREE.replace("name: \"shard-2\"", "name: \"shard-0\""), 10),
            "shard \"shard-0\" is named twice"
        );
        assert_eq!(
            invalid(&THREE.replace("exchange: \"shard-1\"", "exchange: \"shard-9\""), 10),
            "the exchange shard \"shard-9\" is not one of the shards"
        );
        assert_eq!(
            invalid(&THREE.replace("galaxy: \"dev\"", "galaxy: \"Dev.1\""), 10),
            "galaxy name \"Dev.1\" is not lowercase letters, digits and '-' (at most 63)"
        );
        assert_eq!(
            invalid(&THREE.replace("(first: 6, last: 7)", "(first: 7, last: 6)"), 10),
            "shard \"shard-2\": range 7..=6 is empty (first > last)"
        );
    }

    #[test]
    fn the_shipped_example_places_the_default_galaxy() {
        let text = include_str!("../../deploy/placement.ron");
        let systems = crate::tuning::Tuning::default().world.systems;
        let p = Placement::parse("deploy/placement.ron", text, systems).expect("the example is valid");
        assert_eq!(p.owners().len(), systems as usize);
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let text = THREE.replace("ordinal: 3,", "ordinal: 3, colour: 1,");
        match Placement::parse("p.ron", &text, 10) {
            Err(PlacementError::Syntax { file, line, reason, .. }) => {
                assert_eq!((file.as_str(), line), ("p.ron", 7));
                assert!(reason.contains("colour"), "{reason}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
        assert!(matches!(
            Placement::parse("p.ron", &THREE.replace("ordinal: 3", "ordinal: 70000"), 10),
            Err(PlacementError::Syntax { line: 7, .. })
        ));
    }
}
