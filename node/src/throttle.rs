//! Log lines at a bounded rate. Anyone who reaches the port can provoke a
//! refusal, so a refusal logged once per event would let them fill the
//! disk and drown the lines that matter; instead the first one of each
//! period is logged, with how many were suppressed since the last.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Allows one event per period through, counting the rest.
#[derive(Debug)]
pub struct Throttle {
    period: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttle {
    pub fn new(period: Duration) -> Throttle {
        Throttle { period, last: Mutex::new(None), suppressed: AtomicU64::new(0) }
    }

    /// One line a second.
    pub fn per_second() -> Throttle {
        Throttle::new(Duration::from_secs(1))
    }

    /// Whether this event may be logged; if not, it is counted.
    pub fn admit(&self) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now.duration_since(t) < self.period) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        *last = Some(now);
        true
    }

    /// How many events were not logged since the last call; resets it.
    pub fn take_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_a_period_passes_and_the_rest_are_counted() {
        let t = Throttle::new(Duration::from_secs(3600));
        assert!(t.admit());
        assert!((0..99).all(|_| !t.admit()));
        assert_eq!(t.take_suppressed(), 99);
        assert_eq!(t.take_suppressed(), 0);
        let t = Throttle::new(Duration::ZERO);
        assert!(t.admit() && t.admit());
    }
}
