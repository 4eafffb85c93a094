//! The persisted world against real databases (Postgres in a fresh database per test, SQLite in
//! a temporary file): flush, restore, continue; the database equals the world.
//!
//! Postgres tests print "skipped: ..." when Postgres is absent, unless
//! `STARFORGE_REQUIRE_SERVICES=1`.

use bevy_ecs::query::With;
use starforge_components::prelude::*;
use starforge_persistence::spill::{self, SpillTarget};
use starforge_persistence::writer::{self, Applied, WriterOptions, Written};
use starforge_persistence::{Db, DbTarget, Hot, Persister, restore, spill_world, whole_world_batch};
use starforge_systems::prelude::*;
use starforge_tests::persist::{connect, flush_and_confirm, generated, restored, runtime, sim_app, tick};
use starforge_tests::services::{TestPg, TestSqlite};

/// Run with periodic flushes, stop at a flush, restore into a new app: same hash, and the same
/// hashes tick by tick as the run that never stopped.
fn restore_continues_like_a_run_that_never_stopped(target: DbTarget) {
    let rt = runtime();
    let db = connect(&rt, &target);
    let mut a = generated(5);
    a.insert_resource(Persister::start(rt.clone(), db.clone(), WriterOptions::default(), 0, 0));
    for _ in 0..300 {
        tick(&mut a);
    }
    flush_and_confirm(&mut a);
    let at_flush = world_hash(a.world_mut());
    let flush_tick = a.world().resource::<SimTick>().0;

    let mut b = restored(&rt, &db);
    assert_eq!(b.world().resource::<SimTick>().0, flush_tick);
    assert_eq!(world_hash(b.world_mut()), at_flush, "the restored world equals the world at the last flush");
    let mut q = b.world_mut().query::<&EntityId>();
    assert!(q.iter(b.world()).count() > 500, "ships, fleets, empires and colonies came back");
    // A's busy ships live in persistence's hot tables, B's do not (yet): the storage layout
    // must not change what the simulation does.
    let hot = |app: &mut bevy_app::App| {
        app.world_mut().query_filtered::<(), bevy_ecs::query::With<Hot>>().iter(app.world()).count()
    };
    assert!(hot(&mut a) > 0, "A has hot ships");
    assert_eq!(hot(&mut b), 0, "a restored world starts without");

    // A keeps running (and flushing); B, without a persister, must follow it exactly.
    for i in 0..400 {
        let (ha, hb) = (tick(&mut a), tick(&mut b));
        assert_eq!(ha, hb, "hashes diverge {} ticks after the restore", i + 1);
    }
    let stats = *a.world().resource::<SimStats>();
    assert!(stats.shots > 0 && stats.trades > 0, "the run exercised combat and trade: {stats:?}");

    // The database also equals A after A's last flush.
    flush_and_confirm(&mut a);
    let mut c = restored(&rt, &db);
    assert_eq!(world_hash(c.world_mut()), world_hash(a.world_mut()), "the database equals the world");
    rt.block_on(db.close());
}

#[test]
fn sqlite_restore_continues_like_a_run_that_never_stopped() {
    let file = TestSqlite::new();
    restore_continues_like_a_run_that_never_stopped(file.target());
}

#[test]
fn postgres_restore_continues_like_a_run_that_never_stopped() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    restore_continues_like_a_run_that_never_stopped(pg.target());
}

#[test]
fn an_empty_database_holds_no_world() {
    let file = TestSqlite::new();
    let rt = runtime();
    let db = connect(&rt, &file.target());
    assert!(rt.block_on(restore::load(&db)).expect("load").is_none());
}

