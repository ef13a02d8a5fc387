//! The history format: events as JSON Lines, their validation, and their
//! pairing into operations.
//!
//! One event per line (see `docs/history-format.md`):
//! `{"index":0,"time":123,"process":3,"type":"invoke","f":"write","key":7,"value":4}`.
//!
//! Semantics (Jepsen's):
//! - `ok`: took effect exactly once, between invoke and completion;
//! - `fail`: did not take effect (dropped before checking);
//! - `info`: may take effect at any point after its invoke, or never;
//! - an invoke left without a completion at the end counts as `info`;
//! - a process has at most one outstanding op, and never issues again
//!   after an `info`;
//! - events of the process `"nemesis"` are kept for reports and ignored by
//!   the models.
//!
//! Real-time order is the order of lines: the recorder has one writer that
//! appends events as it observes them, so line order is observation order.
//! Operation A precedes B exactly when A's completion line comes before B's
//! invoke line.
//!
//! Layout: the event types live here; [`Value`] and its JSON form in
//! `value`; the JSON Lines parser and the streaming loader in `parse`; the
//! pairing of events into per-key [`Op`]s in `pair`; list reads sharing
//! one list per key in `share`.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

mod pair;
mod parse;
mod share;
mod value;

pub use pair::{pair, pair_all, AcceptsFn, Action, History, NemesisEvent, Op, OpCounts, Pairer, NEVER};
pub use parse::{
    load_jsonl, load_jsonl_sharing, longest_reads_jsonl, may_have_list_reads, parse_jsonl, parse_jsonl_from,
    parse_line, LoadError,
};
pub use share::LongestReads;
pub use value::{Seq, Value};

/// Who issued an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

/// The four event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// The operation functions the models know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    Read,
    Write,
    Cas,
    Append,
    /// Removes the key: a write of nil, so a later read finds it absent.
    Delete,
    /// A transaction of micro-ops over several keys ([`crate::txn`]): never
    /// part of a single-key history, which refuses it.
    Txn,
}

impl OpType {
    pub fn parse(s: &str) -> Option<OpType> {
        Some(match s {
            "read" => OpType::Read,
            "write" => OpType::Write,
            "cas" => OpType::Cas,
            "append" => OpType::Append,
            "delete" => OpType::Delete,
            "txn" => OpType::Txn,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Read => "read",
            OpType::Write => "write",
            OpType::Cas => "cas",
            OpType::Append => "append",
            OpType::Delete => "delete",
            OpType::Txn => "txn",
        }
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as written in a history file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub index: u64,
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Why a history cannot be checked. Always names the line and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: field `{field}`: {message}")]
pub struct HistoryError {
    pub line: usize,
    pub field: &'static str,
    pub message: String,
}

impl HistoryError {
    pub fn new(line: usize, field: &'static str, message: impl Into<String>) -> HistoryError {
        HistoryError { line, field, message: message.into() }
    }
}
