//! The time and memory a check may use. The memory limit is the whole
//! process's resident memory (the history, every key's search,
//! everything), read from `/proc/self/statm`; the time limit is wall time
//! from a given instant (the command's start, so loading counts too).
//!
//! Whoever works looks: the searches every thousand steps, the loader
//! between blocks, the check between keys ([`Budget::look`]: the clock each
//! time, resident memory at most once a millisecond). Once a limit is
//! reached, every later look says so, and the work stops with [`Abort`].
//! A search's memo table, which grows by doubling in one allocation, is
//! looked at before it grows. Work stops at 92% of the memory limit, so
//! that what is in flight then stays within it; and the time limit is
//! overrun by at most a thousand search steps.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Why a check stopped without a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Abort {
    TimeLimit,
    /// The process's resident memory reached the limit, or a memo table
    /// was about to grow past it (the bytes resident then, or projected).
    MemoryLimit {
        bytes: usize,
    },
}

impl Abort {
    /// The reason as results and summaries give it.
    pub fn reason(&self) -> String {
        match self {
            Abort::TimeLimit => "time limit reached".to_string(),
            Abort::MemoryLimit { bytes } => {
                format!("memory limit reached ({} MB resident or about to be)", bytes >> 20)
            }
        }
    }
}

/// The share of the memory limit at which work stops: the work in flight
/// when a look finds it (other threads' blocks and steps) still allocates
/// a little.
const STOP_AT_PERCENT: usize = 92;

/// Resident memory is read at most this often.
const MEMORY_EVERY: Duration = Duration::from_millis(1);

/// The limits of one check, and whether they were reached.
pub struct Budget {
    deadline: Option<Instant>,
    memory: Option<usize>,
    /// 0: running; 1: time; 2: memory.
    stop: AtomicU8,
    /// The resident memory when the memory limit was reached.
    at: AtomicUsize,
    origin: Instant,
    /// When resident memory was last read, in ns after `origin`: first a
    /// millisecond in, so that short checks never read it.
    memory_read: AtomicU64,
}

impl Budget {
    /// A budget ending at `deadline` and capped at `memory` bytes resident.
    pub fn new(deadline: Option<Instant>, memory: Option<usize>) -> Budget {
        Budget {
            deadline,
            memory,
            stop: AtomicU8::new(0),
            at: AtomicUsize::new(0),
            origin: Instant::now(),
            memory_read: AtomicU64::new(1),
        }
    }

    /// Whether a limit was reached, as the last look found.
    pub fn stopped(&self) -> Option<Abort> {
        match self.stop.load(Ordering::Relaxed) {
            0 => None,
            1 => Some(Abort::TimeLimit),
            _ => Some(Abort::MemoryLimit { bytes: self.at.load(Ordering::Relaxed) }),
        }
    }

    /// Looks at the clock, and at the process's memory when it was not
    /// read in the last millisecond; stops the budget when a limit is
    /// reached. Returns why it is stopped, if it is.
    pub fn look(&self) -> Option<Abort> {
        self.look_at_memory(false)
    }

    /// [`Budget::look`], reading resident memory whatever the time since
    /// it was last read: for looks that are rare (between a loader's
    /// blocks) but may come before the first millisecond is out.
    pub fn look_now(&self) -> Option<Abort> {
        self.look_at_memory(true)
    }

    fn look_at_memory(&self, always: bool) -> Option<Abort> {
        if self.stop.load(Ordering::Relaxed) == 0 {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.stop.store(1, Ordering::Relaxed);
            } else if let Some(limit) = self.memory {
                let now = (self.origin.elapsed().as_nanos() as u64).max(1);
                let last = self.memory_read.load(Ordering::Relaxed);
                if always || now.saturating_sub(last) >= MEMORY_EVERY.as_nanos() as u64 {
                    self.memory_read.store(now, Ordering::Relaxed);
                    let rss = resident_bytes();
                    if rss >= limit / 100 * STOP_AT_PERCENT {
                        self.at.store(rss, Ordering::Relaxed);
                        self.stop.store(2, Ordering::Relaxed);
                    }
                }
            }
        }
        self.stopped()
    }
}

/// This process's resident memory now, from `/proc/self/statm` (0 where
/// it cannot be read).
pub fn resident_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_stops_at_its_deadline_and_at_its_memory() {
        let b = Budget::new(Some(Instant::now() + Duration::from_millis(30)), None);
        assert_eq!(b.look(), None);
        let started = Instant::now();
        while b.look().is_none() {
            assert!(started.elapsed() < Duration::from_secs(5), "the deadline never stopped the budget");
            std::thread::yield_now();
        }
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(b.stopped(), Some(Abort::TimeLimit));
        let rss = resident_bytes();
        assert!(rss > 1 << 20, "resident memory {rss}");
        let tight = Budget::new(None, Some(rss / 2));
        let loose = Budget::new(None, Some(usize::MAX));
        let started = Instant::now();
        while tight.look().is_none() {
            assert!(started.elapsed() < Duration::from_secs(5), "the memory limit never stopped the budget");
            std::thread::yield_now();
        }
        assert!(matches!(tight.stopped(), Some(Abort::MemoryLimit { bytes }) if bytes >= rss / 2));
        assert_eq!(loose.look(), None);
    }
}
