//! `faultline shrink RUN_DIR`: cut a failing run down to a small
//! reproducer. The run's explicit fault schedule (`schedule.json`, which
//! every run writes) is replayed, not its seed, and reduced by delta
//! debugging (Zeller's ddmin): halves, then quarters, of its faults, each
//! candidate kept when it still fails. Then its faults are moved up to
//! start at 1 s, the run is cut to just past its last fault, its clients
//! are halved and its rate quartered while it still fails, and the run is
//! cut again, to just past its failure.
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
    /// Replays of the result once shrunk, every one run, for its replay
    /// rate (none by default: the rate is then that of its own candidate's
    /// replays, which stop once the majority is decided).
    #[arg(long, default_value_t = 0)]
    pub confirm: u32,
    /// Check the run folder and its schedule, print what would be shrunk,
    /// and start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A test to try: the failing run's options with a schedule, a time limit,
/// a client count and a rate of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub steps: Vec<Step>,
    pub time_limit_ms: u64,
    pub concurrency: u32,
    /// Operations a second, over all clients.
    pub rate: u32,
}

/// How one candidate fared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tried {
    pub name: String,
    pub faults: usize,
    pub time_limit: String,
    pub concurrency: u32,
    pub rate: u32,
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
    pub original_time_limit: String,
    pub original_concurrency: u32,
    #[serde(default)]
    pub original_rate: u32,
    pub faults: usize,
    pub time_limit: String,
    pub concurrency: u32,
    #[serde(default)]
    pub rate: u32,
    /// Failing replays of the smallest candidate, of `replays`.
    pub failed: u32,
    pub replays: u32,
    /// The fewest operations among its failing replays, and that run's
    /// report.
    pub ops: Option<u64>,
    pub report: Option<PathBuf>,
    /// `--confirm`'s replays of the result: how many failed, of how many.
    #[serde(default)]
    pub confirmed: Option<(u32, u32)>,
    pub tried: Vec<Tried>,
}

impl Shrunk {
    /// The replay rate to quote: `--confirm`'s when it ran, else the
    /// result's own candidate's.
    pub fn replay_rate(&self) -> (u32, u32) {
        self.confirmed.unwrap_or((self.failed, self.replays))
    }
}

/// One row of a table of shrinks: what was shrunk (a mutant's name) and
/// how it came out, or none when its failure did not replay.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub shrunk: Option<Shrunk>,
}

/// The table of shrinks as Markdown, as docs/running.md quotes it, with
/// the medians of the ratios over the rows that shrank.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| shrunk | faults | ops | duration | clients × ops/s | fails on replay |\n|---|---|---|---|---|---|\n",
    );
    let (mut fault_ratios, mut op_ratios) = (Vec::new(), Vec::new());
    for r in rows {
        let Some(s) = &r.shrunk else {
            out += &format!("| {} | did not fail again in most replays | | | | |\n", r.name);
            continue;
        };
        let ops = |n: Option<u64>| n.map_or("?".into(), |n| n.to_string());
        let (f, of) = s.replay_rate();
        out += &format!(
            "| {} | {} → {} | {} → {} | {} → {} | {} × {} → {} × {} | {f}/{of} |\n",
            r.name,
            s.original_faults,
            s.faults,
            ops(s.original_ops),
            ops(s.ops),
            s.original_time_limit,
            s.time_limit,
            s.original_concurrency,
            s.original_rate,
            s.concurrency,
            s.rate
        );
        // A shrink to no fault at all counts as the whole count fewer.
        fault_ratios.push(s.original_faults as f64 / s.faults.max(1) as f64);
        if let (Some(a), Some(b)) = (s.original_ops, s.ops) {
            op_ratios.push(a as f64 / b.max(1) as f64);
        }
    }
    let median = |xs: Vec<f64>| report::summary::median(xs).map_or("-".to_string(), |m| format!("{m:.1}×"));
    out += &format!("\nMedian: {} fewer faults, {} fewer operations.\n", median(fault_ratios), median(op_ratios));
    out
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

/// What the failing run measured: its operations, and when its first
/// invalid operation came (none for a node failure).
#[derive(Clone, Copy, Debug, Default)]
struct Measured {
    ops: Option<u64>,
    time_to_invalid: Option<Duration>,
}

impl Measured {
    /// What the run in `dir` measured, as far as its results say.
    fn of(dir: &Path) -> Measured {
        let run = run_dir::read_results(dir).ok().flatten().and_then(|r| r.run);
        Measured {
            ops: run.as_ref().map(|s| s.ops),
            time_to_invalid: run.and_then(|s| s.time_to_invalid_s).map(Duration::from_secs_f64),
        }
    }
}

