//! The simulation's side of the writer: when to flush, batch ids, the halt while writes fail,
//! the final flush at shutdown and the spill file when the database does not confirm it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_time::prelude::*;
use starforge_components::galaxy::Galaxy;
use starforge_components::prelude::*;
use tracing::{error, info, warn};

use crate::collect::{PendingChanges, collect_now, whole_world};
use crate::db::Db;
use crate::rows::{HistoryEntry, WorldMeta};
use crate::spill;
use crate::tables::map;
use crate::tables::schema::Rows;
use crate::writer::{self, Batch, Writer, WriterOptions, WriterState};

/// The simulation's side of the writer: flush schedule, batch ids, shutdown policy.
#[derive(Resource)]
pub struct Persister {
    writer: Writer,
    /// Keeps the runtime the writer runs on alive for as long as the app.
    _runtime: Option<Arc<tokio::runtime::Runtime>>,
    next_batch: u64,
    last_flush_tick: u64,
    /// Tick of the last collection for a flush, sent or handed back: the next is due one
    /// interval later either way (a lagging writer does not make every tick collect).
    last_attempt_tick: u64,
    galaxy_sent: bool,
    halted: bool,
    last_halt_log: Option<Instant>,
    /// Longest wait for the database at shutdown.
    pub shutdown_timeout: Duration,
    /// Sends the busy writer handed back: one per flush interval while it lags (and one per
    /// retry of [`flush_now`]), so a lag indicator rather than a count of batches.
    pub deferred: u64,
    /// Where the whole world goes if the database does not confirm it at shutdown (`None`:
    /// nowhere, it is lost).
    pub spill: Option<spill::SpillTarget>,
    /// Trades and combat reports of the batches handed to the writer, by batch id, until a
    /// send after the database confirmed them: a spill file carries those it did not confirm.
    /// At most the writer's queue plus the batch it is writing (nothing is sent to a full queue).
    sent_history: Vec<(u64, Vec<HistoryEntry>)>,
}

impl Persister {
    /// A persister over `writer`. `confirmed_batch` and `tick` describe what the database holds
    /// (after a restore; 0 and the current tick for a new database). `runtime` is kept alive
    /// with the app if given.
    pub fn new(writer: Writer, runtime: Option<Arc<tokio::runtime::Runtime>>, confirmed_batch: u64, tick: u64) -> Self {
        Persister {
            writer,
            _runtime: runtime,
            next_batch: confirmed_batch + 1,
            last_flush_tick: tick,
            last_attempt_tick: tick,
            galaxy_sent: false,
            halted: false,
            last_halt_log: None,
            shutdown_timeout: Duration::from_secs(60),
            deferred: 0,
            spill: None,
            sent_history: Vec::new(),
        }
    }

    /// Starts a writer over `db` on `runtime` and wraps it. `confirmed_batch` and `tick`
    /// describe what the database holds.
    pub fn start(
        runtime: Arc<tokio::runtime::Runtime>,
        db: Db,
        options: WriterOptions,
        confirmed_batch: u64,
        tick: u64,
    ) -> Self {
        let writer = Writer::spawn(runtime.handle(), db, options, confirmed_batch, tick);
        Persister::new(writer, Some(runtime), confirmed_batch, tick)
    }

    /// Whether a flush is due at `tick` (one interval after the last attempt).
    fn due(&self, tick: u64, interval: u64) -> bool {
        tick >= self.last_attempt_tick + interval
    }

    /// The writer's shared status.
    pub fn status(&self) -> &Arc<writer::WriterStatus> {
        self.writer.status()
    }

    /// Confirmations received since the last call (batch, rows, transaction time). The
    /// `First`-schedule system [`watch_writer`] drains them every frame, so this only sees
    /// them where ticks are run without it (benchmarks driving `FixedMain` directly).
    pub fn confirmations(&self) -> Vec<writer::Confirmation> {
        self.writer.confirmations()
    }

    /// Tick of the newest batch handed to the writer.
    pub fn last_flush_tick(&self) -> u64 {
        self.last_flush_tick
    }

