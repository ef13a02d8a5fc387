//! What list-append reads tell. Every element is appended once, so a read
//! of a key names every append it saw, in order, and the longest read of a
//! key is its version order: every other read must be a prefix of it.
//!
//! From the orders come the edges of the dependency graph:
//! - ww: consecutive elements of a key, from their appending transactions;
//! - wr: from the transaction that appended the last element a read saw,
//!   to the reader;
//! - rw: from a reader to the transaction that appended the next element,
//!   the first one the read missed;
//! - real time: from a transaction to those invoked after it completed
//!   (a transitive reduction, so the edges grow with the concurrency, not
//!   with the square of the history);
//! - process: from a transaction to the next one of its process.
//!
//! An element no read saw, appended by a committed transaction, comes
//! after every element that was seen (lists only grow), so it is ordered
//! after the longest read: that is what lets a later read that misses it
//! be caught under strict serializability.
//!
//! And the anomalies that need no cycle: a read of an element no one
//! appended (garbage), of an aborted transaction's element (G1a), of a
//! transaction's intermediate state (G1b), a read inconsistent with the
//! transaction's own earlier micro-ops (internal), a read with an element
//! twice (duplicate elements), two reads that no single order explains
//! (incompatible order), a committed append after an aborted one (dirty
//! update), and two transactions that read the same version of a key and
//! both append to it (lost update).

use std::collections::HashMap;

use rayon::prelude::*;

use super::anomaly::{Anomaly, Class};
use super::graph::{Graph, PROC, RT, RW, WR, WW};
use super::{Mop, Status, Txn, TxnHistory, TxnId};
use crate::history::{HistoryError, Value};

type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// A key's number in [`Analysis::keys`].
pub type KeyId = u32;

/// The orders, the non-cycle anomalies, and the graph of one history.
#[derive(Debug)]
pub struct Analysis {
    pub keys: Vec<Value>,
    /// Each key's version order: its observed elements, then the committed
    /// appends no read saw. Empty for a key whose reads disagree. For
    /// rw-register, each key's values by position (0: nil), in no order.
    pub orders: Vec<Vec<Value>>,
    /// How many elements of each order some read saw.
    pub observed: Vec<usize>,
    pub graph: Graph,
    pub anomalies: Vec<Anomaly>,
    /// A rw-register history ([`super::register`]): edges name values by
    /// their position in `orders`, and are explained as writes and reads.
    pub register: bool,
}

/// A read that some ok transaction made.
struct Read<'a> {
    txn: TxnId,
    list: &'a [Value],
}

