//! The network end to end: a real server over loopback UDP and HTTP, real SDK clients.

use starforge_components::prelude::*;
use starforge_shared::client::{GameClient, Impairment};
use starforge_shared::protocol::{CommandKind, IntentPacket, PilotInput, ServerMessage, channel};
use starforge_shared::snapshot::{EntityState, ShipState};
use starforge_shared::wire;
use starforge_tests::net::Server;

fn my_ships(c: &GameClient) -> Vec<(u64, ShipState)> {
    c.mirror().ships().filter(|(_, s)| s.owner == c.player_id()).map(|(id, s)| (id, *s)).collect()
}

fn drain(c: &mut GameClient) -> Vec<ServerMessage> {
    std::iter::from_fn(|| c.poll()).collect()
}

#[test]
fn login_connect_fly_and_see_the_ship_move() {
    let mut server = Server::start(12, Tuning::default());
    let c = server.connect("pilot");
    let w = c.welcome().expect("welcome").clone();
    assert_eq!((w.player_id, w.galaxy.systems.len()), (c.player_id(), 12));
    let ships = my_ships(&c);
    assert_eq!(ships.len(), 3, "the starting fleet is visible: {ships:?}");
    let colonies = c.mirror().entities().iter().filter(|r| matches!(r.state, EntityState::Colony(_))).count();
    assert!(colonies >= 1, "the home colony is visible");
    assert!(c.mirror().get(c.player_id()).is_some(), "the player's empire is in the mirror");
    let (ship, start) = ships[0];
    let mut clients = [c];
    let mut last_seq = 0;
    let moved = server.step_until(&mut clients, 400, |cs| {
        if cs[0].mirror().tick() != Some(0) {
            last_seq = cs[0].pilot(ship, 1.0, 0.0, false);
        }
        let now = cs[0].mirror().get(ship).map(|r| r.state);
        matches!(now, Some(EntityState::Ship(s)) if (s.x - start.x).abs() + (s.y - start.y).abs() > 400)
    });
    assert!(moved, "full thrust moves the ship in the client's mirror");
    assert!(clients[0].mirror().last_input_seq() > 0, "snapshots confirm applied inputs");
    // The mirror's position is the server's, quantized.
    let e = server.entity(ship).expect("ship exists");
    let pos = server.app.world().get::<Position>(e).expect("pos").local;
    let s = match clients[0].mirror().get(ship).expect("in mirror").state {
        EntityState::Ship(s) => s,
        _ => unreachable!(),
    };
    assert!((s.pos()[0] - pos.x).abs() < 100.0 && (s.pos()[1] - pos.y).abs() < 100.0, "close to the truth");
}

#[test]
fn a_bad_command_is_answered_with_a_reason_and_a_good_one_with_an_id() {
    let mut server = Server::start(12, Tuning::default());
    let mut c = server.connect("trader");
    let bad =
        c.command(CommandKind::Build { colony: 999_999_999, building: starforge_shared::protocol::Building::Mine });
    let good = c.command(CommandKind::PlaceOrder {
        resource: starforge_shared::protocol::Resource::Minerals,
        side: starforge_shared::protocol::Side::Sell,
        price: 1_000_000,
        quantity: 1,
        expires_in: None,
    });
    let mut clients = [c];
    let mut results = Vec::new();
    server.step_until(&mut clients, 300, |cs| {
        for m in drain(&mut cs[0]) {
            if let ServerMessage::CommandResult { id, result } = m {
                results.push((id, result));
            }
        }
        results.len() >= 2
    });
    let bad_result = results.iter().find(|(id, _)| *id == bad).expect("bad command answered");
    let reason = bad_result.1.as_ref().expect_err("refused");
    assert!(reason.contains("colony"), "the reason says what is wrong: {reason}");
    let good_result = results.iter().find(|(id, _)| *id == good).expect("good command answered");
    assert!(matches!(good_result.1, Ok(Some(_))), "the order id comes back: {good_result:?}");
}

