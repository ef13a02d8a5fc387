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
//! Two more rules cut the search itself, and both keep the verdict exact:
//! - **Reads that find the state are taken at once.** Say a read `r` with a
//!   deadline is callable in configuration C (the walk reaches its call
//!   before any return: every op that returned before `r` was invoked is
//!   linearized) and leaves C's state `s` unchanged. Take any valid
//!   continuation of C; it places `r` somewhere later, at a state `t`. Move
//!   `r` to the front: it is legal there (it finds `s`), real time allows it
//!   (everything due before its invoke is already in C), and the ops it
//!   jumped over run exactly as before, because `r` also left `t` unchanged
//!   ([`Model::is_read`]). So C has a valid continuation exactly when C + r
//!   has one: the search takes `r` without a branch point, and when C + r
//!   fails it backtracks past C at once. At high concurrency most of the
//!   search used to go into orders of reads that commute; this removes it.
//! - **Stranded ops end a path before it is walked.** A step that leaves
//!   some op with a deadline unable ever to be linearized (the register's
//!   value nobody will write again, a list read shorter than the list now
//!   is) is refused, by [`Model::stranded`]. With unique values this keeps
//!   the search on the one order of versions the reads allow.
//!
//! The memo key is the set of linearized ops with deadlines as a
//! [`Window`]: the first op not yet linearized (in invoke order) and the
//! few past it that are, so a key costs a few words however long the
//! history.
//!
//! Ties cannot occur: positions are event ordinals in the history, and two
//! events never share one. An op whose completion comes before another's
//! invoke in the file precedes it; otherwise the two are concurrent.

use std::collections::HashMap;

use crate::history::Action;
use crate::limits::{resident_bytes, Budget};
use crate::memo::{memo_slot_bytes, remember, Linearized, Memo};
use crate::model::{Model, SearchOp};

pub use crate::limits::Abort;

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
    /// When the model proved the failure without searching, why
    /// ([`crate::model::Contradiction`]); the prefix is then empty.
    pub proof: Option<String>,
}

/// The verdict on one key.
#[derive(Clone, Debug)]
pub enum Outcome<S> {
    Valid,
    Invalid(Failure<S>),
    /// Stopped by a limit, having linearized this many ops in the longest
    /// prefix it found.
    Unknown(Abort, usize),
}

/// Most candidate states kept for an explanation.
pub const MAX_STATES: usize = 8;

/// Resource limits shared by every key of one check.
pub struct Limits<'a> {
    /// Raised when a limit is reached; the search then answers Unknown.
    pub budget: &'a Budget,
    /// Most bytes the process may hold resident: a memo table that would
    /// grow past it stops the search before it allocates.
    pub memory_limit: usize,
    /// Search even where the model can prove a failure without it.
    pub search_only: bool,
}

const HEAD: usize = 0;
/// No node, no op.
pub(crate) const NIL: usize = usize::MAX;

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

/// One linearized op on the search stack.
struct Frame<S> {
    /// Its call entry.
    node: usize,
    /// The walk's pass when it was taken.
    late: bool,
    /// The state before it.
    state: S,
    /// Taken by the read rule: when the configuration it leads to fails,
    /// so does the one before it.
    forced: bool,
}

