//! A history generator: a simulated linearizable store, for benchmarks and
//! property tests.
//!
//! Workers run ops one at a time. Each op takes effect at one instant
//! between its invoke and its completion (its linearization point), so the
//! recorded history is linearizable by construction. A crashed op is
//! recorded as `info`, takes effect or not with equal odds, and retires its
//! process. Written values and appended elements are unique per key.
//! `stale_read` then rewrites one late read to return a value that was
//! certainly overwritten before the read began (a register) or a list that
//! certainly lacks an element already read (list-append), which makes the
//! history invalid. `ambiguous_read` instead rewrites one late read to
//! return an earlier write's value that no single op proves overwritten
//! (see [`make_ambiguous`]): whether it is legal is for a search to find.

use std::collections::{BinaryHeap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::history::{Event, EventType, OpType, Process, Seq, Value};
use crate::model::ModelName;

#[derive(Clone, Debug, clap::Args)]
pub struct GenOptions {
    /// Operations to generate.
    #[arg(long, default_value_t = 1000)]
    pub ops: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 1)]
    pub keys: usize,
    /// Concurrent workers.
    #[arg(long, default_value_t = 10)]
    pub processes: usize,
    /// Fraction of writes, cas and appends that crash (info).
    #[arg(long, default_value_t = 0.05, value_parser = flags::fraction)]
    pub info_rate: f64,
    /// Fraction of ops that are reads.
    #[arg(long, default_value_t = 0.5, value_parser = flags::fraction)]
    pub read_rate: f64,
    /// Fraction of ops that are cas (register keys only).
    #[arg(long, default_value_t = 0.2, value_parser = flags::fraction)]
    pub cas_rate: f64,
    /// Fraction of ops that are deletes (register keys only).
    #[arg(long, default_value_t = 0.0, value_parser = flags::fraction)]
    pub delete_rate: f64,
    /// Make one late read stale (the history becomes invalid).
    #[arg(long)]
    pub stale_read: bool,
    /// Make one late read return an earlier write's value that no single
    /// op proves overwritten: it may or may not be legal, and only a
    /// search can tell (register keys only).
    #[arg(long, conflicts_with = "stale_read")]
    pub ambiguous_read: bool,
    #[arg(long, value_enum, default_value_t = ModelName::Register)]
    pub model: ModelName,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

struct Running {
    process: u64,
    kind: OpType,
    key: i64,
    input: Value,
    crashed: bool,
    takes_effect: bool,
    result: Option<Value>,
    cas_ok: bool,
    invoke_event: usize,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Complete,
    Linearize,
    Invoke,
}

