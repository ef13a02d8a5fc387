//! Checking a whole history: one independent search per key
//! (P-compositionality: a history is linearizable exactly when each key's
//! sub-history is), run in parallel on all cores, under the time and
//! memory limits of [`crate::limits`], assembled into [`Results`].

use std::time::{Duration, Instant};

use crate::history::{Action, History, Op, OpType, Value};
use crate::limits::Budget;
use crate::list_append::ListAppend;
use crate::model::{Model, ModelName, SearchOp};
use crate::register::Register;
use crate::results::{KeyFailure, KeyResult, OpView, Results, Validity};
use crate::wgl::{self, Limits, Outcome};
use rayon::prelude::*;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Give up after this long; unfinished keys are unknown.
    pub time_limit: Option<Duration>,
    /// When the time limit began (the command's start, so that loading
    /// counts); the check's own start when not given.
    pub since: Option<Instant>,
    /// Most bytes the whole process may hold resident before the keys
    /// still being checked are unknown (also the most one key's memo may
    /// hold).
    pub memory_limit: Option<usize>,
    /// Skip the models' proofs without search ([`crate::model::Model::contradiction`]):
    /// for measuring, and testing, the search alone.
    pub search_only: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { time_limit: None, since: None, memory_limit: Some(2 << 30), search_only: false }
    }
}

/// Checks every key of `history` against `model`.
pub fn check<M: Model>(model: &M, history: &History, opts: &CheckOptions) -> Results {
    let started = Instant::now();
    let all: Vec<usize> = (0..history.keys.len()).collect();
    let per_key = check_keys(model, history, &all, opts, started);
    assemble(model.name(), history, per_key, started)
}

/// Whether a key's ops make it a list rather than a register, in a
/// history of both: it has appends, or a read of it returned a list (a
/// list key nobody has appended to yet reads as the empty list).
pub fn is_list_key(ops: &[Op]) -> bool {
    ops.iter().any(|o| o.f == OpType::Append || matches!(o.action, Action::Read(Value::List(_))))
}

/// Checks a history of both kinds of key, as the mixed workload makes:
/// each key with appends against the list-append model, every other key
/// against the register model. Keys are independent, so this is exactly
/// checking each kind of key on its own; the time limit covers both.
pub fn check_mixed(history: &History, opts: &CheckOptions) -> Results {
    let started = Instant::now();
    let (lists, registers): (Vec<usize>, Vec<usize>) =
        (0..history.keys.len()).partition(|&k| is_list_key(&history.ops[k]));
    let mut per_key = check_keys(&ListAppend, history, &lists, opts, started);
    per_key.extend(check_keys(&Register, history, &registers, opts, started));
    assemble(ModelName::Mixed, history, per_key, started)
}

type KeyOutcome = (usize, KeyResult, Option<KeyFailure>);

/// Checks the keys `which` of `history` against `model`, in parallel, until
/// `opts.time_limit` after `started`.
fn check_keys<M: Model>(
    model: &M,
    history: &History,
    which: &[usize],
    opts: &CheckOptions,
    started: Instant,
) -> Vec<KeyOutcome> {
    let budget = Budget::new(opts.time_limit.map(|limit| opts.since.unwrap_or(started) + limit), opts.memory_limit);

    let limits = Limits {
        budget: &budget,
        memory_limit: opts.memory_limit.unwrap_or(usize::MAX),
        search_only: opts.search_only,
    };

    // Biggest keys first, so one long key does not start last.
    let mut order: Vec<usize> = which.to_vec();
    order.sort_by_key(|&k| std::cmp::Reverse(history.ops[k].len()));
    let per_key: Vec<KeyOutcome> = order
        .par_iter()
        .map(|&k| {
            let t = Instant::now();
            let key = &history.keys[k];
            let ops = model.prepare(&history.ops[k]);
            let outcome = match budget.look() {
                Some(abort) => Outcome::Unknown(abort, 0),
                None => wgl::check(model, &ops, &limits),
            };
            let time_ms = t.elapsed().as_secs_f64() * 1e3;
            let n = history.ops[k].len();
            let (valid, reason, failure, linearized) = match outcome {
                Outcome::Valid => (Validity::Valid, None, None, None),
                Outcome::Unknown(abort, reached) => {
                    let reason = format!("{} after linearizing {reached} of {} ops", abort.reason(), ops.len());
                    (Validity::Unknown, Some(reason), None, Some(reached))
                }
                Outcome::Invalid(f) => {
                    let failure = explain(model, key, &history.ops[k], &ops, f);
                    (Validity::Invalid, Some(failure.explanation.clone()), Some(failure), None)
                }
            };
            (k, KeyResult { key: key.clone(), valid, ops: n, time_ms, reason, linearized }, failure)
        })
        .collect();
    per_key
}

/// The results of a whole history from its keys' outcomes.
fn assemble(model: ModelName, history: &History, mut per_key: Vec<KeyOutcome>, started: Instant) -> Results {
    per_key.sort_by_key(|(k, _, _)| *k);
    let valid = per_key.iter().map(|(_, r, _)| r.valid).max().unwrap_or(Validity::Valid);
    let invalid_keys: Vec<Value> =
        per_key.iter().filter(|(_, r, _)| r.valid == Validity::Invalid).map(|(_, r, _)| r.key.clone()).collect();
    let unknown_keys: Vec<Value> =
        per_key.iter().filter(|(_, r, _)| r.valid == Validity::Unknown).map(|(_, r, _)| r.key.clone()).collect();
    let ops_checked = history.ops.iter().map(Vec::len).sum();
    let check_time_ms = started.elapsed().as_secs_f64() * 1e3;
    let summary = summarise(valid, model, history, ops_checked, &invalid_keys, &unknown_keys, check_time_ms);
    let mut keys = Vec::with_capacity(per_key.len());
    let mut failures = Vec::new();
    for (_, r, f) in per_key {
        keys.push(r);
        failures.extend(f);
    }
    Results {
        valid,
        model,
        summary,
        events: history.events,
        ops_checked,
        keys_checked: keys.len(),
        invalid_keys,
        unknown_keys,
        op_counts: history.counts.clone(),
        check_time_ms,
        keys,
        failures,
    }
}

