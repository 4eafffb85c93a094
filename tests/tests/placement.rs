//! The placement in a real Postgres database (docs/SHARDING.md): applying assigns every
//! system an owner at epoch 1; a move raises the moved systems' epochs; a placement that would
//! rename the galaxy, change or reuse an ordinal, or change the galaxy's size is refused and
//! changes nothing; SQLite is refused. Prints "skipped: ..." when Postgres is absent, unless
//! `STARFORGE_REQUIRE_SERVICES=1`.

use starforge_components::placement::Placement;
use starforge_persistence::Db;
use starforge_persistence::placement::{Applied, Current, apply, read};
use starforge_tests::persist::{connect, runtime};
use starforge_tests::services::{TestPg, TestSqlite};

type Shards<'a> = &'a [(&'a str, u16, &'a [(u32, u32)])];

/// A placement file's text made from its parts, parsed for a galaxy of `systems`.
fn placement(galaxy: &str, exchange: &str, shards: Shards, systems: u32) -> Placement {
    let mut text = format!("(galaxy: {galaxy:?}, exchange: {exchange:?}, shards: [");
    for (name, ordinal, ranges) in shards {
        let ranges: Vec<String> = ranges.iter().map(|(f, l)| format!("(first: {f}, last: {l})")).collect();
        text += &format!("(name: {name:?}, ordinal: {ordinal}, systems: [{}]),", ranges.join(", "));
    }
    text += "])";
    Placement::parse("test.ron", &text, systems).expect("a valid placement")
}

/// Ten systems over three shards.
const THREE: Shards = &[("shard-a", 1, &[(0, 3)]), ("shard-b", 2, &[(4, 6)]), ("shard-c", 3, &[(7, 9)])];

fn three() -> Placement {
    placement("test", "shard-a", THREE, 10)
}

fn owners(c: &Current) -> Vec<(String, Vec<u32>)> {
    c.shards.iter().map(|s| (s.name.clone(), s.systems.clone())).collect()
}

fn epochs(c: &Current) -> Vec<i64> {
    c.epochs.iter().map(|(_, e)| *e).collect()
}

#[test]
fn applying_moving_and_refusing_a_placement() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let db = connect(&rt, &pg.target());
    assert_eq!(rt.block_on(read(&db)).expect("read"), None, "a new database has no placement");

    let first = rt.block_on(apply(&db, &three())).expect("apply");
    assert_eq!(
        first,
        Applied {
            assigned: 10,
            moved: 0,
            unchanged: 0,
            new_shards: vec!["shard-a".into(), "shard-b".into(), "shard-c".into()]
        }
    );
    let current = rt.block_on(read(&db)).expect("read").expect("a placement");
    assert_eq!((current.galaxy.as_str(), current.exchange.as_str()), ("test", "shard-a"));
    assert_eq!(
        owners(&current),
        [("shard-a".into(), vec![0, 1, 2, 3]), ("shard-b".into(), vec![4, 5, 6]), ("shard-c".into(), vec![7, 8, 9])]
    );
    assert_eq!(epochs(&current), [1; 10]);

    // The same file again changes nothing.
    let again = rt.block_on(apply(&db, &three())).expect("apply");
    assert_eq!(again, Applied { unchanged: 10, ..Applied::default() });
    assert_eq!(rt.block_on(read(&db)).expect("read").expect("a placement"), current);

    // Systems 3 and 4 move (to b and c), the exchange moves to b.
    let moved = placement(
        "test",
        "shard-b",
        &[("shard-a", 1, &[(0, 2)]), ("shard-b", 2, &[(3, 3), (5, 6)]), ("shard-c", 3, &[(4, 4), (7, 9)])],
        10,
    );
    let m = rt.block_on(apply(&db, &moved)).expect("apply");
    assert_eq!((m.assigned, m.moved, m.unchanged), (0, 2, 8));
    let current = rt.block_on(read(&db)).expect("read").expect("a placement");
    assert_eq!(current.exchange, "shard-b");
    assert_eq!(
        owners(&current),
        [("shard-a".into(), vec![0, 1, 2]), ("shard-b".into(), vec![3, 5, 6]), ("shard-c".into(), vec![4, 7, 8, 9])]
    );
    assert_eq!(epochs(&current), [1, 1, 1, 2, 2, 1, 1, 1, 1, 1]);

    // shard-c retires (b takes its systems): its row stays, owning nothing.
    let retired = placement("test", "shard-a", &[("shard-a", 1, &[(0, 3)]), ("shard-b", 2, &[(4, 9)])], 10);
    rt.block_on(apply(&db, &retired)).expect("apply");
    let current = rt.block_on(read(&db)).expect("read").expect("a placement");
    assert_eq!(
        owners(&current),
        [("shard-a".into(), vec![0, 1, 2, 3]), ("shard-b".into(), vec![4, 5, 6, 7, 8, 9]), ("shard-c".into(), vec![])]
    );

    // Each refusal names its reason and leaves the database as it was.
    let eleven: Shards = &[("shard-a", 1, &[(0, 3)]), ("shard-b", 2, &[(4, 10)])];
    let refusals = [
        (placement("other", "shard-a", THREE, 10), "never renamed"),
        (
            placement("test", "shard-a", &[("shard-a", 1, &[(0, 3)]), ("shard-b", 7, &[(4, 9)])], 10),
            "ordinal 2 in the database, the file says 7",
        ),
        (
            placement("test", "shard-a", &[("shard-a", 1, &[(0, 3)]), ("shard-d", 3, &[(4, 9)])], 10),
            "ordinal 3 of new shard \"shard-d\" belonged to shard \"shard-c\"",
        ),
        (placement("test", "shard-a", eleven, 11), "the database places 10 systems, the file places 11"),
    ];
    for (p, reason) in refusals {
        let error = rt.block_on(apply(&db, &p)).expect_err("refused").to_string();
        assert!(error.contains(reason), "{error:?} does not say {reason:?}");
        assert_eq!(rt.block_on(read(&db)).expect("read").expect("a placement"), current, "after {reason:?}");
    }

    // A galaxy saved by a server bounds the size too.
    let Db::Postgres(pool) = &db else { unreachable!("a Postgres target") };
    rt.block_on(
        sqlx::query(
            "INSERT INTO star_systems (id, name, region, map_x, map_y, radius) \
             SELECT g, 'S' || g, 'core', 0, 0, 1 FROM generate_series(0, 11) g",
        )
        .execute(pool),
    )
    .expect("save a galaxy of 12 systems");
    let error = rt.block_on(apply(&db, &three())).expect_err("refused").to_string();
    assert!(error.contains("the database holds a galaxy of 12 systems, the file places 10"), "{error}");
    assert_eq!(rt.block_on(read(&db)).expect("read").expect("a placement"), current);
}

#[test]
fn sqlite_has_no_placement() {
    let file = TestSqlite::new();
    let rt = runtime();
    let db = connect(&rt, &file.target());
    assert!(matches!(db, Db::Sqlite(_)));
    let error = rt.block_on(apply(&db, &three())).expect_err("refused").to_string();
    assert!(error.contains("needs Postgres"), "{error}");
    assert_eq!(rt.block_on(read(&db)).expect("read"), None);
}

#[test]
fn a_database_without_the_placement_tables_has_no_placement() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    // Not migrated: what `starforge placement show` meets on a database no server has used.
    let db = rt.block_on(Db::connect(&pg.target())).expect("connect");
    assert_eq!(rt.block_on(read(&db)).expect("read"), None);
}
