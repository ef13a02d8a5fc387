//! A run folder's records as typed structs: `test.json`, what was run and
//! how it ended (written by `faultline test`),
//! and `results.json` ([`checker::results::ResultsFile`]). Written and read
//! with serde only; no script assembles or picks apart this JSON.

use std::path::{Path, PathBuf};

use checker::results::ResultsFile;
use serde::{Deserialize, Serialize};

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started, not finished (or killed before it could say).
    Running,
    /// Finished with a verdict.
    Done,
    /// The run itself failed: no verdict.
    Broken,
}

/// `test.json`: what was run, with which binaries, and how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    pub name: String,
    /// The system under test (`faultline test --db`): raftkv, etcd, or
    /// the name of a system described by commands. raftkv's and etcd's
    /// versions are among `versions`.
    #[serde(default = "raftkv")]
    pub db: String,
    /// UTC, `YYYYMMDDTHHMMSSZ`: the run folder's name.
    pub timestamp: String,
    pub status: RunStatus,
    /// The run's exit code once it finished: 0 valid, 1 invalid, 2
    /// unknown, 3 broken.
    pub exit_code: Option<i32>,
    pub time_limit: String,
    pub faults: String,
    pub workload: String,
    pub concurrency: u64,
    pub rate: f64,
    pub interval: String,
    pub seed: u64,
    /// The cluster file, or "local test hosts".
    pub cluster: String,
    pub node_args: String,
    /// The named plan the run's options came from (`faultline plan`), and
    /// which of its runs.
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub plan_run: usize,
    /// `checker run`'s workload options (keys, ops per key, op mix).
    #[serde(default)]
    pub workload_args: String,
    pub leave_running: bool,
    /// The commit the binaries were built from (`-dirty` with local changes).
    pub git_commit: String,
    /// Each binary's `--version`.
    pub versions: Vec<BinaryVersion>,
    /// The system under test as it was given (`--db`: a system described
    /// by commands is given by its file), for a replay.
    #[serde(default)]
    pub db_arg: String,
    /// The data dirs were lossyfs mounts.
    #[serde(default)]
    pub lossy_fs: bool,
    /// The nodes ran plaintext, peers unauthenticated.
    #[serde(default)]
    pub insecure: bool,
    /// etcd served its reads serializable (possibly stale).
    #[serde(default)]
    pub serializable_reads: bool,
    /// The fault schedule the run replayed (`faultline test --schedule`),
    /// instead of dealing faults from its seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<PathBuf>,
}

/// Records written before there was a choice tested raftkv.
pub(crate) fn raftkv() -> String {
    "raftkv".into()
}

/// One binary's name and what its `--version` printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryVersion {
    pub name: String,
    pub version: String,
}

/// A run's outcome, from its status and exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Invalid,
    Unknown,
    /// A node panicked, refused to come back after a fault that left its
    /// files whole, or the cluster served no final read ([`crate::health`]).
    NodeFailed,
    Broken,
    Running,
}

/// The exit code of a run whose system failed beyond its history
/// ([`Verdict::NodeFailed`]).
pub const NODE_FAILED_EXIT: i32 = 4;

impl Verdict {
    /// Whether a run that ended so meets `expect`. A node failure meets an
    /// expected invalid verdict too: both are the system's failure, and a
    /// mutation suite counts either as caught.
    pub fn meets(self, expect: Verdict) -> bool {
        self == expect || (expect == Verdict::Invalid && self == Verdict::NodeFailed)
    }
}

impl TestRecord {
    /// The record as (field, value) rows, sorted by field, for a report's
    /// summary table.
    pub fn rows(&self) -> Vec<(String, String)> {
        let serde_json::Value::Object(fields) = serde_json::to_value(self).expect("a test record serialises") else {
            unreachable!("a struct serialises to an object")
        };
        fields.into_iter().map(|(k, v)| (k, plain(&v))).collect()
    }

    pub fn verdict(&self) -> Verdict {
        match (self.status, self.exit_code) {
            (RunStatus::Running, _) => Verdict::Running,
            (RunStatus::Done, Some(0)) => Verdict::Valid,
            (RunStatus::Done, Some(1)) => Verdict::Invalid,
            (RunStatus::Done, Some(2)) => Verdict::Unknown,
            (RunStatus::Done, Some(NODE_FAILED_EXIT)) => Verdict::NodeFailed,
            _ => Verdict::Broken,
        }
    }
}

