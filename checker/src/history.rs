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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A key or a value: an integer, a string, null (absent), or a list (what a
/// list-append read returns; also a cas's `[expected, new]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Value {
    #[default]
    Nil,
    Int(i64),
    Str(Box<str>),
    List(std::sync::Arc<[Value]>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => s.serialize_none(),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Str(v) => s.serialize_str(v),
            Value::List(l) => l.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer, a string, null or a list")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v).map(Value::Int).map_err(|_| E::custom(format!("integer {v} does not fit in 64 bits")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.into()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Value::List(out.into()))
            }
        }
        d.deserialize_any(V)
    }
}

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
}

impl OpType {
    pub fn parse(s: &str) -> Option<OpType> {
        Some(match s {
            "read" => OpType::Read,
            "write" => OpType::Write,
            "cas" => OpType::Cas,
            "append" => OpType::Append,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Read => "read",
            OpType::Write => "write",
            OpType::Cas => "cas",
            OpType::Append => "append",
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

#[derive(Deserialize)]
struct RawEvent<'a> {
    index: Option<u64>,
    time: Option<u64>,
    #[serde(borrow)]
    process: Option<RawProcess<'a>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    f: Option<Cow<'a, str>>,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Value,
    #[serde(default, borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProcess<'a> {
    Int(u64),
    #[serde(borrow)]
    Name(Cow<'a, str>),
}

/// Parses one JSON line (1-based `line` for errors) into an event.
pub fn parse_line(text: &str, line: usize) -> Result<Event, HistoryError> {
    let raw: RawEvent = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // serde_json names the offending field only in some messages.
        let field = ["index", "time", "process", "type", "f", "key", "value"]
            .into_iter()
            .find(|f| msg.contains(&format!("`{f}`")))
            .unwrap_or("(json)");
        HistoryError::new(line, field, format!("malformed event: {msg}"))
    })?;
    let process = match raw.process {
        Some(RawProcess::Int(p)) => Process::Client(p),
        Some(RawProcess::Name(n)) if n == "nemesis" => Process::Nemesis,
        Some(RawProcess::Name(n)) => {
            return Err(HistoryError::new(line, "process", format!("{n:?} is neither an integer nor \"nemesis\"")))
        }
        None => return Err(HistoryError::new(line, "process", "missing")),
    };
    let kind = raw.kind.ok_or_else(|| HistoryError::new(line, "type", "missing"))?;
    let kind = EventType::parse(&kind)
        .ok_or_else(|| HistoryError::new(line, "type", format!("{kind:?} is not one of invoke, ok, fail, info")))?;
    let f = raw.f.ok_or_else(|| HistoryError::new(line, "f", "missing"))?.into_owned();
    Ok(Event {
        index: raw.index.unwrap_or(line as u64 - 1),
        time: raw.time.unwrap_or(0),
        process,
        kind,
        f,
        key: raw.key,
        value: raw.value,
        error: raw.error.map(Cow::into_owned),
        node: raw.node.map(Cow::into_owned),
    })
}

/// Parses a whole JSON Lines text into events and their line numbers.
/// Blank lines are skipped. Lines are parsed in parallel; the first error
/// (by line number) is returned.
pub fn parse_jsonl(text: &str) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    parse_jsonl_from(text, 1)
}

/// [`parse_jsonl`] for a text whose first line is line `first_line`.
pub fn parse_jsonl_from(text: &str, first_line: usize) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    let parsed = parse_jsonl_chunks(text, first_line)?;
    let n = parsed.iter().map(Vec::len).sum();
    let (mut events, mut lines) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (line, e) in parsed.into_iter().flatten() {
        lines.push(line);
        events.push(e);
    }
    Ok((events, lines))
}

