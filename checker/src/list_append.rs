//! The list-append model: `append x` adds x to the end of the key's list;
//! a read returns the whole list (`nil` reads as the empty list).
//!
//! # The state is a list plus a bag
//! Between two reads, appends are unobservable, so their relative order
//! does not matter until the next read pins it. The model state is
//! therefore `(known, pending)`: the list the last read fixed, and the bag
//! of elements appended since, each with its append's invoke and
//! completion. A read of `L` is legal when `L` is `known` followed by an
//! order of `pending` that real time allows: no append in it completed
//! before one placed ahead of it began. It then becomes the new `known`.
//! This is exact (the appends between two reads can be linearized in any
//! such order, since nothing else runs between them), and it keeps the
//! search from trying every permutation of concurrent appends:
//! configurations grow with subsets, not orders. (Real time matters: an
//! append that completed before another began cannot come after it in any
//! read.)
//!
//! `prepare` applies the register's two rules to elements: an info append
//! whose element no ok read contains is dropped (placing it anywhere before
//! a read would put it in that read), and an info append whose element is
//! appended by no other op is due before the first ok read that contains it.
//!
//! # Stranded reads (`stranded`)
//! A list only grows, and an element once in it stays. So two steps doom
//! every continuation, and the search refuses them:
//! - a step to a state longer than some ok read not yet linearized (a read
//!   of `L` is legal only in a state of length `|L|`);
//! - an append of `x` while some ok read not yet linearized lacks `x`
//!   (every later state holds `x`).
//!
//! An append therefore waits for every read that does not see it.
//!
//! # Contradictions without search (`contradiction`)
//! If an ok read `r1` ended before an ok read `r2` began, `r2`'s list must
//! extend `r1`'s: the list only grows. When the longest read that ended
//! before `r2` began is not a prefix of `r2`, no linearization exists.
//!
//! # Reads
//! A read that leaves a state unchanged finds it as `(L, [])`. Every state
//! reachable from there in which the read is legal has length `|L|`, so no
//! append came in between, and reads of `L` keep `(L, [])`: the read leaves
//! it unchanged too, as [`Model::is_read`] requires.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use crate::history::{Action, EventType, Op, OpType, Seq, Value};
use crate::model::{ok_deadline, Contradiction, Model, ModelName, SearchOp};

#[derive(Clone, Copy, Debug, Default)]
pub struct ListAppend;

fn as_list(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Nil => Some(&[]),
        Value::List(l) => Some(l),
        _ => None,
    }
}

/// Whether read `a`'s list starts with read `b`'s: at once when both are
/// prefixes of one buffer.
fn extends(a: &Action, b: &Action) -> bool {
    match (a, b) {
        (Action::Read(Value::List(a)), Action::Read(Value::List(b))) => a.has_prefix(b),
        (Action::Read(a), Action::Read(b)) => as_list(a).zip(as_list(b)).is_some_and(|(a, b)| a.starts_with(b)),
        _ => false,
    }
}

/// `known`: the list as the last read fixed it, shared with that read's
/// op (a state costs a pointer, however long the list); `pending`:
/// elements appended since, sorted (a bag: their order is not yet
/// observed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListState {
    pub known: Seq,
    pub pending: Vec<Appended>,
}

/// An element appended since the last read, with its append's real-time
/// interval (`complete` is [`crate::history::NEVER`] for an info append).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Appended {
    pub value: Value,
    pub invoke: u64,
    pub complete: u64,
}

/// Whether `rest` is the elements of `pending` in an order real time
/// allows: each element's append did not complete before the invoke of an
/// append placed ahead of it. Equal values are tried each way (a
/// backtracking search over duplicates only; `pending` is sorted).
fn real_time_order(rest: &[Value], pending: &[Appended]) -> bool {
    fn go(rest: &[Value], pending: &[Appended], used: &mut [bool], latest: u64) -> bool {
        let Some((x, tail)) = rest.split_first() else { return true };
        let start = pending.partition_point(|p| p.value < *x);
        let mut tried: Option<(u64, u64)> = None;
        for i in start..pending.len() {
            let p = &pending[i];
            if p.value != *x {
                break;
            }
            if used[i] || p.complete < latest || tried == Some((p.invoke, p.complete)) {
                continue;
            }
            tried = Some((p.invoke, p.complete));
            used[i] = true;
            if go(tail, pending, used, latest.max(p.invoke)) {
                return true;
            }
            used[i] = false;
        }
        false
    }
    rest.len() == pending.len() && go(rest, pending, &mut vec![false; pending.len()], 0)
}

