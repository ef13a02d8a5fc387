//! The version-order decisions: exact verdicts in O(n log n), without a
//! search, for registers whose values are unique and lists whose appends
//! are, the histories a search finds hardest (many clients on one key).
//!
//! # Versions and runs
//! When no two ops write the same value (and none writes `nil`), every read
//! and every cas names the op whose value it observes. A cas that expects
//! `v` must come directly after `v`'s writer: any other write between them
//! would change the value, and nothing writes `v` again. So the versions
//! fall into *runs*: a blind write (or the initial `nil`) and the chain of
//! cas ops that follow it, each version with its reads. A run occupies one
//! contiguous stretch of every linearization: between its first write and
//! its last read, only its own ops can run.
//!
//! # Placing runs from the end (decrease and conquer)
//! Take any run `R` that can come last: no op of it ended before an op of
//! another run began, and its own ops fit its fixed order (writer, its
//! reads, the next cas, its reads, …) in real time. If the history is
//! linearizable, so is the history without `R` (cut `R`'s stretch out of a
//! linearization: the version before it is followed by the next run's
//! blind write, and nobody saw `R`), and any linearization of the rest
//! followed by `R` is one of the whole. So placing such runs last, one at a
//! time, decides the history exactly, whichever candidate is taken first
//! (Lee & Mathur's decrease-and-conquer, OOPSLA 2025, for registers;
//! Gibbons & Korach's unique-value result is its read/write case). The run
//! of the initial `nil` comes first, so it is placed last.
//!
//! The candidate test needs only the latest invoke among the ops left and
//! the run it belongs to: a run other than that one can come last only if
//! its earliest deadline is later than that invoke; that run only if its
//! earliest deadline is later than the latest invoke outside it.
//!
//! # Lists ([`decide_list`])
//! A list-append key whose appended elements are unique and whose reads
//! are all prefixes of the longest has one order of versions: the longest
//! read's. One pass over that order decides it.
//!
//! # When it does not apply
//! A value written twice, a delete (a second writer of `nil`), or an op
//! that may be left out (an info op no rule gave a deadline): then
//! [`decide`] answers `None` and the search takes the history.

use std::collections::HashMap;

use crate::history::{Action, Seq, Value};
use crate::model::{Contradiction, SearchOp};
use crate::register;

/// No run: the op belongs to none (never happens once built).
const NONE: usize = usize::MAX;

/// One run of versions: its ops in their only possible order.
struct Run {
    ops: Vec<usize>,
    /// The earliest deadline among its ops, and that op.
    first_due: (u64, usize),
    /// The latest invoke among its ops, and that op.
    last_invoked: (u64, usize),
}

