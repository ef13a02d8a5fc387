//! Anomaly classes, the consistency models that prohibit them, each
//! anomaly explained in words, and the verdict of a transaction history
//! against the model the system claims.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::append::{self, list, txn_name, Analysis};
use super::graph::{Edge, Step, PROC, RT, RW, WR, WW};
use super::{Status, TxnHistory, TxnId};
use crate::history::HistoryError;

/// The anomalies, named as Elle names them (Adya's, plus the ones that
/// need no cycle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    G0,
    G1a,
    G1b,
    G1c,
    GSingle,
    G2Item,
    G0Realtime,
    G1cRealtime,
    GSingleRealtime,
    G2ItemRealtime,
    G0Process,
    G1cProcess,
    GSingleProcess,
    G2ItemProcess,
    Internal,
    DirtyUpdate,
    DuplicateElements,
    LostUpdate,
    IncompatibleOrder,
    GarbageRead,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::G0 => "G0",
            Class::G1a => "G1a",
            Class::G1b => "G1b",
            Class::G1c => "G1c",
            Class::GSingle => "G-single",
            Class::G2Item => "G2-item",
            Class::G0Realtime => "G0-realtime",
            Class::G1cRealtime => "G1c-realtime",
            Class::GSingleRealtime => "G-single-realtime",
            Class::G2ItemRealtime => "G2-item-realtime",
            Class::G0Process => "G0-process",
            Class::G1cProcess => "G1c-process",
            Class::GSingleProcess => "G-single-process",
            Class::G2ItemProcess => "G2-item-process",
            Class::Internal => "internal",
            Class::DirtyUpdate => "dirty-update",
            Class::DuplicateElements => "duplicate-elements",
            Class::LostUpdate => "lost-update",
            Class::IncompatibleOrder => "incompatible-order",
            Class::GarbageRead => "garbage-read",
        }
    }

    /// The class without its real-time or process suffix.
    pub fn base(self) -> Class {
        match self {
            Class::G0Realtime | Class::G0Process => Class::G0,
            Class::G1cRealtime | Class::G1cProcess => Class::G1c,
            Class::GSingleRealtime | Class::GSingleProcess => Class::GSingle,
            Class::G2ItemRealtime | Class::G2ItemProcess => Class::G2Item,
            c => c,
        }
    }

    pub fn realtime(self) -> Class {
        match self.base() {
            Class::G0 => Class::G0Realtime,
            Class::G1c => Class::G1cRealtime,
            Class::GSingle => Class::GSingleRealtime,
            Class::G2Item => Class::G2ItemRealtime,
            c => c,
        }
    }

    pub fn process(self) -> Class {
        match self.base() {
            Class::G0 => Class::G0Process,
            Class::G1c => Class::G1cProcess,
            Class::GSingle => Class::GSingleProcess,
            Class::G2Item => Class::G2ItemProcess,
            c => c,
        }
    }
}

impl Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Class {
    /// Every class, in order.
    pub const ALL: [Class; 20] = [
        Class::G0,
        Class::G1a,
        Class::G1b,
        Class::G1c,
        Class::GSingle,
        Class::G2Item,
        Class::G0Realtime,
        Class::G1cRealtime,
        Class::GSingleRealtime,
        Class::G2ItemRealtime,
        Class::G0Process,
        Class::G1cProcess,
        Class::GSingleProcess,
        Class::G2ItemProcess,
        Class::Internal,
        Class::DirtyUpdate,
        Class::DuplicateElements,
        Class::LostUpdate,
        Class::IncompatibleOrder,
        Class::GarbageRead,
    ];
}

impl<'de> Deserialize<'de> for Class {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Class::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("{name:?} is not an anomaly class")))
    }
}

/// The consistency models a system can claim, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    ReadCommitted,
    SnapshotIsolation,
    Serializable,
    StrictSerializable,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::ReadCommitted => "read-committed",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::Serializable => "serializable",
            Model::StrictSerializable => "strict-serializable",
        }
    }

    /// Whether the model rules the anomaly out. Garbage, duplicates,
    /// incompatible orders and internal inconsistency are ruled out by
    /// every model; Adya's classes by the models that name them
    /// (snapshot isolation allows G2-item, write skew); the real-time and
    /// process variants only by strict serializability.
    pub fn prohibits(self, c: Class) -> bool {
        use Class::*;
        match c {
            G0 | G1a | G1b | G1c | Internal | DirtyUpdate | DuplicateElements | IncompatibleOrder | GarbageRead => true,
            GSingle | LostUpdate => self >= Model::SnapshotIsolation,
            G2Item => self >= Model::Serializable,
            _ => self == Model::StrictSerializable,
        }
    }
}

