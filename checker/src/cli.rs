//! The `checker` command line: `check` histories, `export` them to EDN, and
//! `gen`erate benchmark histories.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{self, CheckOptions, Results, Validity};
use crate::gen::{self, GenOptions};
use crate::history::{self, Event, History, HistoryError, OpType};
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
        /// Input format; by default edn for *.edn files, else jsonl.
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
        /// Input format; by default edn for *.edn files, else jsonl.
        #[arg(long, value_enum)]
        input_format: Option<Format>,
    },
    /// Generate a history from a simulated linearizable store (JSON Lines on
    /// stdout), for benchmarks and tests.
    Gen {
        #[command(flatten)]
        opts: GenOptions,
    },
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
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
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

/// Reads and parses a history file into events and line numbers.
pub fn read_events(path: &Path, format: Option<Format>) -> Result<(Vec<Event>, Vec<usize>), InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io { path: path.into(), source })?;
    let format = format.unwrap_or(if path.extension().is_some_and(|e| e == "edn") { Format::Edn } else { Format::Jsonl });
    let parsed = match format {
        Format::Jsonl => history::parse_jsonl(&text),
        Format::Edn => crate::edn::parse(&text),
    };
    parsed.map_err(|source| InputError::History { path: path.into(), source })
}

/// Which model fits these events when none was named.
pub fn infer_model(events: &[Event]) -> ModelName {
    if events.iter().any(|e| e.f == "append") {
        ModelName::ListAppend
    } else {
        ModelName::Register
    }
}

/// Pairs and checks events with the named model.
pub fn check_events(
    events: &[Event],
    lines: &[usize],
    model: ModelName,
    opts: &CheckOptions,
) -> Result<(History, Results), HistoryError> {
    fn run<M: Model>(
        m: M,
        events: &[Event],
        lines: &[usize],
        opts: &CheckOptions,
    ) -> Result<(History, Results), HistoryError> {
        let accepts: fn(OpType) -> bool = M::accepts;
        let h = history::pair(events, lines, accepts, m.name())?;
        let r = check::check(&m, &h, opts);
        Ok((h, r))
    }
    match model {
        ModelName::Register => run(Register, events, lines, opts),
        ModelName::ListAppend => run(ListAppend, events, lines, opts),
    }
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
            let opts = CheckOptions { time_limit, max_memo_bytes: memory_limit_mb << 20 };
            let mut code = 0;
            for p in &paths {
                let file = history_path(p);
                let c = match read_events(&file, format) {
                    Err(e) => {
                        println!("{}: unusable: {e}", file.display());
                        EXIT_UNUSABLE
                    }
                    Ok((events, lines)) => {
                        let m = model.unwrap_or_else(|| infer_model(&events));
                        match check_events(&events, &lines, m, &opts) {
                            Err(e) => {
                                println!("{}: unusable: {e}", file.display());
                                EXIT_UNUSABLE
                            }
                            Ok((_, results)) => {
                                println!("{}: {}", file.display(), results.summary);
                                for f in results.failures.iter().take(5) {
                                    println!("  key {}: {}", f.key, f.explanation);
                                }
                                let dest = out.clone().or_else(|| p.is_dir().then(|| p.join("results.json")));
                                if let Some(dest) = dest {
                                    if let Err(e) = write_results(&dest, &results) {
                                        eprintln!("checker: writing {}: {e}", dest.display());
                                        return EXIT_UNUSABLE;
                                    }
                                }
                                results.valid.exit_code()
                            }
                        }
                    }
                };
                code = worse(code, c);
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

impl Validity {
    /// The verdict as results.json spells it.
    pub fn json(self) -> serde_json::Value {
        serde_json::to_value(self).expect("validity serialises")
    }
}