/// A record's field as a person reads it: a list as its items, a binary's
/// version as `name: version`, never raw JSON.
fn plain(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        Value::Object(m) => match (m.get("name"), m.get("version")) {
            (Some(Value::String(n)), Some(Value::String(v))) => format!("{n}: {v}"),
            _ => m.iter().map(|(k, v)| format!("{k} {}", plain(v))).collect::<Vec<_>>().join(", "),
        },
        other => other.to_string(),
    }
}

/// A record that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    /// The nemesis events file holds a line that is not an event.
    #[error("{path}: {detail}")]
    Events { path: PathBuf, detail: String },
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RecordError> {
    let text = std::fs::read(path).map_err(|source| RecordError::Io { path: path.into(), source })?;
    serde_json::from_slice(&text).map_err(|source| RecordError::Json { path: path.into(), source })
}

/// Reads RUN/test.json.
pub fn read_test(run: &Path) -> Result<TestRecord, RecordError> {
    read(&run.join("test.json"))
}

/// Reads RUN/test.json, or nothing when the folder has none (a run of
/// `checker run` alone).
pub fn read_test_if_any(run: &Path) -> Result<Option<TestRecord>, RecordError> {
    read_if_any(&run.join("test.json"))
}

/// Reads RUN/results.json, or nothing when the run wrote none.
pub fn read_results(run: &Path) -> Result<Option<ResultsFile>, RecordError> {
    read_if_any(&run.join("results.json"))
}

fn read_if_any<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, RecordError> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Writes `record` as RUN/test.json (whole, through a temporary file).
pub fn write_test(run: &Path, record: &TestRecord) -> Result<(), RecordError> {
    let path = run.join("test.json");
    let tmp = run.join("test.json.new");
    let io = |source| RecordError::Io { path: path.clone(), source };
    let text = serde_json::to_vec_pretty(record).expect("a test record serialises");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TestRecord {
        TestRecord {
            name: "a \"quoted\" name\\with\nodd characters".into(),
            db: "raftkv".into(),
            timestamp: "20260101T000000Z".into(),
            status: RunStatus::Done,
            exit_code: Some(1),
            time_limit: "30s".into(),
            faults: "partition,kill".into(),
            workload: "register".into(),
            concurrency: 10,
            rate: 100.0,
            interval: "8s".into(),
            seed: 7,
            cluster: "local test hosts".into(),
            node_args: "--unsafe-no-fsync \"x\"".into(),
            plan: "hunt".into(),
            plan_run: 0,
            workload_args: "--active-keys 3".into(),
            leave_running: false,
            git_commit: "abc-dirty".into(),
            versions: vec![BinaryVersion { name: "raftkv".into(), version: "raftkv 0.1.0".into() }],
            db_arg: String::new(),
            lossy_fs: false,
            insecure: false,
            serializable_reads: false,
            schedule: None,
        }
    }

    #[test]
    fn a_record_reads_as_words_not_json() {
        let mut r = record();
        r.versions.push(BinaryVersion { name: "etcd".into(), version: "etcd Version: 3.4.23".into() });
        let rows: std::collections::BTreeMap<String, String> = r.rows().into_iter().collect();
        assert_eq!(rows["versions"], "raftkv: raftkv 0.1.0, etcd: etcd Version: 3.4.23");
        assert!(rows.values().all(|v| !v.contains('{') && !v.contains('[')), "{rows:?}");
    }

    #[test]
    fn a_record_survives_any_string_and_gives_its_verdict() {
        let dir = tempfile::tempdir().unwrap();
        write_test(dir.path(), &record()).unwrap();
        let back = read_test(dir.path()).unwrap();
        assert_eq!(back, record());
        assert_eq!(back.verdict(), Verdict::Invalid);
        let running = TestRecord { status: RunStatus::Running, exit_code: None, ..record() };
        assert_eq!(running.verdict(), Verdict::Running);
        let broken = TestRecord { status: RunStatus::Broken, exit_code: Some(3), ..record() };
        assert_eq!(broken.verdict(), Verdict::Broken);
    }
}
