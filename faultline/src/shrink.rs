//! `faultline shrink RUN_DIR`: cut a failing run down to a small
//! reproducer. The run's explicit fault schedule (`schedule.json`, which
//! every run writes) is replayed, not its seed, and reduced by delta
//! debugging (Zeller's ddmin): halves, then quarters, of its faults, each
//! candidate kept when it still fails. Then its faults are moved up to
//! start at 1 s, the run is cut to just past its last fault, and its
//! clients are halved while it still fails.
//!
//! A replay does not fix thread timing, so one run proves little: each
//! candidate is replayed `--replays` times and kept only when most of them
//! fail (invalid, or a node failure). The output folder holds every
//! candidate's runs, `shrunk.json` (the smallest schedule that fails, its
//! options, its replay rate and the way there) and that schedule as
//! `schedule.json`, ready for `faultline test --schedule`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nemesis::schedule_file::{ScheduleFile, Step};
use report::run_dir::{self, Verdict};
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::run::{Bins, BROKEN, INVALID, NODE_FAILED};
use crate::scenario::{duration_text, Scenario, TestOptions};

/// `faultline shrink`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct ShrinkOptions {
    /// The failing run's folder (its test.json and schedule.json).
    pub run: PathBuf,
    /// Replays of each candidate; it is kept when more than half fail.
    #[arg(long, default_value_t = 3)]
    pub replays: u32,
    /// Run on the machines of a cluster file (the local test hosts by
    /// default).
    #[arg(long)]
    pub cluster: Option<PathBuf>,
    /// The output folder; results/shrink-TIMESTAMP by default.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Check the run folder and its schedule, print what would be shrunk,
    /// and start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A test to try: the failing run's options with a schedule, a time limit
/// and a client count of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub steps: Vec<Step>,
    pub time_limit_ms: u64,
    pub concurrency: u32,
}

/// How one candidate fared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tried {
    pub name: String,
    pub faults: usize,
    pub time_limit: String,
    pub concurrency: u32,
    pub failed: u32,
    pub replays: u32,
    /// Operations in its failing runs, the fewest.
    pub ops: Option<u64>,
    pub kept: bool,
}

/// `shrunk.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Shrunk {
    pub original: String,
    pub original_faults: usize,
    pub original_ops: Option<u64>,
    pub faults: usize,
    pub time_limit: String,
    pub concurrency: u32,
    /// Failing replays of the smallest candidate, of `replays`.
    pub failed: u32,
    pub replays: u32,
    /// The fewest operations among its failing replays, and that run's
    /// report.
    pub ops: Option<u64>,
    pub report: Option<PathBuf>,
    pub tried: Vec<Tried>,
}

/// Why a run cannot be shrunk.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("{0}")]
    Run(String),
    #[error("{dir}: its verdict is {verdict:?}; only a failing run (invalid, or a node failure) is shrunk")]
    NotFailing { dir: PathBuf, verdict: Verdict },
}

/// Whether an exit code is the system's failure.
fn failed(code: u8) -> bool {
    code == INVALID || code == NODE_FAILED
}

/// The smallest time limit that still holds every step and its hold,
/// with a margin for the failure to show.
fn time_needed(steps: &[Step]) -> Duration {
    let end = steps.iter().map(|s| s.at_ms + s.hold_ms).max().unwrap_or(0);
    Duration::from_millis(end) + Duration::from_secs(5)
}

/// The failing run's options and schedule, checked.
fn load(o: &ShrinkOptions) -> Result<(TestOptions, ScheduleFile, Option<u64>), ShrinkError> {
    let mut options = TestOptions::replaying(&o.run).map_err(ShrinkError::Run)?;
    let record = run_dir::read_test(&o.run).map_err(|e| ShrinkError::Run(e.to_string()))?;
    let verdict = record.verdict();
    if !verdict.meets(Verdict::Invalid) {
        return Err(ShrinkError::NotFailing { dir: o.run.clone(), verdict });
    }
    if o.replays == 0 {
        return Err(ShrinkError::Run("--replays 0: give at least 1".into()));
    }
    options.cluster.clone_from(&o.cluster);
    let scenario = Scenario::build(&options).map_err(|e| ShrinkError::Run(e.to_string()))?;
    let path = o.run.join("schedule.json");
    let schedule = ScheduleFile::load(&path, &scenario.db).map_err(|e| ShrinkError::Run(e.to_string()))?;
    let ops = run_dir::read_results(&o.run).ok().flatten().and_then(|r| r.run).map(|s| s.ops);
    Ok((options, schedule, ops))
}