/// Hashes the known list by its length and last element only: equal states
/// still hash alike, and hashing no longer costs the whole list per step.
impl Hash for ListState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.known.len().hash(h);
        self.known.last().hash(h);
        self.pending.hash(h);
    }
}

impl ListState {
    fn len(&self) -> usize {
        self.known.len() + self.pending.len()
    }
}

/// No element: the op is not an append.
const NONE: u32 = u32::MAX;

/// The ok reads (ops with deadlines) not yet linearized: how many, by
/// length, and how many of them hold each element (interned).
pub struct ListPending {
    /// Each op's read length, for ok reads only.
    read_len: Vec<Option<usize>>,
    /// Each ok read's distinct elements, sorted.
    read_elems: Vec<Box<[u32]>>,
    /// Each append's element, or NONE.
    appends: Vec<u32>,
    /// Length → how many such reads are not yet linearized.
    waiting: BTreeMap<usize, u32>,
    /// Element → how many such reads hold it.
    holding: Vec<u32>,
    /// Such reads by invoke position, for naming a stranded one.
    open: BTreeSet<(u64, usize)>,
    invoke: Vec<u64>,
}

impl ListPending {
    /// Whether read `r` holds element `e`.
    fn holds(&self, r: usize, e: u32) -> bool {
        self.read_elems[r].binary_search(&e).is_ok()
    }
}

impl Model for ListAppend {
    type State = ListState;

