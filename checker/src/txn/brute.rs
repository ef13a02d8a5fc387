//! Every serial order of a small transaction history: the oracle that the
//! property tests hold the graph checker to. A history is serializable
//! when some set of its transactions (every committed one, any of the
//! unknown ones, no failed one), run one at a time in some order, gives
//! every read its value; strictly so when that order also keeps real time.
//! A list-append key holds its list; a register the last value written.
//! Exponential, so only for a handful of transactions.

use std::collections::HashMap;

use super::{Mop, Status, TxnHistory};
use crate::history::Value;

/// Larger histories are not tried.
pub const MAX_TXNS: usize = 8;

/// Whether some serial order explains the history; `None` when it has more
/// than [`MAX_TXNS`] transactions that could have committed.
pub fn serializable(h: &TxnHistory, strict: bool) -> Option<bool> {
    let live: Vec<usize> = (0..h.txns.len()).filter(|&t| h.txns[t].status != Status::Fail).collect();
    if live.len() > MAX_TXNS {
        return None;
    }
    let info: Vec<usize> = live.iter().copied().filter(|&t| h.txns[t].status == Status::Info).collect();
    for mask in 0u32..(1 << info.len()) {
        let chosen: Vec<usize> = live
            .iter()
            .copied()
            .filter(|t| {
                h.txns[*t].status == Status::Ok
                    || info.iter().position(|i| i == t).is_some_and(|b| mask & (1 << b) != 0)
            })
            .collect();
        if search(h, &chosen, &mut vec![false; chosen.len()], &mut HashMap::new(), strict) {
            return Some(true);
        }
    }
    Some(false)
}

/// Depth-first over orders of `chosen`: places any unplaced transaction
/// whose real-time predecessors are placed and whose reads the state
/// explains.
fn search(
    h: &TxnHistory,
    chosen: &[usize],
    placed: &mut Vec<bool>,
    state: &mut HashMap<Value, Vec<Value>>,
    strict: bool,
) -> bool {
    if placed.iter().all(|p| *p) {
        return true;
    }
    for i in 0..chosen.len() {
        if placed[i] {
            continue;
        }
        let t = &h.txns[chosen[i]];
        let ready = !strict
            || chosen
                .iter()
                .zip(placed.iter())
                .all(|(&o, &done)| done || h.txns[o].completed == super::NEVER || h.txns[o].completed > t.invoked);
        if !ready {
            continue;
        }
        let saved = state.clone();
        let mut fits = true;
        for m in &t.ops {
            match m {
                Mop::Append { key, elem } => state.entry(key.clone()).or_default().push(elem.clone()),
                Mop::Read { key, list: Some(l) } => {
                    if state.get(key).map_or(&[][..], Vec::as_slice) != &l[..] {
                        fits = false;
                        break;
                    }
                }
                // A register holds the last value written: its one element.
                Mop::Write { key, value } => *state.entry(key.clone()).or_default() = vec![value.clone()],
                Mop::Get { key, value: Some(v) } => {
                    if state.get(key).and_then(|s| s.last()).unwrap_or(&Value::Nil) != v {
                        fits = false;
                        break;
                    }
                }
                Mop::Read { .. } | Mop::Get { .. } => {}
            }
        }
        if fits {
            placed[i] = true;
            if search(h, chosen, placed, state, strict) {
                return true;
            }
            placed[i] = false;
        }
        *state = saved;
    }
    false
}
