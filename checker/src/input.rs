//! Reading histories from files: the formats, the run-dir convention,
//! pairing, choosing a model, and writing results.json. Shared by the
//! `checker` command and the workload runner.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::check::{self, CheckOptions};
use crate::history::{self, Event, History, HistoryError, OpType};
use crate::list_append::ListAppend;
use crate::model::{Model, ModelName};
use crate::register::Register;
use crate::results::Results;

/// A history file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Edn,
    /// Jepsen's console log (`INFO  jepsen.util - P\t:type\t:f\tvalue`).
    JepsenLog,
    /// etcd's robustness report: a client's `operations.json`, or a report
    /// folder holding `client-N/operations.json`.
    EtcdRobustness,
}

/// Errors that make an input unusable.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{source}")]
    History { path: PathBuf, source: HistoryError },
    /// A limit ran out before the history was loaded: not the input's
    /// fault, and no verdict.
    #[error("{0}")]
    Limit(history::LoadError),
}

/// Resolves a run dir to its history file (an etcd robustness report
/// folder stays itself: its history is its clients' files).
pub fn history_path(p: &Path) -> PathBuf {
    if p.is_dir() && !robustness_files(p).is_empty() {
        p.to_path_buf()
    } else if p.is_dir() {
        p.join("history.jsonl")
    } else {
        p.to_path_buf()
    }
}

/// The `client-N/operations.json` files of an etcd robustness report
/// folder, in client order.
fn robustness_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix("client-")?.parse().ok()?;
            let f = e.path().join("operations.json");
            f.is_file().then_some((n, f))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, f)| f).collect()
}

/// The input format of `path` when none was named.
fn format_of(path: &Path, format: Option<Format>) -> Format {
    format.unwrap_or(match path.extension().and_then(|e| e.to_str()) {
        _ if path.is_dir() || path.file_name().is_some_and(|n| n == "operations.json") => Format::EtcdRobustness,
        Some("edn") => Format::Edn,
        Some("log") => Format::JepsenLog,
        _ => Format::Jsonl,
    })
}

/// Reads and parses a history file into events and line numbers.
pub fn read_events(path: &Path, format: Option<Format>) -> Result<(Vec<Event>, Vec<usize>), InputError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|source| InputError::Io { path: p.into(), source });
    if format_of(path, format) == Format::EtcdRobustness {
        let files = if path.is_dir() { robustness_files(path) } else { vec![path.to_path_buf()] };
        let texts = files.iter().map(|f| read(f)).collect::<Result<Vec<String>, _>>()?;
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        return crate::etcd_robustness::parse(&texts)
            .map_err(|source| InputError::History { path: path.into(), source });
    }
    let text = read(path)?;
    let parsed = match format_of(path, format) {
        Format::Jsonl => history::parse_jsonl(&text),
        Format::Edn => crate::edn::parse(&text),
        Format::JepsenLog => crate::jepsen_log::parse(&text),
        Format::EtcdRobustness => unreachable!("read above"),
    };
    parsed.map_err(|source| InputError::History { path: path.into(), source })
}

/// Loads and pairs a history file. JSON Lines are streamed, so memory
/// follows the number of ops, not the size of the file, and read twice so
/// that list reads share their key's longest ([`history::LongestReads`]).
pub fn load_history(path: &Path, format: Option<Format>) -> Result<History, InputError> {
    load_history_within(path, format, None)
}

/// [`load_history`], stopping when `budget` runs out: JSON Lines between
/// blocks; the other formats, parsed whole, once parsed.
pub fn load_history_within(
    path: &Path,
    format: Option<Format>,
    budget: Option<&crate::limits::Budget>,
) -> Result<History, InputError> {
    match format_of(path, format) {
        Format::Jsonl => {
            let open = || std::fs::File::open(path).map_err(|source| InputError::Io { path: path.into(), source });
            let loaded = |e| match e {
                history::LoadError::Io(source) => InputError::Io { path: path.into(), source },
                history::LoadError::History(source) => InputError::History { path: path.into(), source },
                limit @ history::LoadError::Limit { .. } => InputError::Limit(limit),
            };
            // Two passes when there are lists: each key's longest list read
            // first, so that the other reads of the key share it.
            let lists = match history::may_have_list_reads(open()?) {
                Ok(true) => history::longest_reads_jsonl(open()?, budget).map_err(loaded)?,
                Ok(false) => history::LongestReads::default(),
                Err(source) => return Err(InputError::Io { path: path.into(), source }),
            };
            history::load_jsonl_sharing(open()?, lists, budget).map_err(loaded)
        }
        format @ (Format::Edn | Format::JepsenLog | Format::EtcdRobustness) => {
            // Parsed whole: the limits are looked at once it is done.
            let (events, lines) = read_events(path, Some(format))?;
            if let Some(abort) = budget.and_then(crate::limits::Budget::look_now) {
                let read_bytes = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
                return Err(InputError::Limit(history::LoadError::Limit { abort, read_bytes }));
            }
            history::pair_all(events.into_iter().zip(lines))
                .map_err(|source| InputError::History { path: path.into(), source })
        }
    }
}

/// Which model fits a history when none was named: list-append when it
/// has list keys (appended to, or read as a list: a list nobody has
/// appended to yet reads as `[]`), mixed when it also writes, cas-es or
/// deletes, else register.
pub fn infer_model(history: &History) -> ModelName {
    let register_only = [OpType::Write, OpType::Cas, OpType::Delete];
    let lists = history.has_appends() || history.ops.iter().any(|ops| check::is_list_key(ops));
    match (lists, register_only.iter().any(|f| history.first_line.contains_key(f))) {
        (true, true) => ModelName::Mixed,
        (true, false) => ModelName::ListAppend,
        (false, _) => ModelName::Register,
    }
}

/// A mixed history must keep its kinds of key apart: a key that appends
/// (or reads as a list) is a list, and a list cannot be written, cas-ed
/// or deleted.
fn validate_mixed(h: &History) -> Result<(), HistoryError> {
    h.validate_for(|f| Register::accepts(f) || ListAppend::accepts(f), ModelName::Mixed.as_str())?;
    for (key, ops) in h.keys.iter().zip(&h.ops) {
        if check::is_list_key(ops) {
            if let Some(op) = ops.iter().find(|o| !ListAppend::accepts(o.f)) {
                let line = h.first_line.get(&op.f).copied().unwrap_or(0);
                return Err(HistoryError::new(
                    line,
                    "f",
                    format!(
                        "key {key} is a list (appended to, or read as a list) and also takes a {} ({}): in a mixed \
                         history a key is a list or a register, not both",
                        op.f,
                        op.words()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a paired history with the named model (or the inferred one).
pub fn check_history(
    history: &History,
    model: Option<ModelName>,
    opts: &CheckOptions,
) -> Result<Results, HistoryError> {
    fn run<M: Model>(m: M, h: &History, opts: &CheckOptions) -> Result<Results, HistoryError> {
        h.validate_for(M::accepts, m.name().as_str())?;
        Ok(check::check(&m, h, opts))
    }
    match model.unwrap_or_else(|| infer_model(history)) {
        ModelName::Register => run(Register, history, opts),
        ModelName::ListAppend => run(ListAppend, history, opts),
        ModelName::Mixed => {
            validate_mixed(history)?;
            Ok(check::check_mixed(history, opts))
        }
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

/// Writes `doc` (results.json, a summary, a benchmark) as pretty JSON with
/// a final newline: the one writer of the rig's JSON files.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, doc: &T) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut w, doc)?;
    w.write_all(b"\n")?;
    w.flush()
}
