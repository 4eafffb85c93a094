//! Snapshot codec tests: round trips over a living world, sizes, exact costs, garbage.

use super::*;

/// xorshift64*: a tiny deterministic generator for property tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn signed(&mut self, n: i64) -> i64 {
        self.below(2 * n as u64 + 1) as i64 - n
    }
}

fn ship(rng: &mut Rng) -> ShipState {
    ShipState {
        class: rng.below(5) as u8,
        owner: rng.below(5000),
        fleet: rng.below(50_000),
        system: rng.below(200) as u32,
        transit_to: if rng.below(10) == 0 { Some(rng.below(200) as u32) } else { None },
        x: rng.signed(160_000),
        y: rng.signed(160_000),
        vx: rng.signed(120),
        vy: rng.signed(120),
        heading: rng.below(1024) as u16,
        hull: rng.below(256) as u8,
    }
}

fn random_state(rng: &mut Rng) -> EntityState {
    match rng.below(6) {
        0 => EntityState::Colony(ColonyState {
            owner: rng.below(100),
            system: rng.below(200) as u32,
            planet: rng.below(6) as u32,
            population: rng.below(1_000_000),
        }),
        1 => EntityState::Empire(EmpireState {
            credits: rng.signed(1 << 50),
            stock: [rng.signed(1 << 30), rng.signed(1 << 30), 0, rng.signed(5)],
        }),
        _ => EntityState::Ship(ship(rng)),
    }
}

/// Moves, changes, removes and adds entities of `prev` like a living world would.
fn evolve(rng: &mut Rng, prev: &[(u64, EntityState)]) -> Vec<(u64, EntityState)> {
    let mut next: Vec<(u64, EntityState)> = Vec::new();
    for &(id, state) in prev {
        match rng.below(20) {
            0 => continue, // leaves
            1 => next.push((id, random_state(rng))),
            _ => {
                let mut s = state;
                if let EntityState::Ship(sh) = &mut s {
                    sh.x += sh.vx + rng.signed(1);
                    sh.y += sh.vy + rng.signed(1);
                    if rng.below(4) == 0 {
                        sh.vx += rng.signed(3);
                        sh.heading = rng.below(1024) as u16;
                    }
                }
                next.push((id, s));
            }
        }
    }
    for _ in 0..rng.below(5) {
        let id = rng.below(100_000);
        if !next.iter().any(|e| e.0 == id) {
            next.push((id, random_state(rng)));
        }
    }
    next.sort_unstable_by_key(|e| e.0);
    next
}

fn states(records: &[Record]) -> Vec<(u64, EntityState)> {
    records.iter().map(|r| (r.id, r.state)).collect()
}

#[test]
fn deltas_round_trip_over_a_living_world() {
    let mut rng = Rng(0x5eed);
    let mut truth: Vec<(u64, EntityState)> = (0..200).map(|i| (i * 37 + 1, random_state(&mut rng))).collect();
    let mut client_base: Vec<Record> = Vec::new();
    let mut base_tick = None;
    for tick in 1..300u32 {
        truth = evolve(&mut rng, &truth);
        let header = Header { tick, baseline: base_tick, last_input_seq: tick * 3 };
        let (bytes, server_view) = encode(&header, &client_base, &truth);
        let (h, decoded) = decode(&bytes, &client_base).expect("decodes");
        assert_eq!(h, header);
        assert_eq!(decoded, server_view, "client and server agree on the snapshot at tick {tick}");
        assert_eq!(states(&decoded), truth, "the snapshot holds the truth at tick {tick}");
        // Sometimes the client's ack is lost: the next delta is against an older baseline.
        if rng.below(3) != 0 {
            client_base = decoded;
            base_tick = Some(tick);
        }
    }
}

