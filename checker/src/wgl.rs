//! The linearizability search for one key: Wing & Gong's depth-first search
//! with Lowe's memoisation, as in Porcupine.
//!
//! The history is a doubly linked list of call and return entries in real
//! time order. Walking it from the head, a call entry is an op that could
//! go next: the search applies it to the model and, when legal and the
//! resulting configuration (set of linearized ops, model state) is new,
//! lifts it out of the list and starts again from the head. Reaching a
//! return entry means an op's deadline passed before it was linearized, so
//! the search backtracks. Reaching the end means every op with a deadline
//! was linearized: the history is linearizable.
//!
//! Ops without a deadline (info ops that stayed optional) have no return
//! entry: they may be linearized anywhere after their call, or never.
//!
//! Ties cannot occur: positions are event ordinals in the history, and two
//! events never share one. An op whose completion comes before another's
//! invoke in the file precedes it; otherwise the two are concurrent.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::bitset::Bitset;
use crate::model::{Model, SearchOp};

/// Why a search stopped without a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Abort {
    TimeLimit,
    MemoryLimit { bytes: usize },
}

/// Where the search got furthest before it failed.
#[derive(Clone, Debug)]
pub struct Failure<S> {
    /// The longest linearizable prefix found, as indices into the ops.
    pub prefix: Vec<usize>,
    /// The op whose deadline passed at that point.
    pub blocked: usize,
    /// Model states in which the search stood there (at most
    /// [`MAX_STATES`]).
    pub states: Vec<S>,
}

/// The verdict on one key.
#[derive(Clone, Debug)]
pub enum Outcome<S> {
    Valid,
    Invalid(Failure<S>),
    Unknown(Abort),
}

/// Most candidate states kept for an explanation.
pub const MAX_STATES: usize = 8;

/// Resource limits shared by every key of one check.
pub struct Limits<'a> {
    /// Set when the time limit passes; the search then answers Unknown.
    pub cancel: &'a AtomicBool,
    /// Most bytes the memo of one key may hold.
    pub max_memo_bytes: usize,
}

const HEAD: usize = 0;
const NIL: usize = usize::MAX;

struct Entry {
    op: usize,
    call: bool,
}

/// The dancing-links list of entries. Node 0 is the head sentinel.
struct List {
    entries: Vec<Entry>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The return node of each op, or NIL.
    ret_of: Vec<usize>,
}

impl List {
    fn build(ops: &[SearchOp]) -> List {
        let mut items: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, o) in ops.iter().enumerate() {
            items.push((o.op.invoke, true, i));
            if let Some(d) = o.deadline {
                items.push((d, false, i));
            }
        }
        // Same position only for two deadlines derived from one completion;
        // their order does not matter. Calls sort before returns otherwise.
        items.sort_by_key(|&(pos, call, i)| (pos, !call, i));
        let n = items.len() + 1;
        let mut entries = Vec::with_capacity(n);
        entries.push(Entry { op: usize::MAX, call: false });
        let mut ret_of = vec![NIL; ops.len()];
        for (node, &(_, call, op)) in items.iter().enumerate().map(|(k, it)| (k + 1, it)) {
            if !call {
                ret_of[op] = node;
            }
            entries.push(Entry { op, call });
        }
        let next = (0..n).map(|i| if i + 1 < n { i + 1 } else { NIL }).collect();
        let prev = (0..n).map(|i| if i == 0 { NIL } else { i - 1 }).collect();
        List { entries, next, prev, ret_of }
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    /// Removes a call entry and its op's return entry.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        let r = self.ret_of[self.entries[call].op];
        if r != NIL {
            self.unlink(r);
        }
    }

    /// Undoes [`List::lift`], in reverse order.
    fn unlift(&mut self, call: usize) {
        let r = self.ret_of[self.entries[call].op];
        if r != NIL {
            self.relink(r);
        }
        self.relink(call);
    }
}

/// Checks one key's ops against `model`.
pub fn check<M: Model>(model: &M, ops: &[SearchOp], limits: &Limits) -> Outcome<M::State> {
    if ops.is_empty() {
        return Outcome::Valid;
    }
    let mut list = List::build(ops);
    let mut memo: HashSet<(Bitset, M::State), ahash::RandomState> = HashSet::default();
    let entry_bytes = Bitset::new(ops.len()).heap_bytes() + std::mem::size_of::<(Bitset, M::State)>() + 16;
    let mut linearized = Bitset::new(ops.len());
    let mut state = model.init();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut best: Option<Failure<M::State>> = None;
    let mut node = list.next[HEAD];
    let mut steps: u64 = 0;
    let mut memo_bytes = 0usize;
    loop {
        if node == NIL {
            return Outcome::Valid;
        }
        steps += 1;
        if steps & 0x3ff == 0 {
            if limits.cancel.load(Ordering::Relaxed) {
                return Outcome::Unknown(Abort::TimeLimit);
            }
            if memo_bytes > limits.max_memo_bytes {
                return Outcome::Unknown(Abort::MemoryLimit { bytes: memo_bytes });
            }
        }
        let Entry { op, call } = list.entries[node];
        if call {
            if let Some(next_state) = model.step(&state, &ops[op].op) {
                linearized.set(op);
                let bytes = entry_bytes + model.state_bytes(&next_state);
                if memo.insert((linearized.clone(), next_state.clone())) {
                    memo_bytes += bytes;
                    stack.push((node, std::mem::replace(&mut state, next_state)));
                    list.lift(node);
                    node = list.next[HEAD];
                    continue;
                }
                linearized.clear(op);
            }
            node = list.next[node];
            continue;
        }
        // `op`'s deadline came and it is not linearized: this path is dead.
        record(&mut best, &stack, &list, op, &state);
        let Some((call_node, prev_state)) = stack.pop() else {
            return Outcome::Invalid(best.expect("recorded just above"));
        };
        state = prev_state;
        linearized.clear(list.entries[call_node].op);
        list.unlift(call_node);
        node = list.next[call_node];
    }
}

/// Keeps the deepest dead end: the longest prefix, the op that blocked it,
/// and the states the search stood in there.
fn record<S: Clone + Eq>(best: &mut Option<Failure<S>>, stack: &[(usize, S)], list: &List, blocked: usize, state: &S) {
    match best {
        Some(b) if b.prefix.len() > stack.len() => {}
        Some(b) if b.prefix.len() == stack.len() => {
            if b.blocked == blocked && b.states.len() < MAX_STATES && !b.states.contains(state) {
                b.states.push(state.clone());
            }
        }
        _ => {
            *best = Some(Failure {
                prefix: stack.iter().map(|(n, _)| list.entries[*n].op).collect(),
                blocked,
                states: vec![state.clone()],
            })
        }
    }
}