/// Parses a JSON Lines text in parallel chunks cut at line boundaries:
/// (line number, event) per non-blank line, chunk by chunk, in order. The
/// first error (by line number) is returned.
fn parse_jsonl_chunks(text: &str, first_line: usize) -> Result<Vec<Vec<(usize, Event)>>, HistoryError> {
    use rayon::prelude::*;
    // Remember each chunk's first line number, so parallel parsing still
    // reports exact lines.
    let bytes = text.as_bytes();
    let target = (bytes.len() / (rayon::current_num_threads() * 8)).max(1 << 20);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + target).min(bytes.len());
        if end < bytes.len() {
            end = match memchr::memchr(b'\n', &bytes[end..]) {
                Some(i) => end + i + 1,
                None => bytes.len(),
            };
        }
        chunks.push((start, end));
        start = end;
    }
    let line_counts: Vec<usize> =
        chunks.par_iter().map(|&(s, e)| memchr::memchr_iter(b'\n', &bytes[s..e]).count()).collect();
    let mut first_lines = Vec::with_capacity(chunks.len());
    let mut acc = first_line;
    for c in &line_counts {
        first_lines.push(acc);
        acc += c;
    }
    let parsed: Vec<Result<Vec<(usize, Event)>, HistoryError>> = chunks
        .par_iter()
        .enumerate()
        .map(|(k, &(s, e))| {
            let first = first_lines[k];
            let mut out = Vec::with_capacity(line_counts[k] + 1);
            for (i, l) in text[s..e].split('\n').enumerate() {
                let l = l.trim_end_matches('\r');
                if l.trim().is_empty() {
                    continue;
                }
                out.push((first + i, parse_line(l, first + i)?));
            }
            Ok(out)
        })
        .collect();
    // Rayon's own collect into a Result keeps an arbitrary error when
    // several chunks fail; going through the chunks in order keeps the
    // first, so the message names the earliest bad line.
    parsed.into_iter().collect()
}

/// What one client operation did, as the models see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A read that returned this value (a list for list-append).
    Read(Value),
    Write(Value),
    /// Compare-and-set: `expected` (Nil = absent), then `new`.
    Cas(Value, Value),
    Append(Value),
}

/// Sentinel completion position of an `info` op: it may take effect at any
/// time after its invoke, so it has no deadline.
pub const NEVER: u64 = u64::MAX;

/// One client operation: an invoke paired with its ok or info completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub process: u64,
    pub f: OpType,
    pub action: Action,
    /// Ok or Info.
    pub kind: EventType,
    /// Positions (event ordinals in file order) of the invoke and the
    /// completion; `complete` is [`NEVER`] for info ops.
    pub invoke: u64,
    pub complete: u64,
    /// The `index` fields of the two events, for reports.
    pub invoke_index: u64,
    pub complete_index: Option<u64>,
}

impl Op {
    /// The op as a sentence names it: `write 3 (events 4–7)`.
    pub fn words(&self) -> String {
        let what = match &self.action {
            Action::Read(v) => format!("read {v}"),
            Action::Write(v) => format!("write {v}"),
            Action::Cas(e, n) => format!("cas [{e} {n}]"),
            Action::Append(v) => format!("append {v}"),
        };
        match self.complete_index {
            Some(c) => format!("{what} (events {}–{c})", self.invoke_index),
            None => format!("{what} (event {}, never completed)", self.invoke_index),
        }
    }
}

/// A nemesis event, kept for reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NemesisEvent {
    pub index: u64,
    pub time: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: String,
    pub value: Value,
}

/// Counts of completions by f and type.
pub type OpCounts = BTreeMap<String, BTreeMap<&'static str, u64>>;

/// A validated history, split by key.
#[derive(Debug, Default)]
pub struct History {
    /// Keys in order of first appearance; `ops[i]` belongs to `keys[i]`.
    pub keys: Vec<Value>,
    pub ops: Vec<Vec<Op>>,
    pub nemesis: Vec<NemesisEvent>,
    pub counts: OpCounts,
    /// Client events in the history (invokes and completions).
    pub events: usize,
    /// The first line of each f, for errors found after pairing.
    pub first_line: BTreeMap<OpType, usize>,
}

impl History {
    /// Checks that a model knows every f in the history.
    pub fn validate_for(&self, accepts: AcceptsFn, model: &str) -> Result<(), HistoryError> {
        match self.first_line.iter().find(|(f, _)| !accepts(**f)) {
            Some((f, line)) => {
                Err(HistoryError::new(*line, "f", format!("\"{f}\" is not an operation of the {model} model")))
            }
            None => Ok(()),
        }
    }

    /// Whether any op appends (the list-append workload).
    pub fn has_appends(&self) -> bool {
        self.first_line.contains_key(&OpType::Append)
    }
}

/// Which fs a model accepts; anything else is an error naming the line.
pub type AcceptsFn = fn(OpType) -> bool;

struct Outstanding {
    line: usize,
    invoke: u64,
    invoke_index: u64,
    f: OpType,
    key: Value,
    value: Value,
}

