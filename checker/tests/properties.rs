//! Property tests: histories of a simulated linearizable store are valid;
//! the same with one read made impossible are invalid; and on thousands of
//! tiny random histories the search agrees with a brute-force checker.

use checker::brute;
use checker::check::{self, CheckOptions};
use checker::gen::{generate, GenOptions};
use checker::history::{self, Event, EventType, OpType, Process, Value};
use checker::list_append::ListAppend;
use checker::model::Model;
use checker::model::ModelName;
use checker::register::Register;
use checker::results::{Results, Validity};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

fn run(events: &[Event], model: ModelName) -> Results {
    let lines: Vec<usize> = (1..=events.len()).collect();
    checker::input::check_events(events, &lines, model, &CheckOptions::default()).expect("valid input").1
}

fn opts(seed: u64, ops: usize, keys: usize, processes: usize, info: f64, model: ModelName) -> GenOptions {
    GenOptions {
        ops,
        keys,
        processes,
        info_rate: info,
        read_rate: 0.4,
        cas_rate: 0.3,
        delete_rate: 0.1,
        stale_read: false,
        ambiguous_read: false,
        model,
        seed,
    }
}

fn model_strategy() -> impl Strategy<Value = ModelName> {
    prop_oneof![Just(ModelName::Register), Just(ModelName::ListAppend), Just(ModelName::Mixed)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn simulated_linearizable_store_is_valid(
        seed in any::<u64>(), ops in 1usize..300, keys in 1usize..4, processes in 1usize..12,
        info in 0.0f64..0.4, model in model_strategy(),
    ) {
        let events = generate(&opts(seed, ops, keys, processes, info, model));
        let r = run(&events, model);
        prop_assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    }

    #[test]
    fn one_impossible_read_makes_it_invalid(
        seed in any::<u64>(), ops in 1usize..300, keys in 1usize..4, processes in 1usize..12,
        info in 0.0f64..0.4, model in model_strategy(), pick in any::<prop::sample::Index>(),
    ) {
        let mut events = generate(&opts(seed, ops, keys, processes, info, model));
        let reads: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].kind == EventType::Ok && events[i].f == "read")
            .collect();
        prop_assume!(!reads.is_empty());
        let i = reads[pick.index(reads.len())];
        // No op ever writes or appends a negative number.
        let Some(Value::Int(key)) = events[i].key else { unreachable!("generated keys are ints") };
        events[i].value = match model.of_key(key) {
            ModelName::ListAppend => Value::List(vec![Value::Int(-1)].into()),
            _ => Value::Int(-1),
        };
        let r = run(&events, model);
        prop_assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
        prop_assert_eq!(r.failures.len(), 1);
        prop_assert_eq!(Some(&r.failures[0].key), events[i].key.as_ref());
    }
}

/// The shape of [`tiny_history`]'s histories.
#[derive(Clone, Copy)]
struct Tiny {
    list: bool,
    /// Most ops.
    max_ops: usize,
    /// In tenths: how often a completion is info.
    info: u32,
    /// In tenths: how often an op is a read.
    reads: u32,
    processes: usize,
    /// Values are drawn from 1..values (and nil).
    values: i64,
    /// Registers only: every write and cas writes a new value, and reads
    /// and cas expect nil or a value written before (the shape that
    /// [`checker::versions`] decides without a search).
    unique: bool,
}

/// A random, tiny, single-key history: up to `n` ops with values from a
/// small domain, so coincidences (and invalid histories) are common.
/// Processes obey the protocol; anything else is random.
fn tiny_history(rng: &mut impl Rng, n: usize, shape: Tiny) -> Vec<Event> {
    let Tiny { list, info, reads, processes, values, unique, .. } = shape;
    let mut issued: Vec<Value> = vec![Value::Nil];
    let mut events = Vec::new();
    let mut open: Vec<Option<(String, Value)>> = vec![None; processes];
    let mut pid: Vec<u64> = (0..processes as u64).collect();
    let mut next_pid = processes as u64;
    let mut started = 0;
    let small = |rng: &mut dyn rand::RngCore| -> Value {
        match rng.gen_range(0..values) {
            0 => Value::Nil,
            k => Value::Int(k),
        }
    };
    while started < n || open.iter().any(Option::is_some) {
        let w = rng.gen_range(0..processes);
        let ev = |p: u64, kind, f: &str, value: Value| Event {
            index: 0,
            time: 0,
            process: Process::Client(p),
            kind,
            f: f.to_string(),
            key: Some(Value::Int(0)),
            value,
            error: None,
            node: None,
        };
        match open[w].take() {
            None if started < n => {
                started += 1;
                let kind = if rng.gen_range(0..10) < reads { 0 } else { rng.gen_range(1..3) };
                let fresh = Value::Int(issued.len() as i64);
                let seen = issued[rng.gen_range(0..issued.len())].clone();
                let (f, v) = match (list, kind) {
                    (false, 0) => ("read", Value::Nil),
                    (false, 1) if unique => ("write", fresh.clone()),
                    (false, _) if unique => ("cas", Value::List(vec![seen, fresh.clone()].into())),
                    (false, 1) => ("write", Value::Int(rng.gen_range(1..values))),
                    (false, _) => ("cas", Value::List(vec![small(rng), Value::Int(rng.gen_range(1..values))].into())),
                    (true, 0) => ("read", Value::Nil),
                    (true, _) => ("append", Value::Int(rng.gen_range(1..values))),
                };
                if unique && f != "read" {
                    issued.push(fresh);
                }
                events.push(ev(pid[w], EventType::Invoke, f, v.clone()));
                open[w] = Some((f.to_string(), v));
            }
            None => {}
            Some((f, v)) => {
                let kind = match rng.gen_range(0..10) {
                    0 => EventType::Fail,
                    r if r <= info => EventType::Info,
                    _ => EventType::Ok,
                };
                let value = if f == "read" && kind == EventType::Ok {
                    if unique {
                        issued[rng.gen_range(0..issued.len())].clone()
                    } else if list {
                        let len = rng.gen_range(0..3);
                        Value::List((0..len).map(|_| Value::Int(rng.gen_range(1..values))).collect::<Vec<_>>().into())
                    } else {
                        small(rng)
                    }
                } else {
                    v
                };
                events.push(ev(pid[w], kind, &f, value));
                if kind == EventType::Info {
                    pid[w] = next_pid;
                    next_pid += 1;
                }
            }
        }
    }
    for (i, e) in events.iter_mut().enumerate() {
        e.index = i as u64;
    }
    events
}