/// The writer hands the emptied buffers of a written batch back, and the next collection
/// writes into them (no fresh multi-megabyte allocation, with its page faults, per flush).
#[test]
fn written_batches_buffers_come_back_for_the_next_collection() {
    let rt = runtime();
    let sqlite = TestSqlite::new();
    let db = connect(&rt, &sqlite.target());
    let mut a = generated(5);
    a.insert_resource(Persister::start(rt.clone(), db.clone(), WriterOptions::default(), 0, 0));
    tick(&mut a);
    flush_and_confirm(&mut a);
    let spare = a.world().resource::<Persister>().take_spare();
    assert!(!spare.is_empty(), "the written batch's buffers came back");
    assert!(spare.iter().all(|b| b.is_empty() && b.capacity() > 0), "emptied, capacity kept");
    rt.block_on(db.close());
}

#[test]
fn a_whole_world_batch_far_larger_than_the_one_before_is_freed_by_the_writer() {
    let rt = runtime();
    let sqlite = TestSqlite::new();
    let db = connect(&rt, &sqlite.target());
    let mut a = sim_app();
    let params = GenParams { seed: 3, systems: Some(12), ships: Some(6000), colonies: Some(30), resting_orders: 0 };
    generate_world(a.world_mut(), &params);
    a.insert_resource(Persister::start(rt.clone(), db.clone(), WriterOptions::default(), 0, 0));
    tick(&mut a);
    // The first batch holds the whole world (over 6,000 entities, none written before).
    flush_and_confirm(&mut a);
    let spare = a.world().resource::<Persister>().take_spare();
    assert!(spare.is_empty(), "a whole world's buffers are not handed to the next collection: {spare:?}");
    // The next batch (what changed in one tick) is no larger than the one before: reused.
    tick(&mut a);
    flush_and_confirm(&mut a);
    let spare = a.world().resource::<Persister>().take_spare();
    assert!(!spare.is_empty() && spare.iter().all(|b| b.is_empty() && b.capacity() > 0), "{spare:?}");
    rt.block_on(db.close());
}

/// A spill file (the whole world, written when the database cannot confirm a shutdown)
/// replaces what a SQLite database holds: afterwards it equals the world, and a ship destroyed
/// after the last write is gone from it.
#[test]
fn a_spill_file_replaces_what_sqlite_holds() {
    let rt = runtime();
    let sqlite = TestSqlite::new();
    let db = connect(&rt, &sqlite.target());
    let mut a = generated(8);
    a.insert_resource(Persister::start(rt.clone(), db.clone(), WriterOptions::default(), 0, 0));
    for _ in 0..30 {
        tick(&mut a);
    }
    flush_and_confirm(&mut a);
    let mut ships = a.world_mut().query_filtered::<(bevy_ecs::entity::Entity, &EntityId), With<Ship>>();
    let (doomed, doomed_id) = ships.iter(a.world()).map(|(e, id)| (e, *id)).next().expect("a ship");
    a.world_mut().despawn(doomed);
    for _ in 0..7 {
        tick(&mut a);
    }
    let target = SpillTarget { path: sqlite.dir.join("world.spill"), database: format!("{:?}", sqlite.target()) };
    a.world_mut().resource_mut::<Persister>().spill = Some(target.clone());
    let path = spill_world(a.world_mut()).expect("a spill target").expect("spilled");
    assert_eq!(path, target.path);
    let tick_now = a.world().resource::<SimTick>().0;
    assert_eq!(rt.block_on(spill::apply_pending(&db, &target)).expect("applied"), Some(tick_now));
    assert!(!path.exists(), "removed once written");
    let mut saved = restored(&rt, &db);
    assert_eq!(saved.world().resource::<SimTick>().0, tick_now);
    assert_eq!(world_hash(saved.world_mut()), world_hash(a.world_mut()), "the database equals the world");
    let mut ids = saved.world_mut().query::<&EntityId>();
    assert!(ids.iter(saved.world()).all(|id| *id != doomed_id), "the destroyed ship stays gone");

    // The same batch again (as after a crash between writing it and removing the file): not
    // applied, kept aside as `.stale`.
    let path = spill_world(a.world_mut()).expect("a spill target").expect("spilled");
    let mut stale = path.clone().into_os_string();
    stale.push(".stale");
    assert_eq!(rt.block_on(spill::apply_pending(&db, &target)).expect("a stale file is no error"), None);
    assert!(!path.exists() && std::path::Path::new(&stale).exists(), "the stale file is set aside");
    // A file of another row format is refused before the database is touched, and stays.
    let mut other = spill::read(std::path::Path::new(&stale)).expect("readable").expect("a spill");
    other.format += 1;
    spill::write(&path, &other).expect("write");
    let err = rt.block_on(spill::apply_pending(&db, &target)).expect_err("another format");
    assert!(matches!(err, spill::SpillError::OtherFormat { .. }), "{err}");
    assert!(path.exists(), "a refused file stays");
    rt.block_on(db.close());
}