/// A candidate's time limit while its faults are cut: long enough for its
/// faults (and their holds), and for the failure to show as late as it
/// first did; never longer than the whole run. A failure that needs no
/// fault and came in the first seconds is then tried in a run of seconds,
/// not of a minute.
fn limit_for(steps: &[Step], whole: Duration, measured: Measured) -> Duration {
    match measured.time_to_invalid {
        Some(t) => whole.min(time_needed(steps).max(t + Duration::from_secs(5))),
        None => whole,
    }
}

/// The failing run's options, its scenario and schedule, checked.
fn load(o: &ShrinkOptions) -> Result<(TestOptions, Scenario, ScheduleFile, Measured), ShrinkError> {
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
    Ok((options, scenario, schedule, Measured::of(&o.run)))
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
    /// The latest first invalid operation among the last kept candidate's
    /// failing replays (none if one failed by a node failure).
    best_time_to_invalid: Option<Duration>,
}

impl Shrinker {
    /// Replays `c` up to `replays` times, stopping once the majority is
    /// decided; whether most failed.
    async fn fails(&mut self, c: &Candidate) -> bool {
        let replays = self.replays;
        self.replay(c, replays, true).await
    }

    /// Replays `c` `replays` times (fewer once the majority is decided, if
    /// `decide`); whether most failed.
    async fn replay(&mut self, c: &Candidate, replays: u32, decide: bool) -> bool {
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
        // The latest first invalid op of the failing replays; none once
        // one failed without an invalid op (a node failure).
        let mut latest = Some(Duration::ZERO);
        let need = replays / 2 + 1;
        for r in 0..replays {
            // Stop once most have failed, or once most no longer can.
            let decided = failed_runs >= need || ran - failed_runs > replays - need;
            if crate::interrupt::raised() || (decide && decided) {
                break;
            }
            ran += 1;
            let mut o = self.base.clone();
            o.schedule = Some(schedule.clone());
            o.time_limit = Some(duration_text(Duration::from_millis(c.time_limit_ms)));
            o.concurrency = Some(c.concurrency.to_string());
            o.rate = Some(c.rate.to_string());
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
                    let measured = Measured::of(&dir);
                    latest = latest.zip(measured.time_to_invalid).map(|(a, b)| a.max(b));
                    let run_ops = measured.ops;
                    if ops.is_none() || run_ops < ops {
                        ops = run_ops;
                        report = Some(dir.join("report.html"));
                    }
                }
            }
        }
        let kept = failed_runs >= need;
        println!(
            "shrink: {name}: {} faults, {} clients at {} ops/s, {}: {failed_runs} failed{}",
            c.steps.len(),
            c.concurrency,
            c.rate,
            duration_text(Duration::from_millis(c.time_limit_ms)),
            if kept { ", kept" } else { "" }
        );
        self.tried.push(Tried {
            name,
            faults: c.steps.len(),
            time_limit: duration_text(Duration::from_millis(c.time_limit_ms)),
            concurrency: c.concurrency,
            rate: c.rate,
            failed: failed_runs,
            replays: ran,
            ops,
            kept,
        });
        if kept && decide {
            self.best = (ops, report, failed_runs);
            self.best_time_to_invalid = latest;
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

/// A time limit just past a failure that came at `tti`: 2 s after it (for
/// the ops around it to complete), and not before the last fault has
/// healed; in whole seconds.
fn cut_at(steps: &[Step], tti: Duration) -> Duration {
    let healed = steps.iter().map(|s| s.at_ms + s.hold_ms).max().unwrap_or(0);
    let ms = (tti.as_millis() as u64 + 2000).max(healed);
    Duration::from_secs(ms.div_ceil(1000))
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

/// The run folder a named run made under `dir` (its newest timestamp).
pub fn run_folder(dir: &Path) -> Option<PathBuf> {
    let mut runs: Vec<PathBuf> =
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).filter(|p| p.join("test.json").is_file()).collect();
    runs.sort();
    runs.pop()
}

/// Shrinks the run; 0 when a failing schedule came out, 1 when not even the
/// whole schedule failed again in most replays, 3 when it could not run.
pub async fn main(o: ShrinkOptions) -> u8 {
    if o.dry_run {
        return match plan(&o) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("shrink: {e}");
                BROKEN
            }
        };
    }
    let bins = match Bins::find() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("shrink: {e}");
            return BROKEN;
        }
    };
    match shrink(&o, &bins).await {
        Ok(Some(shrunk)) => {
            if let Some(run) = shrunk.report.as_ref().and_then(|r| r.parent()) {
                println!("shrink: replay it: faultline test --replay {}", run.display());
            }
            0
        }
        Ok(None) => 1,
        Err(e) => {
            eprintln!("shrink: {e}");
            BROKEN
        }
    }
}

