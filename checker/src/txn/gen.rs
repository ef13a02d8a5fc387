//! A simulated store that writes list-append (or, with `register`,
//! rw-register) transaction histories:
//! processes invoke transactions of a few micro-ops over a few keys, each
//! takes effect atomically at one moment between its invocation and its
//! completion (so the history is strictly serializable), and some end
//! unknown or failed. With `stale`, reads may instead see an older state
//! of a key, which makes anomalies of every cycle class. [`plant`] adds a
//! small pattern of one chosen anomaly class, on keys of its own.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::anomaly::Class;
use crate::history::{Event, EventType, Process, Value};

#[derive(Clone, Debug, clap::Args)]
pub struct GenOptions {
    /// Transactions.
    #[arg(long, default_value_t = 1000)]
    pub txns: usize,
    /// Concurrent processes.
    #[arg(long, default_value_t = 10)]
    pub processes: usize,
    /// Keys in use at a time.
    #[arg(long, default_value_t = 10)]
    pub keys: usize,
    /// Appends a key takes before it is retired for a fresh one, as in
    /// Jepsen's append workload: reads stay short, so a history grows with
    /// its transactions, not with their square.
    #[arg(long, default_value_t = 32)]
    pub max_writes_per_key: usize,
    /// Micro-ops per transaction: 1 to this many.
    #[arg(long, default_value_t = 4)]
    pub max_mops: usize,
    /// Share of transactions that end unknown (half of them took effect).
    #[arg(long, default_value_t = 0.02, value_parser = flags::fraction)]
    pub info_rate: f64,
    /// Share that fail (and take no effect).
    #[arg(long, default_value_t = 0.02, value_parser = flags::fraction)]
    pub fail_rate: f64,
    /// Share of reads that see an older state of their key (anomalies).
    #[arg(long, default_value_t = 0.0, value_parser = flags::fraction)]
    pub stale: f64,
    /// rw-register instead of list-append: writes of unique values
    /// (`["w", k, v]`) and reads of the last value written.
    #[arg(long)]
    pub register: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            txns: 1000,
            processes: 10,
            keys: 10,
            max_writes_per_key: 32,
            max_mops: 4,
            info_rate: 0.02,
            fail_rate: 0.02,
            stale: 0.0,
            register: false,
            seed: 1,
        }
    }
}

fn mop(f: &str, key: &Value, v: Value) -> Value {
    Value::List(vec![Value::Str(f.into()), key.clone(), v].into())
}

fn list(l: &[i64]) -> Value {
    Value::List(l.iter().map(|e| Value::Int(*e)).collect::<Vec<_>>().into())
}

struct Pending {
    ops: Vec<(bool, Value, i64)>,
    reads: Vec<Option<Value>>,
    applied: bool,
    outcome: EventType,
}

/// One transaction event; its time is its index.
fn txn_event(index: u64, process: u64, kind: EventType, value: Value) -> Event {
    Event {
        index,
        time: index,
        process: Process::Client(process),
        kind,
        f: "txn".into(),
        key: None,
        value,
        error: None,
        node: None,
    }
}

/// Writes a history of `opts.txns` transactions, in event order.
pub fn generate(opts: &GenOptions) -> Vec<Event> {
    Generator::new(opts).collect()
}

/// The simulated store, one event at a time: a history of any length can
/// be checked without ever holding its events (`checker txn-bench
/// --stream`). Its memory is the store's lists and one pending transaction
/// per process.
pub struct Generator {
    opts: GenOptions,
    rng: StdRng,
    /// The keys in use, by number; a key's elements are 1, 2, 3, ...
    active: Vec<usize>,
    store: Vec<Vec<i64>>,
    next_elem: Vec<i64>,
    procs: Vec<(u64, Option<Pending>)>,
    next_proc: u64,
    invoked: usize,
    /// The next event's index.
    index: u64,
}

impl Generator {
    pub fn new(opts: &GenOptions) -> Generator {
        let keys = opts.keys.max(1);
        let procs: Vec<(u64, Option<Pending>)> = (0..opts.processes.max(1) as u64).map(|p| (p, None)).collect();
        Generator {
            opts: opts.clone(),
            rng: StdRng::seed_from_u64(opts.seed),
            active: (0..keys).collect(),
            store: vec![Vec::new(); keys],
            next_elem: vec![1; keys],
            next_proc: procs.len() as u64,
            procs,
            invoked: 0,
            index: 0,
        }
    }

    fn event(&mut self, process: u64, kind: EventType, value: Value) -> Event {
        self.index += 1;
        txn_event(self.index - 1, process, kind, value)
    }