    fn name(&self) -> ModelName {
        ModelName::ListAppend
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
                let l = match v {
                    Value::Nil => Seq::default(),
                    Value::List(l) => l.clone(),
                    _ => return None,
                };
                let k = state.known.len();
                if l.len() != state.len() || !l.has_prefix(&state.known) {
                    return None;
                }
                real_time_order(&l[k..], &state.pending).then_some(ListState { known: l, pending: Vec::new() })
            }
            Action::Append(x) => {
                let mut next = state.clone();
                let a = Appended { value: x.clone(), invoke: op.invoke, complete: op.complete };
                let at = next.pending.partition_point(|p| *p <= a);
                next.pending.insert(at, a);
                Some(next)
            }
            _ => None,
        }
    }

    /// The known list followed by the pending elements (in one of the
    /// orders still possible).
    fn describe(&self, state: &ListState) -> Value {
        Value::List(state.known.iter().chain(state.pending.iter().map(|p| &p.value)).cloned().collect())
    }

    type Pending = ListPending;

    fn pending(&self, ops: &[SearchOp]) -> ListPending {
        let mut ids: HashMap<&Value, u32, ahash::RandomState> = HashMap::default();
        let mut intern = |v| {
            let next = ids.len() as u32;
            *ids.entry(v).or_insert(next)
        };
        let mut p = ListPending {
            read_len: Vec::with_capacity(ops.len()),
            read_elems: Vec::with_capacity(ops.len()),
            appends: Vec::with_capacity(ops.len()),
            waiting: BTreeMap::new(),
            holding: Vec::new(),
            open: BTreeSet::new(),
            invoke: ops.iter().map(|o| o.op.invoke).collect(),
        };
        for o in ops {
            let read = match &o.op.action {
                Action::Read(v) if o.deadline.is_some() => as_list(v),
                _ => None,
            };
            let mut elems: Vec<u32> = read.unwrap_or(&[]).iter().map(&mut intern).collect();
            elems.sort_unstable();
            elems.dedup();
            p.read_len.push(read.map(<[Value]>::len));
            p.read_elems.push(elems.into());
            p.appends.push(match &o.op.action {
                Action::Append(x) => intern(x),
                _ => NONE,
            });
        }
        p.holding = vec![0; ids.len()];
        for i in 0..ops.len() {
            self.mark(&mut p, i, false);
        }
        p
    }

    fn mark(&self, p: &mut ListPending, i: usize, on: bool) {
        let Some(len) = p.read_len[i] else { return };
        if on {
            let c = p.waiting.get_mut(&len).expect("a waiting read is counted");
            *c -= 1;
            if *c == 0 {
                p.waiting.remove(&len);
            }
            p.open.remove(&(p.invoke[i], i));
        } else {
            *p.waiting.entry(len).or_insert(0) += 1;
            p.open.insert((p.invoke[i], i));
        }
        for &e in p.read_elems[i].iter() {
            let c = &mut p.holding[e as usize];
            *c = if on { *c - 1 } else { *c + 1 };
        }
    }

    fn stranded(&self, p: &ListPending, i: usize, _from: &ListState, to: &ListState) -> bool {
        let shorter = p.waiting.first_key_value().is_some_and(|(&shortest, _)| to.len() > shortest);
        let e = p.appends[i];
        shorter || (e != NONE && (p.holding[e as usize] as usize) < p.open.len())
    }

    fn stranded_op(&self, p: &ListPending, i: usize, _from: &ListState, to: &ListState) -> usize {
        let e = p.appends[i];
        p.open
            .iter()
            .map(|&(_, r)| r)
            .find(|&r| p.read_len[r].is_some_and(|len| len < to.len()) || (e != NONE && !p.holds(r, e)))
            .unwrap_or(i)
    }

    fn is_read(&self, op: &Op) -> bool {
        matches!(op.action, Action::Read(_))
    }

    /// An append whose element no read holds: no read can come after it in
    /// any linearization (it would hold the element), so only appends
    /// follow, and none of them can tell whether it ran.
    fn droppable(&self, ops: &[SearchOp]) -> Vec<bool> {
        let read: std::collections::HashSet<&Value> = ops
            .iter()
            .filter_map(|o| match &o.op.action {
                Action::Read(v) => as_list(v),
                _ => None,
            })
            .flatten()
            .collect();
        ops.iter()
            .map(|o| o.deadline.is_some() && matches!(&o.op.action, Action::Append(x) if !read.contains(x)))
            .collect()
    }

    fn decide(&self, ops: &[SearchOp]) -> Option<Result<(), Contradiction<ListState>>> {
        crate::versions::decide_list(ops).map(|r| {
            r.map_err(|c| Contradiction {
                blocked: c.blocked,
                reason: c.reason,
                state: ListState { known: c.state, pending: Vec::new() },
            })
        })
    }

    fn contradiction(&self, ops: &[SearchOp]) -> Option<Contradiction<ListState>> {
        let reads: Vec<(usize, u64, &[Value])> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.op.action {
                Action::Read(v) => Some((i, o.deadline?, as_list(v)?)),
                _ => None,
            })
            .collect();
        let mut by_deadline: Vec<&(usize, u64, &[Value])> = reads.iter().collect();
        by_deadline.sort_unstable_by_key(|r| r.1);
        let mut by_invoke: Vec<&(usize, u64, &[Value])> = reads.iter().collect();
        by_invoke.sort_unstable_by_key(|r| ops[r.0].op.invoke);
        // The longest read that ended before the current one began.
        let mut longest: Option<&(usize, u64, &[Value])> = None;
        let mut ended = by_deadline.iter().peekable();
        for r2 in by_invoke {
            let begun = ops[r2.0].op.invoke;
            while let Some(r1) = ended.next_if(|r1| r1.1 < begun) {
                if longest.is_none_or(|l| r1.2.len() > l.2.len()) {
                    longest = Some(r1);
                }
            }
            let Some(r1) = longest else { continue };
            if !extends(&ops[r2.0].op.action, &ops[r1.0].op.action) {
                let known = match &ops[r1.0].op.action {
                    Action::Read(Value::List(l)) => l.clone(),
                    _ => Seq::default(),
                };
                let reason = format!("{} ended before it began, and a list only grows", ops[r1.0].op.words());
                return Some(Contradiction { blocked: r2.0, reason, state: ListState { known, pending: Vec::new() } });
            }
        }
        None
    }

    fn prepare(&self, ops: &[Op]) -> Vec<SearchOp> {
        // Earliest completion of an ok read containing each element. Reads
        // that are prefixes of the longest (at once when they share its
        // buffer, [`Seq::has_prefix`]) are counted by length, not element
        // by element: element `i` of the longest is first seen by the
        // earliest of them longer than `i`.
        let reads: Vec<(&Seq, u64)> = ops
            .iter()
            .filter_map(|o| match &o.action {
                Action::Read(Value::List(l)) if o.kind == EventType::Ok => Some((l, o.complete)),
                _ => None,
            })
            .collect();
        let longest = reads.iter().map(|(l, _)| *l).max_by_key(|l| l.len());
        let mut by_position: Vec<u64> = vec![u64::MAX; longest.map_or(0, |l| l.len()) + 1];
        let mut first_seen: HashMap<&Value, u64> = HashMap::new();
        for &(l, complete) in &reads {
            if longest.is_some_and(|all| all.has_prefix(l)) {
                by_position[l.len()] = by_position[l.len()].min(complete);
                continue;
            }
            for x in l.iter() {
                let e = first_seen.entry(x).or_insert(complete);
                *e = (*e).min(complete);
            }
        }
        if let Some(all) = longest {
            let mut soonest = u64::MAX;
            for i in (0..all.len()).rev() {
                soonest = soonest.min(by_position[i + 1]);
                let e = first_seen.entry(&all[i]).or_insert(soonest);
                *e = (*e).min(soonest);
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