/// The failing run loaded and its whole schedule as the first candidate,
/// announced.
fn plan(o: &ShrinkOptions) -> Result<(TestOptions, ScheduleFile, Measured, Candidate), ShrinkError> {
    let (base, scenario, schedule, measured) = load(o)?;
    let whole = Candidate {
        steps: schedule.steps.clone(),
        time_limit_ms: scenario.time_limit.as_millis() as u64,
        concurrency: scenario.concurrency,
        rate: scenario.rate.round() as u32,
    };
    println!(
        "shrink: {}: {} faults, {} clients, {}; each candidate replayed up to {} times",
        o.run.display(),
        whole.steps.len(),
        whole.concurrency,
        duration_text(scenario.time_limit),
        o.replays
    );
    Ok((base, schedule, measured, whole))
}

/// Shrinks the run with `bins` (a mutant's, for a mutant's run) into
/// `--out` (results/shrink-TIMESTAMP by default): what came out, or none
/// when not even the whole schedule failed again in most replays.
pub async fn shrink(o: &ShrinkOptions, bins: &Bins) -> Result<Option<Shrunk>, ShrinkError> {
    let (base, schedule, measured, whole) = plan(o)?;
    let original_ops = measured.ops;
    let batch = Batch::create("shrink", "shrink", o.out.clone()).map_err(ShrinkError::Run)?;
    let mut s = Shrinker {
        base,
        seed: schedule.seed,
        replays: o.replays,
        batch,
        bins: bins.clone(),
        tried: Vec::new(),
        best: (None, None, 0),
        best_time_to_invalid: None,
    };
    if !s.fails(&whole).await && !crate::interrupt::raised() {
        println!("shrink: the whole schedule failed in fewer than half its replays: nothing to shrink from");
        return Ok(None);
    }
    let steps = {
        // ddmin asks one candidate at a time; the lock only lends the
        // shrinker to each in turn.
        let s = &tokio::sync::Mutex::new(&mut s);
        let base = &whole;
        let whole_limit = Duration::from_millis(whole.time_limit_ms);
        ddmin(whole.steps.clone(), |steps| async move {
            let time_limit_ms = limit_for(&steps, whole_limit, measured).as_millis() as u64;
            let candidate = Candidate { steps, time_limit_ms, ..base.clone() };
            s.lock().await.fails(&candidate).await
        })
        .await
    };
    let time_limit_ms = limit_for(&steps, Duration::from_millis(whole.time_limit_ms), measured).as_millis() as u64;
    let mut c = Candidate { steps, time_limit_ms, ..whole.clone() };
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
    // Fewer operations a second, quartered while it still fails (down to
    // 10): the ops a reader must go through fall with them.
    while c.rate >= 40 && !crate::interrupt::raised() {
        let slower = Candidate { rate: c.rate / 4, ..c.clone() };
        if !s.fails(&slower).await {
            break;
        }
        c = slower;
    }
    // The run cut just past its failure: the latest first invalid op of
    // its failing replays, and its faults' end.
    if let Some(tti) = s.best_time_to_invalid.filter(|_| !crate::interrupt::raised()) {
        let cut = Candidate { time_limit_ms: cut_at(&c.steps, tti).as_millis() as u64, ..c.clone() };
        if cut.time_limit_ms < c.time_limit_ms && s.fails(&cut).await {
            c = cut;
        }
    }
    // The winner's replay rate: the runs of its own candidate.
    let (ops, report, failed_runs) = s.best.clone();
    let kept = s.tried.iter().rev().find(|t| t.kept).cloned();
    let confirmed = if o.confirm > 0 && !crate::interrupt::raised() {
        s.replay(&c, o.confirm, false).await;
        s.tried.last().map(|t| (t.failed, t.replays))
    } else {
        None
    };
    // An interrupted shrink stopped partway: what it has is no result.
    if crate::interrupt::raised() {
        return Err(ShrinkError::Run(format!("interrupted; the candidates so far are in {}", s.batch.out.display())));
    }
    let shrunk = Shrunk {
        original: o.run.display().to_string(),
        original_faults: whole.steps.len(),
        original_ops,
        original_time_limit: duration_text(Duration::from_millis(whole.time_limit_ms)),
        original_concurrency: whole.concurrency,
        original_rate: whole.rate,
        faults: c.steps.len(),
        time_limit: duration_text(Duration::from_millis(c.time_limit_ms)),
        concurrency: c.concurrency,
        rate: c.rate,
        failed: failed_runs,
        replays: kept.map_or(0, |t| t.replays),
        ops,
        report: report.clone(),
        confirmed,
        tried: s.tried.clone(),
    };
    let out = &s.batch.out;
    ScheduleFile { seed: schedule.seed, steps: c.steps.clone() }
        .write(&out.join("schedule.json"))
        .and_then(|()| std::fs::write(out.join("shrunk.json"), serde_json::to_vec_pretty(&shrunk).expect("serialises")))
        .map_err(|e| ShrinkError::Run(format!("{}: {e}", out.display())))?;
    let (f, of) = shrunk.replay_rate();
    println!(
        "shrink: {} faults → {}, {} ops → {}, {} clients, {}; failed {f}/{of} replays",
        shrunk.original_faults,
        shrunk.faults,
        original_ops.map_or("?".into(), |n| n.to_string()),
        ops.map_or("?".into(), |n| n.to_string()),
        shrunk.concurrency,
        shrunk.time_limit,
    );
    if let Some(r) = &report {
        println!("shrink: report: {}", r.display());
    }
    Ok(Some(shrunk))
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
        let o =
            ShrinkOptions { run: dir.path().into(), replays: 3, cluster: None, out: None, confirm: 0, dry_run: true };
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
        let (_, _, schedule, measured) = load(&o).unwrap();
        assert!(measured.ops.is_none() && measured.time_to_invalid.is_none());
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
    fn the_table_gives_each_shrink_and_the_median_ratios() {
        let shrunk = |faults: usize, ops: u64, failed: u32, confirmed: Option<(u32, u32)>| Shrunk {
            original: "r".into(),
            original_faults: 10,
            original_ops: Some(60_000),
            original_time_limit: "60s".into(),
            original_concurrency: 10,
            original_rate: 1000,
            faults,
            time_limit: "6s".into(),
            concurrency: 2,
            rate: 250,
            failed,
            replays: 2,
            ops: Some(ops),
            report: None,
            confirmed,
            tried: Vec::new(),
        };
        let rows = [
            Row { name: "a".into(), shrunk: Some(shrunk(0, 1_000, 2, Some((9, 10)))) },
            Row { name: "b".into(), shrunk: Some(shrunk(2, 6_000, 2, None)) },
            Row { name: "c".into(), shrunk: None },
        ];
        let t = table(&rows);
        assert!(t.contains("| a | 10 → 0 | 60000 → 1000 | 60s → 6s | 10 × 1000 → 2 × 250 | 9/10 |"), "{t}");
        assert!(t.contains("| b | 10 → 2 | 60000 → 6000 | 60s → 6s | 10 × 1000 → 2 × 250 | 2/2 |"), "{t}");
        assert!(t.contains("| c | did not fail again"), "{t}");
        // Faults: 10× and 5×; operations: 60× and 10×.
        assert!(t.contains("Median: 7.5× fewer faults, 35.0× fewer operations."), "{t}");
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
        // While faults are cut, a run lasts as long as its faults and its
        // first failure need, never longer than the whole.
        let whole = Duration::from_secs(60);
        let early = Measured { ops: None, time_to_invalid: Some(Duration::from_millis(300)) };
        assert_eq!(limit_for(&[], whole, early), Duration::from_millis(5300));
        assert_eq!(limit_for(&s, whole, early), Duration::from_millis(11_500));
        let late = Measured { ops: None, time_to_invalid: Some(Duration::from_secs(58)) };
        assert_eq!(limit_for(&s, whole, late), whole);
        assert_eq!(limit_for(&[], whole, Measured::default()), whole);
        // Cut 2 s past the failure, in whole seconds, never before the last
        // fault has healed (step 6 at 6 s, held 0.5 s).
        assert_eq!(cut_at(&[], Duration::from_millis(300)), Duration::from_secs(3));
        assert_eq!(cut_at(&s, Duration::from_millis(300)), Duration::from_secs(7));
        assert_eq!(cut_at(&s, Duration::from_millis(9100)), Duration::from_secs(12));
    }
}
