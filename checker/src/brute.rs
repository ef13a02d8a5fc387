//! A brute-force linearizability checker: tries every subset of info ops
//! and every order of ops that respects real time. Exponential, so only
//! for tiny histories; it exists to cross-check [`crate::wgl`] and the
//! models' `prepare` rules, which it deliberately does not use.

use crate::history::{EventType, Op, NEVER};
use crate::model::Model;

/// Whether `ops` (one key, at most ~10 ops) are linearizable.
pub fn linearizable<M: Model>(model: &M, ops: &[Op]) -> bool {
    let info: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].kind == EventType::Info).collect();
    let ok: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].kind != EventType::Info).collect();
    for mask in 0u32..(1 << info.len()) {
        let mut chosen = ok.clone();
        chosen.extend(info.iter().enumerate().filter(|(b, _)| mask & (1 << b) != 0).map(|(_, &i)| i));
        let mut used = vec![false; chosen.len()];
        let mut order = Vec::new();
        if search(model, ops, &chosen, &mut used, &mut order, model.init()) {
            return true;
        }
    }
    false
}

fn search<M: Model>(
    model: &M,
    ops: &[Op],
    chosen: &[usize],
    used: &mut [bool],
    order: &mut Vec<usize>,
    state: M::State,
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
        if let Some(next) = model.step(&state, &ops[i]) {
            used[k] = true;
            order.push(i);
            if search(model, ops, chosen, used, order, next) {
                return true;
            }
            order.pop();
            used[k] = false;
        }
    }
    false
}
