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

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::time::Instant;

use tokio::signal::unix::{signal, SignalKind};

use crate::control::{Control, HealReport};
use crate::events::EventLog;
use crate::faults::FaultKind;
use crate::lifecycle::ProcState;
use crate::schedule_file::{ScheduleFile, Step};

#[derive(Clone, Debug)]
pub struct Schedule {
    pub faults: Vec<FaultKind>,
    /// Mean time between a fault's start and its end, and between a
    /// recovery and the next fault; each wait is drawn from 0.5x to 1.5x.
    pub interval: Duration,
    pub duration: Duration,
    pub seed: u64,
    /// Replay these faults instead of dealing new ones (`faults`,
    /// `interval` and `seed` are then unused).
    pub replay: Option<ScheduleFile>,
    /// Where to write the schedule as it runs (`schedule.json`).
    pub record: Option<PathBuf>,
}

/// The schedule so far, rewritten whole after each fault.
struct Recorder {
    file: ScheduleFile,
    path: Option<PathBuf>,
}

impl Recorder {
    fn add(&mut self, step: Step) -> std::io::Result<()> {
        self.file.steps.push(step);
        match &self.path {
            Some(p) => self.file.write(p),
            None => Ok(()),
        }
    }
}

/// What a lane runs: faults dealt now, or a recorded lane's steps.
enum Source {
    Deal { kinds: Vec<FaultKind>, seed: u64 },
    Replay(Vec<Step>),
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
    let start = Instant::now();
    let end = start + schedule.duration;
    let log = Mutex::new(log);
    let recorder = Mutex::new(Recorder {
        file: ScheduleFile { seed: schedule.replay.as_ref().map_or(Some(schedule.seed), |r| r.seed), steps: vec![] },
        path: schedule.record.clone(),
    });
    if let Some(p) = &schedule.record {
        recorder.lock().unwrap_or_else(|p| p.into_inner()).file.write(p)?;
    }
    let in_force = AtomicUsize::new(0);
    let lanes =
        Lanes { control, interval: schedule.interval, start, end, log: &log, recorder: &recorder, in_force: &in_force };
    let (main, own) = match &schedule.replay {
        Some(file) => (Source::Replay(file.lane(0)), Source::Replay(file.lane(1))),
        None => {
            let (own, rest): (Vec<FaultKind>, Vec<FaultKind>) = schedule.faults.iter().partition(|k| k.own_lane());
            if own.is_empty() || rest.is_empty() {
                // One lane, with the run's own seed.
                let lane = usize::from(!own.is_empty());
                let only = Source::Deal { kinds: schedule.faults.clone(), seed: schedule.seed };
                let (a, w) = tokio::join!(lanes.lane(lane, only), lanes.watch());
                return a.and(w);
            }
            (
                Source::Deal { kinds: rest, seed: schedule.seed },
                Source::Deal { kinds: own, seed: schedule.seed ^ OWN_LANE_SALT },
            )
        }
    };
    let (a, b, w) = tokio::join!(lanes.lane(0, main), lanes.lane(1, own), lanes.watch());
    a.and(b).and(w)
}

/// How often the nodes are looked at between faults.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Counts a fault in force for as long as it lives.
struct InForce<'a>(&'a AtomicUsize);

