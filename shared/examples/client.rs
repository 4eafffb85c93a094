//! A headless client: logs in, connects, flies its first ship in a slow circle and prints what it
//! sees once a second.
//!
//! ```text
//! cargo run --release --bin starforge &            # the server (HTTP 127.0.0.1:7000)
//! cargo run --release -p starforge-shared --example client -- http://127.0.0.1:7000 ann "a long password" 10
//! ```

use std::time::{Duration, Instant};

use starforge_shared::client::{GameClient, login};
use starforge_shared::protocol::ServerMessage;
use starforge_shared::snapshot::EntityState;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let server = args.get(1).map_or("http://127.0.0.1:7000", String::as_str);
    let user = args.get(2).map_or("example", String::as_str);
    let password = args.get(3).map_or("example-password", String::as_str);
    let seconds: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);
    if let Err(e) = run(server, user, password, seconds) {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
}

fn run(server: &str, user: &str, password: &str, seconds: u64) -> Result<(), Box<dyn std::error::Error>> {
    let reply = login(server, user, password)?;
    println!(
        "logged in as player {} ({}), game at {}",
        reply.player_id,
        if reply.created { "new" } else { "returning" },
        reply.udp_addr
    );
    let mut client = GameClient::connect(&reply)?;
    let start = Instant::now();
    let mut next_print = Duration::from_secs(1);
    let mut last_piloted = None;
    while start.elapsed() < Duration::from_secs(seconds) {
        client.update()?;
        while let Some(msg) = client.poll() {
            match msg {
                ServerMessage::Welcome(w) => {
                    println!("welcome: tick {} at {} Hz, {} systems", w.server_tick, w.tick_hz, w.galaxy.systems.len())
                }
                other => println!("message: {other:?}"),
            }
        }
        let mine = client.mirror().ships().find(|(_, s)| s.owner == reply.player_id).map(|(id, _)| id);
        // One input per snapshot (per tick), not per loop turn.
        if let Some(ship) = mine
            && client.mirror().tick() != last_piloted
        {
            last_piloted = client.mirror().tick();
            client.pilot(ship, 0.6, 0.3, false);
        }
        if start.elapsed() >= next_print {
            next_print += Duration::from_secs(1);
            let m = client.mirror();
            let (mut ships, mut colonies, mut credits) = (0, 0, 0);
            for r in m.entities() {
                match r.state {
                    EntityState::Ship(_) => ships += 1,
                    EntityState::Colony(_) => colonies += 1,
                    EntityState::Empire(e) => credits = e.credits / 1000,
                }
            }
            let pos = mine.and_then(|id| m.get(id)).and_then(|r| match r.state {
                EntityState::Ship(s) => Some(s.pos()),
                _ => None,
            });
            println!(
                "tick {:?}: {ships} ships, {colonies} colonies visible, {credits} credits; my ship at {pos:?}; rtt {:.1} ms; {} snapshots",
                m.tick(),
                client.rtt_ms(),
                client.stats().snapshots
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    client.disconnect();
    Ok(())
}