#[test]
fn unchanged_entities_cost_one_bit_and_cruising_ships_about_two_bytes() {
    let mut rng = Rng(7);
    let mut ships: Vec<(u64, EntityState)> = (0..100)
        .map(|i| {
            let mut s = ship(&mut rng);
            s.transit_to = None;
            (i * 1000 + 5, EntityState::Ship(s))
        })
        .collect();
    let (_, base) = encode(&Header { tick: 10, baseline: None, last_input_seq: 0 }, &[], &ships);
    let h = Header { tick: 10, baseline: Some(10), last_input_seq: 0 };
    let (same, _) = encode(&Header { tick: 11, ..h }, &base, &ships);
    // Header (32 + 5 + 5 bits), 100 "unchanged" bits, an empty entering list (5 bits).
    assert_eq!(same.len(), (32 + 5 + 5 + 100 + 5usize).div_ceil(8));
    // Every ship cruises on for 2 ticks: updates are "changed" + mask + two small residuals.
    for (_, s) in &mut ships {
        if let EntityState::Ship(sh) = s {
            sh.x += 2 * sh.vx;
            sh.y += 2 * sh.vy;
        }
    }
    let (bytes, _) = encode(&Header { tick: 12, ..h }, &base, &ships);
    let per_ship = (bytes.len() as f64 - 6.0) / 100.0;
    // 2 flag bits + 5 mask bits + 2 × 5-bit zero residuals = 17 bits.
    assert!((2.0..=2.2).contains(&per_ship), "{per_ship} bytes per cruising ship");
}

#[test]
fn cost_estimates_match_the_encoder() {
    let mut rng = Rng(99);
    let truth: Vec<(u64, EntityState)> = (0..50).map(|i| (i * 3 + 1, random_state(&mut rng))).collect();
    let h0 = Header { tick: 5, baseline: None, last_input_seq: 1 };
    let (bytes, base) = encode(&h0, &[], &truth);
    let bound: u32 = header_bits(&h0) + small_bits(50) + truth.iter().map(|(id, s)| enter_bits(*id, s)).sum::<u32>();
    assert!(bytes.len() * 8 <= bound as usize + 7, "entering cost is an upper bound");
    // Same ids and kinds as the baseline (a kind change is costed as removal + entry, an upper bound).
    let same_kind = |id: u64, s: &EntityState| {
        base.iter().any(|b| b.id == id && std::mem::discriminant(&b.state) == std::mem::discriminant(s))
    };
    let next = evolve(&mut rng, &truth).into_iter().filter(|(id, s)| same_kind(*id, s)).collect::<Vec<_>>();
    let h1 = Header { tick: 8, baseline: Some(5), last_input_seq: 1 };
    let (bytes, _) = encode(&h1, &base, &next);
    let mut exact = header_bits(&h1) + small_bits(0);
    for b in &base {
        exact += match next.iter().find(|e| e.0 == b.id) {
            None => 2,
            Some((_, s)) if *s == b.state => 1,
            Some((_, s)) => 1 + update_bits(b, s, 8),
        };
    }
    assert_eq!(bytes.len(), (exact as usize).div_ceil(8), "update costs are exact");
}

#[test]
fn garbage_never_panics_and_is_refused() {
    let mut rng = Rng(3);
    let truth: Vec<(u64, EntityState)> = (0..20).map(|i| (i + 1, random_state(&mut rng))).collect();
    let (bytes, base) = encode(&Header { tick: 1, baseline: None, last_input_seq: 0 }, &[], &truth);
    for _ in 0..5000 {
        let mut b = bytes.clone();
        let n = rng.below(4) + 1;
        for _ in 0..n {
            let i = rng.below(b.len() as u64) as usize;
            b[i] ^= 1 << rng.below(8);
        }
        b.truncate(rng.below(b.len() as u64 + 1) as usize);
        let _ = decode(&b, &[]);
        let _ = decode(&b, &base);
    }
    for len in 0..64 {
        let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = decode(&junk, &base);
    }
    assert!(decode(&[], &[]).is_err());
    assert!(decode(&bytes, &base).is_err(), "a full snapshot does not decode against a baseline");
    let mut long = bytes.clone();
    long.extend_from_slice(&[0, 0]);
    assert!(matches!(decode(&long, &[]), Err(SnapshotError::Invalid("trailing bytes"))));
}

