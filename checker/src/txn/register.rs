//! What rw-register reads tell (Elle's rw-register). Every value is
//! written to its key once, so a read names the write it saw. Unlike a
//! list, a register forgets: a read says which version it saw but not the
//! versions before it, so each key's version order is only partly known,
//! from two facts:
//! - the initial state (absent, nil) comes before every written value;
//! - a committed transaction that read version `a` of a key and then wrote
//!   `b` to it put `b` right after `a` (and two writes to one key inside
//!   one transaction follow each other).
//!
//! From those orders come the edges of the dependency graph:
//! - ww: from the writer of `a` to the writer of `b`, for `b` right after
//!   `a`;
//! - wr: from the writer of a value to each transaction that read it;
//! - rw: from a reader of `a` to the writer of each `b` after it (for a
//!   read of nil, every writer of the key);
//! - real time and process order, as for list-append.
//!
//! And the anomalies that need no cycle: a read of a value no one wrote
//! (garbage), of a failed transaction's write (G1a), of a value its writer
//! overwrote in the same transaction (G1b), a read that disagrees with the
//! transaction's own earlier micro-ops (internal), and two committed
//! transactions that read the same version of a key and both wrote it
//! (lost update).

use std::collections::HashMap;

use super::anomaly::{Anomaly, Class};
use super::append::{realtime_and_process, txn_name, Analysis, KeyId};
use super::graph::{Graph, RW, WR, WW};
use super::{Mop, Status, Txn, TxnHistory, TxnId};
use crate::history::{HistoryError, Value};

type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// Position 0 of every key's table of values: the initial state.
const NIL: u32 = 0;

/// A read some committed transaction made of a value it had not written
/// itself: what it tells about others.
struct ExternalRead {
    txn: TxnId,
    key: KeyId,
    value: u32,
}

