//! Conversions between designer units (f64 whole units) and the simulation's milli-units.

use starforge_components::prelude::*;
use starforge_components::tuning::Cost;

/// Whole units (as designers write them) to milli-units, rounded.
pub fn to_milli(units: f64) -> i64 {
    (units * MILLI as f64).round() as i64
}

/// A cost scaled by `times`, as (credits, resources) in milli-units.
pub fn cost_milli(cost: &Cost, times: f64) -> (i64, ResourceAmounts) {
    let mut r = ResourceAmounts::default();
    *r.get_mut(ResourceKind::Energy) = to_milli(cost.energy * times);
    *r.get_mut(ResourceKind::Minerals) = to_milli(cost.minerals * times);
    *r.get_mut(ResourceKind::RareElements) = to_milli(cost.rare_elements * times);
    (to_milli(cost.credits * times), r)
}

/// Checks that `credits` and `stock` cover the cost, naming what is short.
pub fn check_affordable(
    credits: i64,
    stock: &ResourceAmounts,
    cost_credits: i64,
    cost: &ResourceAmounts,
) -> Result<(), RejectReason> {
    if credits < cost_credits {
        return Err(RejectReason::CannotAfford { what: "credits", needed: cost_credits, available: credits });
    }
    for (r, what) in [
        (ResourceKind::Energy, "energy"),
        (ResourceKind::Minerals, "minerals"),
        (ResourceKind::RareElements, "rare elements"),
        (ResourceKind::Population, "population"),
    ] {
        if stock.get(r) < cost.get(r) {
            return Err(RejectReason::CannotAfford { what, needed: cost.get(r), available: stock.get(r) });
        }
    }
    Ok(())
}

/// Records spending `credits` and `res` (milli) as destroyed in the ledger.
pub fn record_destroyed(ledger: &mut Ledger, credits: i64, res: &ResourceAmounts) {
    add_to(&mut ledger.destroyed, credits, res);
}

/// Records creating `credits` and `res` (milli) in the ledger.
pub fn record_created(ledger: &mut Ledger, credits: i64, res: &ResourceAmounts) {
    add_to(&mut ledger.created, credits, res);
}

fn add_to(column: &mut [i64; 5], credits: i64, res: &ResourceAmounts) {
    column[Ledger::CREDITS] += credits;
    for r in ResourceKind::ALL {
        column[Ledger::resource(r)] += res.get(r);
    }
}