/// Checks 3000 tiny histories of `shape` three ways (the search with the
/// models' proofs, the search alone, and brute force) and demands one
/// verdict.
fn agree<M: Model>(model: &M, seed: u64, shape: Tiny) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let accepts: fn(OpType) -> bool = M::accepts;
    let mut invalid = 0;
    let search_only = CheckOptions { search_only: true, ..CheckOptions::default() };
    for case in 0..3000 {
        let n = rng.gen_range(1..=shape.max_ops);
        let events = tiny_history(&mut rng, n, shape);
        let lines: Vec<usize> = (1..=events.len()).collect();
        let h = history::pair(&events, &lines, accepts, model.name().as_str()).expect("well-formed");
        let ops = h.ops.first().cloned().unwrap_or_default();
        let expected = brute::linearizable(model, &ops);
        for (how, opts) in [("search with proofs", CheckOptions::default()), ("search alone", search_only.clone())] {
            let got = check::check(model, &h, &opts).valid;
            assert_eq!(
                got == Validity::Valid,
                expected,
                "case {case}: {how} says {got:?}, brute force says {expected}\n{}",
                events.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect::<String>()
            );
        }
        invalid += usize::from(!expected);
    }
    // The generator must exercise both verdicts, or the test proves little.
    assert!(invalid > 300 && invalid < 2700, "{invalid} of 3000 invalid");
}

const REGISTER: Tiny = Tiny { list: false, max_ops: 8, info: 2, reads: 3, processes: 3, values: 4, unique: false };
const LIST: Tiny = Tiny { list: true, max_ops: 8, info: 2, reads: 3, processes: 3, values: 4, unique: false };

#[test]
fn search_agrees_with_brute_force_on_tiny_register_histories() {
    agree(&Register, 7, REGISTER);
}

/// Many crashed ops with few distinct values: this exercises the search's
/// handling of optional ops (no-ops, twins, dominated configurations).
#[test]
fn search_agrees_with_brute_force_on_crash_heavy_register_histories() {
    agree(&Register, 13, Tiny { max_ops: 10, info: 5, ..REGISTER });
}

/// Mostly reads, many crashes, more processes: this exercises the read
/// rule (reads that find the state are taken at once) and stranded values.
#[test]
fn search_agrees_with_brute_force_on_read_heavy_crash_heavy_register_histories() {
    agree(&Register, 19, Tiny { max_ops: 10, info: 5, reads: 7, processes: 5, ..REGISTER });
}

#[test]
fn search_agrees_with_brute_force_on_tiny_list_append_histories() {
    agree(&ListAppend, 11, LIST);
}

#[test]
fn search_agrees_with_brute_force_on_crash_heavy_list_append_histories() {
    agree(&ListAppend, 17, Tiny { info: 5, ..LIST });
}

#[test]
fn search_agrees_with_brute_force_on_read_heavy_crash_heavy_list_append_histories() {
    agree(&ListAppend, 23, Tiny { max_ops: 9, info: 5, reads: 6, processes: 5, ..LIST });
}

/// Many distinct values: most values then have one writer and few or no
/// readers, which exercises the proofs without search, stranded values and
/// droppable (unread) writes.
#[test]
fn search_agrees_with_brute_force_on_register_histories_with_many_values() {
    agree(&Register, 29, Tiny { max_ops: 11, info: 3, reads: 3, processes: 4, values: 8, ..REGISTER });
}

