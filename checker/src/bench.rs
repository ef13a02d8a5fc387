//! The contention benchmark (`checker bench`): single-key histories from
//! the simulated store ([`crate::gen`]) with many concurrent processes, the
//! regime where linearizability checkers give up, each checked in a fresh
//! child process so that its time and peak memory are its own.
//!
//! The parent runs `checker bench --case JSON` once per [`Case`]; the child
//! generates the history, checks it and prints one [`CaseResult`] as JSON.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::check::{self, CheckOptions};
use crate::gen::{self, GenOptions};
use crate::history;
use crate::list_append::ListAppend;
use crate::model::ModelName;
use crate::register::Register;
use crate::results::Validity;

/// One history shape to check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub model: ModelName,
    pub processes: usize,
    pub ops: usize,
    /// Fraction of writes, cas and appends that crash.
    pub info_rate: f64,
    /// One read made impossible: the history must come out invalid.
    pub stale_read: bool,
    /// One late read made ambiguous (register only): legal or not, only a
    /// search can tell, so the verdict is not known in advance.
    #[serde(default)]
    pub ambiguous_read: bool,
    pub seed: u64,
    /// Skip the models' proofs without search, to measure the search alone.
    #[serde(default)]
    pub search_only: bool,
}

impl Case {
    /// The generator's options for this case: one key, half reads, and for
    /// the register a quarter each of writes and cas.
    pub fn gen_options(&self) -> GenOptions {
        GenOptions {
            ops: self.ops,
            keys: 1,
            processes: self.processes,
            info_rate: self.info_rate,
            read_rate: 0.5,
            cas_rate: 0.25,
            delete_rate: 0.0,
            stale_read: self.stale_read,
            ambiguous_read: self.ambiguous_read,
            model: self.model,
            seed: self.seed,
        }
    }

    /// The verdict the simulated store guarantees, when it guarantees one.
    pub fn expected(&self) -> Option<Validity> {
        if self.stale_read {
            Some(Validity::Invalid)
        } else if self.ambiguous_read {
            None
        } else {
            Some(Validity::Valid)
        }
    }

    /// What was planted, for the table.
    pub fn planted(&self) -> &'static str {
        if self.stale_read {
            "stale read"
        } else if self.ambiguous_read {
            "ambiguous read"
        } else {
            "none"
        }
    }
}

/// What one child process measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseResult {
    pub case: Case,
    /// valid, invalid or unknown.
    pub verdict: String,
    /// Ops left after pairing (fails dropped).
    pub ops_checked: usize,
    /// Info ops among them.
    pub info_ops: usize,
    /// Checking alone, without generating.
    pub check_ms: f64,
    /// The child's peak resident memory.
    pub peak_rss_mb: f64,
    /// Why the check gave up, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl CaseResult {
    /// Whether the verdict is the one the generator guarantees.
    pub fn correct(&self) -> bool {
        self.case.expected().is_none_or(|v| self.verdict == v.word().to_lowercase())
    }
}

