//! The `checker` command line: `run` clients against a cluster and record
//! a history, `check` histories, `export` them to EDN, `gen`erate benchmark
//! histories, and serve a `mock-kv` for benchmarks and fixtures.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

use crate::bench;
use crate::check::{self, CheckOptions, Results, Validity};
use crate::gen::{self, GenOptions};
use crate::history::{self, Event, History, HistoryError};
use crate::list_append::ListAppend;
use crate::model::Model;
use crate::register::Register;

/// Exit code for a history that cannot be checked.
pub const EXIT_UNUSABLE: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "checker", version, about = "Records and checks Jepsen-style histories for linearizability")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    Register,
    ListAppend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Jsonl,
    Edn,
    /// Jepsen's console log (`INFO  jepsen.util - P\t:type\t:f\tvalue`).
    JepsenLog,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check histories (files, or run dirs holding history.jsonl). Prints
    /// one verdict line per file; exits 0 valid, 1 invalid, 2 unknown,
    /// 3 unusable input (the worst over all files: 1 before 3 before 2).
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The model; by default list-append if any op appends, else register.
        #[arg(long, value_enum)]
        model: Option<ModelName>,
        /// Input format; by default edn for *.edn, jepsen-log for *.log, else jsonl.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Stop after this long (e.g. 30s); unfinished keys are unknown.
        #[arg(long, value_parser = parse_duration)]
        time_limit: Option<Duration>,
        /// Most memory (MiB) the memo of one key may use before that key is
        /// unknown.
        #[arg(long, default_value_t = 2048)]
        memory_limit_mb: usize,
        /// Where to write results.json (one input only). A run dir's
        /// results.json is written by default.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Convert a history to Jepsen's EDN (one map per line) on stdout.
    Export {
        path: PathBuf,
        #[arg(long, value_enum, default_value_t = ExportFormat::Edn)]
        format: ExportFormat,
        /// Input format; by default edn for *.edn, jepsen-log for *.log, else jsonl.
        #[arg(long, value_enum)]
        input_format: Option<Format>,
    },
    /// Generate a history from a simulated linearizable store (JSON Lines on
    /// stdout), for benchmarks and tests.
    Gen {
        #[command(flatten)]
        opts: GenOptions,
    },
    /// Check generated single-key histories with many concurrent processes
    /// (the checker's contention benchmark), each in a child process, and
    /// print their verdicts, check times and peak memory as a table.
    Bench {
        /// Seed of every generated history.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Per-case time limit (e.g. 60s); a case past it is unknown.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        time_limit: Duration,
        /// Only cases of this model.
        #[arg(long, value_enum)]
        model: Option<gen::GenModel>,
        /// Only cases with at most this many ops.
        #[arg(long)]
        max_ops: Option<usize>,
        /// Also write every case's result here, as a JSON array.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Skip the models' proofs without search: measure the search alone.
        #[arg(long)]
        search_only: bool,
        /// Run one case (JSON) in this process and print its result: what
        /// the parent runs in each child.
        #[arg(long, hide = true)]
        case: Option<String>,
    },
    /// Run concurrent clients against a cluster, record the history in
    /// OUT/history.jsonl, check it, and write OUT/results.json. Exits 0
    /// valid, 1 invalid, 2 unknown, 3 the run itself failed.
    Run(Box<RunArgs>),
    /// Render RUNDIR/report.html from the run's files (history.jsonl, and
    /// results.json, nemesis.jsonl, test.json when present).
    Report { dir: PathBuf },
    /// Render DIR/index.html: every run under DIR, newest first.
    Index {
        #[arg(default_value = "results")]
        dir: PathBuf,
    },
    /// Serve an in-memory Kv that answers at once (correct, or broken on
    /// purpose): the recorder benchmark's server and the tests' fixtures.
    #[command(hide = true)]
    MockKv {
        #[arg(long, default_value = "127.0.0.1:27200")]
        listen: std::net::SocketAddr,
        #[arg(long, value_enum, default_value_t = crate::mock_kv::Behaviour::Correct)]
        behaviour: crate::mock_kv::Behaviour,
    },
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["cluster", "endpoints"])))]
pub struct RunArgs {
    /// The cluster description (cluster.json).
    #[arg(long, env = "FAULTLINE_CLUSTER")]
    pub cluster: Option<PathBuf>,
    /// Client endpoints HOST:PORT,… instead of a cluster file.
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    #[arg(long, value_enum, default_value_t = crate::workload::Workload::Register)]
    pub workload: crate::workload::Workload,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Target ops per second over all clients; 0 for as fast as they go.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Per-op timeout: a write past it is info (its process retires), a read fails.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Wait between the main phase and the final reads.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub recovery_wait: Duration,
    /// How long the final reads retry.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub final_read_deadline: Duration,
    /// How long to wait for the cluster to serve a first read.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub connect_deadline: Duration,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The run dir: history.jsonl and results.json go here.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite a history already in --out.
    #[arg(long)]
    pub force: bool,
    /// Stop checking after this long; unfinished keys are unknown.
    #[arg(long, value_parser = parse_duration)]
    pub time_limit: Option<Duration>,
    #[command(flatten)]
    pub mix: crate::workload::WorkloadOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Edn,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 30s: {e}"))
}

