//! Severity: how rare the image is plus how far past the thresholds it
//! went, on one scale.
//!
//! Points: 3 for an image never seen, 2 for one first seen within the
//! "unseen" span, 1.5 for a known image on at most one host, 1 for another
//! uncommon one, 0.5 otherwise (a known, common image only reaches a rule
//! as a custom Linux binary); plus log2 of the excess over the threshold
//! (capped at 4: 16x); plus 0.5 when the image is a custom Linux binary;
//! plus 1 when its connections to the destination are regular as a
//! beacon's.
//! Below 2 is low, below 4 medium, below 5.5 high, else critical;
//! the risk score is the points out of 7 (at most 100), as a percentage.

use super::subject::{Novelty, Subject};

/// The severity name and risk score (0-100).
pub fn grade(s: &Subject, excess: f64, custom: bool, beacon: bool) -> (&'static str, u8) {
    let rarity = match s.novelty {
        Novelty::Never => 3.0,
        Novelty::Recent(_) => 2.0,
        Novelty::Known(_) if s.uncommon && s.prevalence.hosts <= 1 => 1.5,
        Novelty::Known(_) if s.uncommon => 1.0,
        Novelty::Known(_) => 0.5,
    };
    let over = if excess.is_finite() && excess > 1.0 {
        excess.log2().min(4.0)
    } else {
        0.0
    };
    let points = rarity + over + if custom { 0.5 } else { 0.0 } + if beacon { 1.0 } else { 0.0 };
    let name = if points < 2.0 {
        "low"
    } else if points < 4.0 {
        "medium"
    } else if points < 5.5 {
        "high"
    } else {
        "critical"
    };
    (name, (points / 7.0 * 100.0).round().clamp(0.0, 100.0) as u8)
}