/// One step of an explained cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleStep {
    pub from: u64,
    pub to: u64,
    /// ww, wr, rw, realtime or process.
    pub kind: String,
    pub why: String,
}

/// One anomaly: its class, the transactions (by invocation index), and
/// why, in words; for a cycle, each of its edges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub class: Class,
    /// Positions in the history checked; not kept in files.
    #[serde(skip)]
    pub txns: Vec<TxnId>,
    pub explanation: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<CycleStep>,
}

impl Anomaly {
    pub fn plain(class: Class, txns: Vec<TxnId>, explanation: String) -> Anomaly {
        Anomaly { class, txns, explanation, cycle: Vec::new() }
    }
}

/// What a check of a transaction history found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnResults {
    pub model: Model,
    pub valid: bool,
    pub txns: usize,
    pub ok: usize,
    pub info: usize,
    pub fail: usize,
    /// How many anomalies of each class were found.
    pub counts: BTreeMap<String, usize>,
    /// The classes found that the model rules out.
    pub prohibited: Vec<String>,
    /// Up to [`EXAMPLES`] anomalies of each class, explained.
    pub anomalies: Vec<Anomaly>,
    pub check_time_ms: f64,
}

/// Anomalies kept, with their explanations, per class.
pub const EXAMPLES: usize = 8;

impl TxnResults {
    /// One line: the verdict and what decides it.
    pub fn summary(&self) -> String {
        let found: Vec<String> = self.counts.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
        match (self.valid, found.is_empty()) {
            (true, true) => format!("VALID under {}: {} transactions, no anomaly", self.model.name(), self.txns),
            (true, false) => format!(
                "VALID under {}: {} transactions; found {}, which it allows",
                self.model.name(),
                self.txns,
                found.join(", ")
            ),
            (false, _) => format!(
                "INVALID under {}: {} ({} transactions)",
                self.model.name(),
                self.prohibited.join(", "),
                self.txns
            ),
        }
    }
}

