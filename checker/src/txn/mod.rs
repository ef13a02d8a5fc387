//! Transactions, checked as Elle checks them: list-append histories, the
//! version order of each key inferred from its reads, a dependency graph
//! between transactions, and the anomalies Adya named (G0, G1a, G1b, G1c,
//! G-single, G2-item, and their real-time variants), each explained in
//! words, judged against the consistency model the system claims.
//!
//! A transaction is one history event pair with `f: "txn"`, whose value
//! is a list of micro-ops (see `docs/history-format.md`):
//! `["append", key, element]` and `["r", key, list]`. The invocation holds
//! the reads as `null`; the completion fills them in.
//!
//! Layout:
//! - here: micro-ops, transactions, and their pairing from events;
//! - [`append`]: what list-append reads tell: version orders, the
//!   anomalies that need no cycle, and the edges of the graph;
//! - [`register`]: the same for rw-register (`["w", key, value]` and
//!   reads of single values);
//! - [`graph`]: the dependency graph, its strongly connected components,
//!   and the shortest cycle of each class inside them;
//! - [`anomaly`]: anomaly classes, consistency models, explanations, and
//!   the verdict ([`check`]);
//! - [`brute`]: every serial order of a small history, the oracle the
//!   property tests hold the checker to;
//! - [`gen`]: a simulated store that writes list-append histories, with an
//!   anomaly of a chosen class planted when asked.

pub mod anomaly;
pub mod append;
pub mod brute;
pub mod gen;
pub mod graph;
pub mod register;

use std::collections::HashMap;

pub use crate::history::LongestReads;
use crate::history::{Event, EventType, HistoryError, Process, Seq, Value};

pub use anomaly::{check, Class, Model, TxnResults};

/// A transaction's number: its position in invocation order.
pub type TxnId = usize;

/// One micro-op of a transaction: list-append's (`Append`, `Read`) or
/// rw-register's (`Write`, `Get`). A history holds one kind or the other.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mop {
    /// Appends `elem` to the list at `key`.
    Append { key: Value, elem: Value },
    /// Reads the list at `key`; `None` when unknown (an invocation, or a
    /// transaction whose outcome is unknown). An absent key reads `[]`.
    Read { key: Value, list: Option<Seq> },
    /// Sets the register at `key` to `value` (rw-register).
    Write { key: Value, value: Value },
    /// Reads the register at `key` (rw-register): `Some(Nil)` when absent,
    /// `None` when unknown.
    Get { key: Value, value: Option<Value> },
}

impl Mop {
    pub fn key(&self) -> &Value {
        match self {
            Mop::Append { key, .. } | Mop::Read { key, .. } | Mop::Write { key, .. } | Mop::Get { key, .. } => key,
        }
    }

    /// Whether it changes state.
    pub fn is_write(&self) -> bool {
        matches!(self, Mop::Append { .. } | Mop::Write { .. })
    }

    /// As a history holds it: `["append", key, element]`, `["r", key,
    /// list]` (null while unknown).
    pub fn to_value(&self) -> Value {
        let (f, key, v) = match self {
            Mop::Append { key, elem } => ("append", key, elem.clone()),
            Mop::Read { key, list } => ("r", key, list.as_ref().map_or(Value::Nil, |l| Value::List(l.to_vec().into()))),
            Mop::Write { key, value } => ("w", key, value.clone()),
            Mop::Get { key, value } => ("r", key, value.clone().unwrap_or(Value::Nil)),
        };
        Value::List(vec![Value::Str(f.into()), key.clone(), v].into())
    }
}

/// A transaction's value as a history holds it: its micro-ops.
pub fn txn_value(ops: &[Mop]) -> Value {
    Value::List(ops.iter().map(Mop::to_value).collect::<Vec<_>>().into())
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Committed, once, between invocation and completion.
    Ok,
    /// Unknown: committed at some point after its invocation, or never.
    Info,
    /// Certainly did not commit.
    Fail,
}

/// One transaction, as invoked and completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    pub process: u64,
    pub status: Status,
    pub ops: Box<[Mop]>,
    /// Event index of the invocation, by which explanations name it.
    pub index: u64,
    /// Position of the invocation and the completion among all events (the
    /// completion is [`NEVER`] when there is none): real-time order. 32
    /// bits, as the line: a history of ten million transactions is held
    /// in memory, and every byte of a transaction counts ten million times.
    pub invoked: u32,
    pub completed: u32,
    /// The invocation's line in the history file.
    pub line: u32,
}

/// The completion position of a transaction that never completed.
pub const NEVER: u32 = u32::MAX;

