//! The writer task: applies batches to the database, one transaction each, in order.
//!
//! The simulation hands a [`Batch`] to the task through a bounded queue, taking a place in it
//! first ([`Writer::reserve`]; with the queue full, the changes stay pending and newer ones are
//! merged into them). The task, on the persistence tokio runtime, turns the batch into rows
//! once ([`crate::tables::map::encode`]) and applies them ([`crate::apply`]); each applied
//! batch is confirmed by id.
//!
//! Failures: a *transient* one (connection refused or lost, timeout, server shutting down,
//! too many connections, serialization failure, database locked) is retried with exponential
//! backoff ([`WriterOptions`]), the state is [`WriterState::Retrying`]; anything else (a
//! constraint or permission error, a trigger raising) is [`WriterState::Failed`]: logged as an
//! error, retried slowly in case an operator fixes the cause; the server halts the simulation
//! while it lasts (see docs/OPERATIONS.md).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use starforge_components::galaxy::Galaxy;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::apply::{Applied, apply};
use crate::collect::Changes;
use crate::db::Db;
use crate::rows::{HistoryEntry, WorldMeta};
use crate::tables::map;

/// Changed state at one tick, for one transaction.
#[derive(Debug)]
pub struct Batch {
    /// Increasing id (continues from the database's after a restore).
    pub id: u64,
    /// Resources at the batch's tick.
    pub meta: WorldMeta,
    /// The galaxy, sent with the first batch of a run.
    pub galaxy: Option<Arc<Galaxy>>,
    /// Changed and despawned entities; for an id present more than once, the last entry is
    /// the newest state (the only one written).
    pub entities: Changes,
    /// Trades and combat reports since the previous batch.
    pub history: Vec<HistoryEntry>,
}

/// Whether retrying `error` later may succeed without anyone changing anything: the database
/// is unreachable, restarting, overloaded or busy.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // Postgres SQLSTATE classes: 08 connection exception, 53 insufficient resources
            // (disk full, out of memory, too many connections), 57P0x server shutting down or
            // starting, 40001/40P01 serialization failure / deadlock, 55P03 lock not available.
            // SQLite result codes: 5 BUSY, 6 LOCKED (and their extended codes), 10 IOERR, 13 FULL.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || matches!(code.as_ref(), "40001" | "40P01" | "55P03")
                || code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13))
        }
        _ => false,
    }
}

/// How the writer behaves.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Batches queued between the simulation and the writer (beyond the one being written).
    pub queue: usize,
    /// First wait after a transient failure; doubles per attempt.
    pub backoff_min: Duration,
    /// Longest wait between attempts after transient failures.
    pub backoff_max: Duration,
    /// Wait between attempts while the writer is [`WriterState::Failed`].
    pub failed_retry: Duration,
    /// One attempt (the whole transaction) taking longer than this counts as a transient
    /// failure (a stalled connection never answers).
    pub attempt_timeout: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue: 1,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            failed_retry: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

/// The writer's condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterState {
    /// Keeping up.
    Healthy,
    /// A batch failed for a transient reason and is being retried with backoff.
    Retrying {
        /// Attempts that failed so far for the current batch.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// A batch failed for a reason that retrying alone will not fix; it is retried slowly.
    Failed {
        /// The error.
        error: String,
    },
}

/// What the writer has done, shared with the simulation and `/metrics`.
#[derive(Debug)]
pub struct WriterStatus {
    inner: Mutex<StatusSnapshot>,
}

/// A copy of [`WriterStatus`].
#[derive(Clone, Debug, PartialEq)]
pub struct StatusSnapshot {
    /// Current condition.
    pub state: WriterState,
    /// Newest batch in the database.
    pub confirmed_batch: u64,
    /// Its tick.
    pub confirmed_tick: u64,
    /// Batches applied by this writer.
    pub batches: u64,
    /// Rows written by this writer.
    pub rows: u64,
    /// Failed attempts (transient or not).
    pub failures: u64,
    /// Duration of the last successful transaction (ms).
    pub last_flush_ms: f64,
}

