//! `faultline`: see the library's docs. Parsing and dispatch only.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faultline::bench_node::BenchNodeOptions;
use faultline::detect::DetectOptions;
use faultline::ledger::LedgerCommand;
use faultline::matrix::MatrixOptions;
use faultline::mutants::MutantsOptions;
use faultline::run::{self, Bins, Run, BROKEN};
use faultline::scenario::{Scenario, TestOptions};
use faultline::shrink::ShrinkOptions;
use faultline::{batch, bench_node, detect, interrupt, ledger, matrix, mutants, shrink};
use report::run_dir::Verdict;

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "A Jepsen-style black-box test rig: compose a test, run it, check it",
    after_help = "test, matrix, mutants, detect, ledger, shrink and hosts need root (network namespaces, iptables, the nodes' \
                  processes); plan, check, report and summary do not."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one fault-injection test: hosts, fresh nodes, the nemesis and
    /// the clients together, heal, final reads, logs, report. Exits 0
    /// valid, 1 invalid, 2 unknown, 3 the run itself broke, 4 a node
    /// failed. Needs root.
    Test {
        #[command(flatten)]
        options: Box<TestOptions>,
        /// Run the test a run folder's test.json records (its plan, seed
        /// and every option), instead of one built from the options: give
        /// the run folder or its test.json.
        #[arg(long, value_name = "TEST_JSON", conflicts_with = "TestOptions")]
        replay: Option<PathBuf>,
        /// Only build and check the scenario, print it, and exit: nothing
        /// is started (and root is not needed).
        #[arg(long, alias = "dry-run")]
        check: bool,
    },
    /// Every run of a plan (the nightly matrix by default) over several
    /// seeds and systems, then a summary and an index page. Exits 0 when
    /// every run is valid, 1 when any is not, 3 when the batch broke.
    /// Needs root.
    Matrix(Box<MatrixOptions>),
    /// The mutation suite: each planted bug (mutants/*.patch) built apart
    /// and run over seeds; exits 0 when every run of every mutant was
    /// caught invalid. Needs root, except --list and --check.
    Mutants(Box<MutantsOptions>),
    /// Each unsafe setting of a node (or etcd) under the faults chosen to
    /// expose it, over seeds: how many runs were caught, how fast. Needs
    /// root.
    Detect(Box<DetectOptions>),
    /// The bug ledger (docs/findings/ledger.json): every finding in a
    /// system we did not write, every hunt for a published bug, every
    /// unsafe setting and every mutant, each with what its test came to
    /// when last run. `verify` runs rows again and rewrites it.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Cut a failing run down to a small reproducer: replay its fault
    /// schedule, fewer faults by delta debugging, a shorter run, fewer
    /// clients; each candidate replayed several times. Needs root.
    Shrink(Box<ShrinkOptions>),
    /// List the plans, or show one.
    Plan {
        /// A plan's name; every plan when not given.
        name: Option<String>,
    },
    /// Summarise result folders (a batch's, or the slices of one from many
    /// machines, gathered under --out) into summary.json, summary.txt and
    /// index.html.
    Summary {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to gather several folders (needed for more than one).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit 0 only when every run ended with this verdict.
        #[arg(long, value_enum, default_value_t = Verdict::Valid)]
        expect: Verdict,
    },
    /// Check histories: `checker check`, with its options.
    #[command(disable_help_flag = true)]
    Check {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Render a run folder's report.html.
    Report { dir: PathBuf },
    /// Benchmark raftkv on a local three-node cluster on loopback: writes
    /// and linearizable reads at each client count, over TLS and
    /// plaintext; one JSON line per point.
    BenchNode(Box<BenchNodeOptions>),
    /// Bring the local test hosts up or down: `nemesis hosts`, with its
    /// options. Needs root.
    #[command(disable_help_flag = true)]
    Hosts {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    // A command line clap refuses is a bad option, exit 3 as every other
    // (clap's own 2 would read as an unknown verdict); help is not.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { BROKEN } else { 0 });
        }
    };
    ExitCode::from(match cli.command {
        Cmd::Test { options, replay, check } => test(*options, replay, check),
        Cmd::Matrix(o) => block_on(matrix::main(*o)),
        Cmd::Mutants(o) => block_on(mutants::main(*o)),
        Cmd::Detect(o) => block_on(detect::main(*o)),
        Cmd::Ledger(c) => block_on(ledger::main(c)),
        Cmd::Shrink(o) => block_on(shrink::main(*o)),
        Cmd::Plan { name } => plan(name),
        Cmd::Summary { dirs, out, expect } => summary(&dirs, out, expect),
        Cmd::Check { args } => exec("checker", "check", &args),
        Cmd::Report { dir } => match report::render(&dir) {
            Ok(path) => {
                println!("{}", path.display());
                0
            }
            Err(e) => {
                eprintln!("faultline report: {}: {e}", dir.display());
                BROKEN
            }
        },
        Cmd::Hosts { args } => exec("nemesis", "hosts", &args),
        Cmd::BenchNode(o) => block_on(bench_node::main(*o)),
    })
}

