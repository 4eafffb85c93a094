//! An in-process harness for network tests: a real server app (HTTP + UDP on loopback, ports
//! chosen by the OS) stepped one tick at a time, and real SDK clients.

use std::time::Duration;

use bevy_app::App;
use bevy_time::TimeUpdateStrategy;
use starforge_components::prelude::*;
use starforge_server::net::NetServer;
use starforge_server::{Network, ServerConfig, build_app, start_network};
use starforge_shared::client::{GameClient, LoginReply, SdkError, login};

/// The netcode key of test servers (tests mint their own tokens with it; never a real key).
pub const TEST_KEY_HEX: &str = "746573742d6b65792d6e6f742d666f722d70726f64756374696f6e2121212121";

/// The admin API token of test servers.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token";

/// [`TEST_KEY_HEX`] as bytes.
pub fn test_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&TEST_KEY_HEX[2 * i..2 * i + 2], 16).expect("hex");
    }
    k
}

/// The configuration of a test server: `systems` star systems, HTTP and UDP on OS-chosen
/// loopback ports, the test netcode key, plus `extra` flags.
pub fn loopback_config(systems: u32, extra: &[&str]) -> ServerConfig {
    let systems = systems.to_string();
    let base = ["starforge", "--systems", &systems, "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"];
    let args = base.iter().chain(&["--netcode-key", TEST_KEY_HEX]).chain(extra);
    ServerConfig::try_from_args(args.copied()).expect("valid flags")
}

/// A server under test.
pub struct Server {
    /// The app; step it with [`Server::step`].
    pub app: App,
    /// Its network side.
    pub net: Network,
}

impl Server {
    /// A server with a small galaxy (`systems` systems, default NPC density) on loopback.
    pub fn start(systems: u32, tuning: Tuning) -> Server {
        let config = loopback_config(systems, &["--admin-token", TEST_ADMIN_TOKEN]);
        let period = Duration::from_secs_f64(1.0 / f64::from(tuning.world.tick_hz));
        let mut app = build_app(&config, tuning);
        app.insert_resource(TimeUpdateStrategy::ManualDuration(period));
        let accounts = std::sync::Arc::new(starforge_server::accounts::MemoryAccounts::new());
        let net = start_network(&mut app, &config, accounts, None).expect("network starts");
        app.finish();
        app.cleanup();
        app.update(); // starts the clock
        Server { app, net }
    }

    /// `http://ADDR` of the login server.
    pub fn url(&self) -> String {
        format!("http://{}", self.net.http.addr)
    }

    /// One frame: one simulation tick, network in and out.
    pub fn step(&mut self) {
        self.app.update();
    }

    /// The network resource.
    pub fn net(&self) -> &NetServer {
        self.app.world().resource::<NetServer>()
    }

    /// The live entity of an id.
    pub fn entity(&self, id: u64) -> Option<bevy_ecs::entity::Entity> {
        self.app.world().resource::<EntityIndex>().get(EntityId(id))
    }

    /// Current tick.
    pub fn tick(&self) -> u64 {
        self.app.world().resource::<SimTick>().0
    }

    /// Logs in while stepping the server (the game loop creates a new player's empire).
    pub fn login(&mut self, user: &str, password: &str) -> Result<LoginReply, SdkError> {
        let url = self.url();
        let (user, password) = (user.to_owned(), password.to_owned());
        let handle = std::thread::spawn(move || login(&url, &user, &password));
        while !handle.is_finished() {
            self.step();
            std::thread::sleep(Duration::from_millis(2));
        }
        handle.join().expect("login thread")
    }

    /// Logs in and connects; steps until the client has its welcome and a first snapshot.
    pub fn connect(&mut self, user: &str) -> GameClient {
        let reply = self.login(user, "test-password").expect("login");
        let mut client = GameClient::connect(&reply).expect("connect");
        let ok = self.step_until(std::slice::from_mut(&mut client), 500, |c| {
            c[0].welcome().is_some() && c[0].mirror().tick().is_some()
        });
        assert!(ok, "{user} connected and got a snapshot");
        client
    }

    /// Steps server and clients together until `done` holds (true) or `max_steps` frames have
    /// passed (false). Each frame sleeps a moment so loopback packets arrive.
    pub fn step_until(
        &mut self,
        clients: &mut [GameClient],
        max_steps: usize,
        mut done: impl FnMut(&mut [GameClient]) -> bool,
    ) -> bool {
        for _ in 0..max_steps {
            self.step();
            std::thread::sleep(Duration::from_millis(1));
            for c in clients.iter_mut() {
                let _ = c.update();
            }
            if done(clients) {
                return true;
            }
        }
        false
    }

    /// Steps `n` frames with the clients.
    pub fn run(&mut self, clients: &mut [GameClient], n: usize) {
        self.step_until(clients, n, |_| false);
    }
}