    /// One step of one process: an invocation, an effect (no event), or a
    /// completion.
    fn step(&mut self) -> Option<Event> {
        let opts = &self.opts;
        let rng = &mut self.rng;
        // What a transaction writes, and what a read finds of a key never
        // written.
        let (write, empty) = if opts.register { ("w", Value::Nil) } else { ("append", list(&[])) };
        let max_writes = opts.max_writes_per_key.max(1) as i64;
        let slot = rng.gen_range(0..self.procs.len());
        let (p, state) = &mut self.procs[slot];
        let p = *p;
        match state.take() {
            None if self.invoked < opts.txns => {
                self.invoked += 1;
                let n = rng.gen_range(1..=opts.max_mops.max(1));
                let (active, store, next_elem) = (&mut self.active, &mut self.store, &mut self.next_elem);
                let ops: Vec<(bool, Value, i64)> = (0..n)
                    .map(|_| {
                        let slot = rng.gen_range(0..active.len());
                        let k = active[slot];
                        if rng.gen_bool(0.5) {
                            let e = next_elem[k];
                            next_elem[k] += 1;
                            if e >= max_writes {
                                // Retired: later transactions use a fresh key.
                                active[slot] = store.len();
                                store.push(Vec::new());
                                next_elem.push(1);
                            }
                            (true, Value::Int(k as i64), e)
                        } else {
                            (false, Value::Int(k as i64), 0)
                        }
                    })
                    .collect();
                let r: f64 = rng.gen();
                let outcome = if r < opts.fail_rate {
                    EventType::Fail
                } else if r < opts.fail_rate + opts.info_rate {
                    EventType::Info
                } else {
                    EventType::Ok
                };
                let value = Value::List(
                    ops.iter()
                        .map(|(app, k, e)| if *app { mop(write, k, Value::Int(*e)) } else { mop("r", k, Value::Nil) })
                        .collect::<Vec<_>>()
                        .into(),
                );
                *state = Some(Pending { reads: vec![None; ops.len()], ops, applied: false, outcome });
                Some(self.event(p, EventType::Invoke, value))
            }
            None => None,
            Some(mut t) if !t.applied => {
                t.applied = true;
                let takes_effect = match t.outcome {
                    EventType::Ok => true,
                    EventType::Info => rng.gen_bool(0.5),
                    _ => false,
                };
                if takes_effect {
                    for (i, (app, k, e)) in t.ops.iter().enumerate() {
                        let k = match k {
                            Value::Int(k) => *k as usize,
                            _ => unreachable!("generated keys are integers"),
                        };
                        if *app {
                            self.store[k].push(*e);
                        } else {
                            let cur = &self.store[k];
                            let seen = if opts.stale > 0.0 && rng.gen_bool(opts.stale) {
                                rng.gen_range(0..=cur.len())
                            } else {
                                cur.len()
                            };
                            t.reads[i] = Some(match opts.register {
                                true => cur[..seen].last().map_or(Value::Nil, |v| Value::Int(*v)),
                                false => list(&cur[..seen]),
                            });
                        }
                    }
                }
                *state = Some(t);
                None
            }
            Some(t) => {
                let value = Value::List(
                    t.ops
                        .iter()
                        .zip(&t.reads)
                        .map(|((app, k, e), r)| match (app, t.outcome) {
                            (true, _) => mop(write, k, Value::Int(*e)),
                            (false, EventType::Ok) => mop("r", k, r.clone().unwrap_or_else(|| empty.clone())),
                            (false, _) => mop("r", k, Value::Nil),
                        })
                        .collect::<Vec<_>>()
                        .into(),
                );
                // After an unknown outcome the worker goes on as a new
                // process, as the recorder does.
                if t.outcome == EventType::Info {
                    self.procs[slot].0 = self.next_proc;
                    self.next_proc += 1;
                }
                Some(self.event(p, t.outcome, value))
            }
        }
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            let busy = self.procs.iter().any(|(_, t)| t.is_some());
            if self.invoked >= self.opts.txns && !busy {
                return None;
            }
            if let Some(e) = self.step() {
                return Some(e);
            }
        }
    }
}

/// The classes [`plant`] can plant.
pub const PLANTABLE: [Class; 13] = [
    Class::G0,
    Class::G1a,
    Class::G1b,
    Class::G1c,
    Class::GSingle,
    Class::G2Item,
    Class::GSingleRealtime,
    Class::Internal,
    Class::DirtyUpdate,
    Class::DuplicateElements,
    Class::LostUpdate,
    Class::IncompatibleOrder,
    Class::GarbageRead,
];

