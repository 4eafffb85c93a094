//! `hostilebot`: N hostile clients in one process against a running Starforge server.
//!
//! Each client logs in over HTTP (`{prefix}{i}`; the first login creates the player), completes
//! the netcode handshake with renetcode's client over its own UDP socket, and runs a renet
//! client on it, so it acknowledges what the server sends and sends an empty intent packet at
//! 20 Hz like a real client. Once connected it sends `--rate` datagrams per second of
//! unauthenticated junk from its own address (`loadbot/hostile.rs`, `Junk`: random bytes, real
//! datagrams with a random prefix byte, truncated, extended or replayed, and the two 18-byte
//! packets that used to panic renetcode). Every 2.5–7.5 s it seals a renet packet that breaks
//! the protocol (`Bad`) with its session key; the server should drop it for that, and the client
//! then logs in again and reconnects.
//!
//! Every draw comes from a ChaCha stream per client, seeded from `--seed` and the client's
//! index: the sequence of kinds and bytes is the same on every run (the timing is not).
//! Progress goes to stderr every 10 s; the last stdout line is one JSON object:
//!
//! ```text
//! {"clients":N,"seconds":S,"rate":R,"elapsed_s":..,"junk_datagrams":n,"authenticated_bad":n,
//!  "reconnects":n,"login_failures":n,"connect_failures":n,"keep_alive_shaped":n,"drops":{..},
//!  "by_kind":{"random_bytes":n,..,"auth_slice":n,..}}
//! ```
//!
//! - `junk_datagrams`, `authenticated_bad`, `by_kind`: datagrams the socket accepted to send.
//! - `reconnects`: connections opened after a client's first one.
//! - `drops`: connections the server closed, under the last bad packet sent on them
//!   (`unexplained`: none was), `timeout` (netcode timed out) or `other`.
//! - `connect_failures`: handshakes not completed within 10 s (after a successful login).
//! - `keep_alive_shaped`: junk whose framing passes the server's datagram check as a keep-alive
//!   (`shared::ingress::check`); the server cannot always tell a refused keep-alive from an
//!   accepted one, and counts those it cannot as accepted.
//!
//! Exit status: 0 when the run completed, 2 on bad arguments.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use renet::RenetClient;
use renetcode::{ClientAuthentication, ConnectToken, DisconnectReason, NetcodeClient};
use serde::Serialize;
use starforge_shared::client::login;
use starforge_shared::ingress::check::check_datagram;
use starforge_shared::ingress::{Kind, Peer};
use starforge_shared::protocol::{channel, connection_config};

#[path = "../loadbot/hostile.rs"]
mod hostile;

use hostile::{Bad, Junk, below, intent};

/// Real datagrams a client keeps to mutate and replay (the newest).
const KEPT: usize = 64;
/// Period of a client's loop (netcode and renet are updated every pass).
const PERIOD: Duration = Duration::from_millis(2);
/// Interval of the client's real (empty) intent packets.
const INTENT_PERIOD: Duration = Duration::from_millis(50);
/// Longest handshake after a login.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Most junk datagrams sent in one pass after a stall.
const MAX_BURST: f64 = 32.0;
/// Renet packet sequences of the bad packets start here, far from renet's own.
const BAD_SEQUENCE: u64 = 1 << 24;

/// Sends hostile traffic from N authenticated clients to a running Starforge server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The server's HTTP base URL (login).
    #[arg(long, default_value = "http://127.0.0.1:7000")]
    server: String,
    /// Hostile clients.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    clients: u32,
    /// Length of the run, logins included (seconds).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    seconds: u32,
    /// Junk datagrams per second per client.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    rate: u32,
    /// Seed of the clients' random streams.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Usernames are `{prefix}{i}` (letters, digits, `_`, `-`).
    #[arg(long, default_value = "hostile")]
    prefix: String,
    /// Every client's password (8–128 bytes).
    #[arg(long, default_value = "hostilebot-password")]
    password: String,
}

/// Counters of one client, summed at the end (the JSON's fields after `elapsed_s`).
#[derive(Default, Serialize)]
struct Counts {
    junk_datagrams: u64,
    authenticated_bad: u64,
    reconnects: u64,
    login_failures: u64,
    connect_failures: u64,
    keep_alive_shaped: u64,
    drops: BTreeMap<&'static str, u64>,
    by_kind: BTreeMap<&'static str, u64>,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        for (k, v) in other.by_kind {
            *self.by_kind.entry(k).or_default() += v;
        }
        for (k, v) in other.drops {
            *self.drops.entry(k).or_default() += v;
        }
        self.junk_datagrams += other.junk_datagrams;
        self.authenticated_bad += other.authenticated_bad;
        self.reconnects += other.reconnects;
        self.login_failures += other.login_failures;
        self.connect_failures += other.connect_failures;
        self.keep_alive_shaped += other.keep_alive_shaped;
    }
}

/// Live totals for the progress line.
#[derive(Default)]
struct Progress {
    connected: AtomicU64,
    junk: AtomicU64,
    bad: AtomicU64,
    reconnects: AtomicU64,
}