impl WriterStatus {
    fn new(confirmed_batch: u64, confirmed_tick: u64) -> Self {
        WriterStatus {
            inner: Mutex::new(StatusSnapshot {
                state: WriterState::Healthy,
                confirmed_batch,
                confirmed_tick,
                batches: 0,
                rows: 0,
                failures: 0,
                last_flush_ms: 0.0,
            }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut StatusSnapshot)) {
        // Plain counters: a panic while holding the lock cannot leave them inconsistent.
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A batch the database now holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Confirmation {
    /// Its id.
    pub batch: u64,
    /// Its tick.
    pub tick: u64,
    /// Rows written.
    pub rows: usize,
    /// Time from the first attempt's start to the commit (includes retries).
    pub elapsed: Duration,
    /// Duration of the successful transaction alone.
    pub transaction: Duration,
}

/// The simulation's handle on the writer task.
#[derive(Debug)]
pub struct Writer {
    tx: mpsc::Sender<Batch>,
    confirmations: Mutex<std::sync::mpsc::Receiver<Confirmation>>,
    status: Arc<WriterStatus>,
}

impl Writer {
    /// Starts the writer task on `runtime`. `confirmed_batch`/`confirmed_tick` describe what the
    /// database holds already (from a restore; 0 for a new database).
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        db: Db,
        options: WriterOptions,
        confirmed_batch: u64,
        confirmed_tick: u64,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let (confirm_tx, confirmations) = std::sync::mpsc::channel();
        let status = Arc::new(WriterStatus::new(confirmed_batch, confirmed_tick));
        runtime.spawn(run(db, rx, confirm_tx, status.clone(), options));
        Writer { tx, confirmations: Mutex::new(confirmations), status }
    }

    /// A place in the queue for the next batch; `None` if the queue is full (the writer lags)
    /// or the writer has stopped.
    pub fn reserve(&self) -> Option<mpsc::Permit<'_, Batch>> {
        self.tx.try_reserve().ok()
    }

    /// Whether the writer task has stopped (it only stops if it panicked).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Confirmations received since the last call.
    pub fn confirmations(&self) -> Vec<Confirmation> {
        self.confirmations.lock().unwrap_or_else(PoisonError::into_inner).try_iter().collect()
    }

    /// The shared status.
    pub fn status(&self) -> &Arc<WriterStatus> {
        &self.status
    }
}

async fn run(
    db: Db,
    mut rx: mpsc::Receiver<Batch>,
    confirmations: std::sync::mpsc::Sender<Confirmation>,
    status: Arc<WriterStatus>,
    options: WriterOptions,
) {
    while let Some(batch) = rx.recv().await {
        let first_attempt = Instant::now();
        let (batch_id, batch_tick) = (batch.id, batch.meta.tick);
        // Only the rows are needed from here on (retries included): the records are freed here,
        // off the tick thread.
        let rows = map::encode(&batch, crate::SHARD);
        drop(batch);
        let mut backoff = options.backoff_min;
        let mut attempts = 0u32;
        loop {
            let start = Instant::now();
            let result = tokio::time::timeout(options.attempt_timeout, apply(&db, &rows)).await;
            let (error, transient) = match result {
                Ok(Ok(applied)) => {
                    let transaction = start.elapsed();
                    if attempts > 0 {
                        info!(batch = batch_id, attempts, "persistence: the database is back; batch written");
                    }
                    let written = rows.len();
                    status.update(|s| {
                        s.state = WriterState::Healthy;
                        s.confirmed_batch = batch_id;
                        s.confirmed_tick = batch_tick;
                        if applied == Applied::Written {
                            s.batches += 1;
                            s.rows += written as u64;
                        }
                        s.last_flush_ms = transaction.as_secs_f64() * 1000.0;
                    });
                    let _ = confirmations.send(Confirmation {
                        batch: batch_id,
                        tick: batch_tick,
                        rows: written,
                        elapsed: first_attempt.elapsed(),
                        transaction,
                    });
                    break;
                }
                Ok(Err(e)) => {
                    let transient = is_transient(&e);
                    (e.to_string(), transient)
                }
                Err(_) => (format!("no answer within {:?}", options.attempt_timeout), true),
            };
            attempts += 1;
            let wait = if transient {
                if attempts == 1 || attempts.is_power_of_two() {
                    warn!(batch = batch_id, attempts, "persistence: write failed, retrying in {backoff:?}: {error}");
                }
                let state = WriterState::Retrying { attempts, error };
                status.update(|s| {
                    s.failures += 1;
                    s.state = state;
                });
                let wait = backoff;
                backoff = (backoff * 2).min(options.backoff_max);
                wait
            } else {
                error!(
                    batch = batch_id,
                    "persistence: write failed and retrying will not fix it: {error}; the simulation is halted \
                     until it succeeds (retried every {:?}; see docs/OPERATIONS.md)",
                    options.failed_retry
                );
                status.update(|s| {
                    s.failures += 1;
                    s.state = WriterState::Failed { error };
                });
                options.failed_retry
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_problems_are_transient_and_others_are_not() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