/// The table of the checker-frontier issue, for both models: 20 and 50
/// processes over 10,000 ops with 0–10% crashed ops, 100,000 ops with 20
/// processes, and the smaller and harder rows measured against Porcupine.
/// Each shape is run valid and with one stale read.
pub fn standard_cases(seed: u64, search_only: bool) -> Vec<Case> {
    let shapes: [(usize, usize, f64); 10] = [
        (20, 3_000, 0.02),
        (20, 10_000, 0.0),
        (20, 10_000, 0.01),
        (20, 10_000, 0.05),
        (20, 10_000, 0.10),
        (50, 10_000, 0.0),
        (50, 10_000, 0.05),
        (50, 10_000, 0.10),
        (50, 10_000, 0.20),
        (20, 100_000, 0.01),
    ];
    let mut cases = Vec::new();
    for model in [ModelName::Register, ModelName::ListAppend] {
        // A single-key list of 100,000 ops is read whole by each of its
        // 50,000 reads: over a billion elements, which no checker can even
        // load. List-append stops at 10,000 ops (Jepsen rotates keys for
        // the same reason).
        let fits = |ops: usize| model == ModelName::Register || ops <= 10_000;
        for &(processes, ops, info_rate) in shapes.iter().filter(|s| fits(s.1)) {
            for stale_read in [false, true] {
                cases.push(Case {
                    model,
                    processes,
                    ops,
                    info_rate,
                    stale_read,
                    ambiguous_read: false,
                    seed,
                    search_only,
                });
            }
        }
    }
    // A hundred clients on one key: valid, with a stale read, and with
    // the read no single op proves stale, which only a search settles.
    for model in [ModelName::Register, ModelName::ListAppend] {
        let (processes, ops, info_rate) = (100, 20_000, 0.05);
        let planted: &[(bool, bool)] = if model == ModelName::Register {
            &[(false, false), (true, false), (false, true)]
        } else {
            &[(false, false), (true, false)]
        };
        for &(stale_read, ambiguous_read) in planted {
            cases.push(Case { model, processes, ops, info_rate, stale_read, ambiguous_read, seed, search_only });
        }
    }
    cases
}

/// Which of the standard cases to run.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub model: Option<ModelName>,
    pub max_ops: Option<usize>,
    pub search_only: bool,
}

impl Filter {
    pub fn cases(&self, seed: u64) -> Vec<Case> {
        standard_cases(seed, self.search_only)
            .into_iter()
            .filter(|c| self.model.is_none_or(|m| c.model == m) && self.max_ops.is_none_or(|m| c.ops <= m))
            .collect()
    }
}

/// Generates and checks one case in this process.
pub fn run_case(case: &Case, limit: Duration) -> CaseResult {
    let events = gen::generate(&case.gen_options());
    let history = history::pair_all(events.into_iter().zip(1..)).expect("generated histories are well-formed");
    let opts = CheckOptions { time_limit: Some(limit), search_only: case.search_only, ..CheckOptions::default() };
    let started = Instant::now();
    let results = match case.model {
        ModelName::Register => check::check(&Register, &history, &opts),
        ModelName::ListAppend => check::check(&ListAppend, &history, &opts),
        ModelName::Mixed => check::check_mixed(&history, &opts),
    };
    let check_ms = started.elapsed().as_secs_f64() * 1e3;
    let info_ops = history.ops.iter().flatten().filter(|o| o.kind == history::EventType::Info).count();
    CaseResult {
        case: case.clone(),
        verdict: results.valid.word().to_lowercase(),
        ops_checked: results.ops_checked,
        info_ops,
        check_ms,
        peak_rss_mb: peak_rss_bytes() as f64 / (1 << 20) as f64,
        reason: results.keys.iter().find_map(|k| k.reason.clone()).filter(|_| results.valid == Validity::Unknown),
    }
}

/// Why the children could not be run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot find this executable: {0}")]
    Exe(std::io::Error),
    #[error("case {case}: {why}")]
    Case { case: String, why: String },
}

/// Runs each case in a child process of this executable (`bench --case`),
/// handing each result to `each` as it comes.
pub fn run_in_children(
    cases: &[Case],
    limit: Duration,
    mut each: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>, BenchError> {
    let exe = std::env::current_exe().map_err(BenchError::Exe)?;
    let mut results = Vec::with_capacity(cases.len());
    for c in cases {
        let json = serde_json::to_string(c).expect("cases serialise");
        let child = std::process::Command::new(&exe)
            .args(["bench", "--time-limit", &format!("{}ms", limit.as_millis()), "--case", &json])
            .output();
        let r = child.map_err(|e| e.to_string()).and_then(|o| {
            serde_json::from_slice::<CaseResult>(&o.stdout)
                .map_err(|e| format!("{e}; stderr: {}", String::from_utf8_lossy(&o.stderr).trim()))
        });
        let r = r.map_err(|why| BenchError::Case { case: json, why })?;
        each(&r);
        results.push(r);
    }
    Ok(results)
}

/// 1 when any verdict is wrong (a checker bug), else 2 when any is unknown
/// (only a limit), else 0.
pub fn exit_code(results: &[CaseResult]) -> u8 {
    if results.iter().any(|r| r.verdict != "unknown" && !r.correct()) {
        1
    } else if results.iter().any(|r| r.verdict == "unknown") {
        2
    } else {
        0
    }
}

/// This process's peak resident set, from getrusage.
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0;
    }
    // Linux reports kilobytes.
    usage.ru_maxrss.max(0) as u64 * 1024
}