/// The writer encodes the entities it wrote before (the rows the table holds) first, the others
/// after, each part sorted by id, and the rows are those of a plain encoding, only reordered.
#[test]
fn rows_the_writer_wrote_before_are_encoded_first() {
    let mut a = generated(6);
    tick(&mut a);
    let batch = whole_world_batch(a.world_mut(), 1);
    let plain = writer::encode_batch(&batch, &Written::default()).expect("encodes");
    assert_eq!(plain.existing, 0, "nothing written yet");
    assert!(plain.ids.windows(2).all(|w| w[0] < w[1]), "sorted, each id once");
    assert!(plain.ids.len() > 500);
    // The writer wrote every other entity (by an earlier batch).
    let half =
        writer::EncodedBatch { ids: plain.ids.iter().copied().step_by(2).collect(), ..writer::EncodedBatch::default() };
    let mut written = Written::default();
    written.note(&half);
    let split = writer::encode_batch(&batch, &written).expect("encodes");
    assert_eq!(split.existing, half.ids.len());
    let (old, new) = split.ids.split_at(split.existing);
    assert_eq!(old, &half.ids[..], "the written ones first, sorted");
    assert!(new.windows(2).all(|w| w[0] < w[1]) && new.iter().all(|id| !written.contains(*id)));
    let row = |b: &writer::EncodedBatch, id: i64| {
        let i = b.ids.iter().position(|x| *x == id).expect("present");
        (b.kinds[i], b.owners[i], b.data[i].clone())
    };
    for id in &plain.ids {
        assert_eq!(row(&split, *id), row(&plain, *id), "row {id} is the same row");
    }
    assert_eq!(split.ids.len(), plain.ids.len());
    // Once the split batch is written, every entity is one the table holds.
    written.note(&split);
    assert!(plain.ids.iter().all(|id| written.contains(*id)));
    let again = writer::encode_batch(&batch, &written).expect("encodes");
    assert_eq!((again.existing, &again.ids), (plain.ids.len(), &plain.ids));
    // A deleted entity is no longer one the table holds.
    written.note(&writer::EncodedBatch { deletes: vec![half.ids[0]], ..writer::EncodedBatch::default() });
    assert!(!written.contains(half.ids[0]) && written.contains(half.ids[1]));
}

/// A row of `entities` (or of the view `entities_current`): id, kind, owner, data.
type Row = (i64, i16, Option<i64>, Vec<u8>);

/// An encoded batch of kind-3 rows `ids`, owner `id * 10`, data `[tag, id]`.
fn fake_batch(id: i64, replace: bool, existing: usize, ids: &[i64], deletes: &[i64], tag: u8) -> writer::EncodedBatch {
    writer::EncodedBatch {
        id,
        tick: id,
        replace,
        existing,
        ids: ids.to_vec(),
        kinds: vec![3; ids.len()],
        owners: ids.iter().map(|i| Some(i * 10)).collect(),
        data: ids.iter().map(|i| vec![tag, *i as u8]).collect(),
        deletes: deletes.to_vec(),
        ..writer::EncodedBatch::default()
    }
}