#[test]
fn visibility_follows_range() {
    let mut server = Server::start(12, Tuning::default());
    let a = server.connect("alice");
    let b = server.connect("bert");
    let mut clients = [a, b];
    server.run(&mut clients, 40);
    let a_ship = my_ships(&clients[0])[0].0;
    let b_ship = my_ships(&clients[1])[0].0;
    let b_all: Vec<u64> = my_ships(&clients[1]).iter().map(|s| s.0).collect();
    let place = |server: &mut Server, id: u64, system: SystemId, local: glam::Vec2| {
        let e = server.entity(id).expect("ship");
        let mut p = server.app.world_mut().get_mut::<Position>(e).expect("pos");
        *p = Position { system, local };
        // A test shortcut for flying there: a slow drift makes movement refile it in the grid.
        server.app.world_mut().get_mut::<Motion>(e).expect("motion").vel = glam::Vec2::new(1.0, 0.0);
    };
    let a_pos = *server.app.world().get::<Position>(server.entity(a_ship).expect("a")).expect("pos");
    // Bert's fleet starts in another system: Alice never sees it.
    let b_pos = *server.app.world().get::<Position>(server.entity(b_ship).expect("b")).expect("pos");
    assert_ne!(a_pos.system, b_pos.system, "players start in different systems");
    let mut seen_early = false;
    server.step_until(&mut clients, 60, |cs| {
        seen_early |= b_all.iter().any(|id| cs[0].mirror().get(*id).is_some());
        false
    });
    assert!(!seen_early, "an entity out of range is never sent");
    // Bring one of Bert's ships next to Alice's: it appears.
    place(&mut server, b_ship, a_pos.system, a_pos.local + glam::Vec2::new(300.0, 0.0));
    let appeared = server.step_until(&mut clients, 200, |cs| cs[0].mirror().get(b_ship).is_some());
    assert!(
        appeared,
        "a ship that comes in range appears: {:?} {:?}",
        clients[0].mirror().entities().len(),
        server.net().client_view(clients[0].player_id()).map(|v| v.1.len())
    );
    // Send it far away: it disappears (and Bert still sees it: it is his).
    place(&mut server, b_ship, b_pos.system, b_pos.local);
    let gone = server.step_until(&mut clients, 200, |cs| cs[0].mirror().get(b_ship).is_none());
    assert!(gone, "a ship that leaves range disappears");
    assert!(clients[1].mirror().get(b_ship).is_some(), "the owner always sees his ship");
}

#[test]
fn the_mirror_converges_despite_loss_duplication_and_reordering() {
    let mut server = Server::start(12, Tuning::default());
    let mut c = server.connect("lossy");
    c.set_impairment(Some(Impairment { loss: 0.25, duplicate: 0.15, reorder: 0.2, seed: 42 }));
    let ships: Vec<u64> = my_ships(&c).iter().map(|s| s.0).collect();
    let mut clients = [c];
    let mut k = 0u32;
    server.step_until(&mut clients, 300, |cs| {
        k += 1;
        let turn = if (k / 40).is_multiple_of(2) { 0.5 } else { -0.5 };
        for &s in &ships {
            cs[0].pilot(s, 0.8, turn, false);
        }
        false
    });
    let stats = clients[0].stats();
    assert!(
        stats.snapshots > 50 && stats.stale > 0,
        "the run saw reordering and duplicates: {stats:?} {:?}",
        clients[0].disconnect_reason()
    );
    // Whatever arrived: every snapshot the client holds equals what the server says it sent.
    clients[0].set_impairment(None);
    server.run(&mut clients, 20);
    let t = clients[0].mirror().tick().expect("tick");
    let view = server.net().client_view_at(clients[0].player_id(), t).expect("server kept the view");
    assert_eq!(clients[0].mirror().entities(), view, "mirror == server's view of the client at tick {t}");
    // And the view is the truth: own ships' quantized state equals the world's at that tick, once
    // they stop (pilot input lapses, ships drift to a halt).
    server.run(&mut clients, 300);
    let t = clients[0].mirror().tick().expect("tick");
    assert_eq!(clients[0].mirror().entities(), server.net().client_view_at(clients[0].player_id(), t).expect("kept"));
    for &s in &ships {
        let e = server.entity(s).expect("ship");
        let world = server.app.world();
        let (p, m) = (world.get::<Position>(e).expect("p"), world.get::<Motion>(e).expect("m"));
        let EntityState::Ship(q) = clients[0].mirror().get(s).expect("in mirror").state else { panic!("a ship") };
        let hz = world.resource::<Tuning>().world.tick_hz;
        let want = ShipState::quantize(
            q.class,
            q.owner,
            q.fleet,
            p.system.0,
            None,
            p.local.into(),
            m.vel.into(),
            m.heading,
            q.hull_fraction(),
            hz,
        );
        assert_eq!((q.x, q.y, q.vx, q.vy), (want.x, want.y, want.vx, want.vy), "ship {s} mirror equals the world");
    }
}