/// Analyses a list-append history. A history that appends the same
/// element to a key twice cannot be analysed (the reads would not say
/// which append they saw) and is refused, naming both lines.
pub fn analyze(h: &TxnHistory) -> Result<Analysis, HistoryError> {
    let mut key_ids: FastMap<Value, KeyId> = FastMap::default();
    let mut keys: Vec<Value> = Vec::new();
    let mut intern = |k: &Value| -> KeyId {
        *key_ids.entry(k.clone()).or_insert_with(|| {
            keys.push(k.clone());
            (keys.len() - 1) as KeyId
        })
    };
    // Elements by reference: a large history has tens of millions.
    let mut writer: FastMap<(KeyId, &Value), TxnId> = FastMap::default();
    let mut reads: Vec<Vec<Read>> = Vec::new();
    // Per key: committed appends, and committed read-then-append pairs
    // (the transaction and the length of the list it read first).
    let mut appended: Vec<Vec<&Value>> = Vec::new();
    let mut updates: Vec<Vec<(TxnId, usize)>> = Vec::new();
    for (t, txn) in h.txns.iter().enumerate() {
        let mut first_read: FastMap<KeyId, Option<usize>> = FastMap::default();
        for m in &txn.ops {
            let k = intern(m.key());
            if reads.len() <= k as usize {
                reads.resize_with(k as usize + 1, Vec::new);
                appended.resize_with(k as usize + 1, Vec::new);
                updates.resize_with(k as usize + 1, Vec::new);
            }
            if txn.status == Status::Ok {
                match m {
                    Mop::Read { list: Some(l), .. } => {
                        first_read.entry(k).or_insert(Some(l.len()));
                    }
                    Mop::Append { elem, .. } => {
                        appended[k as usize].push(elem);
                        if let Some(n) = first_read.insert(k, None).flatten() {
                            updates[k as usize].push((t, n));
                        }
                    }
                    // A list-append history holds no register micro-op
                    // (`settle`).
                    Mop::Read { .. } | Mop::Write { .. } | Mop::Get { .. } => {}
                }
            }
            match m {
                Mop::Append { elem, .. } => {
                    if let Some(&other) = writer.get(&(k, elem)) {
                        return Err(HistoryError::new(
                            txn.line as usize,
                            "value",
                            format!(
                                "{elem} is appended to key {} twice (also on line {}); list-append needs unique elements",
                                m.key(),
                                h.txns[other].line
                            ),
                        ));
                    }
                    writer.insert((k, elem), t);
                }
                Mop::Read { list: Some(list), .. } if txn.status == Status::Ok => {
                    reads[k as usize].push(Read { txn: t, list });
                }
                Mop::Read { .. } | Mop::Write { .. } | Mop::Get { .. } => {}
            }
        }
    }
    // A transaction of unknown outcome that some read saw committed: all
    // of it did, so its other appends are committed too.
    let mut seen_committed = vec![false; h.txns.len()];
    for (k, rs) in reads.iter().enumerate() {
        for e in rs.iter().flat_map(|r| r.list.iter()) {
            if let Some(&w) = writer.get(&(k as KeyId, e)) {
                seen_committed[w] = true;
            }
        }
    }
    for (_, txn) in h.txns.iter().enumerate().filter(|(t, txn)| txn.status == Status::Info && seen_committed[*t]) {
        for m in &txn.ops {
            if let Mop::Append { key, elem } = m {
                appended[key_ids[key] as usize].push(elem);
            }
        }
    }
    let mut anomalies = Vec::new();
    let name = |t: TxnId| txn_name(&h.txns[t]);

    // Per read: duplicates, garbage, aborted and intermediate reads.
    for (k, rs) in reads.iter().enumerate() {
        let key = &keys[k];
        for r in rs {
            let mut seen = std::collections::HashSet::with_capacity(r.list.len());
            for e in r.list {
                if !seen.insert(e) {
                    anomalies.push(Anomaly::plain(
                        Class::DuplicateElements,
                        vec![r.txn],
                        format!("{} read key {key} = {}, which holds {e} twice", name(r.txn), list(r.list)),
                    ));
                    break;
                }
            }
            for e in r.list {
                match writer.get(&(k as KeyId, e)) {
                    None => anomalies.push(Anomaly::plain(
                        Class::GarbageRead,
                        vec![r.txn],
                        format!("{} read key {key} = {}, but no transaction appended {e}", name(r.txn), list(r.list)),
                    )),
                    Some(&w) if h.txns[w].status == Status::Fail => anomalies.push(Anomaly::plain(
                        Class::G1a,
                        vec![w, r.txn],
                        format!(
                            "{} read key {key} = {}, which holds {e}, appended by {}, a transaction that failed \
                             (aborted read)",
                            name(r.txn),
                            list(r.list),
                            name(w)
                        ),
                    )),
                    _ => {}
                }
            }
            if let Some(last) = r.list.last() {
                if let Some(&w) = writer.get(&(k as KeyId, last)) {
                    let finals = h.txns[w].appends_to(key).last();
                    if w != r.txn && finals != Some(last) {
                        anomalies.push(Anomaly::plain(
                            Class::G1b,
                            vec![w, r.txn],
                            format!(
                                "{} read key {key} = {}, ending in {last}, but {} appended {} to key {key} after {last}: \
                                 the read saw that transaction's intermediate state",
                                name(r.txn),
                                list(r.list),
                                name(w),
                                finals.map_or("more".into(), |f| f.to_string())
                            ),
                        ));
                    }
                }
            }
        }
    }
    for (t, txn) in h.txns.iter().enumerate().filter(|(_, t)| t.status == Status::Ok) {
        if let Some(why) = internal(txn) {
            anomalies.push(Anomaly::plain(Class::Internal, vec![t], format!("{}: {why}", name(t))));
        }
    }

    // Version orders, one key per task.
    let per_key: Vec<(Vec<Value>, usize, Vec<Anomaly>)> = reads
        .par_iter()
        .enumerate()
        .map(|(k, rs)| order_of(h, k as KeyId, &keys[k], rs, &appended[k], &writer))
        .collect();
    let mut orders = Vec::with_capacity(per_key.len());
    let mut observed = Vec::with_capacity(per_key.len());
    for (order, seen, found) in per_key {
        orders.push(order);
        observed.push(seen);
        anomalies.extend(found);
    }

    // The graph. Failed transactions take no part.
    let mut graph = Graph::new(h.txns.len());
    let live = |t: TxnId| h.txns[t].status != Status::Fail;
    for (k, order) in orders.iter().enumerate() {
        let writers: Vec<TxnId> = order.iter().map(|e| writer[&(k as KeyId, e)]).collect();
        let observed_writers = &writers[..observed[k]];
        for (i, pair) in observed_writers.windows(2).enumerate() {
            if live(pair[0]) && live(pair[1]) {
                graph.add(pair[0], pair[1], WW, k as KeyId, i as u32);
            }
        }
        // The unobserved come after the last observed, in no known order
        // among themselves.
        if let Some(&last) = observed_writers.last().filter(|&&l| live(l)) {
            for &w in &writers[observed[k]..] {
                graph.add(last, w, WW, k as KeyId, (observed[k] - 1) as u32);
            }
        }
        for r in &reads[k] {
            // A key whose order is known had every read checked as a
            // prefix of it in `order_of`; a key whose reads disagree has
            // an empty order, and only its empty reads come through here.
            if r.list.len() > observed[k] {
                continue;
            }
            if let Some(&w) = r.list.len().checked_sub(1).map(|i| &writers[i]) {
                if live(w) {
                    graph.add(w, r.txn, WR, k as KeyId, (r.list.len() - 1) as u32);
                }
            }
            // The first element the read missed; a read that saw the whole
            // observed order missed every unobserved append.
            let missed: &[TxnId] = if r.list.len() < observed[k] {
                &writers[r.list.len()..=r.list.len()]
            } else {
                &writers[r.list.len()..]
            };
            for (i, &w) in missed.iter().enumerate() {
                if live(w) {
                    graph.add(r.txn, w, RW, k as KeyId, (r.list.len() + i) as u32);
                }
            }
        }
        anomalies.extend(lost_updates(h, &keys[k], order, &updates[k]));
    }

    // What the edges came from is done with; the graph is the larger part.
    drop((reads, appended, updates, writer));
    realtime_and_process(h, &mut graph);
    Ok(Analysis { keys, orders, observed, graph, anomalies, register: false })
}