/// Errors that make an input unusable.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{source}")]
    History { path: PathBuf, source: HistoryError },
}

/// Resolves a run dir to its history file.
pub fn history_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("history.jsonl")
    } else {
        p.to_path_buf()
    }
}

/// The input format of `path` when none was named.
fn format_of(path: &Path, format: Option<Format>) -> Format {
    format.unwrap_or(match path.extension().and_then(|e| e.to_str()) {
        Some("edn") => Format::Edn,
        Some("log") => Format::JepsenLog,
        _ => Format::Jsonl,
    })
}

/// Reads and parses a history file into events and line numbers.
pub fn read_events(path: &Path, format: Option<Format>) -> Result<(Vec<Event>, Vec<usize>), InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io { path: path.into(), source })?;
    let parsed = match format_of(path, format) {
        Format::Jsonl => history::parse_jsonl(&text),
        Format::Edn => crate::edn::parse(&text),
        Format::JepsenLog => crate::jepsen_log::parse(&text),
    };
    parsed.map_err(|source| InputError::History { path: path.into(), source })
}

/// Loads and pairs a history file. JSON Lines are streamed, so memory
/// follows the number of ops, not the size of the file.
pub fn load_history(path: &Path, format: Option<Format>) -> Result<History, InputError> {
    match format_of(path, format) {
        Format::Jsonl => {
            let file = std::fs::File::open(path).map_err(|source| InputError::Io { path: path.into(), source })?;
            history::load_jsonl(file).map_err(|e| match e {
                history::LoadError::Io(source) => InputError::Io { path: path.into(), source },
                history::LoadError::History(source) => InputError::History { path: path.into(), source },
            })
        }
        format @ (Format::Edn | Format::JepsenLog) => {
            let (events, lines) = read_events(path, Some(format))?;
            history::pair_all(events.into_iter().zip(lines))
                .map_err(|source| InputError::History { path: path.into(), source })
        }
    }
}

/// Which model fits a history when none was named.
pub fn infer_model(history: &History) -> ModelName {
    if history.has_appends() {
        ModelName::ListAppend
    } else {
        ModelName::Register
    }
}

/// Checks a paired history with the named model (or the inferred one).
pub fn check_history(
    history: &History,
    model: Option<ModelName>,
    opts: &CheckOptions,
) -> Result<Results, HistoryError> {
    fn run<M: Model>(m: M, h: &History, opts: &CheckOptions) -> Result<Results, HistoryError> {
        h.validate_for(M::accepts, m.name())?;
        Ok(check::check(&m, h, opts))
    }
    match model.unwrap_or_else(|| infer_model(history)) {
        ModelName::Register => run(Register, history, opts),
        ModelName::ListAppend => run(ListAppend, history, opts),
    }
}

/// Pairs and checks events with the named model.
pub fn check_events(
    events: &[Event],
    lines: &[usize],
    model: ModelName,
    opts: &CheckOptions,
) -> Result<(History, Results), HistoryError> {
    let h = history::pair_all(events.iter().cloned().zip(lines.iter().copied()))?;
    let r = check_history(&h, Some(model), opts)?;
    Ok((h, r))
}