/// Generates a history (events in index order).
pub fn generate(o: &GenOptions) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(o.seed);
    let workers = o.processes.max(1);
    let keys = o.keys.max(1) as i64;
    let mut heap: BinaryHeap<std::cmp::Reverse<(u64, Step, usize)>> = BinaryHeap::new();
    for w in 0..workers {
        heap.push(std::cmp::Reverse((rng.gen_range(0..100), Step::Invoke, w)));
    }
    let mut pids: Vec<u64> = (0..workers as u64).collect();
    let mut next_pid = workers as u64;
    let mut running: Vec<Option<Running>> = (0..workers).map(|_| None).collect();
    let mut register: HashMap<i64, Value> = HashMap::new();
    let mut lists: HashMap<i64, Vec<Value>> = HashMap::new();
    let mut counters: HashMap<i64, i64> = HashMap::new();
    let mut events: Vec<Event> = Vec::with_capacity(o.ops * 2);
    let mut issued = 0;
    // The ok list reads' events, whose values are filled in at the end.
    let mut list_reads: Vec<usize> = Vec::new();
    let emit = |events: &mut Vec<Event>, t: u64, p: u64, kind: EventType, f: &str, key: i64, value: Value| {
        events.push(Event {
            index: events.len() as u64,
            time: t * 1000,
            process: Process::Client(p),
            kind,
            f: f.to_string(),
            key: Some(Value::Int(key)),
            value,
            error: None,
            node: None,
        });
    };
    while let Some(std::cmp::Reverse((t, step, w))) = heap.pop() {
        match step {
            Step::Invoke => {
                if issued >= o.ops {
                    continue;
                }
                issued += 1;
                let key = rng.gen_range(0..keys);
                let r: f64 = rng.gen();
                let kind = match o.model.of_key(key) {
                    ModelName::ListAppend if r < o.read_rate => OpType::Read,
                    ModelName::ListAppend => OpType::Append,
                    ModelName::Register if r < o.read_rate => OpType::Read,
                    ModelName::Register if r < o.read_rate + o.cas_rate => OpType::Cas,
                    ModelName::Register if r < o.read_rate + o.cas_rate + o.delete_rate => OpType::Delete,
                    ModelName::Register | ModelName::Mixed => OpType::Write,
                };
                let mut fresh = || {
                    let c = counters.entry(key).or_insert(0);
                    *c += 1;
                    Value::Int(*c)
                };
                let input = match kind {
                    OpType::Read | OpType::Delete | OpType::Txn => Value::Nil,
                    OpType::Write | OpType::Append => fresh(),
                    OpType::Cas => {
                        // Expect what the key holds now: often still true
                        // at the linearization point, sometimes not.
                        let expected = register.get(&key).cloned().unwrap_or(Value::Nil);
                        Value::List(vec![expected, fresh()].into())
                    }
                };
                let crashed = kind != OpType::Read && rng.gen_bool(o.info_rate.clamp(0.0, 1.0));
                emit(&mut events, t, pids[w], EventType::Invoke, kind.as_str(), key, input.clone());
                running[w] = Some(Running {
                    process: pids[w],
                    kind,
                    key,
                    input,
                    crashed,
                    takes_effect: !crashed || rng.gen_bool(0.5),
                    result: None,
                    cas_ok: false,
                    invoke_event: events.len() - 1,
                });
                heap.push(std::cmp::Reverse((t + rng.gen_range(1..50), Step::Linearize, w)));
            }
            Step::Linearize => {
                let op = running[w].as_mut().expect("running op");
                if op.takes_effect {
                    match op.kind {
                        OpType::Read => {
                            op.result = Some(match o.model.of_key(op.key) {
                                // Its length for now: every list read is a
                                // prefix of its key's final list, and
                                // shares it once the run is over.
                                ModelName::ListAppend => Value::Int(lists.get(&op.key).map_or(0, Vec::len) as i64),
                                ModelName::Register | ModelName::Mixed => {
                                    register.get(&op.key).cloned().unwrap_or(Value::Nil)
                                }
                            })
                        }
                        OpType::Write | OpType::Delete => {
                            register.insert(op.key, op.input.clone());
                        }
                        OpType::Append => lists.entry(op.key).or_default().push(op.input.clone()),
                        OpType::Txn => unreachable!("the generator makes single-key ops only"),
                        OpType::Cas => {
                            let Value::List(l) = &op.input else { unreachable!() };
                            let current = register.get(&op.key).cloned().unwrap_or(Value::Nil);
                            if current == l[0] {
                                register.insert(op.key, l[1].clone());
                                op.cas_ok = true;
                            }
                        }
                    }
                }
                heap.push(std::cmp::Reverse((t + rng.gen_range(1..50), Step::Complete, w)));
            }
            Step::Complete => {
                let op = running[w].take().expect("running op");
                let f = op.kind.as_str();
                let (kind, value) = if op.crashed {
                    (EventType::Info, op.input.clone())
                } else {
                    match op.kind {
                        OpType::Read => (EventType::Ok, op.result.clone().unwrap_or_default()),
                        OpType::Cas if !op.cas_ok => (EventType::Fail, op.input.clone()),
                        _ => (EventType::Ok, op.input.clone()),
                    }
                };
                emit(&mut events, t, op.process, kind, f, op.key, value);
                if kind == EventType::Ok && op.kind == OpType::Read && o.model.of_key(op.key) == ModelName::ListAppend {
                    list_reads.push(events.len() - 1);
                }
                let _ = op.invoke_event;
                if op.crashed {
                    pids[w] = next_pid;
                    next_pid += 1;
                }
                heap.push(std::cmp::Reverse((t + rng.gen_range(0..20), Step::Invoke, w)));
            }
        }
    }
    let finals: HashMap<i64, Seq> = lists.into_iter().map(|(k, l)| (k, l.into())).collect();
    for i in list_reads {
        let (Some(Value::Int(key)), Value::Int(len)) = (&events[i].key, &events[i].value) else { unreachable!() };
        events[i].value = Value::List(finals.get(key).map_or_else(Seq::default, |l| l.prefix(*len as usize)));
    }
    if o.stale_read {
        match o.model {
            ModelName::Register => make_stale(&mut events),
            // In a mixed history only the lists' reads return lists, so a
            // short list lands on a list key.
            ModelName::ListAppend | ModelName::Mixed => make_short(&mut events),
        }
    } else if o.ambiguous_read {
        make_ambiguous(&mut events);
    }
    events
}

