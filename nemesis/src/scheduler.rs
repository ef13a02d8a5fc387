//! The fault schedule of `nemesis run`: wait, apply a random fault, hold
//! it, undo it, and again, until the duration is over.
//!
//! Faults are dealt from a shuffled deck of the mix's kinds, reshuffled
//! once it is used up: in a mix of k kinds each kind comes once in every
//! round of k faults, in a random order. A kind drawn independently each
//! time would be missing from a whole run now and then (with seven kinds
//! and ten faults, about one run in five lacks any given kind), and a bug
//! that only one kind reaches would then go unseen for that seed.
//!
//! Clock faults run in a lane of their own beside the others (a skewed
//! clock has to meet a partition to matter), each lane with its own RNG.
//!
//! Every random choice (which fault, which shape or target, how long to
//! wait) comes from one RNG seeded with `--seed`, and each fault draws its
//! own sub-seed, so a leader that differs between runs does not shift the
//! choices that follow: the same seed gives the same sequence of choices.
//! [`run_and_heal`] heals whatever is left, whatever way the run ends:
//! at the end, on SIGINT or SIGTERM, and after an error.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use tokio::signal::unix::{signal, SignalKind};

use crate::control::{Control, HealReport};
use crate::events::EventLog;
use crate::faults::FaultKind;

#[derive(Clone, Debug)]
pub struct Schedule {
    pub faults: Vec<FaultKind>,
    /// Mean time between a fault's start and its end, and between a
    /// recovery and the next fault; each wait is drawn from 0.5x to 1.5x.
    pub interval: Duration,
    pub duration: Duration,
    pub seed: u64,
}

fn jitter(interval: Duration, rng: &mut StdRng) -> Duration {
    interval.mul_f64(rng.gen_range(0.5..1.5))
}

/// Sleeps for `d`, but not past `end`. False when `end` came first.
async fn sleep_before(d: Duration, end: Instant) -> bool {
    let until = Instant::now() + d;
    if until >= end {
        tokio::time::sleep_until(end).await;
        false
    } else {
        tokio::time::sleep_until(until).await;
        true
    }
}

/// The kinds of a mix, dealt in rounds: each round is every kind once, in
/// an order shuffled from the schedule's RNG.
struct Deck {
    kinds: Vec<FaultKind>,
    left: Vec<FaultKind>,
}

impl Deck {
    fn new(kinds: &[FaultKind]) -> Deck {
        assert!(!kinds.is_empty(), "a deck needs at least one kind");
        Deck { kinds: kinds.to_vec(), left: Vec::new() }
    }

    /// The next kind, starting a new shuffled round when this one is used up.
    fn deal(&mut self, rng: &mut StdRng) -> FaultKind {
        if self.left.is_empty() {
            self.left = self.kinds.clone();
            self.left.shuffle(rng);
        }
        self.left.pop().expect("a round is never empty")
    }
}

/// Salts the RNG of the clock lane, so that adding clock faults to a mix
/// leaves the other faults' choices as they were.
const OWN_LANE_SALT: u64 = 0x636c_6f63_6b00_0000;

/// Runs the schedule. Failed fault commands are recorded as `fail` events
/// and the schedule goes on; only a failure to write the events file stops
/// it. Faults that run in a lane of their own ([`FaultKind::own_lane`]:
/// the clock) have a schedule of their own beside the others'.
pub async fn run(control: &Control, schedule: &Schedule, log: &mut EventLog) -> std::io::Result<()> {
    let (own, rest): (Vec<FaultKind>, Vec<FaultKind>) = schedule.faults.iter().partition(|k| k.own_lane());
    let end = Instant::now() + schedule.duration;
    let log = Mutex::new(log);
    if own.is_empty() || rest.is_empty() {
        return lane(control, &schedule.faults, schedule.interval, schedule.seed, end, &log).await;
    }
    let (a, b) = tokio::join!(
        lane(control, &rest, schedule.interval, schedule.seed, end, &log),
        lane(control, &own, schedule.interval, schedule.seed ^ OWN_LANE_SALT, end, &log),
    );
    a.and(b)
}