/// Writes results as pretty JSON.
pub fn write_results(path: &Path, results: &Results) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut w, results)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Exit-code precedence over several files: invalid, then unusable, then
/// unknown, then valid.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        1 => 3,
        3 => 2,
        2 => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Runs a command; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Check { paths, model, format, time_limit, memory_limit_mb, out } => {
            if out.is_some() && paths.len() > 1 {
                eprintln!("checker: --out takes one input, got {}", paths.len());
                return EXIT_UNUSABLE;
            }
            let opts = CheckOptions { time_limit, max_memo_bytes: memory_limit_mb << 20, ..CheckOptions::default() };
            // Files are checked in parallel (and each one's keys too); the
            // lines come out in the order the files were named.
            let checked: Vec<(PathBuf, Result<Results, String>)> = paths
                .par_iter()
                .map(|p| {
                    let file = history_path(p);
                    let r = load_history(&file, format)
                        .map_err(|e| e.to_string())
                        .and_then(|h| check_history(&h, model, &opts).map_err(|e| e.to_string()));
                    (file, r)
                })
                .collect();
            let mut code = 0;
            let mut tally = [0usize; 4];
            let mut total_ms = 0.0;
            for (p, (file, r)) in paths.iter().zip(checked) {
                let c = match r {
                    Err(e) => {
                        println!("{}: unusable: {e}", file.display());
                        EXIT_UNUSABLE
                    }
                    Ok(results) => {
                        println!("{}: {}", file.display(), results.summary);
                        for f in results.failures.iter().take(5) {
                            println!("  key {}: {}", f.key, f.explanation);
                        }
                        total_ms += results.check_time_ms;
                        let dest = out.clone().or_else(|| p.is_dir().then(|| p.join("results.json")));
                        if let Some(dest) = dest {
                            if let Err(e) = write_results(&dest, &results) {
                                eprintln!("checker: writing {}: {e}", dest.display());
                                return EXIT_UNUSABLE;
                            }
                        }
                        results.valid.exit_code()
                    }
                };
                tally[c.min(3) as usize] += 1;
                code = worse(code, c);
            }
            if paths.len() > 1 {
                println!(
                    "{} files: {} valid, {} invalid, {} unknown, {} unusable; checking took {} in all",
                    paths.len(),
                    tally[0],
                    tally[1],
                    tally[2],
                    tally[3],
                    check::fmt_ms(total_ms)
                );
            }
            code
        }
        Command::Export { path, format: ExportFormat::Edn, input_format } => {
            let file = history_path(&path);
            match read_events(&file, input_format) {
                Ok((events, _)) => {
                    let mut out = BufWriter::new(std::io::stdout().lock());
                    for e in &events {
                        if writeln!(out, "{}", crate::edn::emit(e)).is_err() {
                            return EXIT_UNUSABLE;
                        }
                    }
                    if out.flush().is_err() {
                        return EXIT_UNUSABLE;
                    }
                    0
                }
                Err(e) => {
                    eprintln!("checker: {e}");
                    EXIT_UNUSABLE
                }
            }
        }
        Command::Run(args) => run_clients(*args),
        Command::Report { dir } => match crate::report::render(&dir) {
            Ok(path) => {
                println!("{}", path.display());
                0
            }
            Err(e) => {
                eprintln!("checker report: {e}");
                EXIT_UNUSABLE
            }
        },
        Command::Index { dir } => match crate::index::render(&dir) {
            Ok(path) => {
                println!("{}", path.display());
                0
            }
            Err(e) => {
                eprintln!("checker index: {}: {e}", dir.display());
                EXIT_UNUSABLE
            }
        },
        Command::MockKv { listen, behaviour } => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            rt.block_on(async {
                match tokio::net::TcpListener::bind(listen).await {
                    Ok(l) => {
                        eprintln!("mock-kv ({behaviour:?}) on {listen}");
                        match crate::mock_kv::serve(l, behaviour).await {
                            Ok(()) => 0,
                            Err(e) => {
                                eprintln!("checker mock-kv: {e}");
                                EXIT_UNUSABLE
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("checker mock-kv: cannot listen on {listen}: {e}");
                        EXIT_UNUSABLE
                    }
                }
            })
        }
        Command::Bench { seed, time_limit, model, max_ops, out, search_only, case } => {
            let only = bench::Filter { model, max_ops, search_only };
            bench(seed, time_limit, only, out, case)
        }
        Command::Gen { opts } => {
            let events = gen::generate(&opts);
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            for e in &events {
                if serde_json::to_writer(&mut out, e).is_err() || out.write_all(b"\n").is_err() {
                    return EXIT_UNUSABLE;
                }
            }
            if out.flush().is_err() {
                return EXIT_UNUSABLE;
            }
            0
        }
    }
}