/// Checks one key's ops against `model`.
pub fn check<M: Model>(model: &M, ops: &[SearchOp], limits: &Limits) -> Outcome<M::State> {
    if ops.is_empty() {
        return Outcome::Valid;
    }
    if let Some(c) = (!limits.search_only).then(|| model.contradiction(ops)).flatten() {
        return Outcome::Invalid(Failure {
            prefix: Vec::new(),
            blocked: c.blocked,
            states: vec![c.state],
            proof: Some(c.reason),
        });
    }
    match (!limits.search_only).then(|| model.decide(ops)).flatten() {
        Some(Ok(())) => return Outcome::Valid,
        Some(Err(c)) => {
            return Outcome::Invalid(Failure {
                prefix: Vec::new(),
                blocked: c.blocked,
                states: vec![c.state],
                proof: Some(c.reason),
            })
        }
        None => {}
    }
    let mut list = List::build(ops);
    let twin_before = twins(ops);
    let mut lin = Linearized::new(model, ops);
    let mut pending = model.pending(ops);
    let mut memo: Memo<M::State> = HashMap::default();
    let mut state = model.init();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut best = Deepest::new();
    let mut node = list.next[HEAD];
    // The walk up to the first return entry runs twice: over ops with
    // deadlines, then (`late`) over optional ones. Optional ops are thus
    // tried as late as possible, just before something needs them, which
    // is where a valid history usually wants them.
    let mut late = false;
    let mut steps: u64 = 0;
    loop {
        if node == NIL {
            return Outcome::Valid;
        }
        steps += 1;
        if steps & 0x3ff == 0 {
            if let Some(abort) = limits.budget.look() {
                return Outcome::Unknown(abort, best.reached(stack.len()));
            }
        }
        let Entry { op, call } = list.entries[node];
        // Whether the configuration we stand in is dead.
        let dead = if call {
            let optional = lin.optional(op);
            if optional != late || (optional && twin_before[op] != NIL && !lin.used(twin_before[op])) {
                node = list.next[node];
                continue;
            }
            let Some(next_state) = model.step(&state, &ops[op].op) else {
                node = list.next[node];
                continue;
            };
            let unchanged = next_state == state;
            if optional && unchanged {
                node = list.next[node];
                continue;
            }
            let forced = !optional && unchanged && model.is_read(&ops[op].op);
            model.mark(&mut pending, op, true);
            if !unchanged && model.stranded(&pending, op, &state, &next_state) {
                if best.reaches(stack.len() + 1) {
                    let stuck = model.stranded_op(&pending, op, &state, &next_state);
                    best.record(&stack, &list, Some(op), stuck, &next_state);
                }
                model.mark(&mut pending, op, false);
                node = list.next[node];
                continue;
            }
            lin.mark(op, true);
            let key = (lin.done.window(), model.memo_state(&pending, &next_state));
            if memo.len() == memo.capacity() && memo.capacity() >= 1 << 14 {
                // A big table is about to double, in one allocation that
                // the next look would only see once made: look first.
                let grown = resident_bytes() + memo.capacity() * 9 / 4 * memo_slot_bytes::<M::State>();
                if grown > limits.memory_limit {
                    return Outcome::Unknown(Abort::MemoryLimit { bytes: grown }, best.reached(stack.len()));
                }
            }
            if remember(&mut memo, key, &lin) {
                stack.push(Frame { node, late, state: std::mem::replace(&mut state, next_state), forced });
                list.lift(node);
                node = list.next[HEAD];
                late = false;
                continue;
            }
            lin.mark(op, false);
            model.mark(&mut pending, op, false);
            // Seen before, so it failed; a forced read's failure is ours.
            forced
        } else if !late {
            late = true;
            node = list.next[HEAD];
            continue;
        } else {
            // `op`'s deadline came and it is not linearized.
            best.record(&stack, &list, None, op, &state);
            true
        };
        if !dead {
            node = list.next[node];
            continue;
        }
        // Backtrack past every frame the read rule took.
        loop {
            let Some(frame) = stack.pop() else {
                return Outcome::Invalid(best.into_failure(op, state));
            };
            best.popped(stack.len());
            state = frame.state;
            late = frame.late;
            let taken = list.entries[frame.node].op;
            lin.mark(taken, false);
            model.mark(&mut pending, taken, false);
            list.unlift(frame.node);
            if !frame.forced {
                node = list.next[frame.node];
                break;
            }
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

/// The deepest dead end so far: the longest prefix (the stack, plus the
/// refused step when a step was refused for stranding an op), the op that
/// blocked it, and the states the search stood in there.
struct Deepest<S> {
    found: Option<Failure<S>>,
    /// How many leading frames of the stack `found.prefix` still matches,
    /// so a deeper record copies only what changed since the last one.
    synced: usize,
}

impl<S: Clone + Eq> Deepest<S> {
    fn new() -> Self {
        Deepest { found: None, synced: 0 }
    }

    /// The longest linearizable prefix found so far: the deepest dead end,
    /// or the stack (of `stack_len` frames) when it is deeper.
    fn reached(&self, stack_len: usize) -> usize {
        self.found.as_ref().map_or(0, |b| b.prefix.len()).max(stack_len)
    }

    /// Whether a dead end at `depth` would be kept.
    fn reaches(&self, depth: usize) -> bool {
        self.found.as_ref().is_none_or(|b| b.prefix.len() <= depth)
    }

    /// The stack shrank to `len` frames.
    fn popped(&mut self, len: usize) {
        self.synced = self.synced.min(len);
    }

    fn record(&mut self, stack: &[Frame<S>], list: &List, step: Option<usize>, blocked: usize, state: &S) {
        let depth = stack.len() + usize::from(step.is_some());
        match &mut self.found {
            Some(b) if b.prefix.len() > depth => {}
            Some(b) if b.prefix.len() == depth => {
                if b.blocked == blocked && b.states.len() < MAX_STATES && !b.states.contains(state) {
                    b.states.push(state.clone());
                }
            }
            found => {
                let b = found.get_or_insert_with(|| Failure {
                    prefix: Vec::new(),
                    blocked,
                    states: Vec::new(),
                    proof: None,
                });
                b.prefix.truncate(self.synced);
                b.prefix.extend(stack[self.synced..].iter().map(|f| list.entries[f.node].op));
                b.prefix.extend(step);
                b.blocked = blocked;
                b.states.clear();
                b.states.push(state.clone());
                self.synced = stack.len();
            }
        }
    }

    fn into_failure(self, blocked: usize, state: S) -> Failure<S> {
        self.found.unwrap_or(Failure { prefix: Vec::new(), blocked, states: vec![state], proof: None })
    }
}