/// The rows [`fake_batch`] writes for `ids` with `tag`.
fn fake_rows(ids: &[i64], tag: u8) -> Vec<Row> {
    ids.iter().map(|i| (*i, 3, Some(i * 10), vec![tag, *i as u8])).collect()
}

/// Reads `table` (`entities` or `entities_current`) in id order.
fn read_rows(rt: &tokio::runtime::Runtime, pool: &sqlx::PgPool, table: &str) -> Vec<Row> {
    let sql = format!("SELECT id, kind, owner, data FROM {table} ORDER BY id");
    rt.block_on(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).fetch_all(pool)).expect("read the table")
}

/// A batch that replaces the world updates in place the rows the writer believes the table
/// holds; if some are gone (removed behind the writer's back), they are written anyway: the
/// table ends up equal to the batch.
#[test]
fn postgres_writes_rows_the_writer_thought_present_but_gone() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let db = connect(&rt, &pg.target());
    let Db::Postgres(pool) = &db else { unreachable!("a Postgres target") };
    let table = || read_rows(&rt, pool, "entities");
    let apply = |b: writer::EncodedBatch| rt.block_on(writer::apply(&db, &b)).expect("applied");
    let replace = |id: i64, existing: usize, ids: &[i64], tag: u8| fake_batch(id, true, existing, ids, &[], tag);
    assert_eq!(apply(replace(1, 0, &[1, 2, 3], 1)), Applied::Written { in_place: 0, folded: 0 });
    assert_eq!(table(), fake_rows(&[1, 2, 3], 1));
    // All three believed present: updated in place.
    assert_eq!(apply(replace(2, 3, &[1, 2, 3], 2)), Applied::Written { in_place: 3, folded: 0 });
    assert_eq!(table(), fake_rows(&[1, 2, 3], 2));
    // An operator removes row 2; the writer still believes it present: all three upserted.
    rt.block_on(sqlx::query("DELETE FROM entities WHERE id = 2").execute(pool)).expect("delete");
    assert_eq!(apply(replace(3, 3, &[1, 2, 3], 3)), Applied::Written { in_place: 0, folded: 0 });
    assert_eq!(table(), fake_rows(&[1, 2, 3], 3), "row 2 written again");
    // Present and new rows in one batch (the new part sorted after the present one); row 2,
    // not in this whole world, is deleted.
    assert_eq!(apply(replace(4, 2, &[1, 3, 4, 5], 4)), Applied::Written { in_place: 2, folded: 0 });
    // Another payload under the same batch id (a replay): the database holds that batch already
    // and nothing changes (the table below still holds batch 4's rows).
    assert_eq!(apply(replace(4, 2, &[1, 3, 4, 5], 5)), Applied::AlreadyHeld);
    assert_eq!(table(), fake_rows(&[1, 3, 4, 5], 4));
    rt.block_on(db.close());
}

