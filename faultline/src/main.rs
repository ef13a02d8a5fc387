//! `faultline`: see the library's docs. Parsing and dispatch only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faultline::run::{self, Bins, Run, BROKEN};
use faultline::scenario::{duration_text, Scenario, TestOptions};

#[derive(Parser)]
#[command(name = "faultline", version, about = "A Jepsen-style black-box test rig: compose a test, run it, check it")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one fault-injection test: hosts, fresh nodes, the nemesis and
    /// the clients together, heal, final reads, logs, report. Exits 0
    /// valid, 1 invalid, 2 unknown, 3 the run itself broke. Needs root.
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
        #[arg(long)]
        check: bool,
    },
    /// List the plans, or show one.
    Plan {
        /// A plan's name; every plan when not given.
        name: Option<String>,
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
        Cmd::Plan { name } => plan(name),
    })
}

fn test(options: TestOptions, replay: Option<PathBuf>, check: bool) -> u8 {
    let options = match replay {
        None => options,
        Some(path) => {
            let dir = if path.is_dir() {
                path.clone()
            } else if path.file_name() == Some("test.json".as_ref()) {
                path.parent().map(PathBuf::from).unwrap_or_default()
            } else {
                eprintln!("run-test: --replay {}: give a run folder or its test.json", path.display());
                return BROKEN;
            };
            match report::run_dir::read_test(&dir) {
                Ok(record) => TestOptions::from_record(&record),
                Err(e) => {
                    eprintln!("run-test: --replay {}: {e}", path.display());
                    return BROKEN;
                }
            }
        }
    };
    let scenario = match Scenario::build(&options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("run-test: {e}");
            return BROKEN;
        }
    };
    if check {
        println!(
            "{}: {} on {}, plan {} run {}, {} faults every {}, {} clients at {} ops/s, {}, seed {}",
            scenario.name,
            scenario.workload_name(),
            scenario.db.name(),
            scenario.plan,
            scenario.plan_run,
            scenario.faults_arg(),
            duration_text(scenario.interval),
            scenario.concurrency,
            scenario.rate,
            duration_text(scenario.time_limit),
            scenario.seed
        );
        return 0;
    }
    let started = Bins::find().and_then(|bins| Run::start(scenario, bins));
    let run = match started {
        Ok(r) => r,
        Err(e) => {
            eprintln!("run-test: {e}");
            return BROKEN;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("run-test: no async runtime: {e}");
            return BROKEN;
        }
    };
    rt.block_on(run::run(run))
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
            "{}: {} ({} run{}, {} seeds a night)",
            p.name,
            p.purpose,
            p.runs.len(),
            if p.runs.len() == 1 { "" } else { "s" },
            p.seeds
        );
        for (i, r) in p.runs.iter().enumerate() {
            println!("  run {i}: {}", r.args().join(" "));
        }
    }
    0
}
