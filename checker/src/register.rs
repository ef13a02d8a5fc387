//! The register model: read, write, compare-and-set and delete on one key
//! whose absent state is `nil`. A delete is a write of `nil` (the history
//! pairs it so), which is all the rules below need: `nil` is one more value,
//! whose writers are the deletes, and the initial state.
//!
//! # Which info ops matter (`prepare`)
//! Crashed ops are what make linearizability search explode: each optional
//! op doubles the configurations for the rest of the history. Two rules,
//! both exact, tame them.
//!
//! 1. **Unobserved info writes are dropped.** Say an info `write 9` is
//!    never read, and no ok cas expects 9. If a linearization places it,
//!    then until the next write or successful cas, no op can run: a read
//!    would return 9, an ok cas would expect 9. So removing it leaves a
//!    valid linearization, and the verdict is unchanged. The same holds for
//!    an info `cas [x 9]`; and an info cas whose new value *is* observed
//!    makes its expected value observed (computed to a fixpoint).
//! 2. **A sole writer is due before its first observer.** If an ok
//!    `read 9` exists and exactly one op writes 9, and that op is info, it
//!    must take effect before the read returns: nothing else can produce 9.
//!    It gets that read's completion as its deadline, exactly like an ok
//!    op. Deadlines propagate through info cas chains the same way.
//!
//! Both rules use only "who writes v" and "who observes v"; they do not need
//! values to be unique, though unique values make rule 2 fire everywhere.
//!
//! # Stranded values (`stranded`)
//! A register returns to a value only when some op writes it again. So a
//! step that leaves state `v` while an op with a deadline still has to
//! observe `v` (an ok read of `v`, an ok cas expecting `v`), and no op left
//! writes `v`, dooms every continuation: that observer can never be
//! linearized. The search refuses such a step. With unique values this
//! fixes the order of versions almost completely: a value is left only
//! once everyone who saw it is linearized.
//!
//! # Contradictions without search (`contradiction`)
//! Say `v` has exactly one writer `P`, with a deadline, and some op `r`
//! with a deadline must observe `v`. If an op `X` with a deadline began
//! after `P` ended and ended before `r` began, real time orders them
//! `P`, `X`, `r`. `X` writes some other value (only `P` writes `v`), so at
//! `r` the register no longer holds `v`, and nothing writes it again: no
//! linearization exists. (For `nil`, with no writer at all, any such `X`
//! before `r` suffices.) This is the stale read's shape, and finding it
//! takes one sort, where a search would first exhaust every order of the
//! ops before it. Of the observers ruled out, the earliest invoked is
//! named: it is where a reader should look, and it fixes a run's time to
//! invalid.
//!
//! # Reads
//! A read changes nothing wherever it is legal, so it is a read in the
//! sense of [`Model::is_read`].

use std::collections::HashMap;

use crate::history::{Action, EventType, Op, OpType, Value};
use crate::model::{ok_deadline, Contradiction, Model, ModelName, SearchOp};

/// No value: the op observes or writes nothing.
const NONE: u32 = u32::MAX;

/// Per value (interned), how many ops not yet linearized must observe it
/// and how many could still write it.
pub struct RegisterPending {
    ids: HashMap<Value, u32, ahash::RandomState>,
    /// The value each op must observe (ops with deadlines only), or NONE.
    observes: Vec<u32>,
    /// The value each op writes, or NONE.
    writes: Vec<u32>,
    /// Per value: the ops with deadlines that observe it.
    observers_of: Vec<Vec<usize>>,
    observers: Vec<u32>,
    /// Per value: ops not yet linearized, with or without a deadline, that
    /// read it or expect it; when none is left the value is unobserved.
    watchers: Vec<u32>,
    /// The value each op reads or expects, with or without a deadline.
    watches: Vec<u32>,
    writers: Vec<u32>,
    linearized: Vec<bool>,
}