/// Postgres: batches that do not replace the world are appended to the journal; the world the
/// database holds (`entities_current`, what a restore reads) is `entities` with the journal's
/// newest row per id, deletions included; a fold writes that into `entities` and empties the
/// journal, changing nothing in the view; a replacing batch folds first.
#[test]
fn postgres_journal_holds_the_newest_rows_and_folds_into_entities() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let db = connect(&rt, &pg.target());
    let Db::Postgres(pool) = &db else { unreachable!("a Postgres target") };
    let rows = |table: &str| read_rows(&rt, pool, table);
    let journal_rows = || -> (i64, i64) {
        rt.block_on(
            sqlx::query_as("SELECT (SELECT count(*) FROM journal), journal_rows FROM world WHERE id = 1")
                .fetch_one(pool),
        )
        .expect("journal size")
    };
    const FOLD_AT: u64 = 6;
    let apply = |b: writer::EncodedBatch| rt.block_on(writer::apply_with(&db, &b, FOLD_AT)).expect("applied");
    let want = |changes: &[(&[i64], u8)], gone: &[i64]| -> Vec<Row> {
        let mut all: std::collections::BTreeMap<i64, Row> = std::collections::BTreeMap::new();
        for (ids, tag) in changes {
            all.extend(fake_rows(ids, *tag).into_iter().map(|r| (r.0, r)));
        }
        for id in gone {
            all.remove(id);
        }
        all.into_values().collect()
    };

    // The first, whole world: straight into `entities`.
    assert_eq!(apply(fake_batch(1, true, 0, &[1, 2, 3], &[], 1)), Applied::Written { in_place: 0, folded: 0 });
    assert_eq!(rows("entities"), fake_rows(&[1, 2, 3], 1));
    assert_eq!(journal_rows(), (0, 0));
    // Changes: 1 updated, 4 new, 3 deleted. `entities` is untouched; the view shows them.
    assert_eq!(apply(fake_batch(2, false, 1, &[1, 4], &[3], 2)), Applied::Written { in_place: 0, folded: 0 });
    assert_eq!(rows("entities"), fake_rows(&[1, 2, 3], 1));
    assert_eq!(journal_rows(), (3, 3));
    let after_2 = want(&[(&[1, 2, 3], 1), (&[1, 4], 2)], &[3]);
    assert_eq!(rows("entities_current"), after_2);
    // A replay changes nothing.
    assert_eq!(apply(fake_batch(2, false, 0, &[2], &[], 9)), Applied::AlreadyHeld);
    assert_eq!((rows("entities_current"), journal_rows()), (after_2.clone(), (3, 3)));
    // 1 again (its newest row wins), 2 deleted: 5 journal rows, no fold yet.
    apply(fake_batch(3, false, 1, &[1], &[2], 3));
    let after_3 = want(&[(&[1, 2, 3], 1), (&[1, 4], 2), (&[1], 3)], &[3, 2]);
    assert_eq!((rows("entities_current"), journal_rows()), (after_3.clone(), (5, 5)));
    // A fold on its own changes nothing in the saved world; `entities` then holds it all.
    assert_eq!(rt.block_on(writer::fold(&db)).expect("fold"), 5);
    assert_eq!(rows("entities"), after_3);
    assert_eq!((rows("entities_current"), journal_rows()), (after_3.clone(), (0, 0)));
    // Back to where it was, for the next step: 1 and 2 again in the journal.
    apply(fake_batch(31, false, 0, &[1], &[2], 3));
    apply(fake_batch(32, false, 0, &[4], &[3], 2));
    apply(fake_batch(33, false, 0, &[1], &[], 3));
    assert_eq!((rows("entities_current"), journal_rows()), (after_3.clone(), (5, 5)));
    // With this batch the journal reaches `FOLD_AT`: its transaction folds all seven rows into
    // `entities`.
    assert_eq!(apply(fake_batch(44, false, 1, &[1, 5], &[], 4)), Applied::Written { in_place: 0, folded: 7 });
    let after_4 = want(&[(&[1, 2, 3], 1), (&[1, 4], 2), (&[1], 3), (&[1, 5], 4)], &[3, 2]);
    assert_eq!(rows("entities"), after_4, "folded: newest rows written, deleted ones gone");
    assert_eq!((rows("entities_current"), journal_rows()), (after_4.clone(), (0, 0)));
    // A batch of `FOLD_AT` rows or more goes straight into `entities` (updating in place the two
    // rows the writer knows it holds), after what the journal holds is folded.
    apply(fake_batch(45, false, 0, &[6], &[4], 5));
    assert_eq!(journal_rows(), (2, 2));
    assert_eq!(
        apply(fake_batch(46, false, 2, &[1, 5, 7, 8, 9, 10], &[], 6)),
        Applied::Written { in_place: 2, folded: 2 }
    );
    let after_6 = want(&[(&[1, 5], 4), (&[6], 5), (&[1, 5, 7, 8, 9, 10], 6)], &[]);
    assert_eq!(rows("entities"), after_6);
    assert_eq!((rows("entities_current"), journal_rows()), (after_6.clone(), (0, 0)));
    // A replacing batch folds what the journal holds first, then replaces the world.
    apply(fake_batch(47, false, 0, &[11], &[6], 7));
    assert_eq!(journal_rows(), (2, 2));
    assert_eq!(apply(fake_batch(48, true, 0, &[1, 11, 12], &[], 8)), Applied::Written { in_place: 0, folded: 2 });
    assert_eq!(rows("entities"), fake_rows(&[1, 11, 12], 8));
    assert_eq!((rows("entities_current"), journal_rows()), (fake_rows(&[1, 11, 12], 8), (0, 0)));
    rt.block_on(db.close());
}