    /// Whether the simulation is halted because writes fail for a non-transient reason.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Takes everything pending into a batch and queues it; `false` if the writer was busy
    /// (everything stays pending).
    fn send(&mut self, world_meta: WorldMeta, galaxy: &Galaxy, pending: &mut PendingChanges) -> bool {
        let Some(place) = self.writer.reserve() else {
            // Everything stays pending for the next attempt. Compacted, it holds each id once,
            // so a lagging writer costs at most the entity count.
            pending.entities.compact();
            self.deferred += 1;
            return false;
        };
        let batch = Batch {
            id: self.next_batch,
            meta: world_meta,
            galaxy: (!self.galaxy_sent).then(|| Arc::new(galaxy.clone())),
            entities: std::mem::take(&mut pending.entities),
            history: std::mem::take(&mut pending.history),
        };
        let confirmed = self.writer.status().snapshot().confirmed_batch;
        self.sent_history.retain(|(b, _)| *b > confirmed);
        if !batch.history.is_empty() {
            self.sent_history.push((batch.id, batch.history.clone()));
        }
        self.last_flush_tick = batch.meta.tick;
        place.send(batch);
        self.next_batch += 1;
        self.galaxy_sent = true;
        true
    }
}

/// Collects and flushes when the interval has passed since the last attempt (exclusive: reads
/// resources). A busy writer hands the batch back; the next attempt, one interval later,
/// collects what changed since and sends both as one batch.
pub fn flush(world: &mut World) {
    let tick = world.resource::<SimTick>().0;
    let interval = world.resource::<Tuning>().world.flush_interval_ticks();
    // Most ticks are not due: decide before touching anything.
    if world.get_resource::<Persister>().is_none_or(|p| !p.due(tick, interval)) {
        return;
    }
    collect_now(world);
    let Some(mut persister) = world.remove_resource::<Persister>() else { return };
    persister.last_attempt_tick = tick;
    let meta = WorldMeta::capture(world);
    world.resource_scope(|world, mut pending: Mut<PendingChanges>| {
        persister.send(meta, world.resource::<Galaxy>(), &mut pending);
    });
    world.insert_resource(persister);
}

/// Each frame: halts the simulation while the writer has failed for a non-transient reason
/// (pausing virtual time, so no tick runs and nothing more is lost), resumes when it recovers.
pub fn watch_writer(persister: Option<ResMut<Persister>>, mut time: ResMut<Time<Virtual>>) {
    let Some(mut p) = persister else { return };
    let _ = p.writer.confirmations();
    let state = p.status().snapshot().state;
    match (&state, p.halted) {
        (WriterState::Failed { error }, _) => {
            if !p.halted {
                p.halted = true;
                time.pause();
            }
            if p.last_halt_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                p.last_halt_log = Some(Instant::now());
                error!(
                    "persistence failed: {error}. The simulation is HALTED so no more progress is lost; \
                     fix the database (see docs/OPERATIONS.md) and it resumes by itself"
                );
            }
        }
        (_, true) => {
            p.halted = false;
            p.last_halt_log = None;
            time.unpause();
            info!("persistence recovered: the simulation resumes");
        }
        _ => {}
    }
    if p.writer.is_closed() && !p.halted {
        p.halted = true;
        time.pause();
        error!("persistence: the writer task stopped; the simulation is HALTED");
    }
}