#[test]
fn reconnect_gets_a_fresh_full_snapshot() {
    let mut server = Server::start(12, Tuning::default());
    let mut c = server.connect("phoenix");
    let before = my_ships(&c).len();
    c.disconnect();
    for _ in 0..300 {
        server.step();
        std::thread::sleep(std::time::Duration::from_millis(1));
        if server.net().connected() == 0 {
            break;
        }
    }
    assert_eq!(server.net().connected(), 0, "the server noticed the disconnect");
    let again = server.connect("phoenix");
    assert_eq!(my_ships(&again).len(), before, "a full snapshot with everything after reconnecting");
    assert_eq!(server.net().connected(), 1);
}

#[test]
fn a_second_login_replaces_the_first_connection() {
    let mut server = Server::start(12, Tuning::default());
    let first = server.connect("twin");
    let second = server.connect("twin");
    let mut all = [first, second];
    let kicked =
        server.step_until(&mut all, 300, |cs| cs[0].disconnect_reason().is_some_and(|r| r.contains("another client")));
    assert!(kicked, "the old connection is told why it was closed: {:?}", all[0].disconnect_reason());
    server.run(&mut all, 20);
    assert!(all[1].is_connected() && all[1].mirror().tick().is_some(), "the new connection plays on");
    assert_eq!(server.net().connected(), 1);
}

#[test]
fn garbage_drops_only_the_sender_and_stale_inputs_are_ignored() {
    let mut server = Server::start(12, Tuning::default());
    let good = server.connect("good");
    let mut bad = server.connect("bad");
    let other_ship = my_ships(&good)[0].0;
    let own_ship = my_ships(&bad)[0].0;
    // In-order input, then a stale sequence number whose input would be refused if applied.
    let send = |c: &mut GameClient, seq: u32, ship: u64| {
        let p =
            IntentPacket { seq, ack_tick: 0, inputs: vec![PilotInput { ship, thrust: 0.5, turn: 0.0, fire: false }] };
        c.send_raw(channel::INTENTS, wire::encode(&p).expect("encodes"));
    };
    send(&mut bad, 1000, own_ship);
    let mut clients = [good, bad];
    server.run(&mut clients, 10);
    send(&mut clients[1], 999, other_ship); // stale: ignored
    send(&mut clients[1], 1000, other_ship); // duplicate: ignored
    server.run(&mut clients, 20);
    let msgs = drain(&mut clients[1]);
    assert!(
        !msgs.iter().any(|m| matches!(m, ServerMessage::InputRejected { .. })),
        "stale inputs are not applied: {msgs:?}"
    );
    send(&mut clients[1], 1001, other_ship); // new, but not the player's ship: rejected
    let mut rejected = None;
    server.step_until(&mut clients, 200, |cs| {
        for m in drain(&mut cs[1]) {
            if let ServerMessage::InputRejected { seq, reason } = m {
                rejected = Some((seq, reason));
            }
        }
        rejected.is_some()
    });
    let (seq, reason) = rejected.expect("an input for another player's ship is rejected");
    assert_eq!(seq, 1001);
    assert!(reason.contains("not yours") || reason.contains("own"), "{reason}");
    // Oversized: a 2,000-byte intent message (renet reassembles it; the server refuses it).
    let mut big = server.connect("big");
    big.send_raw(channel::INTENTS, vec![0; 2000]);
    let mut trio = [big];
    let dropped = server.step_until(&mut trio, 300, |cs| !cs[0].is_connected() || cs[0].update().is_err());
    assert!(dropped, "a client sending an oversized message is disconnected");
    let metrics = server.net.metrics.render();
    assert!(metrics.contains("starforge_invalid_packets_total{reason=\"oversized\"} 1"), "counted");
    // Garbage: the sender is dropped and counted; the other client plays on.
    let snaps_before = clients[0].stats().snapshots;
    clients[1].send_raw(channel::INTENTS, vec![0xff; 40]);
    let dropped = server.step_until(&mut clients, 300, |cs| !cs[1].is_connected() || cs[1].update().is_err());
    assert!(dropped, "a client sending garbage is disconnected");
    server.run(&mut clients, 30);
    assert!(clients[0].stats().snapshots > snaps_before + 10, "the other client is unaffected");
    assert_eq!(server.net().connected(), 1);
    let metrics = server.net.metrics.render();
    assert!(metrics.contains("starforge_invalid_packets_total{reason=\"malformed\"} 1"), "counted");
    // Raw UDP junk at the game port changes nothing.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for n in [0usize, 1, 50, 1200, 1500] {
        let _ = sock.send_to(&vec![0x5a; n], server.net.udp);
    }
    server.run(&mut clients, 20);
    assert!(clients[0].is_connected() && server.net().connected() == 1);
}

