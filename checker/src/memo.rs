//! What a search configuration has linearized, and the memo of the
//! configurations seen, with its dominance rule (see [`crate::wgl`]).

use std::collections::hash_map::Entry as MemoEntry;
use std::collections::HashMap;

use crate::bitset::{Bitset, Frontier, Window};
use crate::model::{Model, SearchOp};
use crate::wgl::NIL;

/// The three kinds of op, each with its own set in a configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Has a deadline, and its effect can be seen.
    Required,
    /// Has a deadline, but any valid linearization can do without it
    /// ([`Model::droppable`]).
    Droppable,
    /// Has no deadline: it may be left out.
    Optional,
}

/// The ops a configuration has linearized: required and droppable ops in
/// [`Frontier`]s, numbered in invoke order, optional ops in a [`Bitset`].
pub(crate) struct Linearized {
    kind: Vec<Kind>,
    slot: Vec<usize>,
    pub(crate) done: Frontier,
    dropped: Frontier,
    pub(crate) used: Bitset,
}

impl Linearized {
    pub(crate) fn new<M: Model>(model: &M, ops: &[SearchOp]) -> Linearized {
        let droppable = model.droppable(ops);
        let kind: Vec<Kind> = ops
            .iter()
            .zip(&droppable)
            .map(|(o, &d)| match (o.deadline.is_some(), d) {
                (false, _) => Kind::Optional,
                (true, true) => Kind::Droppable,
                (true, false) => Kind::Required,
            })
            .collect();
        let mut by_invoke: Vec<usize> = (0..ops.len()).collect();
        by_invoke.sort_by_key(|&i| ops[i].op.invoke);
        let mut count = [0usize; 3];
        let mut slot = vec![NIL; ops.len()];
        for i in by_invoke {
            let n = &mut count[kind[i] as usize];
            slot[i] = *n;
            *n += 1;
        }
        Linearized {
            kind,
            slot,
            done: Frontier::new(count[Kind::Required as usize]),
            dropped: Frontier::new(count[Kind::Droppable as usize]),
            used: Bitset::new(count[Kind::Optional as usize]),
        }
    }

    pub(crate) fn optional(&self, op: usize) -> bool {
        self.kind[op] == Kind::Optional
    }

    pub(crate) fn used(&self, op: usize) -> bool {
        self.used.get(self.slot[op])
    }

    /// Sets or clears `op` in the set it belongs to.
    pub(crate) fn mark(&mut self, op: usize, on: bool) {
        let i = self.slot[op];
        match (self.kind[op], on) {
            (Kind::Required, true) => self.done.set(i),
            (Kind::Required, false) => self.done.clear(i),
            (Kind::Droppable, true) => self.dropped.set(i),
            (Kind::Droppable, false) => self.dropped.clear(i),
            (Kind::Optional, true) => self.used.set(i),
            (Kind::Optional, false) => self.used.clear(i),
        }
    }
}

/// Configurations seen: (required ops linearized, state) → what else
/// each one had linearized: (droppable ops, optional ops), none dominated
/// by another.
/// The state is [`crate::model::Model::memo_state`]'s key (`None`: a state
/// no op left can tell apart from another such).
pub(crate) type Memo<S> = HashMap<(Window, Option<S>), Vec<(Window, Bitset)>, ahash::RandomState>;

/// Bytes one memo slot takes in the table, beyond what it points to.
pub(crate) fn memo_slot_bytes<S>() -> usize {
    std::mem::size_of::<((Window, Option<S>), Vec<(Window, Bitset)>)>() + 1
}

/// Records a configuration unless one that dominates it was seen: same
/// required ops and state, having used a subset of the optional ops and a
/// superset of the droppable ones. Such a configuration can do all this one
/// can: optional ops stay available once invoked, and a droppable op this
/// one still owes can be left out of any valid continuation. So this one
/// adds nothing. Returns whether it was recorded (false: dominated).
pub(crate) fn remember<S: Eq + std::hash::Hash>(
    memo: &mut Memo<S>,
    key: (Window, Option<S>),
    lin: &Linearized,
) -> bool {
    let dropped = lin.dropped.window();
    match memo.entry(key) {
        MemoEntry::Vacant(v) => {
            v.insert(vec![(dropped, lin.used.clone())]);
            true
        }
        MemoEntry::Occupied(mut o) => {
            let seen = o.get_mut();
            if seen.iter().any(|(d, u)| u.is_subset(&lin.used) && d.covers(&dropped)) {
                return false;
            }
            seen.retain(|(d, u)| !(lin.used.is_subset(u) && dropped.covers(d)));
            seen.push((dropped, lin.used.clone()));
            true
        }
    }
}