#[test]
fn quantization_is_within_half_a_step() {
    let s = ShipState::quantize(1, 2, 7, 3, None, [1234.56, -77.7], [150.0, -20.0], 1.0, 0.5, 20);
    let [x, y] = s.pos();
    assert!((x - 1234.56).abs() <= POS_STEP / 2.0 && (y + 77.7).abs() <= POS_STEP / 2.0);
    let [vx, vy] = s.vel(20);
    assert!((vx - 150.0).abs() <= POS_STEP * 20.0 / 2.0 && (vy + 20.0).abs() <= POS_STEP * 20.0 / 2.0);
    assert!((s.heading_rad() - 1.0).abs() < 0.004);
    assert!((s.hull_fraction() - 0.5).abs() < 0.002);
    let nan = ShipState::quantize(0, 0, 0, 0, None, [f32::NAN, f32::INFINITY], [0.0; 2], f32::NAN, 2.0, 20);
    assert_eq!((nan.x, nan.y, nan.hull), (0, 0, 255), "non-finite input is clamped, not a panic");
}

#[test]
fn worked_examples_match_the_protocol_document() {
    // docs/PROTOCOL.md §7.7, worked example: ship 7 (Corvette, empire 42, fleet 6, system 3).
    let ship = ShipState {
        class: 1,
        owner: 42,
        fleet: 6,
        system: 3,
        transit_to: None,
        x: 800,
        y: -16,
        vx: 4,
        vy: 0,
        heading: 512,
        hull: 255,
    };
    // Snapshot A: full, tick 100, last_input_seq 0 (134 bits).
    let ha = Header { tick: 100, baseline: None, last_input_seq: 0 };
    let (a, view_a) = encode(&ha, &[], &[(7, EntityState::Ship(ship))]);
    let doc_a: Vec<u8> =
        vec![0x64, 0x00, 0x00, 0x00, 0x00, 0x10, 0x4e, 0x52, 0x61, 0x46, 0x20, 0xa3, 0x4f, 0x08, 0x00, 0xe0, 0x3f];
    assert_eq!(a, doc_a, "§7.7 snapshot A");
    assert_eq!(decode(&doc_a, &[]).expect("A decodes"), (ha, view_a.clone()));
    // Snapshot B: delta against 100, tick 105, last_input_seq 3; the ship is at (821, -18).
    let moved = ShipState { x: 821, y: -18, ..ship };
    let hb = Header { tick: 105, baseline: Some(100), last_input_seq: 3 };
    let (b, view_b) = encode(&hb, &view_a, &[(7, EntityState::Ship(moved))]);
    let doc_b: Vec<u8> = vec![0x69, 0x00, 0x00, 0x00, 0x94, 0x15, 0x10, 0x03];
    assert_eq!(b, doc_b, "§7.7 snapshot B");
    assert_eq!(decode(&doc_b, &view_a).expect("B decodes"), (hb, view_b.clone()));
    assert_eq!(view_b, vec![Record { id: 7, tick: 105, state: EntityState::Ship(moved) }]);
    // Snapshot C: delta against 105, tick 106; ship 7 unchanged, empire 42 enters.
    let empire = EmpireState { credits: 50_000_000, stock: [5_000_000, 0, -1, 1] };
    let hc = Header { tick: 106, baseline: Some(105), last_input_seq: 3 };
    let (c, view_c) = encode(&hc, &view_b, &[(7, EntityState::Ship(moved)), (42, EntityState::Empire(empire))]);
    let doc_c: Vec<u8> = vec![
        0x6a, 0x00, 0x00, 0x00, 0x84, 0x21, 0xa9, 0x1c, 0x20, 0xbc, 0xbe, 0x00, 0x00, 0x00, 0x00, 0x60, 0x40, 0x4b,
        0x4c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x10,
    ];
    assert_eq!(c, doc_c, "§7.7 snapshot C");
    assert_eq!(decode(&doc_c, &view_b).expect("C decodes"), (hc, view_c.clone()));
    assert_eq!(view_c[0], Record { id: 7, tick: 105, state: EntityState::Ship(moved) }, "ship 7 keeps tick 105");
    // Snapshot D: delta against 106, tick 109, last_input_seq 5 (111 bits). The ship accelerated
    // to (7, -3) and is at (845, -26): predicted from its record tick 105 (dt 4) with the new
    // velocity, (821 + 16 + 7, -18 + 0 - 8) = (844, -26), so the residual is (+1, 0). The empire
    // update carries credits +1250, stock[1] +40 and stock[3] -1 under the mask 21.
    let accelerated = ShipState { x: 845, y: -26, vx: 7, vy: -3, ..moved };
    let earned = EmpireState { credits: 50_001_250, stock: [5_000_000, 40, -1, 0] };
    let hd = Header { tick: 109, baseline: Some(106), last_input_seq: 5 };
    let (d, view_d) = encode(&hd, &view_c, &[(7, EntityState::Ship(accelerated)), (42, EntityState::Empire(earned))]);
    let doc_d: Vec<u8> = vec![0x6d, 0x00, 0x00, 0x00, 0x8c, 0x36, 0x30, 0x45, 0xa0, 0x2a, 0x71, 0x12, 0x94, 0x00];
    assert_eq!(d, doc_d, "§7.7 snapshot D");
    assert_eq!(decode(&doc_d, &view_c).expect("D decodes"), (hd, view_d.clone()));
    assert_eq!(
        view_d,
        vec![
            Record { id: 7, tick: 109, state: EntityState::Ship(accelerated) },
            Record { id: 42, tick: 109, state: EntityState::Empire(earned) },
        ]
    );
    let update = update_bits(&view_c[0], &EntityState::Ship(accelerated), 109);
    assert_eq!(update, 1 + 5 + 4 * 5, "velocity and position residuals of 5 bits each");
    let update = update_bits(&view_c[1], &EntityState::Empire(earned), 109);
    assert_eq!(update, 1 + 5 + 16 + 9 + 5, "mask, then three differences (classes 2, 1 and 0)");
}