/// The verdict on `ops` (one key's search ops, after
/// [`crate::model::Model::prepare`]), or `None` when the history is not
/// one this decision applies to (see the module docs).
pub fn decide(ops: &[SearchOp]) -> Option<Result<(), Contradiction<Value>>> {
    if ops.iter().any(|o| o.deadline.is_none()) {
        return None;
    }
    let mut writer_of: HashMap<&Value, usize, ahash::RandomState> = HashMap::default();
    for (i, o) in ops.iter().enumerate() {
        if let Action::Write(v) | Action::Cas(_, v) = &o.op.action {
            if *v == Value::Nil || writer_of.insert(v, i).is_some() {
                return None;
            }
        }
        if let Action::Append(_) = o.op.action {
            return None;
        }
    }
    let deadline = |i: usize| ops[i].deadline.expect("every op has a deadline");
    // Who observes each value: its reads, and the one cas that follows it.
    let mut reads_of: HashMap<&Value, Vec<usize>, ahash::RandomState> = HashMap::default();
    let mut cas_after: HashMap<&Value, usize, ahash::RandomState> = HashMap::default();
    for (i, o) in ops.iter().enumerate() {
        let (seen, is_cas) = match &o.op.action {
            Action::Read(v) => (v, false),
            Action::Cas(e, _) => (e, true),
            _ => continue,
        };
        if *seen != Value::Nil && !writer_of.contains_key(seen) {
            return Some(Err(Contradiction { blocked: i, reason: format!("no op writes {seen}"), state: Value::Nil }));
        }
        if is_cas {
            if let Some(&other) = cas_after.get(seen) {
                let (first, second) = if ops[other].op.invoke < o.op.invoke { (other, i) } else { (i, other) };
                return Some(Err(Contradiction {
                    blocked: second,
                    reason: format!(
                        "{} expected {seen} too, and after either one the key holds a new value while \
                         nothing writes {seen} again",
                        ops[first].op.words()
                    ),
                    state: written(&ops[first]).clone(),
                }));
            }
            cas_after.insert(seen, i);
        } else {
            reads_of.entry(seen).or_default().push(i);
        }
    }
    // Build the runs from their roots: the initial nil, and every blind write.
    let mut runs: Vec<Run> = Vec::new();
    let mut run_of = vec![NONE; ops.len()];
    let roots =
        std::iter::once(None).chain((0..ops.len()).filter(|&i| matches!(ops[i].op.action, Action::Write(_))).map(Some));
    for root in roots {
        let mut seq: Vec<usize> = Vec::new();
        let mut value: &Value = match root {
            None => &Value::Nil,
            Some(w) => {
                seq.push(w);
                written(&ops[w])
            }
        };
        loop {
            if let Some(rs) = reads_of.get(value) {
                let mut rs = rs.clone();
                rs.sort_by_key(|&r| ops[r].op.invoke);
                seq.extend(rs);
            }
            let Some(&c) = cas_after.get(value) else { break };
            seq.push(c);
            value = written(&ops[c]);
        }
        if seq.is_empty() {
            continue;
        }
        // The run's own order must fit real time.
        if let Some((x, y)) = against_real_time(ops, &seq) {
            return Some(Err(out_of_order(ops, x, y)));
        }
        let id = runs.len();
        for &y in &seq {
            run_of[y] = id;
        }
        let first_due = seq.iter().map(|&y| (deadline(y), y)).min().expect("a run has ops");
        let last_invoked = seq.iter().map(|&y| (ops[y].op.invoke, y)).max().expect("a run has ops");
        runs.push(Run { ops: seq, first_due, last_invoked });
    }
    // A cas that no run reaches expects a value written only by a cas that
    // (through others) expects its own: no first write starts them.
    if let Some(i) = (0..ops.len()).find(|&i| run_of[i] == NONE) {
        return Some(Err(Contradiction {
            blocked: i,
            reason: "the value it expects is written only by a chain of cas ops that starts from its own".into(),
            state: Value::Nil,
        }));
    }
    let initial = runs.iter().position(|r| !matches!(ops[r.ops[0]].op.action, Action::Write(_)));
    place_from_the_end(ops, &runs, initial)
}

/// Takes runs off the end while one can come last; see the module docs.
fn place_from_the_end(
    ops: &[SearchOp],
    runs: &[Run],
    initial: Option<usize>,
) -> Option<Result<(), Contradiction<Value>>> {
    let mut by_invoke: Vec<usize> = (0..runs.len()).collect();
    by_invoke.sort_by_key(|&r| std::cmp::Reverse(runs[r].last_invoked));
    let mut by_due: Vec<usize> = (0..runs.len()).filter(|&r| Some(r) != initial).collect();
    by_due.sort_by_key(|&r| std::cmp::Reverse(runs[r].first_due));
    let mut placed = vec![false; runs.len()];
    let (mut top_invoke, mut top_due) = (0, 0);
    let mut left = runs.len() - usize::from(initial.is_some());
    // The first run of `order` from `start` not yet placed, but `skip`.
    let first = |order: &[usize], start: usize, placed: &[bool], skip: Option<usize>| -> Option<usize> {
        order[start..].iter().copied().find(|&r| !placed[r] && Some(r) != skip)
    };
    while left > 0 {
        while placed[by_invoke[top_invoke]] {
            top_invoke += 1;
        }
        while top_due < by_due.len() && placed[by_due[top_due]] {
            top_due += 1;
        }
        let a = by_invoke[top_invoke];
        let latest = runs[a].last_invoked.0;
        let candidate = if Some(a) != initial {
            let before = first(&by_invoke, top_invoke + 1, &placed, None).map_or(0, |r| runs[r].last_invoked.0);
            (runs[a].first_due.0 > before).then_some(a)
        } else {
            None
        };
        let candidate = candidate.or_else(|| {
            let d = first(&by_due, top_due, &placed, Some(a))?;
            (runs[d].first_due.0 > latest).then_some(d)
        });
        let Some(r) = candidate else {
            return Some(Err(stuck(ops, runs, &by_invoke, top_invoke, &placed, a, initial)));
        };
        placed[r] = true;
        left -= 1;
    }
    Some(Ok(()))
}

