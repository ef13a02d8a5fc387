//! What a check found, as `results.json` holds it: the verdict per key,
//! each failure structured for the report, and for a live run what the run
//! did. Written by `checker check` and `checker run`, read back by the
//! reports and summaries (`report::run_dir`), with serde both ways: one
//! definition of the file.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::history::{Action, EventType, Op, OpCounts, OpType, Value};
use crate::model::ModelName;

/// A verdict: `true`, `false`, or `"unknown"` in JSON. Unknown is never
/// valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Validity {
    Valid,
    Unknown,
    Invalid,
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Validity::Valid),
            Raw::Bool(false) => Ok(Validity::Invalid),
            Raw::Word(w) if w == "unknown" => Ok(Validity::Unknown),
            Raw::Word(w) => Err(de::Error::custom(format!("valid is {w:?}: expected true, false or \"unknown\""))),
        }
    }
}

impl Validity {
    pub fn word(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "unknown",
        }
    }

    /// Exit code convention: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

/// One op, as results and reports show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpView {
    pub process: u64,
    pub f: OpType,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub value: Value,
    pub invoke_index: u64,
    pub complete_index: Option<u64>,
}

impl OpView {
    pub fn of(op: &Op) -> OpView {
        let value = match &op.action {
            Action::Read(v) | Action::Write(v) | Action::Append(v) => v.clone(),
            Action::Cas(e, n) => Value::List(vec![e.clone(), n.clone()].into()),
        };
        OpView {
            process: op.process,
            f: op.f,
            kind: op.kind,
            value,
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
        }
    }
}

/// The verdict on one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyResult {
    pub key: Value,
    pub valid: Validity,
    pub ops: usize,
    pub time_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An undecided key's progress: how many of its ops (after the
    /// model's preparation) the longest linearizable prefix found held
    /// when a limit stopped the search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearized: Option<usize>,
}

/// Why one key is not linearizable, structured for the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyFailure {
    pub key: Value,
    /// A plain sentence, e.g. "read of key 7 returned 3, but every possible
    /// state held 4 or 5".
    pub explanation: String,
    /// The first op that could not be linearized.
    pub op: OpView,
    /// The longest linearizable prefix found, in linearization order.
    pub linearized_prefix: Vec<OpView>,
    /// The model states the search could be in at that point.
    pub candidate_states: Vec<Value>,
    /// Every checked op of the key, for the explanation view.
    pub key_ops: Vec<OpView>,
}

/// The longest verdict or explanation line printed to a terminal, in
/// bytes. A value in an explanation can be megabytes long; the whole text
/// stays in `results.json`.
pub const MAX_PRINTED_LINE: usize = 4096;

/// `text` cut to at most [`MAX_PRINTED_LINE`] bytes (at a character
/// boundary), saying how much was cut and where the whole is (`whole`).
pub fn clip_line<'a>(text: &'a str, whole: &str) -> std::borrow::Cow<'a, str> {
    if text.len() <= MAX_PRINTED_LINE {
        return text.into();
    }
    let mut end = MAX_PRINTED_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} … [{} more bytes cut; the whole text is in {whole}]", &text[..end], text.len() - end).into()
}

/// What `checker check` writes as results.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub valid: Validity,
    pub model: ModelName,
    pub summary: String,
    pub events: usize,
    pub ops_checked: usize,
    pub keys_checked: usize,
    pub invalid_keys: Vec<Value>,
    pub unknown_keys: Vec<Value>,
    pub op_counts: OpCounts,
    pub check_time_ms: f64,
    pub keys: Vec<KeyResult>,
    pub failures: Vec<KeyFailure>,
}

/// `results.json`: the check's results and, for a live run, what the run
/// did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    #[serde(flatten)]
    pub check: Results,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunStats>,
    /// For a run of transactions: the isolation check, whose verdict is
    /// `check`'s (`check` then holds no per-key results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<crate::txn::TxnResults>,
}

impl ResultsFile {
    /// Why the history is invalid, in one example: the first key's
    /// explanation, or for transactions the first anomaly the model rules
    /// out, named by its class.
    pub fn first_explanation(&self) -> Option<String> {
        if let Some(f) = self.check.failures.first() {
            return Some(f.explanation.clone());
        }
        let t = self.txn.as_ref()?;
        let a = t.anomalies.iter().find(|a| t.model.prohibits(a.class))?;
        Some(format!("{}: {}", a.class.name(), a.explanation))
    }
}

