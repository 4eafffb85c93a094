//! The galactic exchange: matching, settlement, expiry and tickers (placeholder until the
//! market plugin lands).

use bevy_app::prelude::*;

/// Order matching, settlement, expiry and tickers in [`crate::SimSystems::Market`].
pub struct MarketPlugin;

impl Plugin for MarketPlugin {
    fn build(&self, _app: &mut App) {}
}