/// Checks a transaction history against `model`.
pub fn check(h: &TxnHistory, model: Model) -> Result<TxnResults, HistoryError> {
    let start = Instant::now();
    let mut a = if h.register { super::register::analyze(h)? } else { append::analyze(h)? };
    let mut anomalies = std::mem::take(&mut a.anomalies);
    let (comp, comps) = a.graph.sccs();
    let cycles: Vec<Vec<(Class, Vec<Step>)>> = {
        use rayon::prelude::*;
        comps.par_iter().map(|members| a.graph.cycles(members, &comp, comp[members[0]])).collect()
    };
    for (class, steps) in cycles.into_iter().flatten() {
        anomalies.push(explain_cycle(h, &a, class, &steps));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept: BTreeMap<Class, Vec<Anomaly>> = BTreeMap::new();
    for an in anomalies {
        *counts.entry(an.class.name().to_string()).or_default() += 1;
        let k = kept.entry(an.class).or_default();
        if k.len() < EXAMPLES {
            k.push(an);
        }
    }
    let prohibited: Vec<String> = kept.keys().filter(|c| model.prohibits(**c)).map(|c| c.name().to_string()).collect();
    let count = |s: Status| h.txns.iter().filter(|t| t.status == s).count();
    Ok(TxnResults {
        model,
        valid: prohibited.is_empty(),
        txns: h.txns.len(),
        ok: count(Status::Ok),
        info: count(Status::Info),
        fail: count(Status::Fail),
        counts,
        prohibited,
        anomalies: kept.into_values().flatten().collect(),
        check_time_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Says, edge by edge, why a cycle's transactions precede one another,
/// and so why no serial order can hold them.
fn explain_cycle(h: &TxnHistory, a: &Analysis, class: Class, steps: &[Step]) -> Anomaly {
    let mut out = Vec::new();
    for &(from, e) in steps {
        let to = e.to as usize;
        let (kind, why) = edge_words(h, a, from, &e);
        out.push(CycleStep { from: h.txns[from].index, to: h.txns[to].index, kind: kind.to_string(), why });
    }
    let mut order: Vec<String> = steps.iter().map(|(t, _)| format!("T{}", h.txns[*t].index)).collect();
    order.push(order[0].clone());
    let explanation = format!(
        "{}. So {}: a cycle, and no order of these transactions explains what they saw.",
        out.iter().map(|s| s.why.clone()).collect::<Vec<_>>().join("; "),
        order.join(" < ")
    );
    Anomaly { class, txns: steps.iter().map(|(t, _)| *t).collect(), explanation, cycle: out }
}

fn edge_words(h: &TxnHistory, a: &Analysis, from: TxnId, e: &Edge) -> (&'static str, String) {
    let to = e.to as usize;
    let (f, t) = (txn_name(&h.txns[from]), txn_name(&h.txns[to]));
    let key = || &a.keys[e.key as usize];
    let order = || &a.orders[e.key as usize];
    let elem = |i: usize| order().get(i).map_or("?".into(), |v| v.to_string());
    let read_of = |reader: TxnId, len: usize| -> String {
        h.txns[reader]
            .ops
            .iter()
            .find_map(|m| match m {
                super::Mop::Read { key: k, list: Some(l) } if k == key() && l.len() == len => Some(list(l)),
                _ => None,
            })
            .unwrap_or_else(|| list(&order()[..len.min(order().len())]))
    };
    let pos = e.pos as usize;
    if a.register && e.kind & (WW | WR | RW) != 0 {
        return register_words(h, a, from, e);
    }
    if e.kind & WW != 0 {
        // The element of `to` that follows: the next of its appends to the
        // key in the order (an unobserved one has no position of its own).
        let next = order()
            .iter()
            .skip(pos + 1)
            .find(|v| h.txns[to].appends_to(key()).any(|x| x == *v))
            .map_or("?".into(), |v| v.to_string());
        ("ww", format!("{f} appended {} to key {}, and {t} appended {next} after it", elem(pos), key()))
    } else if e.kind & WR != 0 {
        (
            "wr",
            format!(
                "{t} read key {} = {}, which ends with {}, appended by {f}",
                key(),
                read_of(to, pos + 1),
                elem(pos)
            ),
        )
    } else if e.kind & RW != 0 {
        (
            "rw",
            format!(
                "{f} read key {} = {}, which misses {}, appended by {t}",
                key(),
                read_of(from, pos.min(a.observed[e.key as usize])),
                elem(pos)
            ),
        )
    } else if e.kind & RT != 0 {
        ("realtime", format!("{f} completed before {t} was invoked"))
    } else {
        debug_assert!(e.kind & PROC != 0);
        ("process", format!("{f} and then {t} ran on process {}", h.txns[from].process))
    }
}

/// A data edge of a rw-register history in words; its position names the
/// value read (wr) or written (ww, rw).
fn register_words(h: &TxnHistory, a: &Analysis, from: TxnId, e: &Edge) -> (&'static str, String) {
    let to = e.to as usize;
    let (f, t) = (txn_name(&h.txns[from]), txn_name(&h.txns[to]));
    let key = &a.keys[e.key as usize];
    let value = &a.orders[e.key as usize][e.pos as usize];
    let read = |reader: TxnId| super::register::read_of(&h.txns[reader], key).map_or("?".into(), |v| v.to_string());
    if e.kind & WW != 0 {
        let what = format!("{t} read key {key} = {}, written by {f}, and then wrote {value} over it", read(to));
        ("ww", what)
    } else if e.kind & WR != 0 {
        ("wr", format!("{t} read key {key} = {value}, written by {f}"))
    } else {
        let was = read(from);
        let why = if was == crate::history::Value::Nil.to_string() {
            format!("{f} read key {key} absent ({was}), and {t} wrote {value} to it, so after that read")
        } else {
            format!("{f} read key {key} = {was}, which {t} overwrote with {value}")
        };
        ("rw", why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_model_prohibits_what_it_should() {
        assert!(Model::ReadCommitted.prohibits(Class::G1c));
        assert!(!Model::ReadCommitted.prohibits(Class::GSingle));
        assert!(Model::SnapshotIsolation.prohibits(Class::LostUpdate));
        assert!(!Model::SnapshotIsolation.prohibits(Class::G2Item));
        assert!(Model::Serializable.prohibits(Class::G2Item));
        assert!(!Model::Serializable.prohibits(Class::GSingleRealtime));
        assert!(Model::StrictSerializable.prohibits(Class::G2ItemProcess));
        assert_eq!(Class::GSingleRealtime.base(), Class::GSingle);
    }
}