/// One lane: wait, apply a random fault of `kinds`, hold it, undo it, and
/// again, until `end`.
async fn lane(
    control: &Control,
    kinds: &[FaultKind],
    interval: Duration,
    seed: u64,
    end: Instant,
    log: &Mutex<&mut EventLog>,
) -> std::io::Result<()> {
    let write = |kind: &str, f: &str, value: serde_json::Value, error: Option<String>| {
        log.lock().unwrap_or_else(|p| p.into_inner()).write(kind, f, value, error)
    };
    let mut rng = StdRng::seed_from_u64(seed);
    if kinds.is_empty() {
        tokio::time::sleep_until(end).await;
        return Ok(());
    }
    let mut deck = Deck::new(kinds);
    loop {
        if !sleep_before(jitter(interval, &mut rng), end).await {
            return Ok(());
        }
        let kind = deck.deal(&mut rng);
        let fault = kind.choose(&mut rng);
        let mut sub = StdRng::seed_from_u64(rng.gen());
        let hold = fault.hold(jitter(interval, &mut rng), &mut sub);
        write("invoke", fault.f(), fault.value(), None)?;
        let applied = match fault.apply(control, &mut sub).await {
            Ok(a) => {
                write("info", fault.f(), a.value(), None)?;
                a
            }
            Err(e) => {
                write("fail", fault.f(), fault.value(), Some(e.to_string()))?;
                continue;
            }
        };
        // The fault is held to its end even when the run's end comes
        // first; the undo below always runs.
        sleep_before(hold, end).await;
        write("invoke", applied.undo_f(), applied.value(), None)?;
        match applied.undo(control).await {
            Ok(value) => write("info", applied.undo_f(), value, None)?,
            Err(e) => write("fail", applied.undo_f(), applied.value(), Some(e.to_string()))?,
        }
    }
}

/// How a scheduled run ended, before its heal.
#[derive(Debug)]
pub enum Ending {
    /// The schedule ran to its end.
    Completed,
    /// Writing the events file failed.
    EventsFile(std::io::Error),
    Interrupted,
    Terminated,
}

impl Ending {
    /// The exit code: 0, 1 for an events-file error, 130/143 for SIGINT/SIGTERM.
    pub fn exit_code(&self) -> i32 {
        match self {
            Ending::Completed => 0,
            Ending::EventsFile(_) => 1,
            Ending::Interrupted => 130,
            Ending::Terminated => 143,
        }
    }

    /// Why the run ended early, if it did.
    pub fn why(&self) -> Option<String> {
        match self {
            Ending::Completed => None,
            Ending::EventsFile(e) => Some(format!("events file: {e}")),
            Ending::Interrupted => Some("interrupted by SIGINT".into()),
            Ending::Terminated => Some("terminated by SIGTERM".into()),
        }
    }
}

/// Runs the schedule, then heals everything, however the run ended; the
/// heal is logged as an invoke and an info (healed) or fail completion.
/// The signal handlers stay installed through the heal, so a second Ctrl-C
/// cannot cut it short. Errs only when the handlers cannot be installed.
pub async fn run_and_heal(
    control: &Control,
    schedule: &Schedule,
    log: &mut EventLog,
) -> std::io::Result<(Ending, HealReport)> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let ending = tokio::select! {
        r = run(control, schedule, log) => r.map_or_else(Ending::EventsFile, |()| Ending::Completed),
        _ = int.recv() => Ending::Interrupted,
        _ = term.recv() => Ending::Terminated,
    };
    let _ = log.write("invoke", "heal", serde_json::Value::Null, None);
    let report = control.heal().await;
    let value = serde_json::to_value(&report).unwrap_or(serde_json::Value::Null);
    if report.is_healed() {
        let _ = log.write("info", "heal", value, None);
    } else {
        let _ = log.write("fail", "heal", value, Some(report.to_string()));
    }
    Ok((ending, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deck_deals_every_kind_once_per_round_in_a_seeded_order() {
        let kinds =
            FaultKind::parse_list("partition,kill,pause,bounce,lose-unsynced,deaf-leader,pause-isolate").unwrap();
        let deal = |seed: u64| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut deck = Deck::new(&kinds);
            (0..kinds.len() * 3).map(|_| deck.deal(&mut rng)).collect::<Vec<_>>()
        };
        let dealt = deal(7);
        for round in dealt.chunks(kinds.len()) {
            let mut seen = round.to_vec();
            seen.sort_by_key(|k| kinds.iter().position(|x| x == k));
            assert_eq!(seen, kinds, "a round is every kind once");
        }
        assert_eq!(deal(7), dealt, "the same seed deals the same faults");
        assert_ne!(deal(8), dealt, "another seed deals another order");
        let rounds: std::collections::HashSet<&[FaultKind]> = dealt.chunks(kinds.len()).collect();
        assert!(rounds.len() > 1, "each round is shuffled anew");
    }
}