impl<'a> InForce<'a> {
    fn new(n: &'a AtomicUsize) -> InForce<'a> {
        n.fetch_add(1, Ordering::SeqCst);
        InForce(n)
    }
}

impl Drop for InForce<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every lane of one run shares.
struct Lanes<'a, 'l> {
    control: &'a Control,
    interval: Duration,
    start: Instant,
    end: Instant,
    log: &'a Mutex<&'l mut EventLog>,
    recorder: &'a Mutex<Recorder>,
    /// Faults applied and not yet undone, over every lane.
    in_force: &'a AtomicUsize,
}

impl Lanes<'_, '_> {
    /// One lane: wait, apply a fault (dealt at random from the source's
    /// kinds, or the next recorded one), hold it, undo it, and again,
    /// until the end.
    async fn lane(&self, lane: usize, source: Source) -> std::io::Result<()> {
        let (mut rng, mut deck, mut recorded) = match source {
            Source::Deal { kinds, seed } if !kinds.is_empty() => {
                (StdRng::seed_from_u64(seed), Some(Deck::new(&kinds)), Vec::new().into_iter())
            }
            Source::Deal { .. } => {
                tokio::time::sleep_until(self.end).await;
                return Ok(());
            }
            Source::Replay(steps) => (StdRng::seed_from_u64(0), None, steps.into_iter()),
        };
        loop {
            let step = match &mut deck {
                Some(deck) => {
                    if !sleep_before(jitter(self.interval, &mut rng), self.end).await {
                        return Ok(());
                    }
                    let kind = deck.deal(&mut rng);
                    let choice_seed = rng.gen();
                    let fault = kind.choose(&mut StdRng::seed_from_u64(choice_seed));
                    let apply_seed = rng.gen();
                    let hold = jitter(self.interval, &mut rng);
                    Step {
                        lane,
                        at_ms: self.start.elapsed().as_millis() as u64,
                        kind: kind.name().to_string(),
                        fault: fault.value(),
                        choice_seed,
                        apply_seed,
                        hold_ms: hold.as_millis() as u64,
                    }
                }
                None => {
                    let Some(step) = recorded.next() else {
                        tokio::time::sleep_until(self.end).await;
                        return Ok(());
                    };
                    let at = self.start + Duration::from_millis(step.at_ms);
                    if at >= self.end {
                        tokio::time::sleep_until(self.end).await;
                        return Ok(());
                    }
                    tokio::time::sleep_until(at).await;
                    step
                }
            };
            self.recorder.lock().unwrap_or_else(|p| p.into_inner()).add(step.clone())?;
            self.fault(&step).await?;
        }
    }

    fn write(&self, kind: &str, f: &str, value: serde_json::Value, error: Option<String>) -> std::io::Result<()> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).write(kind, f, value, error)
    }

    /// Applies one step's fault, holds it, and undoes it.
    async fn fault(&self, step: &Step) -> std::io::Result<()> {
        let control = self.control;
        let fault = match step.draw() {
            Ok(f) => f,
            Err(e) => return self.write("fail", &step.kind, step.fault.clone(), Some(e.to_string())),
        };
        let mut sub = StdRng::seed_from_u64(step.apply_seed);
        let hold = fault.hold(Duration::from_millis(step.hold_ms), &mut sub);
        let _in_force = InForce::new(self.in_force);
        self.write("invoke", fault.f(), fault.value(), None)?;
        let applied = match fault.apply(control, &mut sub).await {
            Ok(a) => {
                self.write("info", fault.f(), a.value(), None)?;
                a
            }
            Err(e) => return self.write("fail", fault.f(), fault.value(), Some(e.to_string())),
        };
        // The fault is held to its end even when the run's end comes
        // first; the undo below always runs.
        sleep_before(hold, self.end).await;
        self.write("invoke", applied.undo_f(), applied.value(), None)?;
        match applied.undo(control).await {
            Ok(value) => self.write("info", applied.undo_f(), value, None),
            Err(e) => self.write("fail", applied.undo_f(), applied.value(), Some(e.to_string())),
        }
    }
}

impl Lanes<'_, '_> {
    /// Between faults, looks at the nodes: one that is gone while no fault
    /// is in force died on its own (a panic, a fail-stop), which is the
    /// system's failure. It is logged as a `died` event with the end of its
    /// log, and started again (a node that then refuses to start is left
    /// stopped), so the run goes on.
    async fn watch(&self) -> std::io::Result<()> {
        let quiet = || self.in_force.load(Ordering::SeqCst) == 0;
        while sleep_before(WATCH_EVERY, self.end).await {
            if !quiet() {
                continue;
            }
            let states = self.control.states().await;
            // A fault that began meanwhile may have killed it.
            if !quiet() {
                continue;
            }
            let names = self.control.names();
            let dead: Vec<String> = names
                .into_iter()
                .zip(states)
                .filter(|(_, s)| matches!(s, Ok(ProcState::Dead)))
                .map(|(n, _)| n)
                .collect();
            for node in dead {
                let why = self.control.log_tail(&node).await;
                self.write("info", "died", json!({ "nodes": [node], "why": why }), None)?;
                let value = match self.control.restart_after_crash(std::slice::from_ref(&node)).await {
                    Ok(refused) if refused.is_empty() => json!({ "nodes": [node] }),
                    Ok(refused) => {
                        let each: Vec<_> = refused.iter().map(|(n, why)| json!({ "node": n, "why": why })).collect();
                        json!({ "nodes": [node], "refused": true, "refusals": each, "after": "dying on its own" })
                    }
                    Err(e) => {
                        self.write("fail", "start", json!({ "nodes": [node] }), Some(e.to_string()))?;
                        continue;
                    }
                };
                self.write("info", "start", value, None)?;
            }
        }
        Ok(())
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
