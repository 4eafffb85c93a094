//! Tuning hot reload: watch the tuning directory, and between ticks re-read what changed.
//!
//! A `notify` watcher thread sends the names of changed tuning files over a bounded channel.
//! Once per frame, in `PreUpdate` (never inside a tick), [`reload_changed_tuning`] drains it;
//! when no event has arrived for [`DEBOUNCE`] (editors write a file in several steps), the
//! changed files are re-read and applied together with [`Tuning::with_files`]. Success
//! replaces the [`Tuning`] resource (and the tick rate); failure logs the error and keeps the
//! previous values. Files that failed stay "changed", so a later edit of another file is
//! validated together with them and no edit is lost.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_time::prelude::*;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use starforge_components::tuning::{FILE_NAMES, Tuning, TuningError};
use tracing::{error, info, warn};

use crate::tuning_dir::{LoadError, read_files};

/// Quiet time after the last file event before a reload is attempted.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Changed-file notices buffered between frames; on overflow every file is re-read.
const CHANNEL_CAPACITY: usize = 256;

/// Watches `dir` and reloads tuning between ticks.
pub struct TuningReloadPlugin {
    /// The tuning directory.
    pub dir: PathBuf,
    /// `--tick-hz`: wins over `tick_hz` in world.ron, also after a reload.
    pub tick_hz_override: Option<u32>,
}

/// The set of [`TuningReloadPlugin`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TuningReloadSystems {
    /// Drains file events and reloads changed files (`PreUpdate`, between ticks).
    Reload,
}

impl Plugin for TuningReloadPlugin {
    fn build(&self, app: &mut App) {
        let watcher = match TuningWatcher::watch(&self.dir) {
            Ok(w) => w,
            Err(e) => {
                warn!("tuning hot reload disabled: cannot watch `{}`: {e}", self.dir.display());
                TuningWatcher::disabled(&self.dir)
            }
        };
        app.insert_resource(watcher)
            .insert_resource(TickRateOverride(self.tick_hz_override))
            .add_systems(PreUpdate, reload_changed_tuning.in_set(TuningReloadSystems::Reload));
    }
}

/// `--tick-hz`, if given: it overrides `tick_hz` from world.ron.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickRateOverride(pub Option<u32>);

/// The watcher, its channel and the files changed since the last successful reload.
#[derive(Resource)]
pub struct TuningWatcher {
    dir: PathBuf,
    /// Kept alive for as long as the resource; dropping it stops watching.
    _watcher: Option<RecommendedWatcher>,
    /// A `Mutex` only because a resource must be `Sync`; one system locks it.
    events: Mutex<Receiver<String>>,
    overflowed: Arc<AtomicBool>,
    changed: BTreeSet<String>,
    last_event: Option<Instant>,
    armed: bool,
}

impl TuningWatcher {
    /// Starts watching `dir` (not recursively) for changes to the tuning files.
    pub fn watch(dir: &Path) -> notify::Result<TuningWatcher> {
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_CAPACITY);
        let overflowed = Arc::new(AtomicBool::new(false));
        let handler = event_handler(tx, Arc::clone(&overflowed));
        let mut watcher = notify::recommended_watcher(handler)?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(TuningWatcher {
            dir: dir.to_owned(),
            _watcher: Some(watcher),
            events: Mutex::new(rx),
            overflowed,
            changed: BTreeSet::new(),
            last_event: None,
            armed: false,
        })
    }

    /// A watcher that never reports anything (watching failed).
    pub fn disabled(dir: &Path) -> TuningWatcher {
        let (_tx, rx) = std::sync::mpsc::sync_channel(1);
        TuningWatcher {
            dir: dir.to_owned(),
            _watcher: None,
            events: Mutex::new(rx),
            overflowed: Arc::new(AtomicBool::new(false)),
            changed: BTreeSet::new(),
            last_event: None,
            armed: false,
        }
    }

    /// Whether the directory is really being watched.
    pub fn is_watching(&self) -> bool {
        self._watcher.is_some()
    }

    /// Takes pending notices; returns the files to reload once events have been quiet for
    /// [`DEBOUNCE`] at `now`.
    fn due(&mut self, now: Instant) -> Option<Vec<String>> {
        let mut got_any = false;
        if let Ok(rx) = self.events.lock() {
            for name in rx.try_iter() {
                self.changed.insert(name);
                got_any = true;
            }
        }
        if self.overflowed.swap(false, Ordering::Relaxed) {
            self.changed.extend(FILE_NAMES.iter().map(|f| (*f).to_owned()));
            got_any = true;
        }
        if got_any {
            self.last_event = Some(now);
            self.armed = true;
        }
        let quiet = self.last_event.is_some_and(|t| now.duration_since(t) >= DEBOUNCE);
        if !(self.armed && quiet) {
            return None;
        }
        self.armed = false;
        Some(self.changed.iter().cloned().collect())
    }
}