/// The last stdout line.
#[derive(Serialize)]
struct Summary {
    clients: u32,
    seconds: u32,
    rate: u32,
    elapsed_s: f64,
    #[serde(flatten)]
    counts: Counts,
}

/// Why a connection could not be opened.
enum OpenError {
    Login(String),
    Connect(String),
}

/// One connection: netcode over the client's own socket, renet on top.
struct Conn {
    socket: UdpSocket,
    server: SocketAddr,
    netcode: NetcodeClient,
    renet: RenetClient,
    last: Instant,
    /// The newest real datagrams sent (a ring of [`KEPT`]).
    real: Vec<Vec<u8>>,
    kept: usize,
    buf: Vec<u8>,
}

impl Conn {
    /// Logs in and completes the handshake.
    fn open(args: &Args, user: &str) -> Result<Conn, OpenError> {
        let reply = login(&args.server, user, &args.password).map_err(|e| OpenError::Login(e.to_string()))?;
        let token = ConnectToken::read(&mut reply.connect_token.as_slice())
            .map_err(|e| OpenError::Login(format!("bad connect token: {e}")))?;
        let netcode = NetcodeClient::new(Duration::ZERO, ClientAuthentication::Secure { connect_token: token })
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        let any: IpAddr =
            if reply.udp_addr.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        let socket = UdpSocket::bind((any, 0)).map_err(|e| OpenError::Connect(format!("bind: {e}")))?;
        socket.set_nonblocking(true).map_err(|e| OpenError::Connect(e.to_string()))?;
        let mut conn = Conn {
            socket,
            server: reply.udp_addr,
            netcode,
            renet: RenetClient::new(connection_config()),
            last: Instant::now(),
            real: Vec::with_capacity(KEPT),
            kept: 0,
            buf: vec![0; 2048],
        };
        let start = Instant::now();
        while !conn.netcode.is_connected() {
            if let Some(reason) = conn.netcode.disconnect_reason() {
                return Err(OpenError::Connect(format!("{reason:?}")));
            }
            if start.elapsed() > HANDSHAKE {
                return Err(OpenError::Connect("handshake not completed in 10 s".into()));
            }
            conn.pump();
            std::thread::sleep(PERIOD);
        }
        Ok(conn)
    }

    /// Reads what arrived, advances netcode and renet, and sends what they want to send.
    fn pump(&mut self) {
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        while let Ok((n, from)) = self.socket.recv_from(&mut self.buf) {
            if from != self.server {
                continue;
            }
            if let Some(payload) = self.netcode.process_packet(&mut self.buf[..n]) {
                self.renet.process_packet(payload);
            }
        }
        while self.renet.receive_message(channel::SNAPSHOTS).is_some() {}
        while self.renet.receive_message(channel::EVENTS).is_some() {}
        self.renet.update(dt);
        if let Some((packet, to)) = self.netcode.update(dt) {
            let packet = packet.to_vec();
            let _ = self.socket.send_to(&packet, to);
            self.keep(packet);
        }
        if self.netcode.is_connected() {
            self.renet.set_connected();
            for payload in self.renet.get_packets_to_send() {
                self.seal(&payload, true);
            }
        }
    }

    /// Seals a renet packet with the session key and sends it (`keep`: as a real datagram to
    /// mutate later). Whether the socket took it.
    fn seal(&mut self, payload: &[u8], keep: bool) -> bool {
        let Ok((to, datagram)) = self.netcode.generate_payload_packet(payload) else { return false };
        let datagram = datagram.to_vec();
        let sent = self.socket.send_to(&datagram, to).is_ok();
        if keep {
            self.keep(datagram);
        }
        sent
    }

    fn keep(&mut self, datagram: Vec<u8>) {
        if self.real.len() < KEPT {
            self.real.push(datagram);
        } else {
            self.real[self.kept % KEPT] = datagram;
        }
        self.kept += 1;
    }