impl RegisterPending {
    fn intern(ids: &mut HashMap<Value, u32, ahash::RandomState>, v: &Value) -> u32 {
        let next = ids.len() as u32;
        *ids.entry(v.clone()).or_insert(next)
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

/// The value `op` writes (a write, a delete's nil, a cas's new value).
pub(crate) fn written(op: &Op) -> Option<&Value> {
    match &op.action {
        Action::Write(v) | Action::Cas(_, v) => Some(v),
        _ => None,
    }
}

/// The value `op` must find (a read's result, a cas's expected value).
pub(crate) fn observed(op: &Op) -> Option<&Value> {
    match &op.action {
        Action::Read(v) | Action::Cas(v, _) => Some(v),
        _ => None,
    }
}

impl Model for Register {
    type State = Value;

    fn name(&self) -> ModelName {
        ModelName::Register
    }

    fn accepts(f: OpType) -> bool {
        matches!(f, OpType::Read | OpType::Write | OpType::Cas | OpType::Delete)
    }

    fn init(&self) -> Value {
        Value::Nil
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match &op.action {
            Action::Read(v) => (v == state).then(|| state.clone()),
            Action::Write(v) => Some(v.clone()),
            Action::Cas(expected, new) => (expected == state).then(|| new.clone()),
            Action::Append(_) => None,
        }
    }

    fn describe(&self, state: &Value) -> Value {
        state.clone()
    }

    type Pending = RegisterPending;

    fn pending(&self, ops: &[SearchOp]) -> RegisterPending {
        let mut ids = HashMap::default();
        let mut observes = Vec::with_capacity(ops.len());
        let mut watches = Vec::with_capacity(ops.len());
        let mut writes = Vec::with_capacity(ops.len());
        for o in ops {
            let seen = observed(&o.op).map_or(NONE, |v| RegisterPending::intern(&mut ids, v));
            watches.push(seen);
            observes.push(if o.deadline.is_some() { seen } else { NONE });
            writes.push(written(&o.op).map_or(NONE, |v| RegisterPending::intern(&mut ids, v)));
        }
        let mut observers_of = vec![Vec::new(); ids.len()];
        let mut writers = vec![0; ids.len()];
        for (i, (&o, &w)) in observes.iter().zip(&writes).enumerate() {
            if o != NONE {
                observers_of[o as usize].push(i);
            }
            if w != NONE {
                writers[w as usize] += 1;
            }
        }
        let observers = observers_of.iter().map(|v| v.len() as u32).collect();
        let mut watchers = vec![0; ids.len()];
        for &w in watches.iter().filter(|&&w| w != NONE) {
            watchers[w as usize] += 1;
        }
        RegisterPending {
            ids,
            observes,
            writes,
            observers_of,
            observers,
            watchers,
            watches,
            writers,
            linearized: vec![false; ops.len()],
        }
    }

    fn mark(&self, p: &mut RegisterPending, i: usize, on: bool) {
        p.linearized[i] = on;
        let (o, w, seen) = (p.observes[i], p.writes[i], p.watches[i]);
        if seen != NONE {
            let c = &mut p.watchers[seen as usize];
            *c = if on { *c - 1 } else { *c + 1 };
        }
        if o != NONE {
            let c = &mut p.observers[o as usize];
            *c = if on { *c - 1 } else { *c + 1 };
        }
        if w != NONE {
            let c = &mut p.writers[w as usize];
            *c = if on { *c - 1 } else { *c + 1 };
        }
    }

    fn stranded(&self, p: &RegisterPending, _op: usize, from: &Value, to: &Value) -> bool {
        if from == to {
            return false;
        }
        p.ids.get(from).is_some_and(|&id| p.observers[id as usize] > 0 && p.writers[id as usize] == 0)
    }

    fn stranded_op(&self, p: &RegisterPending, op: usize, from: &Value, _to: &Value) -> usize {
        p.ids
            .get(from)
            .and_then(|&id| p.observers_of[id as usize].iter().copied().find(|&i| !p.linearized[i]))
            .unwrap_or(op)
    }

    fn is_read(&self, op: &Op) -> bool {
        matches!(op.action, Action::Read(_))
    }

    /// A value that no op left reads or expects: from it only writes (and
    /// no read or cas) can step, and to the same states from any such
    /// value. So every such state is one memo key, and the orders in which
    /// writes nobody reads were placed collapse into one configuration.
    fn memo_state(&self, p: &RegisterPending, state: &Value) -> Option<Value> {
        match p.ids.get(state) {
            Some(&id) if p.watchers[id as usize] > 0 => Some(state.clone()),
            _ => None,
        }
    }

    /// A write or cas whose value no op observes: the op after it in any
    /// linearization can only be another write (a read or cas there would
    /// observe the value), which sets the register whether or not it ran.
    fn droppable(&self, ops: &[SearchOp]) -> Vec<bool> {
        let seen: std::collections::HashSet<&Value> = ops.iter().filter_map(|o| observed(&o.op)).collect();
        ops.iter().map(|o| o.deadline.is_some() && written(&o.op).is_some_and(|v| !seen.contains(v))).collect()
    }

    fn decide(&self, ops: &[SearchOp]) -> Option<Result<(), Contradiction<Value>>> {
        crate::versions::decide(ops)
    }

    fn contradiction(&self, ops: &[SearchOp]) -> Option<Contradiction<Value>> {
        // Writers that must take effect, by invoke, and for each suffix the
        // one due soonest.
        let mut writers: Vec<(u64, u64, usize)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((o.op.invoke, o.deadline?, i)).filter(|_| written(&o.op).is_some()))
            .collect();
        writers.sort_unstable();
        let mut soonest = vec![(u64::MAX, NONE as usize); writers.len() + 1];
        for k in (0..writers.len()).rev() {
            soonest[k] = soonest[k + 1].min((writers[k].1, writers[k].2));
        }
        // Every writer of each value, with or without a deadline.
        let mut producers: HashMap<&Value, Vec<usize>> = HashMap::new();
        for (i, o) in ops.iter().enumerate() {
            if let Some(v) = written(&o.op) {
                producers.entry(v).or_default().push(i);
            }
        }
        // The observers of each value that must be linearized.
        let mut observers: HashMap<&Value, Vec<usize>> = HashMap::new();
        for (i, o) in ops.iter().enumerate().filter(|(_, o)| o.deadline.is_some()) {
            if let Action::Read(v) | Action::Cas(v, _) = &o.op.action {
                observers.entry(v).or_default().push(i);
            }
        }
        // Of all the observers ruled out, the earliest invoked: the one a
        // reader should look at, and the run's time to invalid.
        let mut found: Option<(usize, Option<usize>, usize, &Value)> = None;
        for (v, obs) in observers {
            // The one source of v: the initial state for nil, else its writer.
            let writer = match (producers.get(v).map(Vec::as_slice), *v == Value::Nil) {
                (None, true) => None,
                (Some(&[p]), false) if ops[p].deadline.is_some() => Some(p),
                _ => continue,
            };
            // X must begin after the writer's deadline (any X for nil), and
            // end before the observer begins.
            let after = writer.and_then(|p| ops[p].deadline);
            let k = after.map_or(0, |a| writers.partition_point(|w| w.0 <= a));
            let (due, x) = soonest[k];
            let first = obs.into_iter().filter(|&r| due < ops[r].op.invoke).min_by_key(|&r| ops[r].op.invoke);
            if let Some(r) = first {
                if found.is_none_or(|(f, ..)| ops[r].op.invoke < ops[f].op.invoke) {
                    found = Some((r, writer, x, v));
                }
            }
        }
        let (r, writer, x, v) = found?;
        let state = written(&ops[x].op).cloned().unwrap_or_default();
        let reason = match writer {
            Some(p) => format!(
                "{} overwrote {v} before it began, after {} wrote it, and nothing writes {v} again",
                ops[x].op.words(),
                ops[p].op.words()
            ),
            None => format!("{} wrote the key before it began, and nothing makes it nil again", ops[x].op.words()),
        };
        Some(Contradiction { blocked: r, reason, state })
    }

    fn prepare(&self, ops: &[Op]) -> Vec<SearchOp> {
        // Values some ok op needs to see, and the earliest such deadline.
        let mut observed: HashMap<&Value, u64> = HashMap::new();
        for op in ops.iter().filter(|o| o.kind == EventType::Ok) {
            let seen = match &op.action {
                Action::Read(v) | Action::Cas(v, _) => v,
                _ => continue,
            };
            let e = observed.entry(seen).or_insert(op.complete);
            *e = (*e).min(op.complete);
        }
        // Rule 1's fixpoint: an info cas whose new value is observed makes
        // its expected value observed (with no deadline of its own yet).
        loop {
            let mut changed = false;
            for op in ops.iter().filter(|o| o.kind == EventType::Info) {
                if let Action::Cas(e, n) = &op.action {
                    if observed.contains_key(n) && !observed.contains_key(e) {
                        observed.insert(e, crate::history::NEVER);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let kept: Vec<&Op> = ops
            .iter()
            .filter(|o| o.kind == EventType::Ok || written(o).is_some_and(|v| observed.contains_key(v)))
            .collect();
        // Rule 2: sole info writers get the earliest observer's deadline.
        let mut writers: HashMap<&Value, Vec<usize>> = HashMap::new();
        for (i, op) in kept.iter().enumerate() {
            if let Some(v) = written(op) {
                writers.entry(v).or_default().push(i);
            }
        }
        let mut deadline: Vec<Option<u64>> = kept.iter().map(|o| ok_deadline(o)).collect();
        let mut work: Vec<(&Value, u64)> =
            observed.iter().filter(|(_, d)| **d != crate::history::NEVER).map(|(v, d)| (*v, *d)).collect();
        while let Some((v, by)) = work.pop() {
            if *v == Value::Nil {
                continue; // the initial state needs no writer
            }
            let Some(ws) = writers.get(v) else { continue };
            if ws.len() != 1 || kept[ws[0]].kind != EventType::Info {
                continue;
            }
            let w = ws[0];
            if deadline[w].is_some_and(|d| d <= by) {
                continue;
            }
            deadline[w] = Some(by);
            if let Action::Cas(e, _) = &kept[w].action {
                work.push((e, by));
            }
        }
        kept.into_iter().zip(deadline).map(|(op, deadline)| SearchOp { op: op.clone(), deadline }).collect()
    }
}