/// Analyses a rw-register history. A history that writes the same value
/// to a key twice cannot be analysed (a read would not say which write it
/// saw) and is refused, naming both lines.
pub fn analyze(h: &TxnHistory) -> Result<Analysis, HistoryError> {
    let mut key_ids: FastMap<Value, KeyId> = FastMap::default();
    let mut keys: Vec<Value> = Vec::new();
    // Per key, its values by position; position 0 is nil.
    let mut values: Vec<Vec<Value>> = Vec::new();
    let mut position: FastMap<(KeyId, Value), u32> = FastMap::default();
    let mut writer: FastMap<(KeyId, Value), TxnId> = FastMap::default();
    let mut key_of = |k: &Value, values: &mut Vec<Vec<Value>>| -> KeyId {
        *key_ids.entry(k.clone()).or_insert_with(|| {
            keys.push(k.clone());
            values.push(vec![Value::Nil]);
            (keys.len() - 1) as KeyId
        })
    };
    for (t, txn) in h.txns.iter().enumerate() {
        for m in &txn.ops {
            let k = key_of(m.key(), &mut values);
            if let Mop::Write { value, .. } = m {
                if let Some(&other) = writer.get(&(k, value.clone())) {
                    return Err(HistoryError::new(
                        txn.line as usize,
                        "value",
                        format!(
                            "{value} is written to key {} twice (also on line {}); rw-register needs unique values",
                            m.key(),
                            h.txns[other].line
                        ),
                    ));
                }
                writer.insert((k, value.clone()), t);
                position.insert((k, value.clone()), values[k as usize].len() as u32);
                values[k as usize].push(value.clone());
            }
        }
    }
    let key = |m: &Mop| key_ids[m.key()];
    let name = |t: TxnId| txn_name(&h.txns[t]);
    let mut anomalies = Vec::new();

    // Each committed transaction's external reads, and what it wrote after
    // each: the version order's edges (`after[k]`: position to the
    // positions right after it).
    let mut reads: Vec<ExternalRead> = Vec::new();
    let mut after: Vec<FastMap<u32, Vec<(u32, TxnId)>>> = vec![FastMap::default(); keys.len()];
    // Per key and version read: the committed transactions that read it
    // and then wrote the key.
    let mut updates: FastMap<(KeyId, u32), Vec<TxnId>> = FastMap::default();
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.status == Status::Fail {
            continue;
        }
        // Per key: the version this transaction last saw or made.
        let mut last: FastMap<KeyId, (u32, bool)> = FastMap::default();
        for m in &txn.ops {
            let k = key(m);
            match m {
                Mop::Write { value, .. } => {
                    let p = position[&(k, value.clone())];
                    if let Some(&(prev, own)) = last.get(&k) {
                        // Read then written: `p` is right after what it read
                        // (only a committed read is known); two own writes
                        // follow each other.
                        if own || txn.status == Status::Ok {
                            after[k as usize].entry(prev).or_default().push((p, t));
                        }
                        if !own && txn.status == Status::Ok {
                            updates.entry((k, prev)).or_default().push(t);
                        }
                    }
                    last.insert(k, (p, true));
                }
                Mop::Get { value: Some(v), .. } if txn.status == Status::Ok => {
                    let Some(p) = (v == &Value::Nil).then_some(NIL).or_else(|| position.get(&(k, v.clone())).copied())
                    else {
                        anomalies.push(Anomaly::plain(
                            Class::GarbageRead,
                            vec![t],
                            format!("{} read key {} = {v}, but no transaction wrote {v}", name(t), m.key()),
                        ));
                        last.remove(&k);
                        continue;
                    };
                    match last.get(&k) {
                        Some(&(seen, own)) if seen != p => {
                            let what = if own { "its own last write" } else { "its own earlier read" };
                            anomalies.push(Anomaly::plain(
                                Class::Internal,
                                vec![t],
                                format!(
                                    "{}: read key {} = {v}, but {what} says {}",
                                    name(t),
                                    m.key(),
                                    values[k as usize][seen as usize]
                                ),
                            ));
                        }
                        Some(_) => {}
                        None => {
                            reads.push(ExternalRead { txn: t, key: k, value: p });
                            last.insert(k, (p, false));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    // Reads of others' writes that should not have been visible.
    let final_write = |w: TxnId, k: KeyId| {
        h.txns[w].ops.iter().rev().find_map(|m| match m {
            Mop::Write { key: kk, value } if key_ids[kk] == k => Some(value),
            _ => None,
        })
    };
    for r in reads.iter().filter(|r| r.value != NIL) {
        let v = &values[r.key as usize][r.value as usize];
        let w = writer[&(r.key, v.clone())];
        let k = &keys[r.key as usize];
        if w == r.txn {
            anomalies.push(Anomaly::plain(
                Class::Internal,
                vec![w],
                format!("{}: read key {k} = {v} before its own write of {v}", name(w)),
            ));
        } else if h.txns[w].status == Status::Fail {
            anomalies.push(Anomaly::plain(
                Class::G1a,
                vec![w, r.txn],
                format!(
                    "{} read key {k} = {v}, written by {}, a transaction that failed (aborted read)",
                    name(r.txn),
                    name(w)
                ),
            ));
        } else if let Some(fin) = final_write(w, r.key).filter(|fin| *fin != v) {
            anomalies.push(Anomaly::plain(
                Class::G1b,
                vec![w, r.txn],
                format!(
                    "{} read key {k} = {v}, but {} wrote {fin} to key {k} after {v}: the read saw that \
                     transaction's intermediate state",
                    name(r.txn),
                    name(w)
                ),
            ));
        }
    }
    for ((k, p), ts) in updates.iter().filter(|(_, ts)| ts.len() > 1) {
        let names: Vec<String> = ts.iter().map(|&t| name(t)).collect();
        anomalies.push(Anomaly::plain(
            Class::LostUpdate,
            ts.clone(),
            format!(
                "{} each read key {} = {} and then wrote it: each update was made without seeing the other's",
                names.join(" and "),
                keys[*k as usize],
                values[*k as usize][*p as usize]
            ),
        ));
    }

    // The graph. Failed transactions take no part; a write of a
    // transaction of unknown outcome is a version like any other (if no
    // one saw it, nothing is ordered after it).
    let mut graph = Graph::new(h.txns.len());
    let live = |t: TxnId| h.txns[t].status != Status::Fail;
    let writer_at = |k: KeyId, p: u32| writer[&(k, values[k as usize][p as usize].clone())];
    for (k, next) in after.iter().enumerate() {
        let k = k as KeyId;
        for (&a, bs) in next.iter().filter(|(&a, _)| a != NIL) {
            let wa = writer_at(k, a);
            for &(b, wb) in bs {
                if live(wa) && live(wb) {
                    graph.add(wa, wb, WW, k, b);
                }
            }
        }
    }
    for r in &reads {
        if r.value != NIL {
            let w = writer_at(r.key, r.value);
            if live(w) {
                graph.add(w, r.txn, WR, r.key, r.value);
            }
            for &(b, wb) in after[r.key as usize].get(&r.value).into_iter().flatten() {
                if live(wb) {
                    graph.add(r.txn, wb, RW, r.key, b);
                }
            }
        } else {
            // Nil came first: every write of the key came after this read.
            for p in 1..values[r.key as usize].len() as u32 {
                let w = writer_at(r.key, p);
                if live(w) {
                    graph.add(r.txn, w, RW, r.key, p);
                }
            }
        }
    }
    realtime_and_process(h, &mut graph);
    let observed = vec![0; keys.len()];
    Ok(Analysis { keys, orders: values, observed, graph, anomalies, register: true })
}

/// The value `t` read of key `k` before writing it, for explanations: its
/// first read of the key.
pub fn read_of(t: &Txn, k: &Value) -> Option<Value> {
    t.ops.iter().find_map(|m| match m {
        Mop::Get { key, value: Some(v) } if key == k => Some(v.clone()),
        _ => None,
    })
}