struct Shrinker {
    base: TestOptions,
    seed: Option<u64>,
    replays: u32,
    batch: Batch,
    bins: Bins,
    tried: Vec<Tried>,
    /// The fewest ops, and the report, of the last candidate kept.
    best: (Option<u64>, Option<PathBuf>, u32),
}

impl Shrinker {
    /// Replays `c` up to `replays` times, stopping once the majority is
    /// decided; whether most failed.
    async fn fails(&mut self, c: &Candidate) -> bool {
        let n = self.tried.len();
        let name = format!("c{n}");
        let folder = self.batch.out.join(&name);
        let _ = std::fs::create_dir_all(&folder);
        let schedule = folder.join("schedule.json");
        let file = ScheduleFile { seed: self.seed, steps: c.steps.clone() };
        if let Err(e) = file.write(&schedule) {
            println!("shrink: {}: {e}", schedule.display());
            return false;
        }
        let (mut failed_runs, mut ran, mut ops, mut report) = (0, 0, None::<u64>, None);
        let need = self.replays / 2 + 1;
        for r in 0..self.replays {
            // Stop once most have failed, or once most no longer can.
            if crate::interrupt::raised() || failed_runs >= need || ran - failed_runs > self.replays - need {
                break;
            }
            ran += 1;
            let mut o = self.base.clone();
            o.schedule = Some(schedule.clone());
            o.time_limit = Some(duration_text(Duration::from_millis(c.time_limit_ms)));
            o.concurrency = Some(c.concurrency.to_string());
            o.name = Some(format!("{name}-r{r}"));
            let scenario = match Scenario::build(&o) {
                Ok(s) => s,
                Err(e) => {
                    println!("shrink: {name}: {e}");
                    return false;
                }
            };
            let code = self.batch.run(scenario, &self.bins).await;
            if failed(code) {
                failed_runs += 1;
                if let Some(dir) = run_folder(&self.batch.out.join(format!("{name}-r{r}"))) {
                    let run_ops = run_dir::read_results(&dir).ok().flatten().and_then(|r| r.run).map(|s| s.ops);
                    if ops.is_none() || run_ops < ops {
                        ops = run_ops;
                        report = Some(dir.join("report.html"));
                    }
                }
            }
        }
        let kept = failed_runs >= need;
        println!(
            "shrink: {name}: {} faults, {} clients: {failed_runs} failed{}",
            c.steps.len(),
            c.concurrency,
            if kept { ", kept" } else { "" }
        );
        self.tried.push(Tried {
            name,
            faults: c.steps.len(),
            time_limit: duration_text(Duration::from_millis(c.time_limit_ms)),
            concurrency: c.concurrency,
            failed: failed_runs,
            replays: ran,
            ops,
            kept,
        });
        if kept {
            self.best = (ops, report, failed_runs);
        }
        kept
    }
}

/// Zeller's ddmin: the smallest subsequence of `steps` (1-minimal: no
/// single step of it can go) for which `fails` holds, given that it holds
/// for `steps`. No faults at all is tried first: some bugs need none.
pub async fn ddmin<F, Fut>(mut steps: Vec<Step>, mut fails: F) -> Vec<Step>
where
    F: FnMut(Vec<Step>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if fails(Vec::new()).await {
        return Vec::new();
    }
    let mut n = 2;
    while steps.len() >= 2 && !crate::interrupt::raised() {
        let chunks = split(&steps, n);
        let mut reduced = false;
        for (i, chunk) in chunks.iter().enumerate() {
            if fails(chunk.clone()).await {
                steps = chunk.clone();
                n = 2;
                reduced = true;
                break;
            }
            // With two chunks, the complement of one is the other.
            if n > 2 {
                let rest: Vec<Step> =
                    chunks.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, s)| s.clone()).collect();
                if fails(rest.clone()).await {
                    steps = rest;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= steps.len() {
                break;
            }
            n = (2 * n).min(steps.len());
        }
    }
    steps
}

/// The steps moved earlier together, the first to 1 s from the start (the
/// gaps between them kept): the run before the first fault only adds
/// operations.
fn moved_up(steps: &[Step]) -> Vec<Step> {
    let first = steps.iter().map(|s| s.at_ms).min().unwrap_or(0);
    let by = first.saturating_sub(1000);
    steps.iter().map(|s| Step { at_ms: s.at_ms - by, ..s.clone() }).collect()
}

