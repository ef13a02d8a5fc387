//! The `checker` command line: `check` histories, `export` them to EDN,
//! `gen`erate and `bench` single-key histories, `run` clients against a
//! cluster, and render `report` and `index` pages. Parsing and dispatch
//! only: the work is in the `checker`, `runner` and `report` libraries.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use checker::bench;
use checker::check::{self, CheckOptions};
use checker::gen::{self, GenOptions};
use checker::input::{check_history, history_path, load_history_within, read_events, write_json, Format, InputError};
use checker::model::ModelName;
use checker::results::{clip_line, Results};
use checker::txn::{self, gen::GenOptions as TxnGenOptions, Model as TxnModel};
use clap::{Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

/// One file's results, or the exit code and message of why there are none.
type Checked = Result<Results, (u8, String)>;

/// Exit code for a history that cannot be checked.
pub const EXIT_UNUSABLE: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "checker", version, about = "Records and checks Jepsen-style histories for linearizability")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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
        /// Stop this long after the command started, loading included (e.g.
        /// 30s); keys not decided by then are unknown.
        #[arg(long, value_parser = flags::duration)]
        time_limit: Option<Duration>,
        /// Most memory (MiB) the whole process may hold resident: when it
        /// is reached, the keys still undecided are unknown (and a history
        /// still loading is not checked).
        #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
        memory_limit_mb: u64,
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
    /// Check a transaction history (list-append micro-ops, `f: "txn"`)
    /// against a consistency model, as Elle does: prints the verdict and
    /// each anomaly class found, explained. Exits 0 valid, 1 invalid, 3
    /// unusable input.
    Txn {
        path: PathBuf,
        /// The model the system claims.
        #[arg(long, value_enum, default_value_t = TxnModel::StrictSerializable)]
        model: TxnModel,
        /// Input format; by default edn for *.edn, else jsonl.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Where to write the results as JSON.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where to write an HTML page of the verdict, each anomaly
        /// explained and each cycle drawn.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Generate a list-append transaction history from a simulated store
    /// (JSON Lines on stdout).
    TxnGen {
        #[command(flatten)]
        opts: TxnGenOptions,
    },
    /// Stream a generated transaction history into the checker (in two
    /// passes over the generator; no event is held) and check it, printing
    /// one table row: sizes, times, verdict, peak memory.
    TxnBench {
        #[command(flatten)]
        opts: TxnGenOptions,
    },
    /// Check adversarial generated histories under time and memory limits,
    /// each `checker check` in a child measured from outside, and print
    /// wall time against the time limit and peak resident memory against
    /// the memory limit as a table. Exits 1 if a limit did not hold.
    LimitsBench {
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Check generated single-key histories with many concurrent processes
    /// (the checker's contention benchmark), each in a child process, and
    /// print their verdicts, check times and peak memory as a table.
    Bench {
        /// Seed of every generated history.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Per-case time limit (e.g. 60s); a case past it is unknown.
        #[arg(long, default_value = "60s", value_parser = flags::duration)]
        time_limit: Duration,
        /// Only cases of this model.
        #[arg(long, value_enum)]
        model: Option<ModelName>,
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
    /// Check the public cas-register histories and compare each verdict
    /// with the one their project's tests assert: Porcupine's Jepsen etcd
    /// logs and Knossos's EDN histories (give checkouts of the
    /// repositories). Prints each disagreement and the totals; exits 1 on
    /// any disagreement.
    #[command(group(clap::ArgGroup::new("corpora").required(true).multiple(true).args(["porcupine", "knossos"])))]
    Corpus {
        /// A checkout of github.com/anishathalye/porcupine.
        #[arg(long)]
        porcupine: Option<PathBuf>,
        /// A checkout of github.com/jepsen-io/knossos.
        #[arg(long)]
        knossos: Option<PathBuf>,
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
    /// With --endpoints: connect over TLS, trusting this CA certificate
    /// (PEM). A cluster file names its own.
    #[arg(long, value_name = "FILE", requires = "endpoints")]
    pub tls_ca: Option<PathBuf>,
    /// etcd and NATS: reads served by the member alone, possibly stale
    /// (etcd's serializable reads, NATS's direct gets), instead of
    /// linearizable ones (NATS: the stream leader's).
    #[arg(long)]
    pub serializable_reads: bool,
    /// Drive the system through an external adapter program instead of a
    /// built-in client: a shell-quoted command line, started once per
    /// client, speaking JSON Lines on stdin/stdout (docs/systems.md).
    #[arg(long, value_name = "COMMAND", conflicts_with = "serializable_reads")]
    pub adapter: Option<String>,
    #[arg(long, value_enum, default_value_t = runner::workload::Workload::Register)]
    pub workload: runner::workload::Workload,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Target ops per second over all clients; 0 for as fast as they go.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    #[arg(long, default_value = "60s", value_parser = flags::duration)]
    pub duration: Duration,
    /// Per-op timeout: a write past it is info (its process retires), a read fails.
    #[arg(long, default_value = "1s", value_parser = flags::duration)]
    pub timeout: Duration,
    /// Wait between the main phase and the final reads.
    #[arg(long, default_value = "5s", value_parser = flags::duration)]
    pub recovery_wait: Duration,
    /// How long the final reads retry.
    #[arg(long, default_value = "30s", value_parser = flags::duration)]
    pub final_read_deadline: Duration,
    /// How long to wait for the cluster to serve a first read.
    #[arg(long, default_value = "15s", value_parser = flags::duration)]
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
    #[arg(long, value_parser = flags::duration)]
    pub time_limit: Option<Duration>,
    #[command(flatten)]
    pub mix: runner::workload::WorkloadOptions,
    #[command(flatten)]
    pub txn: runner::txn::TxnOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Edn,
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
            let started = std::time::Instant::now();
            let memory_limit = Some((memory_limit_mb as usize) << 20);
            let opts = CheckOptions { time_limit, since: Some(started), memory_limit, ..CheckOptions::default() };
            let budget = checker::limits::Budget::new(time_limit.map(|t| started + t), memory_limit);
            // Files are checked in parallel (and each one's keys too); the
            // lines come out in the order the files were named.
            let checked: Vec<(PathBuf, Checked)> = paths
                .par_iter()
                .map(|p| {
                    let file = history_path(p);
                    let r = match load_history_within(&file, format, Some(&budget)) {
                        Err(e @ InputError::Limit(_)) => Err((2, e.to_string())),
                        Err(e) => Err((EXIT_UNUSABLE, e.to_string())),
                        Ok(h) => check_history(&h, model, &opts).map_err(|e| (EXIT_UNUSABLE, e.to_string())),
                    };
                    (file, r)
                })
                .collect();
            let mut code = 0;
            let mut tally = [0usize; 4];
            let mut total_ms = 0.0;
            for (p, (file, r)) in paths.iter().zip(checked) {
                let c = match r {
                    Err((2, e)) => {
                        println!("{}: unknown: {e}", file.display());
                        2
                    }
                    Err((code, e)) => {
                        println!("{}: unusable: {e}", file.display());
                        code
                    }
                    Ok(results) => {
                        let dest = out.clone().or_else(|| p.is_dir().then(|| p.join("results.json")));
                        let whole = match &dest {
                            Some(d) => d.display().to_string(),
                            None => "results.json (checker check --out FILE)".to_string(),
                        };
                        println!("{}: {}", file.display(), clip_line(&results.summary, &whole));
                        for f in results.failures.iter().take(5) {
                            println!("  key {}: {}", f.key, clip_line(&f.explanation, &whole));
                        }
                        let undecided = results.keys.iter().filter(|k| k.linearized.is_some());
                        for k in undecided.take(5) {
                            println!("  key {}: undecided: {}", k.key, k.reason.as_deref().unwrap_or("a limit"));
                        }
                        total_ms += results.check_time_ms;
                        if let Some(dest) = dest {
                            if let Err(e) = write_json(&dest, &results) {
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
                        if writeln!(out, "{}", checker::edn::emit(e)).is_err() {
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
        Command::Report { dir } => match report::render(&dir) {
            Ok(path) => {
                println!("{}", path.display());
                0
            }
            Err(e) => {
                eprintln!("checker report: {e}");
                EXIT_UNUSABLE
            }
        },
        Command::Index { dir } => match report::index::render(&dir) {
            Ok(path) => {
                println!("{}", path.display());
                0
            }
            Err(e) => {
                eprintln!("checker index: {}: {e}", dir.display());
                EXIT_UNUSABLE
            }
        },
        Command::Corpus { porcupine, knossos } => corpus(porcupine, knossos),
        Command::Bench { seed, time_limit, model, max_ops, out, search_only, case } => {
            let only = bench::Filter { model, max_ops, search_only };
            bench(seed, time_limit, only, out, case)
        }
        Command::Txn { path, model, format, out, report } => check_txns(&path, model, format, out, report),
        Command::TxnGen { opts } => write_events(txn::gen::Generator::new(&opts)),
        Command::TxnBench { opts } => txn_bench(&opts),
        Command::LimitsBench { seed } => limits_bench(seed),
        Command::Gen { opts } => write_events(gen::generate(&opts)),
    }
}

/// `checker bench`: each case in a child process (so its peak memory is
/// its own), or, with `--case`, one case here.
fn bench(seed: u64, limit: Duration, only: bench::Filter, out: Option<PathBuf>, case: Option<String>) -> u8 {
    if let Some(json) = case {
        return match serde_json::from_str::<bench::Case>(&json) {
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
    println!("{}", bench::HEADER);
    let results = match bench::run_in_children(&only.cases(seed), limit, |r| println!("{}", bench::row(r))) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("checker bench: {e}");
            return EXIT_UNUSABLE;
        }
    };
    if let Some(path) = out {
        if let Err(e) = write_json(&path, &results) {
            eprintln!("checker bench: writing {}: {e}", path.display());
            return EXIT_UNUSABLE;
        }
    }
    bench::exit_code(&results)
}

/// `checker limits-bench`: the limits table.
fn limits_bench(seed: u64) -> u8 {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("checker limits-bench: a scratch dir: {e}");
            return EXIT_UNUSABLE;
        }
    };
    println!("{}", bench::LIMIT_HEADER);
    match bench::run_limit_cases(&bench::limit_cases(seed), dir.path(), |r| println!("{}", bench::limit_row(r))) {
        Ok(results) => u8::from(!results.iter().all(bench::LimitResult::held)),
        Err(e) => {
            eprintln!("checker limits-bench: {e}");
            EXIT_UNUSABLE
        }
    }
}

/// `checker corpus`: lists, checks and compares.
fn corpus(porcupine: Option<PathBuf>, knossos: Option<PathBuf>) -> u8 {
    use checker::corpus;
    let mut known = Vec::new();
    let listed = porcupine
        .iter()
        .map(|p| corpus::porcupine(p))
        .chain(knossos.iter().map(|k| corpus::knossos(k)))
        .try_for_each(|l| l.map(|l| known.extend(l)));
    if let Err(e) = listed {
        eprintln!("checker corpus: {e}");
        return EXIT_UNUSABLE;
    }
    let started = std::time::Instant::now();
    let checked = corpus::check_all(&known, &CheckOptions::default());
    let wall = started.elapsed().as_secs_f64();
    for c in checked.iter().filter(|c| !c.agrees()) {
        let got =
            c.got.map_or_else(|| format!("unusable ({})", c.error.as_deref().unwrap_or("?")), |v| v.word().into());
        println!("differs: {}: expected {}, got {got}", c.path.display(), c.expected.word());
    }
    let agree = checked.iter().filter(|c| c.agrees()).count();
    let check_ms: f64 = checked.iter().map(|c| c.check_ms).sum();
    println!(
        "{} histories, {agree} verdicts agree; checking took {} in all; loading and checking took {wall:.3} s",
        checked.len(),
        check::fmt_ms(check_ms)
    );
    u8::from(agree != checked.len())
}

/// `checker run`: resolves the endpoints, runs, prints the summary.
fn run_clients(a: RunArgs) -> u8 {
    let bad = |msg: String| {
        eprintln!("checker run: {msg}");
        EXIT_UNUSABLE
    };
    use runner::store::StoreKind;
    // --adapter names the client, whatever the system.
    let adapter = match &a.adapter {
        None => None,
        Some(cmd) => match shlex::split(cmd) {
            Some(program) if !program.is_empty() => Some(StoreKind::Adapter { program }),
            _ => return bad(format!("--adapter {cmd:?}: not a command line (empty, or unbalanced quotes)")),
        },
    };
    let (endpoints, store) = match &a.cluster {
        Some(path) if a.endpoints.is_empty() => match cluster::Cluster::load(path) {
            Ok(c) => {
                let store = match (&c.db, adapter) {
                    (_, Some(adapter)) => adapter,
                    (cluster::DbKind::Etcd, None) => StoreKind::Etcd { serializable: a.serializable_reads },
                    (cluster::DbKind::Nats, None) => StoreKind::Nats { direct: a.serializable_reads },
                    (cluster::DbKind::Command(db), None) => match &db.adapter {
                        Some(program) => StoreKind::Adapter { program: program.clone() },
                        None => {
                            return bad(format!(
                                "cluster file {}: its system {} names no client adapter (db.adapter); give one \
                                 with --adapter",
                                path.display(),
                                db.name
                            ))
                        }
                    },
                    (cluster::DbKind::Raftkv, None) => match c.client_tls() {
                        Ok(tls) => StoreKind::Raftkv { tls },
                        Err(e) => return bad(format!("cluster file {}: tls.ca: {e}", path.display())),
                    },
                };
                (c.endpoints(), store)
            }
            Err(e) => return bad(e.to_string()),
        },
        _ => match (adapter, a.tls_ca.as_deref().map(runner::ClientTls::load).transpose()) {
            (Some(adapter), _) => (a.endpoints.clone(), adapter),
            (None, Ok(tls)) => (a.endpoints.clone(), StoreKind::Raftkv { tls }),
            (None, Err(e)) => return bad(format!("--tls-ca: {e}")),
        },
    };
    if a.serializable_reads && !matches!(store, StoreKind::Etcd { .. } | StoreKind::Nats { .. }) {
        return bad("--serializable-reads is for etcd and NATS clusters; a raftkv node's read mode is its \
                    --read-consistency flag"
            .into());
    }
    let workload = a.workload;
    let opts = runner::RunOptions {
        endpoints,
        store,
        workload,
        mix: a.mix,
        txn: a.txn,
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
    if let Err(e) = opts.validate() {
        return bad(e.to_string());
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(runner::run(opts)) {
        Ok(outcome) => {
            println!("{}", runner::summary(&outcome, workload));
            outcome.results.valid.exit_code()
        }
        Err(e) => bad(e.to_string()),
    }
}

/// `checker txn`: one history, one model.
fn check_txns(
    path: &std::path::Path,
    model: TxnModel,
    format: Option<Format>,
    out: Option<PathBuf>,
    report: Option<PathBuf>,
) -> u8 {
    let checked = read_events(path, format)
        .map_err(|e| e.to_string())
        .and_then(|(events, lines)| txn::pair_txns(&events, &lines).map_err(|e| e.to_string()))
        .and_then(|h| txn::check(&h, model).map_err(|e| e.to_string()));
    let results = match checked {
        Ok(r) => r,
        Err(e) => {
            println!("{}: unusable: {e}", path.display());
            return EXIT_UNUSABLE;
        }
    };
    let whole = out.as_ref().map_or("the results (checker txn --out FILE)".to_string(), |o| o.display().to_string());
    println!("{}: {}", path.display(), clip_line(&results.summary(), &whole));
    let mut shown = std::collections::BTreeSet::new();
    for a in results.anomalies.iter().filter(|a| model.prohibits(a.class)) {
        // One example of each class.
        if shown.insert(a.class) {
            println!("  {}: {}", a.class.name(), clip_line(&a.explanation, &whole));
        }
    }
    if let Some(o) = out {
        if let Err(e) = write_json(&o, &results) {
            eprintln!("checker txn: writing {}: {e}", o.display());
            return EXIT_UNUSABLE;
        }
    }
    if let Some(page) = report {
        if let Err(e) = report::txn::write(&page, &path.display().to_string(), &results) {
            eprintln!("checker txn: writing {}: {e}", page.display());
            return EXIT_UNUSABLE;
        }
    }
    u8::from(!results.valid)
}

/// `checker txn-bench`: one generated history, checked in this process, so
/// that the peak memory is the check's (and the history's).
fn txn_bench(opts: &TxnGenOptions) -> u8 {
    let started = std::time::Instant::now();
    // Streamed, in two passes over the same generated history (it is
    // deterministic): the first finds each key's longest read, the second
    // pairs, with reads sharing those lists. No event is held.
    let mut longest = txn::LongestReads::default();
    txn::gen::Generator::new(opts).for_each(|e| longest.add(&e));
    let mut pairer = txn::Pairer::sharing(longest);
    let paired = txn::gen::Generator::new(opts).enumerate().try_for_each(|(i, e)| pairer.feed(&e, i + 1));
    let h = match paired.and_then(|()| pairer.finish()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("checker txn-bench: {e}");
            return EXIT_UNUSABLE;
        }
    };
    let generated = started.elapsed().as_secs_f64();
    let paired_rss = bench::peak_rss_bytes() as f64 / (1 << 20) as f64;
    let r = match txn::check(&h, TxnModel::StrictSerializable) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("checker txn-bench: {e}");
            return EXIT_UNUSABLE;
        }
    };
    println!(
        "| transactions | keys | micro-ops | stale | generate + pair | peak RSS paired | check | verdict | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | 1-{} | {} | {generated:.1} s | {paired_rss:.0} MB | {:.1} s | {} | {:.0} MB |",
        opts.txns,
        opts.keys,
        opts.max_mops,
        opts.stale,
        r.check_time_ms / 1000.0,
        if r.valid { "valid" } else { "invalid" },
        bench::peak_rss_bytes() as f64 / (1 << 20) as f64
    );
    0
}

/// Events as JSON Lines on stdout.
fn write_events(events: impl IntoIterator<Item = checker::history::Event>) -> u8 {
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    for e in events {
        if serde_json::to_writer(&mut out, &e).is_err() || out.write_all(b"\n").is_err() {
            return EXIT_UNUSABLE;
        }
    }
    if out.flush().is_err() {
        return EXIT_UNUSABLE;
    }
    0
}