/// Sends the names of changed tuning files; never blocks the watcher thread.
fn event_handler(
    tx: SyncSender<String>,
    overflowed: Arc<AtomicBool>,
) -> impl FnMut(notify::Result<notify::Event>) + Send + 'static {
    move |event| match event {
        Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
            for path in &event.paths {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if !FILE_NAMES.contains(&name) {
                    continue;
                }
                match tx.try_send(name.to_owned()) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                    Err(TrySendError::Full(_)) => overflowed.store(true, Ordering::Relaxed),
                }
            }
        }
        Ok(_) => {}
        Err(e) => warn!("tuning watcher: {e}"),
    }
}

/// Why a reload was rejected (the previous tuning stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A changed file could not be read.
    #[error(transparent)]
    Read(#[from] LoadError),
    /// The changed files are not valid tuning.
    #[error(transparent)]
    Invalid(#[from] TuningError),
}

/// Re-reads `files` from `dir` and applies them on top of `current`; `current` is not changed.
pub fn reload(
    current: &Tuning,
    dir: &Path,
    files: &[String],
    tick_hz_override: Option<u32>,
) -> Result<Tuning, ReloadError> {
    let texts = read_files(dir, files.iter().map(String::as_str))?;
    let refs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let mut next = current.with_files(&refs)?;
    if let Some(hz) = tick_hz_override {
        next.world.tick_hz = hz;
    }
    Ok(next)
}

/// Reloads `files`, and on success replaces `tuning` and applies a changed tick rate to
/// `fixed`. Logs the outcome either way; on error `tuning` and `fixed` are unchanged.
pub fn apply_reload(
    tuning: &mut Tuning,
    fixed: &mut Time<Fixed>,
    dir: &Path,
    files: &[String],
    tick_hz_override: Option<u32>,
) -> Result<(), ReloadError> {
    let names = files.join(", ");
    let next = match reload(tuning, dir, files, tick_hz_override) {
        Ok(next) => next,
        Err(e) => {
            error!("tuning reload failed, keeping the previous values: {e}");
            return Err(e);
        }
    };
    if next.world.tick_hz != tuning.world.tick_hz {
        info!("tick rate changed: {} Hz → {} Hz", tuning.world.tick_hz, next.world.tick_hz);
        fixed.set_timestep_hz(f64::from(next.world.tick_hz));
    }
    if next.world.systems != tuning.world.systems {
        info!("world.systems changed: applies to the next generated galaxy, not this one");
    }
    *tuning = next;
    info!("tuning reloaded: {names}");
    Ok(())
}

/// Between ticks: reloads the tuning files that changed, once their events have settled.
pub fn reload_changed_tuning(
    mut watcher: ResMut<TuningWatcher>,
    mut tuning: ResMut<Tuning>,
    mut fixed: ResMut<Time<Fixed>>,
    tick_hz_override: Res<TickRateOverride>,
) {
    let Some(files) = watcher.due(Instant::now()) else {
        return;
    };
    let dir = watcher.dir.clone();
    // Compare before writing so an unchanged file does not mark `Tuning` as changed.
    let mut next = tuning.clone();
    if apply_reload(&mut next, &mut fixed, &dir, &files, tick_hz_override.0).is_ok() {
        watcher.changed.clear();
        if next != *tuning {
            *tuning = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTuningDir;

    fn names(files: &[&str]) -> Vec<String> {
        files.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn valid_edit_replaces_tuning_and_tick_rate() {
        let dir = TempTuningDir::new("reload_ok");
        dir.edit("world.ron", "tick_hz: 20", "tick_hz: 40");
        dir.edit("market.ron", "fee_bps: 200", "fee_bps: 300");
        let mut tuning = Tuning::default();
        let mut fixed = Time::<Fixed>::from_hz(20.0);
        apply_reload(&mut tuning, &mut fixed, dir.path(), &names(&["market.ron", "world.ron"]), None)
            .expect("valid edit");
        assert_eq!(tuning.market.fee_bps, 300, "market reloaded");
        assert_eq!(tuning.world.tick_hz, 40, "world reloaded");
        assert_eq!(fixed.timestep(), Duration::from_millis(25), "tick rate applied");
    }

    #[test]
    fn tick_rate_override_wins_over_the_file() {
        let dir = TempTuningDir::new("reload_override");
        dir.edit("world.ron", "tick_hz: 20", "tick_hz: 40");
        let mut tuning = Tuning::default();
        tuning.world.tick_hz = 50;
        let mut fixed = Time::<Fixed>::from_hz(50.0);
        apply_reload(&mut tuning, &mut fixed, dir.path(), &names(&["world.ron"]), Some(50)).expect("valid edit");
        assert_eq!(tuning.world.tick_hz, 50);
        assert_eq!(fixed.timestep(), Duration::from_millis(20), "unchanged");
    }

    #[test]
    fn invalid_edit_keeps_the_previous_values() {
        let dir = TempTuningDir::new("reload_bad");
        dir.edit("ships.ron", "max_speed: 300.0", "max_speed: -3.0");
        dir.edit("world.ron", "tick_hz: 20", "tick_hz: 40");
        let mut tuning = Tuning::default();
        let mut fixed = Time::<Fixed>::from_hz(20.0);
        let err = apply_reload(&mut tuning, &mut fixed, dir.path(), &names(&["ships.ron", "world.ron"]), None)
            .expect_err("invalid edit");
        assert!(err.to_string().contains("ships.ron:6: classes.fighter.max_speed"), "{err}");
        assert_eq!(tuning, Tuning::default(), "previous tuning kept");
        assert_eq!(fixed.timestep(), Duration::from_millis(50), "tick rate kept");

        std::fs::remove_file(dir.path().join("npc.ron")).expect("remove");
        let err = reload(&tuning, dir.path(), &names(&["npc.ron"]), None).expect_err("unreadable");
        assert!(err.to_string().contains("npc.ron"), "{err}");
    }

    #[test]
    fn debounce_waits_for_quiet() {
        let dir = TempTuningDir::new("debounce");
        let mut w = TuningWatcher::disabled(dir.path());
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        w.events = Mutex::new(rx);
        let t0 = Instant::now();
        tx.send("ships.ron".to_owned()).expect("send");
        assert_eq!(w.due(t0), None, "not quiet yet");
        tx.send("npc.ron".to_owned()).expect("send");
        assert_eq!(w.due(t0 + DEBOUNCE / 2), None, "a new event restarts the wait");
        assert_eq!(w.due(t0 + DEBOUNCE * 2), Some(names(&["npc.ron", "ships.ron"])));
        assert_eq!(w.due(t0 + DEBOUNCE * 3), None, "fires once per burst");
    }

    /// End to end through a real watcher: edit a file in a temp dir, run frames until the
    /// resource changes (bounded wait; nothing asserted about speed).
    #[test]
    fn watcher_reloads_an_edited_file() {
        let dir = TempTuningDir::new("watch");
        let mut app = App::new();
        app.insert_resource(Tuning::default())
            .insert_resource(Time::<Fixed>::from_hz(20.0))
            .add_plugins(TuningReloadPlugin { dir: dir.path().to_owned(), tick_hz_override: None });
        assert!(app.world().resource::<TuningWatcher>().is_watching(), "watching the temp dir");
        app.update();
        dir.edit("market.ron", "fee_bps: 200", "fee_bps: 333");
        let deadline = Instant::now() + Duration::from_secs(20);
        while app.world().resource::<Tuning>().market.fee_bps != 333 {
            assert!(Instant::now() < deadline, "tuning not reloaded within 20 s");
            std::thread::sleep(Duration::from_millis(20));
            app.update();
        }

        // An invalid edit is logged and ignored.
        dir.edit("market.ron", "fee_bps: 333", "fee_bps: 20000");
        let deadline = Instant::now() + Duration::from_secs(2) + DEBOUNCE;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            app.update();
        }
        assert_eq!(app.world().resource::<Tuning>().market.fee_bps, 333, "invalid edit ignored");
    }
}