/// Events a transaction history may hold: positions and lines are 32 bits.
pub const MAX_EVENTS: usize = NEVER as usize - 1;

impl Txn {
    /// The elements this transaction appends to `key`, in order.
    pub fn appends_to<'a>(&'a self, key: &'a Value) -> impl Iterator<Item = &'a Value> + 'a {
        self.ops.iter().filter_map(move |m| match m {
            Mop::Append { key: k, elem } if k == key => Some(elem),
            _ => None,
        })
    }
}

/// The transactions of a history, in invocation order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnHistory {
    pub txns: Vec<Txn>,
    /// rw-register (its transactions write and read single values) rather
    /// than list-append.
    pub register: bool,
}

/// Reads a transaction's micro-ops from an event's value.
fn mops(value: &Value, line: usize, completion: bool) -> Result<Vec<Mop>, HistoryError> {
    let Value::List(items) = value else {
        return Err(HistoryError::new(
            line,
            "value",
            format!("a txn's value must be a list of micro-ops, not {value}"),
        ));
    };
    items
        .iter()
        .map(|m| {
            let bad = |why: String| HistoryError::new(line, "value", format!("micro-op {m}: {why}"));
            let Value::List(parts) = m else {
                return Err(bad("expected [f, key, value]".into()));
            };
            let [f, key, v] = &parts[..] else {
                return Err(bad(format!("expected 3 elements, found {}", parts.len())));
            };
            let f = match f {
                Value::Str(s) => &**s,
                other => return Err(bad(format!("{other} is not a micro-op name"))),
            };
            match f {
                "append" => match v {
                    Value::Int(_) | Value::Str(_) => Ok(Mop::Append { key: key.clone(), elem: v.clone() }),
                    other => Err(bad(format!("an appended element must be an integer or a string, not {other}"))),
                },
                // A null read is settled once the history's kind is known
                // (`settle`): the empty list, or an absent register.
                "r" => match v {
                    Value::Nil => Ok(Mop::Read { key: key.clone(), list: None }),
                    _ if !completion => Err(bad("an invocation's read must be null".into())),
                    Value::List(l) => Ok(Mop::Read { key: key.clone(), list: Some(l.clone()) }),
                    Value::Int(_) | Value::Str(_) => Ok(Mop::Get { key: key.clone(), value: Some(v.clone()) }),
                },
                "w" => match v {
                    Value::Int(_) | Value::Str(_) => Ok(Mop::Write { key: key.clone(), value: v.clone() }),
                    other => Err(bad(format!("a written value must be an integer or a string, not {other}"))),
                },
                other => Err(bad(format!("unknown micro-op {other:?} (known: append, r, w)"))),
            }
        })
        .collect()
}

/// Decides the history's kind, refusing one that mixes them, and settles
/// its committed null reads: as Jepsen records them, the empty list in
/// list-append, an absent register in rw-register.
fn settle(mut h: TxnHistory) -> Result<TxnHistory, HistoryError> {
    let first = |f: fn(&Mop) -> bool| h.txns.iter().find(|t| t.ops.iter().any(f)).map(|t| t.line);
    let registers = first(|m| matches!(m, Mop::Write { .. } | Mop::Get { .. }));
    let lists = first(|m| matches!(m, Mop::Append { .. } | Mop::Read { list: Some(_), .. }));
    if let (Some(r), Some(l)) = (registers, lists) {
        return Err(HistoryError::new(
            r.max(l) as usize,
            "value",
            format!(
                "list micro-ops (append, a read of a list; first on line {l}) and register ones (w, a read of \
                 a single value; first on line {r}) in one history: a history is list-append or rw-register"
            ),
        ));
    }
    h.register = registers.is_some();
    let register = h.register;
    for t in h.txns.iter_mut().filter(|t| t.status == Status::Ok) {
        for m in &mut t.ops {
            if let Mop::Read { key, list: None } = m {
                *m = if register {
                    Mop::Get { key: key.clone(), value: Some(Value::Nil) }
                } else {
                    Mop::Read { key: key.clone(), list: Some(Vec::new().into()) }
                };
            }
        }
    }
    Ok(h)
}

/// Whether a completion's micro-ops are its invocation's, reads filled in.
fn matches(invoked: &[Mop], completed: &[Mop]) -> bool {
    invoked.len() == completed.len()
        && invoked.iter().zip(completed).all(|(i, c)| match (i, c) {
            (Mop::Append { .. }, Mop::Append { .. }) | (Mop::Write { .. }, Mop::Write { .. }) => i == c,
            (Mop::Read { key: a, .. }, Mop::Read { key: b, .. } | Mop::Get { key: b, .. }) => a == b,
            _ => false,
        })
}

