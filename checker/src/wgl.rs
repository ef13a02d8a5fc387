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
//! Three prunings keep optional ops from multiplying the configurations.
//! The first two keep the verdict exact because any linearization can be
//! rewritten to obey them; the third only cuts repeated work:
//! - **No-op optional ops are skipped.** An optional op that leaves the
//!   state as it was can be dropped from any linearization that places it.
//! - **Twins go in invoke order.** Optional ops with the same action (two
//!   crashed `write 3`) are interchangeable: if a linearization places the
//!   later-invoked one at some point, the earlier one, invoked before, can
//!   take that place instead and the later one the earlier's (or none). So
//!   an optional op is tried only once its previous twin is linearized.
//! - **Dominated configurations are cut.** Optional ops stay available
//!   from their call on, so a configuration that used a subset of the
//!   optional ops, with the same ops with deadlines and the same state, can
//!   do everything one that used more can. The memo keeps, per (ops with
//!   deadlines, state), the minimal sets of optional ops used.
//!
//! Ties cannot occur: positions are event ordinals in the history, and two
//! events never share one. An op whose completion comes before another's
//! invoke in the file precedes it; otherwise the two are concurrent.

use std::collections::hash_map::Entry as MemoEntry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::bitset::Bitset;
use crate::history::Action;
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
    let twin_before = twins(ops);
    // Optional ops get their own numbering and bitset: the memo key holds
    // only the ops with deadlines, and the optional ones used go in the
    // value, for the dominance test.
    let mut slot = vec![NIL; ops.len()];
    let mut optional_count = 0;
    for (i, o) in ops.iter().enumerate() {
        if o.deadline.is_none() {
            slot[i] = optional_count;
            optional_count += 1;
        }
    }
    let mut memo: Memo<M::State> = HashMap::default();
    let entry_bytes = Bitset::new(ops.len()).heap_bytes() + std::mem::size_of::<(Bitset, M::State, Vec<Bitset>)>() + 16;
    let used_bytes = Bitset::new(optional_count).heap_bytes() + std::mem::size_of::<Bitset>();
    let mut done = Bitset::new(ops.len());
    let mut used = Bitset::new(optional_count);
    let mut state = model.init();
    let mut stack: Vec<(usize, bool, M::State)> = Vec::new();
    let mut best: Option<Failure<M::State>> = None;
    let mut node = list.next[HEAD];
    // The walk up to the first return entry runs twice: over ops with
    // deadlines, then (`late`) over optional ones. Optional ops are thus
    // tried as late as possible, just before something needs them, which
    // is where a valid history usually wants them.
    let mut late = false;
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
            let optional = slot[op] != NIL;
            if optional != late || (optional && twin_before[op] != NIL && !used.get(slot[twin_before[op]])) {
                node = list.next[node];
                continue;
            }
            if let Some(next_state) = model.step(&state, &ops[op].op) {
                if optional && next_state == state {
                    node = list.next[node];
                    continue;
                }
                mark(&mut done, &mut used, &slot, op, true);
                let key = (done.clone(), next_state.clone());
                if let Some(added) = remember(&mut memo, key, &used) {
                    memo_bytes += used_bytes + if added { entry_bytes + model.state_bytes(&next_state) } else { 0 };
                    stack.push((node, late, std::mem::replace(&mut state, next_state)));
                    list.lift(node);
                    node = list.next[HEAD];
                    late = false;
                    continue;
                }
                mark(&mut done, &mut used, &slot, op, false);
            }
            node = list.next[node];
            continue;
        }
        if !late {
            late = true;
            node = list.next[HEAD];
            continue;
        }
        // `op`'s deadline came and it is not linearized: this path is dead.
        record(&mut best, &stack, &list, op, &state);
        let Some((call_node, was_late, prev_state)) = stack.pop() else {
            return Outcome::Invalid(best.expect("recorded just above"));
        };
        state = prev_state;
        late = was_late;
        mark(&mut done, &mut used, &slot, list.entries[call_node].op, false);
        list.unlift(call_node);
        node = list.next[call_node];
    }
}

/// Configurations seen: (ops with deadlines linearized, state) → the sets
/// of optional ops used to get there, none a subset of another.
type Memo<S> = HashMap<(Bitset, S), Vec<Bitset>, ahash::RandomState>;

/// Sets or clears `op` in the bitset it belongs to.
fn mark(done: &mut Bitset, used: &mut Bitset, slot: &[usize], op: usize, on: bool) {
    let (bits, i) = if slot[op] == NIL { (done, op) } else { (used, slot[op]) };
    if on {
        bits.set(i)
    } else {
        bits.clear(i)
    }
}

/// Records a configuration unless one that dominates it was seen: same
/// deadline ops and state, having used a subset of the optional ops. Such a
/// configuration can do all this one can (optional ops stay available once
/// invoked), so this one adds nothing. Returns None when dominated, else
/// whether a new memo entry was made.
fn remember<S: Eq + std::hash::Hash>(memo: &mut Memo<S>, key: (Bitset, S), used: &Bitset) -> Option<bool> {
    match memo.entry(key) {
        MemoEntry::Vacant(v) => {
            v.insert(vec![used.clone()]);
            Some(true)
        }
        MemoEntry::Occupied(mut o) => {
            let seen = o.get_mut();
            if seen.iter().any(|u| u.is_subset(used)) {
                return None;
            }
            seen.retain(|u| !used.is_subset(u));
            seen.push(used.clone());
            Some(false)
        }
    }
}

/// For each optional op, the optional op with the same action invoked just
/// before it (or NIL). Such twins are interchangeable, so the search uses
/// them in invoke order only; see the module docs.
fn twins(ops: &[SearchOp]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].deadline.is_none()).collect();
    order.sort_by_key(|&i| ops[i].op.invoke);
    let mut last: HashMap<&Action, usize> = HashMap::new();
    let mut twin_before = vec![NIL; ops.len()];
    for i in order {
        if let Some(j) = last.insert(&ops[i].op.action, i) {
            twin_before[i] = j;
        }
    }
    twin_before
}

/// Keeps the deepest dead end: the longest prefix, the op that blocked it,
/// and the states the search stood in there.
fn record<S: Clone + Eq>(
    best: &mut Option<Failure<S>>,
    stack: &[(usize, bool, S)],
    list: &List,
    blocked: usize,
    state: &S,
) {
    match best {
        Some(b) if b.prefix.len() > stack.len() => {}
        Some(b) if b.prefix.len() == stack.len() => {
            if b.blocked == blocked && b.states.len() < MAX_STATES && !b.states.contains(state) {
                b.states.push(state.clone());
            }
        }
        _ => {
            *best = Some(Failure {
                prefix: stack.iter().map(|(n, _, _)| list.entries[*n].op).collect(),
                blocked,
                states: vec![state.clone()],
            })
        }
    }
}