    /// Sends junk until `deadline` (`None`) or until the connection closes (`Some(why)`, a
    /// `drops` label).
    fn play(
        &mut self,
        rng: &mut ChaCha8Rng,
        rate: f64,
        deadline: Instant,
        counts: &mut Counts,
        progress: &Progress,
    ) -> Option<&'static str> {
        let mut last_bad: Option<Bad> = None;
        let (mut bad_sequence, mut intent_seq, mut credit) = (BAD_SEQUENCE, 0u32, 0.0f64);
        let mut last = Instant::now();
        let mut next_intent = last;
        let mut next_bad = last + bad_interval(rng);
        loop {
            self.pump();
            if let Some(reason) = self.netcode.disconnect_reason() {
                return Some(match reason {
                    DisconnectReason::DisconnectedByServer => last_bad.map_or("unexplained", Bad::label),
                    DisconnectReason::ConnectionTimedOut => "timeout",
                    _ => "other",
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            if now >= next_intent {
                intent_seq += 1;
                self.renet.send_message(channel::INTENTS, intent(intent_seq, Vec::new()));
                next_intent = now + INTENT_PERIOD;
            }
            credit = (credit + (now - last).as_secs_f64() * rate).min(MAX_BURST);
            last = now;
            while credit >= 1.0 {
                credit -= 1.0;
                let kind = Junk::pick(rng);
                let datagram = kind.build(rng, &self.real);
                if self.socket.send_to(&datagram, self.server).is_ok() {
                    *counts.by_kind.entry(kind.label()).or_default() += 1;
                    counts.junk_datagrams += 1;
                    counts.keep_alive_shaped +=
                        u64::from(check_datagram(&datagram, Peer::Connected) == Ok(Kind::KeepAlive));
                    progress.junk.fetch_add(1, Relaxed);
                }
            }
            if now >= next_bad {
                let kind = Bad::pick(rng);
                let packet = kind.build(rng, bad_sequence);
                bad_sequence += 1;
                if self.seal(&packet, false) {
                    *counts.by_kind.entry(kind.label()).or_default() += 1;
                    counts.authenticated_bad += 1;
                    progress.bad.fetch_add(1, Relaxed);
                    last_bad = Some(kind);
                }
                next_bad = now + bad_interval(rng);
            }
            std::thread::sleep(PERIOD);
        }
    }

    /// Tells the server the client is leaving.
    fn close(mut self) {
        if let Ok((to, packet)) = self.netcode.disconnect() {
            let _ = self.socket.send_to(packet, to);
        }
    }
}

/// Time to the next bad packet: 2.5 to 7.5 s (5 s on average).
fn bad_interval(rng: &mut ChaCha8Rng) -> Duration {
    Duration::from_millis(2500 + below(rng, 5001) as u64)
}

/// One client: connects, plays, reconnects after every drop, until `deadline`.
fn client_thread(args: &Args, idx: u32, deadline: Instant, progress: &Progress) -> Counts {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ (u64::from(idx) << 32));
    let user = format!("{}{idx}", args.prefix);
    let mut counts = Counts::default();
    let mut opened = 0u64;
    while Instant::now() < deadline {
        let mut conn = match Conn::open(args, &user) {
            Ok(conn) => conn,
            Err(e) => {
                let (what, message) = match e {
                    OpenError::Login(m) => (&mut counts.login_failures, format!("login failed: {m}")),
                    OpenError::Connect(m) => (&mut counts.connect_failures, format!("connect failed: {m}")),
                };
                *what += 1;
                eprintln!("hostilebot: {user}: {message}");
                std::thread::sleep(Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now())));
                continue;
            }
        };
        if opened == 0 {
            progress.connected.fetch_add(1, Relaxed);
        } else {
            counts.reconnects += 1;
            progress.reconnects.fetch_add(1, Relaxed);
        }
        opened += 1;
        match conn.play(&mut rng, f64::from(args.rate), deadline, &mut counts, progress) {
            Some(why) => *counts.drops.entry(why).or_default() += 1,
            None => conn.close(),
        }
    }
    counts
}

fn main() -> ExitCode {
    let args = Args::parse();
    let longest = format!("{}{}", args.prefix, args.clients - 1);
    let prefix_ok = args.prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !prefix_ok || !(3..=32).contains(&longest.len()) || !(8..=128).contains(&args.password.len()) {
        Args::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                "usernames `{prefix}{i}` must be 3 to 32 of A-Z a-z 0-9 _ -; the password 8 to 128 bytes",
            )
            .exit();
    }
    eprintln!(
        "hostilebot: {} clients against {}, {} s, {} junk datagrams/s each, seed {}",
        args.clients, args.server, args.seconds, args.rate, args.seed
    );
    let args = Arc::new(args);
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(u64::from(args.seconds));
    let threads: Vec<_> = (0..args.clients)
        .map(|idx| {
            let (args, progress) = (Arc::clone(&args), Arc::clone(&progress));
            std::thread::Builder::new()
                .name(format!("hostile-{idx}"))
                .spawn(move || client_thread(&args, idx, deadline, &progress))
                .expect("spawn a client thread")
        })
        .collect();
    let mut next_line = start + Duration::from_secs(10);
    while !threads.iter().all(|t| t.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
        if Instant::now() >= next_line {
            next_line += Duration::from_secs(10);
            eprintln!(
                "hostilebot: {:>4.0} s: {}/{} clients connected once, {} junk, {} bad, {} reconnects",
                start.elapsed().as_secs_f64(),
                progress.connected.load(Relaxed),
                args.clients,
                progress.junk.load(Relaxed),
                progress.bad.load(Relaxed),
                progress.reconnects.load(Relaxed)
            );
        }
    }
    let mut total = Counts::default();
    for t in threads {
        match t.join() {
            Ok(counts) => total.add(counts),
            Err(_) => eprintln!("hostilebot: a client thread panicked"),
        }
    }
    let summary = Summary {
        clients: args.clients,
        seconds: args.seconds,
        rate: args.rate,
        elapsed_s: (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        counts: total,
    };
    println!("{}", serde_json::to_string(&summary).expect("the summary serializes"));
    ExitCode::SUCCESS
}