/// One table row for people.
pub fn row(r: &CaseResult) -> String {
    let c = &r.case;
    format!(
        "| {} | {} | {} | {:.0}% ({}) | {} | {}{} | {:.2} s | {:.0} MB |",
        c.model.as_str(),
        c.processes,
        c.ops,
        c.info_rate * 100.0,
        r.info_ops,
        c.planted(),
        r.verdict,
        if r.verdict == "unknown" || r.correct() { "" } else { " (WRONG)" },
        r.check_ms / 1e3,
        r.peak_rss_mb
    )
}

/// The table's header.
pub const HEADER: &str = "| model | processes | ops | info (ops) | planted | verdict | check time | peak RSS |\n\
                          |---|---|---|---|---|---|---|---|";

/// One run of the limits benchmark: a generated history (`checker gen`
/// arguments) checked by `checker check` under a time and memory limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitCase {
    pub name: String,
    pub gen: Vec<String>,
    pub time_limit_s: f64,
    pub memory_limit_mb: u64,
}

/// What the parent measured of one `checker check` child.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LimitResult {
    pub case: LimitCase,
    /// The verdict word `checker check` printed (valid, INVALID, unknown).
    pub verdict: String,
    /// Why it stopped, when a limit stopped it.
    pub reason: Option<String>,
    pub wall_s: f64,
    pub peak_rss_mb: f64,
}

impl LimitResult {
    /// Whether both limits held: time overrun at most 1 s, memory at most
    /// 10% over.
    pub fn held(&self) -> bool {
        self.wall_s <= self.case.time_limit_s + 1.0 && self.peak_rss_mb <= self.case.memory_limit_mb as f64 * 1.1
    }
}

/// The adversarial inputs of the limits benchmark: single keys of 50 and
/// 100 clients with many crashed ops and deletes (so values repeat and
/// the search, not the version order, must decide), and 100,000-op
/// list-append histories, each under a tight and a loose pair of limits.
pub fn limit_cases(seed: u64) -> Vec<LimitCase> {
    let s = seed.to_string();
    let histories: [(&str, &str); 4] = [
        (
            "register, 50 processes, 100,000 ops, 20% info, deletes, ambiguous read",
            "--ops 100000 --processes 50 --info-rate 0.2 --cas-rate 0.25 --delete-rate 0.05 --ambiguous-read",
        ),
        (
            "register, 100 processes, 20,000 ops, 5% info, deletes, ambiguous read",
            "--ops 20000 --processes 100 --info-rate 0.05 --cas-rate 0.25 --delete-rate 0.05 --ambiguous-read",
        ),
        (
            "register, 50 processes, 100,000 ops, 20% info, deletes, stale read",
            "--ops 100000 --processes 50 --info-rate 0.2 --cas-rate 0.25 --delete-rate 0.05 --stale-read",
        ),
        (
            "list-append, 50 processes, 100,000 ops on 100 keys, 20% info",
            "--ops 100000 --keys 100 --processes 50 --info-rate 0.2 --model list-append",
        ),
    ];
    let mut cases = Vec::new();
    for (name, args) in histories {
        for (time_limit_s, memory_limit_mb) in [(2.0, 200), (10.0, 1000)] {
            let mut gen: Vec<String> = args.split_whitespace().map(str::to_string).collect();
            gen.extend(["--seed".to_string(), s.clone()]);
            cases.push(LimitCase { name: name.to_string(), gen, time_limit_s, memory_limit_mb });
        }
    }
    cases
}

