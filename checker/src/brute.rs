//! A brute-force linearizability checker: tries every subset of info ops
//! and every order of ops that respects real time. Exponential, so only
//! for tiny histories; it exists to cross-check [`crate::wgl`] and the
//! models' `prepare` rules, which it deliberately does not use. Lists are
//! stepped as plain lists, not through the list-append model's bag of
//! pending appends, so the model is checked too.

use crate::history::{Action, EventType, Op, Value, NEVER};
use crate::model::{Model, ModelName};

/// Whether `ops` (one key, at most ~10 ops) are linearizable.
pub fn linearizable<M: Model>(model: &M, ops: &[Op]) -> bool {
    match model.name() {
        ModelName::ListAppend => orders(&plain_list_step, ops, Vec::new()),
        _ => orders(&|s: &M::State, op: &Op| model.step(s, op), ops, model.init()),
    }
}

/// A list as a sequential object: append adds to the end, a read returns
/// the whole list.
fn plain_list_step(list: &Vec<Value>, op: &Op) -> Option<Vec<Value>> {
    match &op.action {
        Action::Append(x) => {
            let mut next = list.clone();
            next.push(x.clone());
            Some(next)
        }
        Action::Read(Value::Nil) => list.is_empty().then(|| list.clone()),
        Action::Read(Value::List(l)) => (**l == **list).then(|| list.clone()),
        _ => None,
    }
}

fn orders<S: Clone>(step: &impl Fn(&S, &Op) -> Option<S>, ops: &[Op], init: S) -> bool {
    let info: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].kind == EventType::Info).collect();
    let ok: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].kind != EventType::Info).collect();
    for mask in 0u32..(1 << info.len()) {
        let mut chosen = ok.clone();
        chosen.extend(info.iter().enumerate().filter(|(b, _)| mask & (1 << b) != 0).map(|(_, &i)| i));
        let mut used = vec![false; chosen.len()];
        let mut order = Vec::new();
        if search(step, ops, &chosen, &mut used, &mut order, init.clone()) {
            return true;
        }
    }
    false
}

fn search<S: Clone>(
    step: &impl Fn(&S, &Op) -> Option<S>,
    ops: &[Op],
    chosen: &[usize],
    used: &mut [bool],
    order: &mut Vec<usize>,
    state: S,
) -> bool {
    if order.len() == chosen.len() {
        return true;
    }
    for k in 0..chosen.len() {
        if used[k] {
            continue;
        }
        let i = chosen[k];
        // Real time: no unplaced chosen op may have completed before i began.
        let blocked = (0..chosen.len())
            .any(|j| !used[j] && j != k && ops[chosen[j]].complete != NEVER && ops[chosen[j]].complete < ops[i].invoke);
        if blocked {
            continue;
        }
        if let Some(next) = step(&state, &ops[i]) {
            used[k] = true;
            order.push(i);
            if search(step, ops, chosen, used, order, next) {
                return true;
            }
            order.pop();
            used[k] = false;
        }
    }
    false
}