#[test]
fn a_silent_client_times_out_and_its_session_is_dropped() {
    let mut tuning = Tuning::default();
    tuning.network.client_timeout_s = 2;
    let mut server = Server::start(12, tuning);
    let mut quiet = server.connect("quiet");
    let chatty = server.connect("chatty");
    let mut clients = [chatty];
    assert_eq!(server.net().connected(), 2);
    // The quiet client stops sending anything (a crashed game, a pulled cable).
    let mut dropped = false;
    for _ in 0..3000 {
        server.step();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let _ = clients[0].update();
        if server.net().connected() == 1 {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the silent client timed out");
    assert!(clients[0].is_connected(), "the other client stays connected");
    // The quiet client learns it on its next updates: from the server's disconnect packet or,
    // if that is lost or not yet there, from its own timeout (bounded: a hang guard).
    let mut noticed = false;
    for _ in 0..3000 {
        if quiet.update().is_err() || !quiet.is_connected() {
            noticed = true;
            break;
        }
        server.step();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(noticed, "the quiet client finds itself disconnected");
}

#[test]
fn expired_forged_and_other_version_tokens_never_connect() {
    use renet_netcode::ConnectToken;
    use starforge_shared::PROTOCOL_VERSION;
    use starforge_shared::client::LoginReply;
    use starforge_shared::protocol::protocol_id;
    let mut tuning = Tuning::default();
    tuning.network.client_timeout_s = 2;
    let mut server = Server::start(12, tuning);
    let reply = server.login("target", "test-password").expect("login");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let token = |created: std::time::Duration, protocol: u64, key: [u8; 32]| {
        let t = ConnectToken::generate(created, protocol, 300, reply.player_id, 2, vec![server.net.udp], None, &key)
            .expect("token");
        let mut bytes = Vec::new();
        t.write(&mut bytes).expect("write");
        LoginReply { connect_token: bytes, ..reply.clone() }
    };
    let hour_ago = now - std::time::Duration::from_secs(3600);
    let cases = [
        ("expired", token(hour_ago, protocol_id(PROTOCOL_VERSION), starforge_tests::net::test_key())),
        ("forged", token(now, protocol_id(PROTOCOL_VERSION), [7; 32])),
        ("other version", token(now, protocol_id(PROTOCOL_VERSION + 1), starforge_tests::net::test_key())),
    ];
    for (what, reply) in cases {
        let Ok(mut c) = GameClient::connect(&reply) else { continue }; // refused at once: fine
        let mut ever_connected = false;
        let mut ended = false;
        for _ in 0..2500 {
            server.step();
            std::thread::sleep(std::time::Duration::from_millis(2));
            ever_connected |= c.is_connected();
            if c.update().is_err() {
                ended = true;
                break;
            }
        }
        assert!(!ever_connected, "a {what} token never connects");
        assert!(ended, "the client with a {what} token gives up: {:?}", c.disconnect_reason());
        assert_eq!(server.net().connected(), 0, "no session for a {what} token");
    }
    // The genuine token still works afterwards.
    let ok = GameClient::connect(&reply).expect("connect");
    let mut one = [ok];
    assert!(server.step_until(&mut one, 500, |cs| cs[0].mirror().tick().is_some()), "the real token connects");
    server.run(&mut one, 5);
    assert!(one[0].is_connected(), "{:?}", one[0].disconnect_reason());
    assert_eq!(server.net().connected(), 1);
}

#[test]
fn an_operator_kicks_a_player_through_the_admin_api() {
    use starforge_shared::http::request;
    let mut server = Server::start(12, Tuning::default());
    let victim = server.connect("rowdy");
    let bystander = server.connect("calm");
    let body = format!(r#"{{"player_id": {}, "reason": "spamming the exchange"}}"#, victim.player_id());
    let addr = server.net.http.addr;
    let call = std::thread::spawn(move || {
        let auth = format!("Bearer {}", starforge_tests::net::TEST_ADMIN_TOKEN);
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        request(addr, "POST", "/v1/admin/kick", &headers, Some(body.as_bytes()), std::time::Duration::from_secs(10))
    });
    let mut clients = [victim, bystander];
    let kicked = server.step_until(&mut clients, 500, |cs| {
        cs[0].disconnect_reason().is_some_and(|r| r.contains("spamming the exchange"))
    });
    let answer = call.join().expect("thread").expect("HTTP answer");
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert!(kicked, "the player is told why: {:?}", clients[0].disconnect_reason());
    server.run(&mut clients, 20);
    assert_eq!(server.net().connected(), 1, "only the kicked player is gone");
    assert!(clients[1].is_connected());
}

#[test]
fn a_flood_of_pilot_inputs_is_acknowledged_but_capped_per_tick() {
    let mut server = Server::start(12, Tuning::default());
    let mut c = server.connect("flooder");
    let ship = my_ships(&c)[0].0;
    let limit = server.app.world().resource::<Tuning>().network.inputs_per_tick;
    // 20 packets of 8 new inputs each, all arriving within one frame.
    for k in 0..20u32 {
        let seq = 100 + 8 * (k + 1);
        let inputs = vec![PilotInput { ship, thrust: 1.0, turn: 0.0, fire: false }; 8];
        c.send_raw(channel::INTENTS, wire::encode(&IntentPacket { seq, ack_tick: 0, inputs }).expect("encodes"));
    }
    let _ = c.update(); // flush
    let mut clients = [c];
    let acked = server.step_until(&mut clients, 300, |cs| cs[0].mirror().last_input_seq() >= 260);
    assert!(acked, "every input is acknowledged: {}", clients[0].mirror().last_input_seq());
    let text = server.net.metrics.render();
    let dropped =
        starforge_server::metrics::parse_metric(&text, "starforge_invalid_packets_total{reason=\"excess_inputs\"}")
            .expect("metric");
    assert!(dropped >= f64::from(160 - 2 * limit), "most of the flood was dropped: {dropped}");
    assert!(clients[0].is_connected(), "flooding is not a protocol violation");
}

#[test]
fn a_token_from_an_older_login_cannot_connect_after_a_newer_login() {
    let mut server = Server::start(12, Tuning::default());
    let older = server.login("twice", "test-password").expect("first login");
    let newer = server.login("twice", "test-password").expect("second login");
    assert_eq!(older.player_id, newer.player_id);
    let mut clients = [GameClient::connect(&older).expect("connect")];
    let mut ever = false;
    for _ in 0..600 {
        server.step();
        std::thread::sleep(std::time::Duration::from_millis(1));
        let _ = clients[0].update();
        ever |= clients[0].mirror().tick().is_some();
    }
    assert!(!ever && server.net().connected() == 0, "the older login's token is refused");
    let mut fresh = [GameClient::connect(&newer).expect("connect")];
    assert!(server.step_until(&mut fresh, 500, |cs| cs[0].mirror().tick().is_some()), "the newer login connects");
}