/// `steps` in `n` runs of nearly equal length, in order.
fn split(steps: &[Step], n: usize) -> Vec<Vec<Step>> {
    let n = n.min(steps.len()).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..n {
        let end = start + (steps.len() - start) / (n - i);
        out.push(steps[start..end].to_vec());
        start = end;
    }
    out
}

/// The run folder a named run made under `dir` (its one timestamp).
fn run_folder(dir: &Path) -> Option<PathBuf> {
    let mut runs: Vec<PathBuf> =
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).filter(|p| p.join("test.json").is_file()).collect();
    runs.sort();
    runs.pop()
}

/// Shrinks the run; 0 when a failing schedule came out, 1 when not even the
/// whole schedule failed again in most replays, 3 when it could not run.
pub async fn main(o: ShrinkOptions) -> u8 {
    let (base, schedule, original_ops) = match load(&o) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("shrink: {e}");
            return BROKEN;
        }
    };
    let time_limit = Scenario::build(&base).map(|s| s.time_limit).unwrap_or_default();
    let concurrency = Scenario::build(&base).map(|s| s.concurrency).unwrap_or(1);
    let whole = Candidate { steps: schedule.steps.clone(), time_limit_ms: time_limit.as_millis() as u64, concurrency };
    println!(
        "shrink: {}: {} faults, {} clients, {}; each candidate replayed up to {} times",
        o.run.display(),
        whole.steps.len(),
        concurrency,
        duration_text(time_limit),
        o.replays
    );
    if o.dry_run {
        return 0;
    }
    let bins = match Bins::find() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("shrink: {e}");
            return BROKEN;
        }
    };
    let batch = match Batch::create("shrink", "shrink", o.out.clone()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("shrink: {e}");
            return BROKEN;
        }
    };
    let mut s = Shrinker {
        base,
        seed: schedule.seed,
        replays: o.replays,
        batch,
        bins,
        tried: Vec::new(),
        best: (None, None, 0),
    };
    if !s.fails(&whole).await {
        println!("shrink: the whole schedule failed in fewer than half its replays: nothing to shrink from");
        return 1;
    }
    let steps = {
        // ddmin asks one candidate at a time; the lock only lends the
        // shrinker to each in turn.
        let s = &tokio::sync::Mutex::new(&mut s);
        let base = &whole;
        ddmin(whole.steps.clone(), |steps| async move {
            let candidate = Candidate { steps, ..base.clone() };
            s.lock().await.fails(&candidate).await
        })
        .await
    };
    let mut c = Candidate { steps, ..whole.clone() };
    // A shorter run: the faults moved up to start at 1 s, then the run cut
    // just past the last one's hold.
    let earlier = Candidate { steps: moved_up(&c.steps), ..c.clone() };
    if earlier.steps != c.steps && !crate::interrupt::raised() && s.fails(&earlier).await {
        c = earlier;
    }
    let shorter = Candidate { time_limit_ms: time_needed(&c.steps).as_millis() as u64, ..c.clone() };
    if shorter.time_limit_ms < c.time_limit_ms && !crate::interrupt::raised() && s.fails(&shorter).await {
        c = shorter;
    }
    // Fewer clients, halved while it still fails.
    while c.concurrency > 1 && !crate::interrupt::raised() {
        let fewer = Candidate { concurrency: c.concurrency / 2, ..c.clone() };
        if !s.fails(&fewer).await {
            break;
        }
        c = fewer;
    }
    // The winner's replay rate: the runs of its own candidate.
    let (ops, report, failed_runs) = s.best.clone();
    let kept = s.tried.iter().rev().find(|t| t.kept).cloned();
    let shrunk = Shrunk {
        original: o.run.display().to_string(),
        original_faults: whole.steps.len(),
        original_ops,
        faults: c.steps.len(),
        time_limit: duration_text(Duration::from_millis(c.time_limit_ms)),
        concurrency: c.concurrency,
        failed: failed_runs,
        replays: kept.map_or(0, |t| t.replays),
        ops,
        report: report.clone(),
        tried: s.tried.clone(),
    };
    let out = &s.batch.out;
    let written =
        ScheduleFile { seed: schedule.seed, steps: c.steps.clone() }.write(&out.join("schedule.json")).and_then(|()| {
            std::fs::write(out.join("shrunk.json"), serde_json::to_vec_pretty(&shrunk).expect("serialises"))
        });
    if let Err(e) = written {
        eprintln!("shrink: {}: {e}", out.display());
        return BROKEN;
    }
    println!(
        "shrink: {} faults → {}, {} ops → {}, {} clients, {}; failed {}/{} replays",
        shrunk.original_faults,
        shrunk.faults,
        original_ops.map_or("?".into(), |n| n.to_string()),
        ops.map_or("?".into(), |n| n.to_string()),
        shrunk.concurrency,
        shrunk.time_limit,
        shrunk.failed,
        shrunk.replays
    );
    if let Some(r) = report {
        println!("shrink: report: {}", r.display());
    }
    if let Some(run) = shrunk.report.as_ref().and_then(|r| r.parent()) {
        println!("shrink: replay it: faultline test --replay {}", run.display());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(n: usize) -> Vec<Step> {
        (0..n)
            .map(|i| Step {
                lane: 0,
                at_ms: i as u64 * 1000,
                kind: "kill".into(),
                fault: serde_json::Value::Null,
                choice_seed: i as u64,
                apply_seed: 0,
                hold_ms: 500,
            })
            .collect()
    }

    #[test]
    fn only_a_failing_run_with_a_readable_schedule_is_shrunk() {
        let dir = tempfile::tempdir().unwrap();
        let options =
            TestOptions { plan: "quick".into(), db: "raftkv".into(), seed: Some("1".into()), ..TestOptions::default() };
        let mut record = Scenario::build(&options).unwrap().record("20260101T000000Z", "abc");
        record.status = report::run_dir::RunStatus::Done;
        let o = ShrinkOptions { run: dir.path().into(), replays: 3, cluster: None, out: None, dry_run: true };
        let load_with = |code: i32| {
            let mut r = record.clone();
            r.exit_code = Some(code);
            report::run_dir::write_test(dir.path(), &r).unwrap();
            load(&o).map(drop).unwrap_err().to_string()
        };
        assert!(load_with(0).contains("only a failing run"), "{}", load_with(0));
        assert!(load_with(1).contains("schedule.json"), "{}", load_with(1));
        std::fs::write(dir.path().join("schedule.json"), "{\"steps\": 3}").unwrap();
        let err = load_with(4);
        assert!(err.contains("schedule.json") && err.contains("invalid type"), "{err}");
        std::fs::write(dir.path().join("schedule.json"), "{\"steps\": []}").unwrap();
        assert!(load(&ShrinkOptions { replays: 0, ..o.clone() })
            .map(drop)
            .unwrap_err()
            .to_string()
            .contains("--replays 0"));
        let (_, schedule, _) = load(&o).unwrap();
        assert!(schedule.steps.is_empty());
    }

    /// A failure that needs steps 2 and 5 of eight shrinks to exactly
    /// those two, in order; one that needs none, to none.
    #[tokio::test]
    async fn ddmin_keeps_exactly_the_steps_a_failure_needs() {
        let all = steps(8);
        let tries = std::cell::Cell::new(0);
        let needs = |wanted: &'static [u64]| {
            let tries = &tries;
            move |s: Vec<Step>| {
                tries.set(tries.get() + 1);
                std::future::ready(wanted.iter().all(|w| s.iter().any(|x| x.choice_seed == *w)))
            }
        };
        let kept = ddmin(all.clone(), needs(&[2, 5])).await;
        assert_eq!(kept.iter().map(|s| s.choice_seed).collect::<Vec<_>>(), [2, 5]);
        assert!(tries.get() < 30, "{} tries", tries.get());
        assert!(ddmin(all.clone(), needs(&[])).await.is_empty());
        let one = ddmin(all, needs(&[7])).await;
        assert_eq!(one.iter().map(|s| s.choice_seed).collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn steps_split_in_order_into_nearly_equal_runs() {
        let s = steps(7);
        let parts = split(&s, 3);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 3]);
        assert_eq!(parts.concat(), s);
        assert_eq!(split(&s, 10).len(), 7);
        assert_eq!(time_needed(&s), Duration::from_millis(6500 + 5000));
        assert_eq!(time_needed(&[]), Duration::from_secs(5));
        let moved = moved_up(&s[3..]);
        assert_eq!(moved.iter().map(|s| s.at_ms).collect::<Vec<_>>(), [1000, 2000, 3000, 4000]);
        assert_eq!(moved_up(&moved), moved);
    }
}