type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// Validates events one at a time, in file order, and pairs them into
/// operations per key. Streaming, so a huge history never needs all its
/// events in memory at once.
pub struct Pairer {
    h: History,
    key_ids: FastMap<Value, usize>,
    outstanding: FastMap<u64, Outstanding>,
    retired: FastMap<u64, usize>,
    counts: FastMap<(OpType, EventType), u64>,
    /// Ordinal of the next event: the real-time position.
    pos: u64,
}

fn cas_action(value: Value) -> Action {
    match value {
        Value::List(l) => {
            let mut it = l.iter().cloned();
            Action::Cas(it.next().unwrap_or_default(), it.next().unwrap_or_default())
        }
        _ => unreachable!("cas values are checked at invoke"),
    }
}

impl Default for Pairer {
    fn default() -> Self {
        Pairer::new()
    }
}

impl Pairer {
    pub fn new() -> Pairer {
        Pairer {
            h: History::default(),
            key_ids: FastMap::default(),
            outstanding: FastMap::default(),
            retired: FastMap::default(),
            counts: FastMap::default(),
            pos: 0,
        }
    }

    fn push(&mut self, key: Value, op: Op) {
        let h = &mut self.h;
        let id = *self.key_ids.entry(key).or_insert_with_key(|key| {
            h.keys.push(key.clone());
            h.ops.push(Vec::new());
            h.keys.len() - 1
        });
        h.ops[id].push(op);
    }

    /// Takes the next event; `line` is its source line, for errors.
    pub fn feed(&mut self, e: Event, line: usize) -> Result<(), HistoryError> {
        let pos = self.pos;
        self.pos += 1;
        let p = match e.process {
            Process::Nemesis => {
                self.h.nemesis.push(NemesisEvent {
                    index: e.index,
                    time: e.time,
                    kind: e.kind,
                    f: e.f,
                    value: e.value,
                });
                return Ok(());
            }
            Process::Client(p) => p,
        };
        self.h.events += 1;
        let f = OpType::parse(&e.f)
            .ok_or_else(|| HistoryError::new(line, "f", format!("{:?} is not one of read, write, cas, append", e.f)))?;
        self.h.first_line.entry(f).or_insert(line);
        if e.kind == EventType::Invoke {
            if let Some(o) = self.outstanding.get(&p) {
                return Err(HistoryError::new(
                    line,
                    "process",
                    format!("process {p} invokes while its op from line {} is still outstanding", o.line),
                ));
            }
            if let Some(l) = self.retired.get(&p) {
                return Err(HistoryError::new(
                    line,
                    "process",
                    format!("process {p} issues again after its info on line {l}; a crashed process must not reappear"),
                ));
            }
            if f == OpType::Cas && !matches!(&e.value, Value::List(l) if l.len() == 2) {
                return Err(HistoryError::new(
                    line,
                    "value",
                    format!("a cas value is [expected, new], got {}", e.value),
                ));
            }
            let key = e.key.unwrap_or(Value::Nil);
            self.outstanding
                .insert(p, Outstanding { line, invoke: pos, invoke_index: e.index, f, key, value: e.value });
            return Ok(());
        }
        let Some(o) = self.outstanding.remove(&p) else {
            return Err(HistoryError::new(
                line,
                "process",
                format!("{} completion for process {p} without an invoke", e.kind.as_str()),
            ));
        };
        if o.f != f {
            return Err(HistoryError::new(
                line,
                "f",
                format!("completion f {:?} differs from its invoke's {}", e.f, o.f),
            ));
        }
        if e.key.is_some() && e.key.as_ref() != Some(&o.key) {
            return Err(HistoryError::new(
                line,
                "key",
                format!("completion key differs from its invoke's ({})", o.key),
            ));
        }
        *self.counts.entry((f, e.kind)).or_default() += 1;
        if e.kind == EventType::Info {
            self.retired.insert(p, line);
        }
        let action = match (f, e.kind) {
            (_, EventType::Fail) => return Ok(()),
            (OpType::Read, EventType::Ok) => Action::Read(e.value),
            // A read that crashed returned nothing we know: it constrains
            // nothing, and reads change nothing. Drop it.
            (OpType::Read, _) => return Ok(()),
            (OpType::Write, _) => Action::Write(o.value),
            (OpType::Append, _) => Action::Append(o.value),
            (OpType::Cas, _) => cas_action(o.value),
        };
        let complete = if e.kind == EventType::Info { NEVER } else { pos };
        let op = Op {
            process: p,
            f,
            action,
            kind: e.kind,
            invoke: o.invoke,
            complete,
            invoke_index: o.invoke_index,
            complete_index: Some(e.index),
        };
        self.push(o.key, op);
        Ok(())
    }