/// Runs each case: `checker gen` into a file under `dir`, then `checker
/// check` on it in a child whose wall time and peak resident memory (from
/// `wait4`) are measured from outside.
pub fn run_limit_cases(
    cases: &[LimitCase],
    dir: &std::path::Path,
    mut each: impl FnMut(&LimitResult),
) -> Result<Vec<LimitResult>, BenchError> {
    use std::os::unix::process::ExitStatusExt;
    let exe = std::env::current_exe().map_err(BenchError::Exe)?;
    let fail = |c: &LimitCase, why: String| BenchError::Case { case: c.name.clone(), why };
    let mut results = Vec::new();
    for c in cases {
        let history = dir.join("history.jsonl");
        let file = std::fs::File::create(&history).map_err(|e| fail(c, e.to_string()))?;
        let status = std::process::Command::new(&exe)
            .arg("gen")
            .args(&c.gen)
            .stdout(file)
            .status()
            .map_err(|e| fail(c, e.to_string()))?;
        if !status.success() {
            return Err(fail(c, format!("checker gen {:?}: {status}", c.gen)));
        }
        let printed = dir.join("check.out");
        let out = std::fs::File::create(&printed).map_err(|e| fail(c, e.to_string()))?;
        let started = Instant::now();
        let child = std::process::Command::new(&exe)
            .args(["check", "--time-limit", &format!("{}ms", (c.time_limit_s * 1e3) as u64)])
            .args(["--memory-limit-mb", &c.memory_limit_mb.to_string()])
            .arg(&history)
            .stdout(out)
            .spawn()
            .map_err(|e| fail(c, e.to_string()))?;
        // SAFETY: wait4 reaps our own child and fills the structs we pass.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let mut status = 0;
        let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
        let wall_s = started.elapsed().as_secs_f64();
        if pid < 0 {
            return Err(fail(c, std::io::Error::last_os_error().to_string()));
        }
        let status = std::process::ExitStatus::from_raw(status);
        let text = std::fs::read_to_string(&printed).map_err(|e| fail(c, e.to_string()))?;
        let first = text.lines().next().unwrap_or_default();
        let verdict = first.split(": ").nth(1).unwrap_or("none").to_string();
        if !matches!(status.code(), Some(0..=2)) {
            return Err(fail(c, format!("checker check: {status}: {text}")));
        }
        let reason = text
            .lines()
            .find_map(|l| l.split_once("undecided: ").map(|(_, r)| r.to_string()))
            .or_else(|| (verdict == "unknown").then(|| first.split(": ").skip(2).collect::<Vec<_>>().join(": ")));
        let r = LimitResult {
            case: c.clone(),
            verdict,
            reason,
            wall_s,
            peak_rss_mb: usage.ru_maxrss.max(0) as f64 / 1024.0,
        };
        each(&r);
        results.push(r);
    }
    Ok(results)
}

/// One row of the limits table.
pub fn limit_row(r: &LimitResult) -> String {
    let c = &r.case;
    format!(
        "| {} | {} | {:.2} s / {:.0} s | {:.0} MB / {} MB | {} | {} |",
        c.name,
        r.verdict,
        r.wall_s,
        c.time_limit_s,
        r.peak_rss_mb,
        c.memory_limit_mb,
        r.reason.as_deref().unwrap_or(""),
        if r.held() { "yes" } else { "**NO**" }
    )
}

/// The limits table's header.
pub const LIMIT_HEADER: &str =
    "| history | verdict | wall / time limit | peak RSS / memory limit | why it stopped | held |\n\
                                |---|---|---|---|---|---|";