/// `checker bench`: each case in a child process (so its peak memory is
/// its own), or, with `--case`, one case here.
fn bench(seed: u64, limit: Duration, only: bench::Filter, out: Option<PathBuf>, case: Option<String>) -> u8 {
    use crate::bench::{Case, CaseResult};
    if let Some(json) = case {
        return match serde_json::from_str::<Case>(&json) {
            Ok(case) => {
                let r = bench::run_case(&case, limit);
                println!("{}", serde_json::to_string(&r).expect("results serialise"));
                0
            }
            Err(e) => {
                eprintln!("checker bench: --case {json:?}: {e}");
                EXIT_UNUSABLE
            }
        };
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("checker bench: cannot find this executable: {e}");
            return EXIT_UNUSABLE;
        }
    };
    let cases: Vec<Case> = only.cases(seed);
    println!("{}", bench::HEADER);
    let mut results: Vec<CaseResult> = Vec::new();
    for c in cases {
        let json = serde_json::to_string(&c).expect("cases serialise");
        let child = std::process::Command::new(&exe)
            .args(["bench", "--time-limit", &format!("{}ms", limit.as_millis()), "--case", &json])
            .output();
        let parsed = child.map_err(|e| e.to_string()).and_then(|o| {
            serde_json::from_slice::<CaseResult>(&o.stdout)
                .map_err(|e| format!("{e}; stderr: {}", String::from_utf8_lossy(&o.stderr).trim()))
        });
        match parsed {
            Ok(r) => {
                println!("{}", bench::row(&r));
                results.push(r);
            }
            Err(e) => {
                eprintln!("checker bench: case {json}: {e}");
                return EXIT_UNUSABLE;
            }
        }
    }
    if let Some(path) = out {
        let written = std::fs::File::create(&path)
            .map_err(|e| e.to_string())
            .and_then(|f| serde_json::to_writer_pretty(BufWriter::new(f), &results).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("checker bench: writing {}: {e}", path.display());
            return EXIT_UNUSABLE;
        }
    }
    // A wrong verdict is a checker bug; an unknown is only a limit.
    if results.iter().any(|r| r.verdict != "unknown" && !r.correct()) {
        1
    } else if results.iter().any(|r| r.verdict == "unknown") {
        2
    } else {
        0
    }
}

/// `checker run`: resolves the endpoints, runs, prints the summary.
fn run_clients(a: RunArgs) -> u8 {
    let endpoints = match &a.cluster {
        Some(path) if a.endpoints.is_empty() => match cluster::Cluster::load(path) {
            Ok(c) => c.endpoints(),
            Err(e) => {
                eprintln!("checker run: {e}");
                return EXIT_UNUSABLE;
            }
        },
        _ => a.endpoints.clone(),
    };
    let bad = |msg: String| {
        eprintln!("checker run: {msg}");
        EXIT_UNUSABLE
    };
    if endpoints.is_empty()
        || endpoints.iter().any(|e| e.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()))
    {
        return bad(format!("--endpoints {:?}: each must be HOST:PORT", endpoints.join(",")));
    }
    if a.concurrency == 0 {
        return bad("--concurrency must be at least 1".into());
    }
    if !(a.rate >= 0.0 && a.rate.is_finite()) {
        return bad(format!("--rate {}: must be 0 (unlimited) or a positive number", a.rate));
    }
    if a.timeout.is_zero() {
        return bad("--timeout must be positive".into());
    }
    let workload = a.workload;
    let opts = crate::runner::RunOptions {
        endpoints,
        workload,
        mix: a.mix,
        concurrency: a.concurrency,
        rate: a.rate,
        duration: a.duration,
        timeout: a.timeout,
        recovery_wait: a.recovery_wait,
        final_read_deadline: a.final_read_deadline,
        connect_deadline: a.connect_deadline,
        seed: a.seed,
        out: a.out,
        force: a.force,
        check: CheckOptions { time_limit: a.time_limit, ..CheckOptions::default() },
        progress: true,
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(crate::runner::run(opts)) {
        Ok(outcome) => {
            println!("{}", crate::runner::summary(&outcome, workload));
            outcome.results.valid.exit_code()
        }
        Err(e) => bad(e.to_string()),
    }
}

impl Validity {
    /// The verdict as results.json spells it.
    pub fn json(self) -> serde_json::Value {
        serde_json::to_value(self).expect("validity serialises")
    }
}