    /// Ends the history: invokes never completed become info ops.
    pub fn finish(mut self) -> History {
        let mut left: Vec<(u64, Outstanding)> = std::mem::take(&mut self.outstanding).into_iter().collect();
        left.sort_by_key(|(_, o)| o.invoke);
        for (p, o) in left {
            *self.counts.entry((o.f, EventType::Info)).or_default() += 1;
            let action = match o.f {
                OpType::Read => continue,
                OpType::Write => Action::Write(o.value),
                OpType::Append => Action::Append(o.value),
                OpType::Cas => cas_action(o.value),
            };
            let op = Op {
                process: p,
                f: o.f,
                action,
                kind: EventType::Info,
                invoke: o.invoke,
                complete: NEVER,
                invoke_index: o.invoke_index,
                complete_index: None,
            };
            self.push(o.key, op);
        }
        for ((f, t), n) in std::mem::take(&mut self.counts) {
            self.h.counts.entry(f.as_str().to_string()).or_default().insert(t.as_str(), n);
        }
        self.h
    }
}

/// Validates and pairs a whole list of events (`lines[i]` is the source
/// line of `events[i]`).
pub fn pair(
    events: &[Event],
    lines: &[usize],
    accepts: AcceptsFn,
    model: &'static str,
) -> Result<History, HistoryError> {
    let h = pair_all(events.iter().cloned().zip(lines.iter().copied()))?;
    h.validate_for(accepts, model)?;
    Ok(h)
}

/// Feeds `(event, line)` pairs through a [`Pairer`] and finishes it.
pub fn pair_all(events: impl IntoIterator<Item = (Event, usize)>) -> Result<History, HistoryError> {
    let mut p = Pairer::new();
    for (e, line) in events {
        p.feed(e, line)?;
    }
    Ok(p.finish())
}

/// Reads a JSON Lines history from `reader` in blocks, parsing each block
/// in parallel and pairing as it goes. Memory stays near the size of the
/// paired ops, whatever the size of the file.
pub fn load_jsonl(mut reader: impl std::io::Read) -> Result<History, LoadError> {
    const BLOCK: usize = 16 << 20;
    let mut pairer = Pairer::new();
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + (1 << 16));
    let mut first_line = 1;
    let mut eof = false;
    // The events of the block parsed last, not yet paired.
    let mut parsed: Vec<Vec<(usize, Event)>> = Vec::new();
    while !eof {
        // Read up to BLOCK more bytes straight into the buffer, after the
        // unfinished line left from the previous block; then cut at the
        // last newline.
        let start = buf.len();
        buf.resize(start + BLOCK, 0);
        let mut filled = start;
        while filled < buf.len() {
            let n = reader.read(&mut buf[filled..]).map_err(LoadError::Io)?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        let cut = if eof { buf.len() } else { memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1) };
        if cut == 0 && !eof {
            continue;
        }
        let rest = buf.split_off(cut);
        let text = std::str::from_utf8(&buf).map_err(|e| {
            let line = first_line + memchr::memchr_iter(b'\n', &buf[..e.valid_up_to()]).count();
            LoadError::History(HistoryError::new(line, "(json)", "not valid UTF-8"))
        })?;
        // Pairing is sequential; it runs on one thread while the block
        // after it is parsed on the others. The earlier block's error, if
        // any, is the one reported.
        let earlier = std::mem::take(&mut parsed);
        let (next, paired) = rayon::join(|| parse_jsonl_chunks(text, first_line), || pair_chunks(&mut pairer, earlier));
        paired.map_err(LoadError::History)?;
        parsed = next.map_err(LoadError::History)?;
        first_line += memchr::memchr_iter(b'\n', &buf).count();
        buf = rest;
    }
    pair_chunks(&mut pairer, parsed).map_err(LoadError::History)?;
    Ok(pairer.finish())
}

fn pair_chunks(pairer: &mut Pairer, chunks: Vec<Vec<(usize, Event)>>) -> Result<(), HistoryError> {
    for (line, e) in chunks.into_iter().flatten() {
        pairer.feed(e, line)?;
    }
    Ok(())
}

/// Why a history could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    History(HistoryError),
}
