//! Events to operations: each invoke paired with its completion, per key,
//! with the protocol checked (one outstanding op per process, nothing after
//! an info), and the op counts a report shows.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::*;

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
            Action::Write(_) if self.f == OpType::Delete => "delete".to_string(),
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
pub type OpCounts = BTreeMap<OpType, BTreeMap<EventType, u64>>;

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
    /// The last event's index and line.
    last_index: Option<(u64, usize)>,
    /// Lists that ok list reads share when they are prefixes of them.
    shared: LongestReads,
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
            last_index: None,
            shared: LongestReads::default(),
        }
    }

    /// A pairer whose ok list reads that are prefixes of their key's
    /// longest read (`lists`, from a first pass) hold a part of it.
    pub fn sharing(lists: LongestReads) -> Pairer {
        Pairer { shared: lists, ..Pairer::new() }
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
        // Explanations cite events by index, so an index must name one
        // event only, in history order.
        if let Some((prev, prev_line)) = self.last_index.filter(|(prev, _)| e.index <= *prev) {
            return Err(HistoryError::new(
                line,
                "index",
                format!("index {} does not increase: line {prev_line} has index {prev}", e.index),
            ));
        }
        self.last_index = Some((e.index, line));
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
        let f = OpType::parse(&e.f).ok_or_else(|| {
            HistoryError::new(line, "f", format!("{:?} is not one of read, write, cas, append, delete", e.f))
        })?;
        if f == OpType::Txn {
            return Err(HistoryError::new(
                line,
                "f",
                "a transaction in a single-key history: check a history of transactions with `checker txn`",
            ));
        }
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
            (OpType::Read, EventType::Ok) => {
                let mut value = e.value;
                if let Value::List(l) = &mut value {
                    self.shared.share(&o.key, l);
                }
                Action::Read(value)
            }
            // A read that crashed returned nothing we know: it constrains
            // nothing, and reads change nothing. Drop it.
            (OpType::Read, _) => return Ok(()),
            (OpType::Write, _) => Action::Write(o.value),
            (OpType::Delete, _) => Action::Write(Value::Nil),
            (OpType::Append, _) => Action::Append(o.value),
            (OpType::Cas, _) => cas_action(o.value),
            (OpType::Txn, _) => unreachable!("refused at its invoke"),
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
                OpType::Delete => Action::Write(Value::Nil),
                OpType::Append => Action::Append(o.value),
                OpType::Cas => cas_action(o.value),
                OpType::Txn => unreachable!("refused at its invoke"),
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
            self.h.counts.entry(f).or_default().insert(t, n);
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