/// Pairs the events of a transaction history (`lines[i]` is event `i`'s
/// line) into transactions: a [`Pairer`] fed every event, its reads
/// sharing each key's longest.
pub fn pair_txns(events: &[Event], lines: &[usize]) -> Result<TxnHistory, HistoryError> {
    let mut longest = LongestReads::default();
    events.iter().for_each(|e| longest.add(e));
    let mut pairer = Pairer::sharing(longest);
    for (e, &line) in events.iter().zip(lines) {
        pairer.feed(e, line)?;
    }
    pairer.finish()
}

/// Pairs events into transactions one at a time, so that a history need
/// not be held as events first. Nemesis events are skipped; any client
/// event other than a txn, a completion that does not match its
/// invocation, and every rule of the single-key format (one outstanding
/// op per process, indices that increase) are refused naming the line.
#[derive(Default)]
pub struct Pairer {
    txns: Vec<Txn>,
    /// Each process's open transaction.
    open: HashMap<u64, usize>,
    last_index: Option<(u64, usize)>,
    /// The next event's position.
    pos: usize,
    /// Lists that committed reads share when they are prefixes of them
    /// ([`Pairer::sharing`]).
    shared: LongestReads,
}

impl Pairer {
    /// A pairer whose committed list reads that are prefixes of `lists`
    /// (each key's longest read, from a first pass: [`LongestReads`]) hold
    /// a part of that one list instead of a copy: a history's reads then
    /// cost memory in proportion to its keys' lengths, not to every read's.
    pub fn sharing(lists: LongestReads) -> Pairer {
        Pairer { shared: lists, ..Pairer::default() }
    }

    pub fn feed(&mut self, e: &Event, line: usize) -> Result<(), HistoryError> {
        let too_long = || {
            HistoryError::new(
                line,
                "index",
                format!("a transaction history holds at most {MAX_EVENTS} events and lines"),
            )
        };
        let pos = u32::try_from(self.pos).ok().filter(|&p| p != NEVER).ok_or_else(too_long)?;
        let line32 = u32::try_from(line).ok().filter(|&l| l != NEVER).ok_or_else(too_long)?;
        self.pos += 1;
        if let Some((prev, prev_line)) = self.last_index.filter(|(prev, _)| e.index <= *prev) {
            return Err(HistoryError::new(
                line,
                "index",
                format!("index {} does not increase: line {prev_line} has index {prev}", e.index),
            ));
        }
        self.last_index = Some((e.index, line));
        let Process::Client(p) = e.process else { return Ok(()) };
        if e.f != "txn" {
            return Err(HistoryError::new(line, "f", format!("{:?} in a transaction history; expected \"txn\"", e.f)));
        }
        let txns = &mut self.txns;
        match e.kind {
            EventType::Invoke => {
                if let Some(&o) = self.open.get(&p) {
                    return Err(HistoryError::new(
                        line,
                        "process",
                        format!("process {p} invokes while its txn from line {} is still open", txns[o].line),
                    ));
                }
                self.open.insert(p, txns.len());
                txns.push(Txn {
                    process: p,
                    status: Status::Info,
                    ops: mops(&e.value, line, false)?.into_boxed_slice(),
                    index: e.index,
                    invoked: pos,
                    completed: NEVER,
                    line: line32,
                });
            }
            kind => {
                let Some(o) = self.open.remove(&p) else {
                    return Err(HistoryError::new(
                        line,
                        "process",
                        format!("process {p} completes a txn it never invoked"),
                    ));
                };
                let t = &mut txns[o];
                match kind {
                    EventType::Ok => {
                        let mut done = mops(&e.value, line, true)?;
                        if !matches(&t.ops, &done) {
                            return Err(HistoryError::new(
                                line,
                                "value",
                                format!("the completion's micro-ops do not match the invocation's on line {}", t.line),
                            ));
                        }
                        if !self.shared.is_empty() {
                            for m in &mut done {
                                if let Mop::Read { key, list: Some(l) } = m {
                                    self.shared.share(key, l);
                                }
                            }
                        }
                        t.ops = done.into_boxed_slice();
                        t.status = Status::Ok;
                        t.completed = pos;
                    }
                    EventType::Fail => {
                        t.status = Status::Fail;
                        t.completed = pos;
                    }
                    // Unknown: the reads stay unknown, and the completion
                    // says nothing about when it took effect.
                    _ => t.status = Status::Info,
                }
            }
        }
        Ok(())
    }