/// A fold resets the planner settings it changes (a later statement of the same transaction,
/// such as a replacing batch's anti-join `DELETE`, plans as usual), and while another session
/// reads the journal (a backup in progress) it empties the journal without waiting for it.
#[test]
fn postgres_fold_leaves_settings_alone_and_does_not_wait_for_readers() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let db = connect(&rt, &pg.target());
    let Db::Postgres(pool) = &db else { unreachable!("a Postgres target") };
    let apply = |b: writer::EncodedBatch| rt.block_on(writer::apply(&db, &b)).expect("applied");
    apply(fake_batch(1, true, 0, &[1, 2, 3], &[], 1));
    apply(fake_batch(2, false, 0, &[1, 4], &[2], 2));
    let settings = "SELECT current_setting('enable_hashjoin') || current_setting('enable_mergejoin') \
                    || current_setting('work_mem') || current_setting('lock_timeout')";
    // A reader holds the journal (as `pg_dump` does for the whole dump).
    let mut reader = rt.block_on(pool.begin()).expect("BEGIN");
    rt.block_on(sqlx::query("LOCK TABLE journal IN ACCESS SHARE MODE").execute(&mut *reader)).expect("LOCK");
    // Folds in a transaction of its own; returns the rows folded and the settings before and
    // after. A fold that waited for the reader fails on the statement timeout (not a hang).
    let fold = || {
        rt.block_on(async {
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL statement_timeout = '20s'").execute(&mut *tx).await?;
            let before: String = sqlx::query_scalar(settings).fetch_one(&mut *tx).await?;
            let folded = writer::fold_pg(&mut tx).await?;
            let after: String = sqlx::query_scalar(settings).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((folded, before, after))
        })
    };
    let journal =
        || -> i64 { rt.block_on(sqlx::query_scalar("SELECT count(*) FROM journal").fetch_one(pool)).expect("count") };
    let (folded, before, after) = fold().expect("the fold does not wait for the reader");
    assert_eq!(folded, 3);
    assert_eq!(after, before, "settings as they were");
    assert!(before.starts_with("onon"), "{before}");
    rt.block_on(reader.commit()).expect("COMMIT");
    assert_eq!(journal(), 0, "emptied by DELETE");
    let want = [fake_rows(&[1], 2), fake_rows(&[3], 1), fake_rows(&[4], 2)].concat();
    assert_eq!(read_rows(&rt, pool, "entities"), want);
    assert_eq!(read_rows(&rt, pool, "entities_current"), want);
    // Without a reader: emptied by TRUNCATE, settings again as they were.
    apply(fake_batch(3, false, 0, &[5], &[1], 3));
    let (folded, before, after) = fold().expect("fold");
    assert_eq!((folded, after), (2, before));
    assert_eq!(journal(), 0);
    let want = [fake_rows(&[3], 1), fake_rows(&[4], 2), fake_rows(&[5], 3)].concat();
    assert_eq!(read_rows(&rt, pool, "entities_current"), want);
    rt.block_on(db.close());
}