/// Why no run left can come last: two runs that real time puts each
/// before the other.
fn stuck(
    ops: &[SearchOp],
    runs: &[Run],
    by_invoke: &[usize],
    top: usize,
    placed: &[bool],
    a: usize,
    initial: Option<usize>,
) -> Contradiction<Value> {
    let last = runs[a].last_invoked.1;
    // The run with the latest invoke outside `a`'s run: an op of `a`'s run
    // ended before it began, yet it has an op that ended before `last`
    // began (else it could have come last).
    let x_run = by_invoke[top + 1..].iter().copied().find(|&r| !placed[r]).expect("a second run is left");
    let (x, b) = (runs[x_run].last_invoked.1, runs[a].first_due.1);
    let d = runs[x_run].first_due.1;
    let name = |r: usize| match Some(r) == initial {
        true => "the initial nil and the versions after it".to_string(),
        false => format!("the versions from {}", ops[runs[r].ops[0]].op.words()),
    };
    let words = |i: usize, subject: usize| if i == subject { "it".to_string() } else { ops[i].op.words() };
    // Said of the op that began last in each case: most often the read
    // that saw too old a value.
    let (blocked, reason) = if Some(x_run) == initial {
        let reason = format!(
            "{} ended before it began, so {} had replaced the initial nil, and nothing makes the key nil again",
            ops[b].op.words(),
            name(a)
        );
        (x, reason)
    } else if Some(a) == initial {
        let reason = format!(
            "{} ended before it began, so {} had replaced the initial nil, and nothing makes the key nil again",
            ops[d].op.words(),
            name(x_run)
        );
        (last, reason)
    } else {
        let reason = format!(
            "{} ended before it began, so {} came before {}; yet {} ended before {} began, so they came after",
            ops[d].op.words(),
            name(x_run),
            name(a),
            words(b, last),
            ops[x].op.words(),
        );
        (last, reason)
    };
    Contradiction { blocked, reason, state: written(&ops[x]).clone() }
}

/// The first place where `order` goes against real time: an op `y` due
/// before the invoke of an op `x` placed ahead of it, as `(x, y)` (`x` the
/// latest invoked ahead of `y`). Every op has a deadline.
fn against_real_time(ops: &[SearchOp], order: &[usize]) -> Option<(usize, usize)> {
    let mut latest: Option<usize> = None;
    for &y in order {
        if let Some(x) = latest.filter(|&x| ops[y].deadline.is_some_and(|d| d < ops[x].op.invoke)) {
            return Some((x, y));
        }
        if latest.is_none_or(|x| ops[y].op.invoke > ops[x].op.invoke) {
            latest = Some(y);
        }
    }
    None
}

/// `y` ended before `x` began, though their run puts `x` first.
fn out_of_order(ops: &[SearchOp], x: usize, y: usize) -> Contradiction<Value> {
    let (wx, oy) = (register::written(&ops[x].op), register::observed(&ops[y].op));
    if let (Some(v), Some(seen)) = (wx, oy) {
        if v == seen {
            return Contradiction {
                blocked: y,
                reason: format!("it ended before {} began, the only op that writes {v}", ops[x].op.words()),
                state: Value::Nil,
            };
        }
    }
    // `x` sees (or writes) a version that `y`, or a cas before it, replaced.
    let version = wx.or(register::observed(&ops[x].op)).cloned().unwrap_or_default();
    Contradiction {
        blocked: x,
        reason: format!(
            "it began after {} ended, which comes later in the same run of versions: a chain of cas ops \
             leads from {version} to it, and nothing writes {version} again",
            ops[y].op.words()
        ),
        state: written(&ops[y]).clone(),
    }
}

/// The value `o` writes, nil when it writes none.
fn written(o: &SearchOp) -> &Value {
    register::written(&o.op).unwrap_or(&Value::Nil)
}

