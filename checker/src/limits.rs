//! The time and memory a check may use, and the watchdog that holds it to
//! them. The memory limit is the whole process's resident memory (the
//! history, every key's search, everything), read from `/proc/self/statm`;
//! the time limit is wall time from a given instant (the command's start,
//! so loading counts too).
//!
//! A watchdog thread polls both every few milliseconds and raises a stop
//! flag; searches poll the flag every thousand steps and stop with
//! [`Abort`], and the loader polls the limits between blocks. So a limit is
//! overrun by at most a poll interval plus a thousand search steps, and
//! memory by what a search allocates in that time.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
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

/// How often the watchdog looks.
const POLL: Duration = Duration::from_millis(5);

/// The limits of one check, and whether they were reached.
pub struct Budget {
    deadline: Option<Instant>,
    memory: Option<usize>,
    /// 0: running; 1: time; 2: memory.
    stop: AtomicU8,
    /// The resident memory when the memory limit was reached.
    at: std::sync::atomic::AtomicUsize,
}

impl Budget {
    /// A budget ending at `deadline` and capped at `memory` bytes resident.
    pub fn new(deadline: Option<Instant>, memory: Option<usize>) -> Arc<Budget> {
        Arc::new(Budget { deadline, memory, stop: AtomicU8::new(0), at: Default::default() })
    }

    /// Whether a limit was reached (as the watchdog last saw it).
    pub fn stopped(&self) -> Option<Abort> {
        match self.stop.load(Ordering::Relaxed) {
            0 => None,
            1 => Some(Abort::TimeLimit),
            _ => Some(Abort::MemoryLimit { bytes: self.at.load(Ordering::Relaxed) }),
        }
    }

    /// Looks at the clock and the process's memory now; raises the flag
    /// when a limit is reached. Returns the flag.
    pub fn look(&self) -> Option<Abort> {
        if self.stop.load(Ordering::Relaxed) == 0 {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.stop.store(1, Ordering::Relaxed);
            } else if let Some(limit) = self.memory {
                let rss = resident_bytes();
                if rss >= limit {
                    self.at.store(rss, Ordering::Relaxed);
                    self.stop.store(2, Ordering::Relaxed);
                }
            }
        }
        self.stopped()
    }

    /// Starts the watchdog; it stops when the returned guard is dropped.
    pub fn watch(self: &Arc<Self>) -> Watchdog {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let budget = self.clone();
        let handle = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(POLL) {
                if budget.look().is_some() {
                    return;
                }
            }
        });
        Watchdog { tx: Some(tx), handle: Some(handle) }
    }
}

/// The running watchdog; dropping it stops the thread.
pub struct Watchdog {
    tx: Option<std::sync::mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
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
        let _w = b.watch();
        assert_eq!(b.stopped(), None);
        let started = Instant::now();
        while b.stopped().is_none() {
            assert!(started.elapsed() < Duration::from_secs(5), "the watchdog never stopped the budget");
            std::thread::yield_now();
        }
        assert_eq!(b.stopped(), Some(Abort::TimeLimit));
        let rss = resident_bytes();
        assert!(rss > 1 << 20, "resident memory {rss}");
        let tight = Budget::new(None, Some(rss / 2));
        assert!(matches!(tight.look(), Some(Abort::MemoryLimit { bytes }) if bytes >= rss / 2));
        assert_eq!(Budget::new(None, Some(usize::MAX)).look(), None);
    }
}