    /// The transactions, in invocation order; those still open end unknown.
    pub fn finish(mut self) -> Result<TxnHistory, HistoryError> {
        self.txns.shrink_to_fit();
        settle(TxnHistory { txns: self.txns, register: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse_jsonl;
    use std::hash::BuildHasher;

    fn pair(text: &str) -> Result<TxnHistory, HistoryError> {
        let (events, lines) = parse_jsonl(text).unwrap();
        pair_txns(&events, &lines)
    }

    #[test]
    fn invocations_and_completions_pair_into_transactions() {
        let h = pair(concat!(
            r#"{"index":0,"process":0,"type":"invoke","f":"txn","value":[["append",1,3],["r",2,null]]}"#,
            "\n",
            r#"{"index":1,"process":1,"type":"invoke","f":"txn","value":[["r",1,null]]}"#,
            "\n",
            r#"{"index":2,"process":0,"type":"ok","f":"txn","value":[["append",1,3],["r",2,[4]]]}"#,
            "\n",
            r#"{"index":3,"process":"nemesis","type":"info","f":"kill","value":null}"#,
            "\n",
            r#"{"index":4,"process":1,"type":"info","f":"txn","value":[["r",1,null]]}"#,
            "\n",
        ))
        .unwrap();
        assert_eq!(h.txns.len(), 2);
        assert_eq!(h.txns[0].status, Status::Ok);
        assert_eq!((h.txns[0].invoked, h.txns[0].completed), (0, 2));
        assert_eq!(h.txns[0].ops[1], Mop::Read { key: Value::Int(2), list: Some(vec![Value::Int(4)].into()) });
        assert_eq!(h.txns[1].status, Status::Info);
        assert_eq!(h.txns[1].completed, NEVER);
    }

    /// What a recorder writes of micro-ops is what the pairing reads back.
    #[test]
    fn micro_ops_written_as_values_read_back_the_same() {
        let ops = vec![
            Mop::Append { key: Value::Int(1), elem: Value::Int(3) },
            Mop::Read { key: Value::Int(2), list: Some(vec![Value::Int(4), Value::Int(5)].into()) },
            Mop::Read { key: Value::Int(3), list: Some(Vec::new().into()) },
        ];
        let invoked: Vec<Mop> = ops
            .iter()
            .map(|m| match m {
                Mop::Read { key, .. } => Mop::Read { key: key.clone(), list: None },
                m => m.clone(),
            })
            .collect();
        let line = |kind: &str, v: &[Mop]| {
            format!(
                r#"{{"process":0,"type":"{kind}","f":"txn","value":{}}}"#,
                serde_json::to_string(&txn_value(v)).unwrap()
            )
        };
        let h = pair(&format!("{}\n{}\n", line("invoke", &invoked), line("ok", &ops))).unwrap();
        assert_eq!(*h.txns[0].ops, *ops);
    }

    /// A read that shares a longer list is its prefix, to every reader.
    #[test]
    fn a_shared_read_is_its_prefix() {
        let all: Seq = vec![Value::Int(1), Value::Int(2), Value::Int(3)].into();
        let shared = all.prefix(2);
        let own = Seq::from(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(shared, own);
        assert_eq!(&*shared, &all[..2]);
        assert_eq!(format!("{shared:?}"), format!("{own:?}"));
        let hasher = std::hash::RandomState::new();
        assert_eq!(hasher.hash_one(&shared), hasher.hash_one(&own));
        assert_eq!(Mop::Read { key: Value::Int(1), list: Some(shared) }.to_value().to_string(), "[\"r\" 1 [1 2]]");
    }

    #[test]
    fn bad_transactions_are_refused_naming_the_line() {
        let cases = [
            (
                r#"{"process":0,"type":"invoke","f":"txn","value":[["frob",1,3]]}"#,
                "line 1",
                "unknown micro-op \"frob\"",
            ),
            (r#"{"process":0,"type":"invoke","f":"txn","value":[["append",1]]}"#, "line 1", "expected 3 elements"),
            (r#"{"process":0,"type":"invoke","f":"txn","value":7}"#, "line 1", "list of micro-ops"),
            (r#"{"process":0,"type":"invoke","f":"read","value":null}"#, "line 1", "expected \"txn\""),
            // A read of a single value in a history that appends.
            (
                "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,3],[\"r\",1,null]]}\n\
                 {\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",1,3],[\"r\",1,5]]}",
                "line 1",
                "a history is list-append or rw-register",
            ),
            (
                "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\n\
                 {\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",2,[]]]}",
                "line 2",
                "do not match the invocation's on line 1",
            ),
        ];
        for (text, line, what) in cases {
            let err = pair(text).unwrap_err().to_string();
            assert!(err.contains(line) && err.contains(what), "{text}: {err}");
        }
    }
}