/// A key's version order from its reads: the longest, if every other read
/// is a prefix of it, then the committed appends no read saw. Also the
/// anomalies the order shows: incompatible reads, dirty updates.
fn order_of(
    h: &TxnHistory,
    k: KeyId,
    key: &Value,
    reads: &[Read],
    appended: &[&Value],
    writer: &FastMap<(KeyId, &Value), TxnId>,
) -> (Vec<Value>, usize, Vec<Anomaly>) {
    let mut found = Vec::new();
    let longest = reads.iter().max_by_key(|r| r.list.len());
    let mut order: Vec<Value> = longest.map(|r| r.list.to_vec()).unwrap_or_default();
    if let Some(l) = longest {
        if let Some(r) = reads.iter().find(|r| order[..r.list.len()] != *r.list) {
            found.push(Anomaly::plain(
                Class::IncompatibleOrder,
                vec![r.txn, l.txn],
                format!(
                    "{} read key {key} = {} and {} read {}: neither is a prefix of the other, so no order of \
                     appends explains both",
                    txn_name(&h.txns[r.txn]),
                    list(r.list),
                    txn_name(&h.txns[l.txn]),
                    list(l.list)
                ),
            ));
            return (Vec::new(), 0, found);
        }
    }
    // Duplicates or garbage make the order unusable for edges; they are
    // reported above.
    let mut seen = std::collections::HashSet::new();
    if !order.iter().all(|e| seen.insert(e) && writer.contains_key(&(k, e))) {
        return (Vec::new(), 0, found);
    }
    let observed = order.len();
    let mut aborted: Option<TxnId> = None;
    for e in &order {
        let w = writer[&(k, e)];
        match (h.txns[w].status, aborted) {
            (Status::Fail, None) => aborted = Some(w),
            (Status::Ok | Status::Info, Some(a)) => {
                found.push(Anomaly::plain(
                    Class::DirtyUpdate,
                    vec![a, w],
                    format!(
                        "key {key}'s order holds an element of {}, which failed, before {e}, appended by {}, \
                         which committed on top of it",
                        txn_name(&h.txns[a]),
                        txn_name(&h.txns[w])
                    ),
                ));
                break;
            }
            _ => {}
        }
    }
    let unseen: Vec<Value> = appended.iter().filter(|e| !seen.contains(*e)).map(|e| (*e).clone()).collect();
    order.extend(unseen);
    // Held for the whole check.
    order.shrink_to_fit();
    (order, observed, found)
}

