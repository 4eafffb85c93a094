//! Clean shutdown on SIGINT/SIGTERM: a signal sets a flag, a system turns it into `AppExit`.
//!
//! The listener is a small thread with a current-thread tokio runtime. A second signal
//! while shutting down exits at once (status 130), for a server that is stuck.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use tracing::{info, warn};

/// Turns a requested shutdown into `AppExit::Success` at the next frame.
pub struct ShutdownPlugin;

/// The set of [`ShutdownPlugin`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownSystems {
    /// Checks the flag (`PreUpdate`, before any tick of the frame).
    Check,
}

impl Plugin for ShutdownPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ShutdownFlag>()
            .add_systems(PreUpdate, exit_on_shutdown_request.in_set(ShutdownSystems::Check));
    }
}

/// Set (from any thread) to ask the server to stop cleanly.
#[derive(Resource, Clone, Debug, Default)]
pub struct ShutdownFlag(Arc<AtomicBool>);

impl ShutdownFlag {
    /// Asks for a clean stop; returns whether one had been asked for already.
    pub fn request(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn exit_on_shutdown_request(flag: Res<ShutdownFlag>, mut exit: MessageWriter<AppExit>, mut sent: Local<bool>) {
    if flag.is_requested() && !*sent {
        *sent = true;
        info!("shutdown requested, stopping");
        exit.write(AppExit::Success);
    }
}

/// Starts the signal listener thread; returns once SIGINT and SIGTERM handlers are
/// installed, so a signal sent after this returns is never lost.
pub fn spawn_signal_listener(flag: ShutdownFlag) -> std::io::Result<JoinHandle<()>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<std::io::Result<()>>(1);
    let handle = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        runtime.block_on(listen(flag, ready_tx));
    })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::other("signal listener thread stopped")),
    }
}

#[cfg(unix)]
async fn listen(flag: ShutdownFlag, ready: std::sync::mpsc::SyncSender<std::io::Result<()>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        if flag.request() {
            warn!("{name} again while shutting down: exiting now");
            std::process::exit(130);
        }
        info!("{name} received");
    }
}

#[cfg(not(unix))]
async fn listen(flag: ShutdownFlag, ready: std::sync::mpsc::SyncSender<std::io::Result<()>>) {
    let _ = ready.send(Ok(()));
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if flag.request() {
            warn!("Ctrl-C again while shutting down: exiting now");
            std::process::exit(130);
        }
        info!("Ctrl-C received");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_app_exit() {
        let mut app = App::new();
        app.add_plugins(ShutdownPlugin);
        app.update();
        assert_eq!(app.should_exit(), None, "no request yet");
        let flag = app.world().resource::<ShutdownFlag>().clone();
        assert!(!flag.request(), "first request");
        app.update();
        assert_eq!(app.should_exit(), Some(AppExit::Success));
    }
}