/// Appends to `events` a few transactions, on keys and processes of their
/// own, that make one anomaly of `class`.
pub fn plant(events: &mut Vec<Event>, class: Class) {
    let k1 = Value::Str("planted-1".into());
    let k2 = Value::Str("planted-2".into());
    let a = |k: &Value, e: i64| mop("append", k, Value::Int(e));
    let r = |k: &Value, l: Option<&[i64]>| mop("r", k, l.map_or(Value::Nil, list));
    // Each step: (process, event type, micro-ops); an invocation's reads
    // are null, its completion's filled in.
    type Step = (u64, EventType, Vec<Value>);
    let inv = |p: u64, ops: &[Value]| -> Step {
        let ops = ops
            .iter()
            .map(|m| match m {
                Value::List(parts) if parts[0] == Value::Str("r".into()) => mop("r", &parts[1], Value::Nil),
                m => m.clone(),
            })
            .collect();
        (p, EventType::Invoke, ops)
    };
    let done = |p: u64, kind: EventType, ops: Vec<Value>| -> Step { (p, kind, ops) };
    use EventType::{Fail, Ok};
    let (p, q, s, u) = (900_001, 900_002, 900_003, 900_004);
    // Two transactions, concurrent, then a reader.
    let concurrent = |t1: Vec<Value>, t2: Vec<Value>, reader: Vec<Value>| -> Vec<Step> {
        vec![inv(p, &t1), inv(q, &t2), done(p, Ok, t1), done(q, Ok, t2), inv(s, &reader), done(s, Ok, reader)]
    };
    let steps: Vec<Step> = match class {
        Class::G0 => concurrent(
            vec![a(&k1, 1), a(&k2, 1)],
            vec![a(&k1, 2), a(&k2, 2)],
            vec![r(&k1, Some(&[1, 2])), r(&k2, Some(&[2, 1]))],
        ),
        Class::G1a => {
            let t = vec![a(&k1, 1)];
            let reader = vec![r(&k1, Some(&[1]))];
            vec![inv(p, &t), done(p, Fail, t), inv(s, &reader), done(s, Ok, reader)]
        }
        Class::G1b => {
            let t = vec![a(&k1, 1), a(&k1, 2)];
            let reader = vec![r(&k1, Some(&[1]))];
            vec![inv(p, &t), inv(s, &reader), done(p, Ok, t), done(s, Ok, reader)]
        }
        Class::G1c => concurrent(
            vec![a(&k1, 1), r(&k2, Some(&[1]))],
            vec![a(&k2, 1), r(&k1, Some(&[1]))],
            vec![r(&k1, Some(&[1]))],
        ),
        Class::GSingle => concurrent(
            vec![a(&k1, 1), a(&k2, 1)],
            vec![r(&k1, Some(&[])), r(&k2, Some(&[1]))],
            vec![r(&k1, Some(&[1])), r(&k2, Some(&[1]))],
        ),
        Class::G2Item => concurrent(
            vec![r(&k1, Some(&[])), a(&k2, 1)],
            vec![r(&k2, Some(&[])), a(&k1, 1)],
            vec![r(&k1, Some(&[1])), r(&k2, Some(&[1]))],
        ),
        Class::GSingleRealtime => {
            let t = vec![a(&k1, 1)];
            let late = vec![r(&k1, Some(&[]))];
            let reader = vec![r(&k1, Some(&[1]))];
            vec![inv(p, &t), done(p, Ok, t), inv(q, &late), done(q, Ok, late), inv(s, &reader), done(s, Ok, reader)]
        }
        Class::Internal => {
            let t = vec![a(&k1, 1), r(&k1, Some(&[]))];
            vec![inv(p, &t), done(p, Ok, t)]
        }
        Class::DirtyUpdate => {
            let (t1, t2) = (vec![a(&k1, 1)], vec![a(&k1, 2)]);
            let reader = vec![r(&k1, Some(&[1, 2]))];
            vec![inv(p, &t1), done(p, Fail, t1), inv(q, &t2), done(q, Ok, t2), inv(s, &reader), done(s, Ok, reader)]
        }
        Class::DuplicateElements => {
            let t = vec![a(&k1, 1)];
            let reader = vec![r(&k1, Some(&[1, 1]))];
            vec![inv(p, &t), done(p, Ok, t), inv(s, &reader), done(s, Ok, reader)]
        }
        Class::LostUpdate => concurrent(
            vec![r(&k1, Some(&[])), a(&k1, 1)],
            vec![r(&k1, Some(&[])), a(&k1, 2)],
            vec![r(&k1, Some(&[1, 2]))],
        ),
        Class::IncompatibleOrder => {
            let mut steps = concurrent(vec![a(&k1, 1)], vec![a(&k1, 2)], vec![r(&k1, Some(&[1, 2]))]);
            let other = vec![r(&k1, Some(&[2, 1]))];
            steps.extend([inv(u, &other), done(u, Ok, other)]);
            steps
        }
        Class::GarbageRead => {
            let reader = vec![r(&k1, Some(&[99]))];
            vec![inv(s, &reader), done(s, Ok, reader)]
        }
        other => panic!("{} cannot be planted", other.name()),
    };
    for (p, kind, ops) in steps {
        let index = events.len() as u64;
        events.push(txn_event(index, p, kind, Value::List(ops.into())));
    }
}
