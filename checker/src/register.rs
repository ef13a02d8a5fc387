//! The register model: read, write and compare-and-set on one key whose
//! absent state is `nil`.
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

use std::collections::HashMap;

use crate::history::{Action, EventType, Op, OpType, Value};
use crate::model::{ok_deadline, Model, SearchOp};

#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

fn written(op: &Op) -> Option<&Value> {
    match &op.action {
        Action::Write(v) | Action::Cas(_, v) => Some(v),
        _ => None,
    }
}

impl Model for Register {
    type State = Value;

    fn name(&self) -> &'static str {
        "register"
    }

    fn accepts(f: OpType) -> bool {
        matches!(f, OpType::Read | OpType::Write | OpType::Cas)
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