/// The verdict on one list-append key whose appended elements are unique
/// and whose reads are all prefixes of the longest one: that read fixes
/// the order of every append it holds, so the versions' order is known and
/// one pass decides. `None` leaves the key to the search.
///
/// The one order: the reads of the empty list; the append of the longest
/// read's first element, then the reads of length 1; … ; then the ok
/// appends no read holds, which must follow every read. Within a block,
/// reads go in invoke order (which real time always allows). The history
/// is linearizable exactly when no op in this order ended before one
/// placed ahead of it began.
pub fn decide_list(ops: &[SearchOp]) -> Option<Result<(), Contradiction<Seq>>> {
    if ops.iter().any(|o| o.deadline.is_none()) {
        return None;
    }
    let mut appender: HashMap<&Value, usize, ahash::RandomState> = HashMap::default();
    let mut reads: Vec<(usize, Seq)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        match &o.op.action {
            Action::Append(x) => {
                if appender.insert(x, i).is_some() {
                    return None;
                }
            }
            Action::Read(Value::Nil) => reads.push((i, Seq::default())),
            Action::Read(Value::List(l)) => reads.push((i, l.clone())),
            _ => return None,
        }
    }
    let longest = reads.iter().map(|(_, l)| l).max_by_key(|l| l.len()).cloned().unwrap_or_default();
    if let Some((r, l)) = reads.iter().find(|(_, l)| !longest.has_prefix(l)) {
        let (by, _) = reads.iter().find(|(_, l)| l.len() == longest.len()).expect("the longest is a read");
        return Some(Err(Contradiction {
            blocked: *r,
            reason: format!(
                "{} returned a list it is no prefix of, and no shorter: a list only grows, so one of \
                 them is wrong",
                ops[*by].op.words()
            ),
            state: l.clone(),
        }));
    }
    // The append of each element of the longest read, in its order.
    let mut placed = vec![false; ops.len()];
    let mut writers = Vec::with_capacity(longest.len());
    for (pos, x) in longest.iter().enumerate() {
        let Some(&a) = appender.get(x) else {
            let r = reads.iter().filter(|(_, l)| l.len() > pos).min_by_key(|(i, _)| ops[*i].op.invoke);
            let (r, l) = r.expect("the longest read holds it");
            return Some(Err(Contradiction { blocked: *r, reason: format!("no op appends {x}"), state: l.clone() }));
        };
        if std::mem::replace(&mut placed[a], true) {
            return None; // the element twice in one list: left to the search
        }
        writers.push(a);
    }
    let mut by_len: Vec<Vec<usize>> = vec![Vec::new(); longest.len() + 1];
    for (i, l) in &reads {
        by_len[l.len()].push(*i);
    }
    let mut order: Vec<usize> = Vec::with_capacity(ops.len());
    for (len, block) in by_len.iter_mut().enumerate() {
        if len > 0 {
            order.push(writers[len - 1]);
        }
        block.sort_by_key(|&r| ops[r].op.invoke);
        order.extend(block.iter().copied());
    }
    let mut unread: Vec<usize> = appender.values().copied().filter(|&a| !placed[a]).collect();
    unread.sort_by_key(|&a| ops[a].op.invoke);
    order.extend(unread);
    match against_real_time(ops, &order) {
        Some((x, y)) => Some(Err(list_out_of_order(ops, x, y))),
        None => Some(Ok(())),
    }
}

/// `y` ended before `x` began, though the longest read's order puts `x`
/// first.
fn list_out_of_order(ops: &[SearchOp], x: usize, y: usize) -> Contradiction<Seq> {
    let list = |i: usize| match &ops[i].op.action {
        Action::Read(Value::List(l)) => l.clone(),
        _ => Seq::default(),
    };
    let (xw, yw) = (ops[x].op.words(), ops[y].op.words());
    let (blocked, reason) = match (&ops[x].op.action, &ops[y].op.action) {
        (Action::Read(_), Action::Append(e)) => (x, format!("{yw} ended before it began, yet it lacks {e}")),
        (Action::Read(_), _) => (x, format!("{yw} ended before it began and saw a longer list: a list only grows")),
        (Action::Append(e), Action::Read(_)) => (y, format!("it ended before {xw} began, yet it holds {e}")),
        (Action::Append(e), _) => (y, format!("it ended before {xw} began, yet the reads put {e} before it")),
        _ => (y, format!("it ended before {xw} began")),
    };
    Contradiction { blocked, reason, state: list(if blocked == x { y } else { x }) }
}
