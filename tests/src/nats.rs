//! NATS for tests: the machine's NATS with JetStream (a galaxy name of its own per test, its
//! stream deleted afterwards, also on panic), and a private `nats-server` a test may kill and
//! restart without disturbing anyone else.
//!
//! When NATS is not reachable, [`TestGalaxy::create`] prints "skipped: ..." and returns `None`,
//! unless `STARFORGE_REQUIRE_SERVICES=1`, which makes it panic.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use starforge_persistence::bus::{Bus, BusOptions};

use crate::services::{random_suffix, skip};

/// The test NATS (`STARFORGE_TEST_NATS_URL` overrides the default).
pub fn nats_url() -> String {
    std::env::var("STARFORGE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A galaxy of its own on a NATS server; its handoff stream is deleted when this is dropped.
pub struct TestGalaxy {
    /// The galaxy's name (`t` and 16 hex digits).
    pub name: String,
    /// Connected to it.
    pub bus: Bus,
    runtime: tokio::runtime::Handle,
}

impl TestGalaxy {
    /// A new galaxy on the test NATS; `None` (after printing why) if NATS is not reachable and
    /// services are not required.
    pub async fn create(options: BusOptions) -> Option<TestGalaxy> {
        Self::create_on(&nats_url(), options).await
    }

    /// A new galaxy on the NATS at `url`.
    pub async fn create_on(url: &str, options: BusOptions) -> Option<TestGalaxy> {
        let name = format!("t{}", random_suffix());
        match Bus::connect(url, &name, options).await {
            Ok(bus) => Some(TestGalaxy { name, bus, runtime: tokio::runtime::Handle::current() }),
            Err(e) => skip("NATS with JetStream", url, &e.to_string()),
        }
    }
}

impl Drop for TestGalaxy {
    fn drop(&mut self) {
        let bus = self.bus.clone();
        // The stream may already be gone with a private server; nothing else to clean.
        let _ = std::thread::scope(|s| s.spawn(|| self.runtime.block_on(bus.delete_stream())).join());
    }
}

/// A `nats-server -js` of the test's own on a free port with its own store directory, killed
/// when this is dropped.
pub struct PrivateNats {
    /// Its address.
    pub addr: SocketAddr,
    store: PathBuf,
    child: Option<Child>,
}

impl PrivateNats {
    /// Starts one; `None` (after printing why) if `nats-server` is not installed and services
    /// are not required.
    pub fn start() -> Option<PrivateNats> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let store = std::env::temp_dir().join(format!("starforge-nats-{}", random_suffix()));
        let mut nats = PrivateNats { addr: SocketAddr::from(([127, 0, 0, 1], port)), store, child: None };
        match nats.run() {
            Ok(()) => Some(nats),
            Err(e) => skip("nats-server", "PATH", &e),
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Kills the server with SIGKILL (no chance to flush or say goodbye).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.run().expect("nats-server starts again");
    }

    fn run(&mut self) -> Result<(), String> {
        let child = Command::new(std::env::var("STARFORGE_NATS_SERVER").unwrap_or_else(|_| "nats-server".into()))
            .args(["-a", "127.0.0.1", "-p", &self.addr.port().to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start nats-server: {e}"))?;
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("nats-server exited at start: {status}"));
            }
            if Instant::now() > deadline {
                return Err("nats-server did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