/// A duration in ms for people: whole ms from 10 ms up, else to 0.01 ms.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn summarise(
    valid: Validity,
    model: ModelName,
    history: &History,
    ops: usize,
    invalid: &[Value],
    unknown: &[Value],
    ms: f64,
) -> String {
    let model = match model {
        ModelName::Mixed => "register and list-append models".to_string(),
        m => format!("{m} model"),
    };
    if history.keys.is_empty() {
        return format!("valid: the history holds no client operations to check ({model})");
    }
    let head = format!(
        "{}: {ops} ops over {} keys checked against the {model} in {}",
        valid.word(),
        history.keys.len(),
        fmt_ms(ms)
    );
    let list = |keys: &[Value]| {
        let mut s: Vec<String> = keys.iter().take(10).map(|k| k.to_string()).collect();
        if keys.len() > 10 {
            s.push(format!("… {} more", keys.len() - 10));
        }
        s.join(", ")
    };
    let mut out = head;
    if !invalid.is_empty() {
        out.push_str(&format!("; not linearizable: key {}", list(invalid)));
    }
    if !unknown.is_empty() {
        out.push_str(&format!("; undecided (limits reached): key {}", list(unknown)));
    }
    out
}

/// Turns a search failure into the report's structure and sentence.
fn explain<M: Model>(
    model: &M,
    key: &Value,
    all_ops: &[Op],
    ops: &[SearchOp],
    mut failure: wgl::Failure<M::State>,
) -> KeyFailure {
    if let Some(proof) = failure.proof.take() {
        return explain_proof(model, key, all_ops, ops, failure, proof);
    }
    let states = &failure.states;
    let fails_everywhere = |i: usize| states.iter().all(|s| model.step(s, &ops[i].op).is_none());
    // The op whose deadline passed may itself be placeable: then every
    // continuation died on some other op. Prefer an op that no candidate
    // state allows, due soonest: that is the one a reader should look at.
    let culprit = if fails_everywhere(failure.blocked) {
        failure.blocked
    } else {
        let limit = ops[failure.blocked].deadline.unwrap_or(u64::MAX);
        (0..ops.len())
            .filter(|i| !failure.prefix.contains(i) && ops[*i].deadline.is_some() && ops[*i].op.invoke < limit)
            .filter(|i| fails_everywhere(*i))
            .min_by_key(|i| ops[*i].deadline)
            .unwrap_or(failure.blocked)
    };
    let described: Vec<Value> = states.iter().map(|s| model.describe(s)).collect();
    let held = {
        let mut words: Vec<String> = described.iter().map(|v| v.to_string()).collect();
        words.sort();
        words.dedup();
        match words.len() {
            0 => "no state".to_string(),
            1 => format!("every possible state held {}", words[0]),
            n => format!("every possible state held {} or {}", words[..n - 1].join(", "), words[n - 1]),
        }
    };
    let op = &ops[culprit].op;
    let what = subject(key, op);
    let explanation = match &op.action {
        Action::Read(_) | Action::Cas(..) => format!("{what}, but {held}"),
        Action::Write(_) => format!(
            "{what} cannot be placed before it completed: every order of the ops around it \
             leads to a read or cas that no state allows ({held})"
        ),
        Action::Append(_) => format!(
            "{what} cannot be placed before it completed: every order of the ops around it \
             leads to a read that no state allows ({held})"
        ),
    };
    KeyFailure {
        key: key.clone(),
        explanation,
        op: OpView::of(op),
        linearized_prefix: failure.prefix.iter().map(|&i| OpView::of(&ops[i].op)).collect(),
        candidate_states: described,
        key_ops: all_ops.iter().map(OpView::of).collect(),
    }
}

/// An op as the start of an explanation: "read of key 7 returned 1".
fn subject(key: &Value, op: &Op) -> String {
    match &op.action {
        Action::Read(v) => format!("read of key {key} returned {v}"),
        Action::Cas(e, n) => format!("cas of key {key} expected {e} (to set {n})"),
        Action::Write(_) if op.f == OpType::Delete => format!("delete of key {key}"),
        Action::Write(v) => format!("write of key {key} of {v}"),
        Action::Append(v) => format!("append of {v} to key {key}"),
    }
}

/// The explanation of a failure the model proved without searching.
fn explain_proof<M: Model>(
    model: &M,
    key: &Value,
    all_ops: &[Op],
    ops: &[SearchOp],
    failure: wgl::Failure<M::State>,
    proof: String,
) -> KeyFailure {
    let op = &ops[failure.blocked].op;
    KeyFailure {
        key: key.clone(),
        explanation: format!("{}, but {proof}", subject(key, op)),
        op: OpView::of(op),
        linearized_prefix: Vec::new(),
        candidate_states: failure.states.iter().map(|s| model.describe(s)).collect(),
        key_ops: all_ops.iter().map(OpView::of).collect(),
    }
}