/// The ok ops of `f` in `events`: (invoke position, completion position).
fn completed(events: &[Event], f: &str) -> Vec<(usize, usize)> {
    let mut open: HashMap<Process, usize> = HashMap::new();
    let mut done = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.kind == EventType::Invoke {
            open.insert(e.process, i);
        } else if let Some(inv) = open.remove(&e.process) {
            if e.kind == EventType::Ok && e.f == f {
                done.push((inv, i));
            }
        }
    }
    done
}

/// Rewrites the latest list read that can be made certainly stale: it
/// returns the list of a read r1 that ended before it began, less r1's last
/// element, which r1 already saw.
fn make_short(events: &mut [Event]) {
    let reads = completed(events, "read");
    let list_len = |v: &Value| if let Value::List(l) = v { l.len() } else { 0 };
    for &(inv, done) in reads.iter().rev() {
        let key = &events[done].key;
        let earlier = reads
            .iter()
            .filter(|r| r.1 < inv && events[r.1].key == *key && list_len(&events[r.1].value) > 0)
            .max_by_key(|r| r.1);
        let Some(&(_, r1)) = earlier else { continue };
        let Value::List(l) = &events[r1].value else { continue };
        events[done].value = Value::List(l.prefix(l.len() - 1));
        return;
    }
}

/// Rewrites the latest read that can be made certainly stale: it returns
/// the value of a write w1 although a later write w2 began after w1 ended
/// and ended before the read began.
fn make_stale(events: &mut [Event]) {
    let mut writes: HashMap<Option<Value>, Vec<(usize, usize)>> = HashMap::new();
    for (inv, done) in completed(events, "write") {
        writes.entry(events[done].key.clone()).or_default().push((inv, done));
    }
    for (inv, done) in completed(events, "read").into_iter().rev() {
        let Some(ws) = writes.get(&events[done].key) else { continue };
        // w2: the latest write finished before the read began; w1: a write
        // finished before w2 began.
        let Some(w2) = ws.iter().filter(|w| w.1 < inv).max_by_key(|w| w.1) else { continue };
        let Some(w1) = ws.iter().filter(|w| w.1 < w2.0).max_by_key(|w| w.1) else { continue };
        events[done].value = events[w1.1].value.clone();
        return;
    }
}

/// Rewrites the latest read that can be made ambiguous: it returns the
/// value of an ok write `w1` that ended before the read began, but after
/// the invoke of every write or cas that ended before the read began. So
/// no op is certainly between `w1` and the read (the proof of
/// [`crate::register`]'s `contradiction` does not apply), yet `w1` must be
/// placed after every one of those ops, and after the versions their
/// reads saw: legal or not, only an order of all of them can tell.
fn make_ambiguous(events: &mut [Event]) {
    let mut changes: HashMap<Option<Value>, Vec<(usize, usize)>> = HashMap::new();
    let mut writes: HashMap<Option<Value>, Vec<(usize, usize)>> = HashMap::new();
    for f in ["write", "cas"] {
        for (inv, done) in completed(events, f) {
            changes.entry(events[done].key.clone()).or_default().push((inv, done));
            if f == "write" {
                writes.entry(events[done].key.clone()).or_default().push((inv, done));
            }
        }
    }
    for (inv, done) in completed(events, "read").into_iter().rev() {
        let key = &events[done].key;
        let (Some(cs), Some(ws)) = (changes.get(key), writes.get(key)) else { continue };
        // The latest invoke among the changes finished before the read.
        let Some(floor) = cs.iter().filter(|c| c.1 < inv).map(|c| c.0).max() else { continue };
        let read = events[done].value.clone();
        let w1 = ws.iter().filter(|w| w.1 > floor && w.1 < inv && events[w.1].value != read).min_by_key(|w| w.1);
        if let Some(&(_, w1)) = w1 {
            events[done].value = events[w1].value.clone();
            return;
        }
    }
}
