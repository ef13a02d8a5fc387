//! Clock faults: each node runs under the clock shim (the `clockshim`
//! crate, an LD_PRELOAD library), which reads the node's clock offset from
//! a file on its host every 10 ms, so the nemesis moves a node's clocks
//! (wall and monotonic alike, and so its Raft ticks, timeouts and leases)
//! by rewriting that file.
//!
//! Three shapes, after Jepsen's clock nemesis:
//! - a bump: the clocks jump by an offset and stay there until reset;
//! - a strobe: they jump back and forth by an offset, fast, for a while;
//! - a drift: they run at another rate for a while (the nemesis moves the
//!   offset in small steps).
//!
//! A jump back stalls every timer of the node (tokio never runs its timer
//! wheel backwards): a leader whose clock is set back stops ticking, and a
//! lease that trusts its clock outlives its term.

use std::fmt;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

/// How often a strobe flips and a drift steps.
const STEP: Duration = Duration::from_millis(100);

/// One clock fault, before the nodes are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockFault {
    /// The clocks jump by `offset_ms` and stay there until reset.
    Bump { offset_ms: i64 },
    /// The clocks alternate between +`delta_ms` and -`delta_ms` every step,
    /// for `for_ms`, then rest at 0.
    Strobe { delta_ms: i64, for_ms: u64 },
    /// The clocks run at `rate_pct` percent of real speed for `for_ms`;
    /// the offset gained stays until reset.
    Drift { rate_pct: u32, for_ms: u64 },
}

impl ClockFault {
    /// A random clock fault: bumps of 1 to 10 s either way, strobes of up
    /// to 3 s, drifts from a tenth to five times real speed.
    pub fn choose<R: Rng>(rng: &mut R) -> ClockFault {
        match rng.gen_range(0..3) {
            0 => {
                let s = rng.gen_range(1_000..=10_000);
                ClockFault::Bump { offset_ms: if rng.gen() { s } else { -s } }
            }
            1 => ClockFault::Strobe { delta_ms: rng.gen_range(200..=3_000), for_ms: 3_000 },
            _ => ClockFault::Drift { rate_pct: *[10, 50, 200, 500].choose(rng).unwrap(), for_ms: 4_000 },
        }
    }

    pub fn value(&self) -> Value {
        match self {
            ClockFault::Bump { offset_ms } => json!({ "clock": "bump", "offset_ms": offset_ms }),
            ClockFault::Strobe { delta_ms, for_ms } => {
                json!({ "clock": "strobe", "delta_ms": delta_ms, "for_ms": for_ms })
            }
            ClockFault::Drift { rate_pct, for_ms } => {
                json!({ "clock": "drift", "rate_pct": rate_pct, "for_ms": for_ms })
            }
        }
    }

    /// The offsets to set, in order, one per step, ending with the one
    /// that stays in force.
    pub fn offsets(&self) -> Vec<i64> {
        let steps = |for_ms: u64| (for_ms / STEP.as_millis() as u64).max(1);
        match *self {
            ClockFault::Bump { offset_ms } => vec![offset_ms],
            ClockFault::Strobe { delta_ms, for_ms } => {
                let mut v: Vec<i64> =
                    (0..steps(for_ms)).map(|i| if i % 2 == 0 { delta_ms } else { -delta_ms }).collect();
                v.push(0);
                v
            }
            ClockFault::Drift { rate_pct, for_ms } => (1..=steps(for_ms))
                .map(|i| (i64::from(rate_pct) - 100) * (i * STEP.as_millis() as u64) as i64 / 100)
                .collect(),
        }
    }

    /// The pause between two offsets.
    pub fn step() -> Duration {
        STEP
    }
}

/// Whether an offset as a node's clock file holds it is no offset at all.
pub fn is_true(offset: &str) -> bool {
    offset == Offset(0).to_string()
}

/// An offset as the clock shim's file takes it: signed seconds.
pub struct Offset(pub i64);

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let ms = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:03}", ms / 1000, ms % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn offsets_are_written_as_the_clock_shim_reads_them() {
        for ms in [0, -2500, 10_007, -1] {
            let text = Offset(ms).to_string();
            assert_eq!(clockshim::parse_offset(&text), Some(ms * 1_000_000), "{text}");
        }
        assert_eq!(Offset(-2500).to_string(), "-2.500");
    }

    #[test]
    fn a_drift_moves_the_offset_at_its_rate_and_a_strobe_ends_at_zero() {
        let d = ClockFault::Drift { rate_pct: 50, for_ms: 1_000 }.offsets();
        assert_eq!(d.len(), 10);
        assert_eq!((d[0], d[9]), (-50, -500), "half speed loses half of each step");
        let fast = ClockFault::Drift { rate_pct: 500, for_ms: 400 }.offsets();
        assert_eq!(fast, [400, 800, 1200, 1600]);
        let s = ClockFault::Strobe { delta_ms: 300, for_ms: 500 }.offsets();
        assert_eq!(s, [300, -300, 300, -300, 300, 0]);
        assert_eq!(ClockFault::Bump { offset_ms: -4000 }.offsets(), [-4000]);
    }

    #[test]
    fn choices_cover_every_shape_within_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut shapes = std::collections::HashSet::new();
        for _ in 0..100 {
            let c = ClockFault::choose(&mut rng);
            match &c {
                ClockFault::Bump { offset_ms } => assert!((1_000..=10_000).contains(&offset_ms.abs())),
                ClockFault::Strobe { delta_ms, .. } => assert!((200..=3_000).contains(delta_ms)),
                ClockFault::Drift { rate_pct, .. } => assert!([10, 50, 200, 500].contains(rate_pct)),
            }
            shapes.insert(c.value()["clock"].as_str().unwrap().to_string());
        }
        assert_eq!(shapes.len(), 3);
    }
}