#[test]
fn a_long_session_keeps_a_small_header() {
    // After ~14 minutes at 20 inputs/s the input sequence passes 16,384: 34 bits, not 66.
    let h = Header { tick: 3_000_000_000, baseline: Some(2_999_999_998), last_input_seq: 4_000_000_000 };
    assert_eq!(header_bits(&h), 32 + 5 + 34);
    let (bytes, _) = encode(&h, &[], &[]);
    let h = Header { baseline: None, ..h };
    let (full, _) = encode(&h, &[], &[]);
    assert_eq!(decode(&full, &[]).expect("decodes").0, h);
    assert!(bytes.len() <= 10, "{} bytes", bytes.len());
}

#[test]
fn an_accelerating_ship_costs_little_because_the_prediction_uses_its_new_velocity() {
    // Integrate like the simulation: velocity first, then position += velocity, per tick.
    let mut s = ShipState {
        class: 1,
        owner: 3,
        fleet: 4,
        system: 0,
        transit_to: None,
        x: 1000,
        y: -500,
        vx: 10,
        vy: 0,
        heading: 0,
        hull: 255,
    };
    let (_, base) = encode(&Header { tick: 100, baseline: None, last_input_seq: 0 }, &[], &[(9, EntityState::Ship(s))]);
    for _ in 0..3 {
        s.vx += 3;
        s.vy -= 2;
        s.x += s.vx;
        s.y += s.vy;
    }
    let h = Header { tick: 103, baseline: Some(100), last_input_seq: 0 };
    let update = update_bits(&base[0], &EntityState::Ship(s), 103);
    // 1 "removed?" bit + 5 mask + velocity residuals 9 and −6 (9 bits each) + a position residual
    // of exactly 0 (5 bits per axis; plain dead reckoning would be off by 18 and −12 units).
    assert_eq!(update, 1 + 5 + 9 + 9 + 5 + 5, "steady acceleration is predicted exactly");
    let (bytes, view) = encode(&h, &base, &[(9, EntityState::Ship(s))]);
    assert_eq!(decode(&bytes, &base).expect("decodes").1, view);
}
