//! Derived data for external consumers, in Redis: the market ticker published every tick on
//! `{prefix}market:ticker` (one JSON object per tick) and the leaderboard `{prefix}leaderboard:power`
//! (a sorted set of empire id → power) refreshed every flush interval.
//!
//! The simulation only hands messages to a bounded queue (`try_send`); a task on the storage
//! runtime talks to Redis. A full queue or a Redis failure drops the message and counts it:
//! this data is derived and can be rebuilt any time, so it never slows or stops the game.
//!
//! Power of an empire = Σ over ship classes of (ships of the class × the class's `threat`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::IntoScheduleConfigs;
use starforge_components::prelude::*;
use starforge_persistence::RedisCache;
use starforge_systems::SimSystems;
use tokio::sync::mpsc;
use tracing::warn;

/// A message for the Redis task.
#[derive(Debug)]
enum FeedMessage {
    Ticker(String),
    Leaderboard(Vec<(u64, f64)>),
}

/// The simulation's end of the Redis feed.
#[derive(Resource)]
pub struct RedisFeed {
    tx: mpsc::Sender<FeedMessage>,
    /// Messages dropped (queue full or Redis failing).
    pub dropped: Arc<AtomicU64>,
}

/// Adds the feed when Redis is configured (nothing otherwise).
pub fn add_redis_feed(app: &mut App, storage: &crate::storage::Storage) {
    let Some(cache) = storage.cache.clone() else { return };
    let (tx, rx) = mpsc::channel(64);
    let dropped = Arc::new(AtomicU64::new(0));
    storage.runtime.spawn(run(cache, rx, dropped.clone()));
    app.insert_resource(RedisFeed { tx, dropped }).add_systems(FixedUpdate, publish.after(SimSystems::Bookkeeping));
}

async fn run(cache: RedisCache, mut rx: mpsc::Receiver<FeedMessage>, dropped: Arc<AtomicU64>) {
    let mut failures = 0u64;
    while let Some(msg) = rx.recv().await {
        let result = match &msg {
            FeedMessage::Ticker(json) => cache.publish_ticker(json).await.map(drop),
            FeedMessage::Leaderboard(entries) => cache.update_leaderboard(entries).await,
        };
        if let Err(e) = result {
            dropped.fetch_add(1, Relaxed);
            failures += 1;
            if failures == 1 || failures.is_power_of_two() {
                warn!("Redis feed (ticker/leaderboard) failed {failures} times so far: {e}");
            }
        }
    }
}

/// The ticker as JSON: `{"tick":T,"resources":[{"resource":"minerals","last":..,"best_bid":..,"best_ask":..,"volume":..}]}`
/// (prices in milli-credits, volume in units over the ticker window; absent values are null).
pub fn ticker_json(tick: u64, market: &Market) -> String {
    let resources: Vec<serde_json::Value> = ResourceKind::TRADED
        .iter()
        .filter_map(|&r| market.ticker(r).map(|t| (r, t)))
        .map(|(r, t)| {
            serde_json::json!({
                "resource": format!("{r:?}").to_lowercase(),
                "last": t.last,
                "best_bid": t.best_bid,
                "best_ask": t.best_ask,
                "volume": t.volume,
            })
        })
        .collect();
    serde_json::json!({ "tick": tick, "resources": resources }).to_string()
}

/// Empire power (see the module docs).
pub fn power(census: &ShipCensus, tuning: &Tuning) -> f64 {
    ShipClass::ALL.iter().map(|&c| f64::from(census.0[c.index()]) * f64::from(tuning.class(c).threat)).sum()
}

fn publish(
    feed: Res<RedisFeed>,
    tick: Res<SimTick>,
    market: Res<Market>,
    tuning: Res<Tuning>,
    empires: Query<(&EntityId, &ShipCensus)>,
) {
    if feed.tx.try_send(FeedMessage::Ticker(ticker_json(tick.0, &market))).is_err() {
        feed.dropped.fetch_add(1, Relaxed);
    }
    if tick.0.is_multiple_of(tuning.world.flush_interval_ticks()) {
        let mut entries: Vec<(u64, f64)> = empires.iter().map(|(id, c)| (id.0, power(c, &tuning))).collect();
        entries.sort_unstable_by_key(|e| e.0);
        if feed.tx.try_send(FeedMessage::Leaderboard(entries)).is_err() {
            feed.dropped.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticker_json_names_every_traded_resource() {
        let json: serde_json::Value = serde_json::from_str(&ticker_json(7, &Market::default())).expect("valid JSON");
        assert_eq!(json["tick"], 7);
        assert_eq!(json["resources"].as_array().map(Vec::len), Some(ResourceKind::TRADED.len()));
        assert!(json["resources"][0]["last"].is_null(), "no trade yet: {json}");
    }

    #[test]
    fn power_weights_ships_by_threat() {
        let tuning = Tuning::default();
        let mut census = ShipCensus::default();
        assert_eq!(power(&census, &tuning), 0.0);
        census.0[ShipClass::Corvette.index()] = 2;
        assert_eq!(power(&census, &tuning), 2.0 * f64::from(tuning.class(ShipClass::Corvette).threat));
    }
}
