//! Tests of loading and validating tuning files.

use super::*;

fn builtin(name: &str) -> &'static str {
    BUILTIN_FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).expect("a shipped file")
}

/// The shipped files with `name` replaced by `text`.
fn files_with(name: &str, text: &str) -> Vec<(&'static str, String)> {
    BUILTIN_FILES.iter().map(|(n, t)| (*n, if *n == name { text.to_owned() } else { (*t).to_owned() })).collect()
}

fn from_owned(files: &[(&'static str, String)]) -> Result<Tuning, TuningError> {
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    Tuning::from_files(&refs)
}

#[test]
fn shipped_files_parse_and_validate() {
    let t = Tuning::from_files(&BUILTIN_FILES).expect("shipped tuning must be valid");
    t.validate().expect("validate() agrees with from_files");
    assert_eq!(t.world.tick_hz, 20, "shipped tick rate");
}

#[test]
fn default_is_the_shipped_files() {
    assert_eq!(Tuning::default(), Tuning::from_files(&BUILTIN_FILES).expect("valid"));
}

#[test]
fn file_order_does_not_matter() {
    let mut files = BUILTIN_FILES.to_vec();
    files.reverse();
    assert_eq!(Tuning::from_files(&files).expect("valid"), Tuning::default());
}

#[test]
fn syntax_error_reports_file_line_and_column() {
    let text = builtin("ships.ron").replacen("hull: 180.0,", "hull: 180.0,,", 1);
    let err = from_owned(&files_with("ships.ron", &text)).expect_err("double comma");
    let TuningError::Syntax { ref file, line, .. } = err else { panic!("not a syntax error: {err}") };
    assert_eq!(file, "ships.ron");
    assert_eq!(line, 10, "the corvette's hull line: {err}");
    assert!(err.to_string().starts_with("ships.ron:10:"), "display: {err}");
}

#[test]
fn type_error_reports_expected_type() {
    let text = builtin("world.ron").replace("lanes_per_system: 2.5", "lanes_per_system: \"many\"");
    let err = from_owned(&files_with("world.ron", &text)).expect_err("a string is not a float");
    let msg = err.to_string();
    assert!(msg.starts_with("world.ron:5:"), "file and line: {msg}");
    assert!(msg.to_lowercase().contains("float"), "reason names the type: {msg}");
}

#[test]
fn out_of_range_reports_file_field_line_and_reason() {
    let text = builtin("ships.ron").replacen("max_speed: 300.0", "max_speed: -3.0", 1);
    let err = from_owned(&files_with("ships.ron", &text)).expect_err("negative speed");
    assert_eq!(
        err.field_errors(),
        [FieldError {
            file: "ships.ron".into(),
            line: Some(6),
            path: "classes.fighter.max_speed".into(),
            reason: "must be > 0 (got -3)".into(),
        }],
        "{err}"
    );
    assert_eq!(err.to_string(), "ships.ron:6: classes.fighter.max_speed: must be > 0 (got -3)");
}

#[test]
fn every_problem_is_reported() {
    let text = builtin("world.ron")
        .replace("tick_hz: 20", "tick_hz: 500")
        .replace("planets_min: 2", "planets_min: 9")
        .replace("system_radius: 20000.0", "system_radius: inf");
    let err = from_owned(&files_with("world.ron", &text)).expect_err("invalid");
    let paths: Vec<&str> = err.field_errors().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["tick_hz", "system_radius", "planets_min"], "{err}");
    assert!(err.to_string().contains("world.ron:3: tick_hz: must be ≤ 120 (got 500)"), "{err}");
    assert!(err.to_string().contains("must be ≤ planets_max (6) (got 9)"), "{err}");
    assert!(err.to_string().contains("must be a finite number (got inf)"), "{err}");
}

#[test]
fn fractions_and_orderings_are_checked() {
    let cases = [
        ("ships.ron", "variance: 0.2", "variance: 1.5", "combat.variance"),
        ("npc.ron", "fleet_size_min: 2", "fleet_size_min: 7", "fleet_size_min"),
        ("market.ron", "fee_bps: 200", "fee_bps: 10001", "fee_bps"),
        ("market.ron", "default_expiry_ticks: 12000", "default_expiry_ticks: 999999", "default_expiry_ticks"),
        ("economy.ron", "max_level: 5", "max_level: 0", "buildings.shipyard.max_level"),
        ("economy.ron", "population_growth: 0.0005", "population_growth: -0.1", "population_growth"),
        ("economy.ron", "population_step_ticks: 200", "population_step_ticks: 0", "population_step_ticks"),
        ("economy.ron", "population_step_ticks: 200", "population_step_ticks: 72001", "population_step_ticks"),
        ("npc.ron", "reference_price: 10.0", "reference_price: 2000000.0", "reference_price"),
    ];
    for (file, from, to, path) in cases {
        let text = builtin(file).replacen(from, to, 1);
        assert_ne!(text, builtin(file), "the edit {from} → {to} applies");
        let err = from_owned(&files_with(file, &text)).expect_err(to);
        let e = &err.field_errors()[0];
        assert_eq!((e.file.as_str(), e.path.as_str()), (file, path), "{err}");
        assert!(e.line.is_some(), "line found for {path}: {err}");
    }
}

#[test]
fn an_economy_file_without_the_population_step_loads_with_the_default() {
    let text = builtin("economy.ron").replace("population_step_ticks: 200,", "");
    assert_ne!(text, builtin("economy.ron"), "the field was removed");
    let t = from_owned(&files_with("economy.ron", &text)).expect("an older file still loads");
    assert_eq!(t.economy.population_step_ticks, 200);
    let text = builtin("economy.ron").replace("population_step_ticks: 200,", "population_step_ticks: 20,");
    let t = from_owned(&files_with("economy.ron", &text)).expect("a step is read");
    assert_eq!(t.economy.population_step_ticks, 20);
}

#[test]
fn a_defaulted_field_points_at_its_parent() {
    // `energy` is not written in the mine's cost, so the error points at the cost's line.
    let mut t = Tuning::default();
    t.economy.buildings.mine.cost.energy = -1.0;
    let err = t.validate().expect_err("negative cost");
    assert_eq!(err.to_string(), "economy.ron: buildings.mine.cost.energy: must be ≥ 0 (got -1)");
}

#[test]
fn unknown_field_is_rejected() {
    let text = builtin("market.ron").replace("fee_bps: 200,", "fee_bps: 200,\n    fees: 3,");
    let err = from_owned(&files_with("market.ron", &text)).expect_err("unknown field");
    let msg = err.to_string();
    assert!(msg.starts_with("market.ron:4:"), "{msg}");
    assert!(msg.contains("fees"), "names the field: {msg}");
}

#[test]
fn missing_unknown_and_duplicate_files_are_rejected() {
    let err = Tuning::from_files(&BUILTIN_FILES[..5]).expect_err("network.ron missing");
    assert_eq!(err, TuningError::MissingFile { file: "network.ron".into() });

    let mut files = BUILTIN_FILES.to_vec();
    files.push(("weapons.ron", "()"));
    let err = Tuning::from_files(&files).expect_err("unknown file");
    assert_eq!(err, TuningError::UnknownFile { file: "weapons.ron".into() });
    assert!(err.to_string().contains("expected one of: world.ron"), "{err}");

    let err = Tuning::default().with_file("weapons.ron", "()").expect_err("unknown file");
    assert_eq!(err, TuningError::UnknownFile { file: "weapons.ron".into() });

    let mut files = BUILTIN_FILES.to_vec();
    files.push(BUILTIN_FILES[0]);
    assert_eq!(Tuning::from_files(&files).expect_err("twice"), TuningError::DuplicateFile { file: "world.ron".into() });
}

#[test]
fn with_file_replaces_one_file() {
    let original = Tuning::default();
    let text = builtin("market.ron").replace("fee_bps: 200", "fee_bps: 350");
    let next = original.with_file("market.ron", &text).expect("valid edit");
    assert_eq!(next.market.fee_bps, 350);
    assert_eq!(next.ships, original.ships, "other files unchanged");
    assert_eq!(original, Tuning::default(), "the caller's value is unchanged");
}

#[test]
fn failing_with_file_leaves_the_original_untouched() {
    let original = Tuning::default();
    let snapshot = original.clone();
    let bad = builtin("npc.ron").replace("fleet_size_max: 6", "fleet_size_max: 0");
    let err = original.with_file("npc.ron", &bad).expect_err("invalid");
    assert!(err.to_string().starts_with("npc.ron:"), "{err}");
    let broken = original.with_file("npc.ron", "(").expect_err("syntax");
    assert!(matches!(broken, TuningError::Syntax { .. }), "{broken}");
    assert_eq!(original, snapshot, "unchanged after failed reloads");
}

#[test]
fn with_file_validates_across_files() {
    // market.max_price below the NPCs' reference price: reported on npc.ron.
    let text = builtin("market.ron").replace("max_price: 1000000.0", "max_price: 5.0");
    let err = Tuning::default().with_file("market.ron", &text).expect_err("cross-file");
    assert_eq!(err.field_errors()[0].path, "reference_price", "{err}");
    // Both edits together are fine.
    let npc = builtin("npc.ron").replace("reference_price: 10.0", "reference_price: 4.0");
    let ok = Tuning::default().with_files(&[("market.ron", &text), ("npc.ron", &npc)]);
    assert_eq!(ok.expect("consistent edit").npc.reference_price, 4.0);
}