/// Sends everything pending now as one batch (the world at the current tick), waiting up to
/// `timeout` for room in the writer's queue. Returns the batch id, or `None` without a
/// [`Persister`] or if the queue stayed full.
pub fn flush_now(world: &mut World, timeout: Duration) -> Option<u64> {
    world.get_resource::<Persister>()?;
    collect_now(world);
    let mut persister = world.remove_resource::<Persister>()?;
    let deadline = Instant::now() + timeout;
    let meta = WorldMeta::capture(world);
    let sent = world.resource_scope(|world, mut pending: Mut<PendingChanges>| {
        loop {
            if persister.send(meta.clone(), world.resource::<Galaxy>(), &mut pending) {
                break Some(persister.next_batch - 1);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    world.insert_resource(persister);
    sent
}

/// Waits up to `timeout` until the database holds batch `batch` (or a newer one). `Err` with
/// the writer's status if it does not.
pub fn wait_confirmed(world: &World, batch: u64, timeout: Duration) -> Result<(), writer::StatusSnapshot> {
    let Some(persister) = world.get_resource::<Persister>() else { return Ok(()) };
    let deadline = Instant::now() + timeout;
    let mut last_log = Instant::now();
    loop {
        let status = persister.status().snapshot();
        if status.confirmed_batch >= batch {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(status);
        }
        if last_log.elapsed() >= Duration::from_secs(5) {
            last_log = Instant::now();
            warn!(batch, "waiting for the database ({:?})", status.state);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// When the app is exiting: sends everything pending and waits until the database has it
/// (up to [`Persister::shutdown_timeout`]); if it cannot, logs what is lost and makes the exit
/// an error (status 3).
pub fn final_flush(world: &mut World) {
    let exiting = world.get_resource::<Messages<AppExit>>().is_some_and(|m| !m.is_empty());
    let Some(timeout) = world.get_resource::<Persister>().map(|p| p.shutdown_timeout).filter(|_| exiting) else {
        return;
    };
    let started = Instant::now();
    let tick = world.resource::<SimTick>().0;
    let pending = world.resource::<PendingChanges>().len();
    info!(tick, pending, "shutdown: writing the world to the database");
    let confirmed = match flush_now(world, timeout) {
        Some(batch) => wait_confirmed(world, batch, timeout.saturating_sub(started.elapsed())).map(|()| batch),
        None => Err(world.resource::<Persister>().status().snapshot()),
    };
    match confirmed {
        Ok(batch) => info!(tick, batch, "shutdown: the database holds the world"),
        Err(status) => {
            let spilled = spill_world(world);
            match spilled {
                Some(Ok(path)) => error!(
                    "shutdown: the database did not confirm the final state within {timeout:?} ({:?}; it holds tick \
                     {}); the whole world at tick {tick} is saved in the spill file {}, which the next start writes \
                     to the database before anything else (start with the same database; keep the file until then)",
                    status.state,
                    status.confirmed_tick,
                    path.display()
                ),
                Some(Err(e)) => error!(
                    "shutdown: the database did not confirm the final state within {timeout:?} ({:?}), and the \
                     spill file could not be written ({e}); changes after tick {} are LOST ({pending} entities were \
                     pending)",
                    status.state, status.confirmed_tick
                ),
                None => error!(
                    "shutdown: the database did not confirm the final state within {timeout:?} ({:?}); no spill file \
                     is configured: changes after tick {} are LOST ({pending} entities were pending)",
                    status.state, status.confirmed_tick
                ),
            }
            world.write_message(AppExit::from_code(3));
        }
    }
    // Never flush twice (a second exit frame would find nothing new anyway).
    world.remove_resource::<Persister>();
}

/// Writes the whole world, as a batch that replaces what the database holds and with the next
/// batch id, and the trades and combat reports the database did not confirm, to the persister's
/// spill file ([`spill`]); [`final_flush`] does this when the database does not confirm the
/// final state. Returns the file; `None` without a persister or
/// a spill target.
pub fn spill_world(world: &mut World) -> Option<Result<std::path::PathBuf, spill::SpillError>> {
    let persister = world.get_resource::<Persister>()?;
    let target = persister.spill.clone()?;
    // Every batch sent, confirmed or not, has a smaller id.
    let id = persister.next_batch;
    // The history of the batches the database did not confirm, then what is pending. One the
    // database commits after all is skipped when the file is applied (history rows are keyed
    // by tick, kind and sequence number).
    let confirmed = persister.status().snapshot().confirmed_batch;
    let mut history: Vec<HistoryEntry> =
        persister.sent_history.iter().filter(|(b, _)| *b > confirmed).flat_map(|(_, h)| h.iter().cloned()).collect();
    let mut batch = whole_world_batch(world, id);
    history.append(&mut batch.history);
    batch.history = history;
    let rows = Rows { replace: true, ..map::encode(&batch, crate::SHARD) };
    let spill = spill::Spill { database: target.database, format: spill::FORMAT, rows };
    Some(spill::write(&target.path, &spill).map(|()| target.path))
}

/// Every saved entity and open order at this tick, the world row with the galaxy, and the
/// history not yet handed to the writer: a batch that replaces whatever the database holds.
pub fn whole_world_batch(world: &mut World, id: u64) -> Batch {
    let entities = whole_world(world);
    Batch {
        id,
        meta: WorldMeta::capture(world),
        galaxy: Some(Arc::new(world.resource::<Galaxy>().clone())),
        entities,
        history: world.resource::<PendingChanges>().history.clone(),
    }
}
