//! The list-append model: `append x` adds x to the end of the key's list;
//! a read returns the whole list (`nil` reads as the empty list).
//!
//! # The state is a list plus a bag
//! Between two reads, appends are unobservable, so their relative order
//! does not matter until the next read pins it. The model state is
//! therefore `(known, pending)`: the list the last read fixed, and the bag
//! of elements appended since, in no order. A read of `L` is legal when `L`
//! is `known` followed by some order of `pending`; it then becomes the new
//! `known`. This is exact (any order of pending appends is one the store
//! could have chosen), and it keeps the search from trying every
//! permutation of concurrent appends: configurations grow with subsets, not
//! orders.
//!
//! `prepare` applies the register's two rules to elements: an info append
//! whose element no ok read contains is dropped (placing it anywhere before
//! a read would put it in that read), and an info append whose element is
//! appended by no other op is due before the first ok read that contains it.

use std::collections::HashMap;

use crate::history::{Action, EventType, Op, OpType, Value};
use crate::model::{ok_deadline, Model, SearchOp};

#[derive(Clone, Copy, Debug, Default)]
pub struct ListAppend;

fn as_list(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Nil => Some(&[]),
        Value::List(l) => Some(l),
        _ => None,
    }
}

/// `known`: the list as the last read fixed it; `pending`: elements
/// appended since, sorted (a bag: their order is not yet observed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ListState {
    pub known: Vec<Value>,
    pub pending: Vec<Value>,
}

impl Model for ListAppend {
    type State = ListState;

    fn name(&self) -> &'static str {
        "list-append"
    }

    fn accepts(f: OpType) -> bool {
        matches!(f, OpType::Read | OpType::Append)
    }

    fn init(&self) -> ListState {
        ListState::default()
    }

    fn step(&self, state: &ListState, op: &Op) -> Option<ListState> {
        match &op.action {
            Action::Read(v) => {
                let l = as_list(v)?;
                let k = state.known.len();
                if l.len() != k + state.pending.len() || l[..k] != state.known[..] {
                    return None;
                }
                let mut rest = l[k..].to_vec();
                rest.sort_unstable();
                (rest == state.pending).then(|| ListState { known: l.to_vec(), pending: Vec::new() })
            }
            Action::Append(x) => {
                let mut next = state.clone();
                let at = next.pending.partition_point(|p| p <= x);
                next.pending.insert(at, x.clone());
                Some(next)
            }
            _ => None,
        }
    }

    /// The known list followed by the pending elements (in one of the
    /// orders still possible).
    fn describe(&self, state: &ListState) -> Value {
        Value::List(state.known.iter().chain(&state.pending).cloned().collect::<Vec<_>>().into())
    }

    fn state_bytes(&self, state: &ListState) -> usize {
        (state.known.capacity() + state.pending.capacity()) * std::mem::size_of::<Value>()
    }

    fn prepare(&self, ops: &[Op]) -> Vec<SearchOp> {
        // Earliest completion of an ok read containing each element.
        let mut first_seen: HashMap<&Value, u64> = HashMap::new();
        for op in ops.iter().filter(|o| o.kind == EventType::Ok) {
            if let Action::Read(v) = &op.action {
                for x in as_list(v).unwrap_or(&[]) {
                    let e = first_seen.entry(x).or_insert(op.complete);
                    *e = (*e).min(op.complete);
                }
            }
        }
        let mut appenders: HashMap<&Value, usize> = HashMap::new();
        for op in ops {
            if let Action::Append(x) = &op.action {
                *appenders.entry(x).or_default() += 1;
            }
        }
        ops.iter()
            .filter_map(|op| {
                let Action::Append(x) = &op.action else {
                    return Some(SearchOp { deadline: ok_deadline(op), op: op.clone() });
                };
                if op.kind == EventType::Ok {
                    return Some(SearchOp { deadline: ok_deadline(op), op: op.clone() });
                }
                let seen = first_seen.get(x)?;
                let deadline = (appenders[x] == 1).then_some(*seen);
                Some(SearchOp { op: op.clone(), deadline })
            })
            .collect()
    }
}