/// Latency percentiles of completed ops, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// What a live run did, besides the verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// What the stored keys start with: key 7 is stored as PREFIX7.
    pub key_prefix: String,
    pub duration_s: f64,
    pub ops: u64,
    pub ops_per_s: f64,
    /// Completions by f, then by type.
    pub counts: OpCounts,
    /// Latency of ok ops.
    pub latency_ms: Latency,
    pub keys: i64,
    pub final_reads_ok: u64,
    pub final_reads_missing: Vec<i64>,
    /// list-append only: acknowledged appends missing from the final read,
    /// per key.
    pub lost_writes: BTreeMap<i64, Vec<i64>>,
    pub lost_write_count: usize,
    /// When invalid: seconds from the first event to the invoke of the
    /// earliest op that could not be linearized.
    pub time_to_invalid_s: Option<f64>,
    /// Answers in which the system said it broke an invariant of its own
    /// (gRPC INTERNAL from the server). Absent from older results files.
    #[serde(default, skip_serializing_if = "InternalErrors::is_empty")]
    pub internal_errors: InternalErrors,
}

/// The answers of a run in which the system said it broke an invariant of
/// its own: how many, and the first few as they were recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternalErrors {
    pub count: u64,
    pub first: Vec<String>,
}

impl InternalErrors {
    /// How many answers are kept word for word.
    pub const KEPT: usize = 3;

    pub fn add(&mut self, answer: String) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(answer);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckOptions;
    use crate::history::parse_jsonl;
    use crate::input::check_events;

    #[test]
    fn a_results_file_reads_back_as_it_was_written() {
        // A stale read: write 1, write 2, then a read of 1.
        let text = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":1,"value":1}
{"index":2,"time":2,"process":0,"type":"invoke","f":"write","key":1,"value":2}
{"index":3,"time":3,"process":0,"type":"ok","f":"write","key":1,"value":2}
{"index":4,"time":4,"process":1,"type":"invoke","f":"read","key":1,"value":null}
{"index":5,"time":5,"process":1,"type":"ok","f":"read","key":1,"value":1}
"#;
        let (events, lines) = parse_jsonl(text).unwrap();
        let (_, check) = check_events(&events, &lines, ModelName::Register, &CheckOptions::default()).unwrap();
        assert_eq!(check.valid, Validity::Invalid);
        let mut stats = RunStats { ops: 3, time_to_invalid_s: Some(0.5), ..Default::default() };
        stats.counts.entry(OpType::Read).or_default().insert(EventType::Ok, 1);
        stats.lost_writes.insert(1, vec![4]);
        let file = ResultsFile { check, run: Some(stats), txn: None };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        let read = |path: &std::path::Path| serde_json::from_slice::<ResultsFile>(&std::fs::read(path).unwrap());
        crate::input::write_json(&path, &file).unwrap();
        assert_eq!(read(&path).unwrap(), file);
        // An offline check has no run section.
        let offline = ResultsFile { run: None, ..file };
        crate::input::write_json(&path, &offline).unwrap();
        assert_eq!(read(&path).unwrap(), offline);
    }

    #[test]
    fn a_verdict_that_is_not_one_names_what_it_got() {
        let err = serde_json::from_str::<Validity>(r#""maybe""#).unwrap_err().to_string();
        assert!(err.contains(r#"valid is "maybe": expected true, false or "unknown""#), "{err}");
        assert_eq!(serde_json::from_str::<Validity>(r#""unknown""#).unwrap(), Validity::Unknown);
        assert_eq!(serde_json::from_str::<Validity>("false").unwrap(), Validity::Invalid);
    }
}

#[cfg(test)]
mod clip_tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_at_a_character_boundary_saying_where_the_rest_is() {
        assert_eq!(clip_line("short", "results.json"), "short");
        let long = "é".repeat(MAX_PRINTED_LINE);
        let cut = clip_line(&long, "results.json");
        assert!(cut.len() < MAX_PRINTED_LINE + 100, "{}", cut.len());
        assert!(
            cut.ends_with(&format!(
                "[{} more bytes cut; the whole text is in results.json]",
                long.len() - MAX_PRINTED_LINE
            )),
            "{cut}"
        );
    }
}