/// Checks a transaction's reads against its own earlier micro-ops: after
/// a read R of a key and appends A of it, the next read is R ++ A; with
/// no earlier read, it ends with A.
fn internal(txn: &Txn) -> Option<String> {
    let mut state: HashMap<&Value, (Option<&[Value]>, Vec<&Value>)> = HashMap::new();
    for m in &txn.ops {
        match m {
            Mop::Append { key, elem } => state.entry(key).or_default().1.push(elem),
            Mop::Read { key, list: Some(l) } => {
                let (prev, since) = state.entry(key).or_default();
                let fits = match prev {
                    Some(p) => {
                        l.len() == p.len() + since.len()
                            && l[..p.len()] == **p
                            && l[p.len()..].iter().eq(since.iter().copied())
                    }
                    None => l.len() >= since.len() && l[l.len() - since.len()..].iter().eq(since.iter().copied()),
                };
                if !fits {
                    let expected = match prev {
                        Some(p) => format!("{} followed by its own appends", list(p)),
                        None => "a list ending with its own appends".to_string(),
                    };
                    return Some(format!(
                        "read key {key} = {}, but its own earlier micro-ops imply {expected} {}",
                        list(l),
                        list_refs(since)
                    ));
                }
                *prev = Some(l);
                since.clear();
            }
            Mop::Read { .. } | Mop::Write { .. } | Mop::Get { .. } => {}
        }
    }
    None
}

/// Committed transactions that read the same version of a key and then
/// both appended to it (`updates`: each with the length it read): one of
/// the two updates was made without seeing the other.
fn lost_updates(h: &TxnHistory, key: &Value, order: &[Value], updates: &[(TxnId, usize)]) -> Vec<Anomaly> {
    let mut by_version: std::collections::BTreeMap<usize, Vec<TxnId>> = Default::default();
    for &(t, n) in updates.iter().filter(|(_, n)| *n <= order.len()) {
        by_version.entry(n).or_default().push(t);
    }
    by_version
        .into_iter()
        .filter(|(_, ts)| ts.len() > 1)
        .map(|(n, ts)| {
            let names: Vec<String> = ts.iter().map(|&t| txn_name(&h.txns[t])).collect();
            Anomaly::plain(
                Class::LostUpdate,
                ts,
                format!(
                    "{} each read key {key} = {} and then appended to it: each update was made without \
                     seeing the other's",
                    names.join(" and "),
                    list(&order[..n])
                ),
            )
        })
        .collect()
}

/// Real-time edges as a transitive reduction: a transaction completed
/// before another's invocation precedes it; of those, only the ones not
/// already preceded by another such are linked. And process order.
pub(super) fn realtime_and_process(h: &TxnHistory, graph: &mut Graph) {
    let mut marks: Vec<(u32, bool, TxnId)> = Vec::with_capacity(2 * h.txns.len());
    for (t, txn) in h.txns.iter().enumerate().filter(|(_, t)| t.status != Status::Fail) {
        marks.push((txn.invoked, true, t));
        if txn.status == Status::Ok {
            marks.push((txn.completed, false, t));
        }
    }
    marks.sort_unstable();
    // Completed transactions no later-completed one is known to follow.
    let mut frontier: Vec<TxnId> = Vec::new();
    let mut preds: FastMap<TxnId, Vec<TxnId>> = FastMap::default();
    for (_, is_invoke, t) in marks {
        if is_invoke {
            for &f in &frontier {
                graph.add(f, t, RT, 0, 0);
            }
            preds.insert(t, frontier.clone());
        } else {
            let before = preds.remove(&t).unwrap_or_default();
            frontier.retain(|f| !before.contains(f));
            frontier.push(t);
        }
    }
    let mut last: FastMap<u64, TxnId> = FastMap::default();
    for (t, txn) in h.txns.iter().enumerate().filter(|(_, t)| t.status != Status::Fail) {
        if let Some(prev) = last.insert(txn.process, t) {
            graph.add(prev, t, PROC, 0, 0);
        }
    }
}

/// How explanations name a transaction: by its invocation's event index.
pub fn txn_name(t: &Txn) -> String {
    format!("T{} (process {})", t.index, t.process)
}

pub fn list(l: &[Value]) -> String {
    Value::List(l.to_vec().into()).to_string()
}

fn list_refs(l: &[&Value]) -> String {
    Value::List(l.iter().map(|v| (*v).clone()).collect::<Vec<_>>().into()).to_string()
}