/// Runs `f` on a runtime that watches SIGINT and SIGTERM.
fn block_on(f: impl Future<Output = u8>) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline: no async runtime: {e}");
            return BROKEN;
        }
    };
    rt.block_on(async {
        if let Err(e) = interrupt::watch() {
            eprintln!("faultline: cannot watch for signals: {e}");
            return BROKEN;
        }
        f.await
    })
}

/// Becomes another of the rig's binaries (beside this one, or in
/// `$FAULTLINE_BIN_DIR`), with `sub` and `args`.
fn exec(binary: &str, sub: &str, args: &[String]) -> u8 {
    use std::os::unix::process::CommandExt;
    let path = match Bins::folder() {
        Ok(d) => d.join(binary),
        Err(e) => {
            eprintln!("faultline: {e}");
            return BROKEN;
        }
    };
    let e = std::process::Command::new(&path).arg(sub).args(args).exec();
    eprintln!("faultline: {} did not start: {e}", path.display());
    BROKEN
}

fn test(options: TestOptions, replay: Option<PathBuf>, check: bool) -> u8 {
    let options = match replay {
        None => options,
        Some(path) => match TestOptions::replaying(&path) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("run-test: {e}");
                return BROKEN;
            }
        },
    };
    let scenario = match Scenario::build(&options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("run-test: {e}");
            return BROKEN;
        }
    };
    if check {
        println!("{}", scenario.summary());
        return 0;
    }
    let started = Bins::find().and_then(|bins| Run::start(scenario, bins, &run::results_root(), true));
    let run = match started {
        Ok(r) => r,
        Err(e) => {
            eprintln!("run-test: {e}");
            return BROKEN;
        }
    };
    block_on(run::run(run))
}

fn plan(name: Option<String>) -> u8 {
    let shown = match name {
        None => plans::all(),
        Some(n) => match plans::find(&n) {
            Ok(p) => vec![p],
            Err(e) => {
                eprintln!("faultline plan: {e}");
                return BROKEN;
            }
        },
    };
    for p in shown {
        println!(
            "{}: {} ({} run{}, {} seed{} each in a matrix)",
            p.name,
            p.purpose,
            p.runs.len(),
            if p.runs.len() == 1 { "" } else { "s" },
            p.seeds,
            if p.seeds == 1 { "" } else { "s" }
        );
        for (i, r) in p.runs.iter().enumerate() {
            println!("  run {i}: {}", r.args().join(" "));
        }
    }
    0
}

fn summary(dirs: &[PathBuf], out: Option<PathBuf>, expect: Verdict) -> u8 {
    match (dirs, out) {
        ([dir], None) => batch::summarise(dir, expect),
        (_, Some(out)) => batch::merge(dirs, &out, expect),
        (_, None) => {
            eprintln!("faultline summary: {} folders: give --out DIR to gather them in", dirs.len());
            BROKEN
        }
    }
}