/// Unique values, many processes: the histories the version-order
/// decision ([`checker::versions`]) takes from the search. "Search with
/// proofs" is that decision here whenever it applies; it must agree with
/// the search alone and with brute force on every one, both verdicts.
#[test]
fn version_order_decision_agrees_with_brute_force_on_unique_value_histories() {
    let shape = Tiny { max_ops: 10, info: 2, reads: 4, processes: 5, unique: true, ..REGISTER };
    agree(&Register, 37, shape);
    agree(&Register, 41, Tiny { max_ops: 11, info: 0, reads: 5, processes: 7, ..shape });
    // The decision must be what decided them, not the search behind it.
    let mut rng = rand::rngs::StdRng::seed_from_u64(43);
    let mut decided = [0usize; 2];
    for _ in 0..3000 {
        let n = rng.gen_range(1..=shape.max_ops);
        let events = tiny_history(&mut rng, n, shape);
        let lines: Vec<usize> = (1..=events.len()).collect();
        let h = history::pair(&events, &lines, Register::accepts, "register").expect("well-formed");
        let ops = Register.prepare(h.ops.first().map(Vec::as_slice).unwrap_or_default());
        if let Some(v) = checker::versions::decide(&ops) {
            decided[usize::from(v.is_ok())] += 1;
        }
    }
    assert!(decided[0] > 300 && decided[1] > 300, "decided invalid, valid: {decided:?} of 3000");
}

#[test]
fn search_agrees_with_brute_force_on_list_append_histories_with_many_values() {
    agree(&ListAppend, 31, Tiny { max_ops: 10, info: 3, reads: 4, processes: 4, values: 8, ..LIST });
}

/// Many processes on one key, the regime where searches used to give up:
/// every generated history is decided, valid as generated and invalid with
/// one stale read, by the search with the models' proofs and by the search
/// alone, well inside the default memory guard. With deletes (many writers
/// of nil, so values are no longer unique) the proofs are needed: the
/// search alone can exhaust its memory on the stale-read histories.
#[test]
fn contended_single_key_histories_are_decided_both_ways() {
    for seed in 1..=6 {
        for model in [ModelName::Register, ModelName::ListAppend] {
            for (processes, info, delete_rate) in [(20, 0.0, 0.0), (50, 0.1, 0.0), (50, 0.1, 0.1)] {
                for stale_read in [false, true] {
                    let o = GenOptions {
                        ops: 2000,
                        keys: 1,
                        processes,
                        info_rate: info,
                        read_rate: 0.5,
                        cas_rate: 0.25,
                        delete_rate,
                        stale_read,
                        ambiguous_read: false,
                        model,
                        seed,
                    };
                    let events = generate(&o);
                    let h = history::pair_all(events.into_iter().zip(1..)).expect("well-formed");
                    let want = if stale_read { Validity::Invalid } else { Validity::Valid };
                    for search_only in [false, true].into_iter().filter(|s| !*s || delete_rate == 0.0) {
                        let opts = CheckOptions {
                            time_limit: Some(std::time::Duration::from_secs(60)),
                            search_only,
                            ..CheckOptions::default()
                        };
                        let r = match model {
                            ModelName::Register => check::check(&Register, &h, &opts),
                            ModelName::ListAppend => check::check(&ListAppend, &h, &opts),
                            ModelName::Mixed => check::check_mixed(&h, &opts),
                        };
                        assert_eq!(r.valid, want, "{o:?} search_only={search_only}: {}", r.summary);
                    }
                }
            }
        }
    }
}

/// The generator's ambiguous read (a late read of a value no single op
/// proves overwritten) at a size the search alone still settles: the
/// version-order decision and the search give the same verdict on every
/// seed, and both verdicts occur.
#[test]
fn ambiguous_reads_get_the_same_verdict_from_the_decision_and_the_search() {
    let mut verdicts = Vec::new();
    for seed in 1..=12 {
        let o = GenOptions {
            ops: 400,
            keys: 1,
            processes: 10,
            info_rate: 0.05,
            read_rate: 0.5,
            cas_rate: 0.25,
            delete_rate: 0.0,
            stale_read: false,
            ambiguous_read: true,
            model: ModelName::Register,
            seed,
        };
        let h = history::pair_all(generate(&o).into_iter().zip(1..)).expect("well-formed");
        let opts = |search_only| CheckOptions {
            time_limit: Some(std::time::Duration::from_secs(60)),
            search_only,
            ..CheckOptions::default()
        };
        let (decided, searched) = (check::check(&Register, &h, &opts(false)), check::check(&Register, &h, &opts(true)));
        assert_ne!(searched.valid, Validity::Unknown, "seed {seed}: {}", searched.summary);
        assert_eq!(decided.valid, searched.valid, "seed {seed}: {} / {}", decided.summary, searched.summary);
        verdicts.push(decided.valid);
    }
    assert!(verdicts.contains(&Validity::Valid) && verdicts.contains(&Validity::Invalid), "{verdicts:?}");
}
