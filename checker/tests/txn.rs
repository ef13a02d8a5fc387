//! The transaction checker held to what it claims: a simulated strictly
//! serializable store comes out valid; every planted anomaly is found and
//! named; and on small histories, stale reads and all, its verdict is the
//! verdict of trying every serial order.

use checker::history::{Event, Value};
use checker::txn::gen::{self, GenOptions};
use checker::txn::{brute, check, pair_txns, Class, Model, TxnHistory};
use proptest::prelude::*;

fn history(events: &[Event]) -> TxnHistory {
    let lines: Vec<usize> = (1..=events.len()).collect();
    pair_txns(events, &lines).unwrap()
}

#[test]
fn a_strictly_serializable_store_is_valid_under_every_model() {
    for seed in 0..20 {
        let events = gen::generate(&GenOptions { txns: 2_000, seed, ..GenOptions::default() });
        let h = history(&events);
        let r = check(&h, Model::StrictSerializable).unwrap();
        assert!(r.valid && r.counts.is_empty(), "seed {seed}: {}\n{:#?}", r.summary(), r.anomalies);
        assert!(r.ok > 1_800 && r.info > 0 && r.fail > 0, "seed {seed}: {}", r.summary());
    }
}

#[test]
fn every_planted_anomaly_is_found_and_named() {
    for class in gen::PLANTABLE {
        let mut events = gen::generate(&GenOptions { txns: 300, seed: 7, ..GenOptions::default() });
        gen::plant(&mut events, class);
        let h = history(&events);
        let r = check(&h, Model::StrictSerializable).unwrap();
        assert!(!r.valid, "{}: not found: {}", class.name(), r.summary());
        assert!(r.counts.contains_key(class.name()), "{}: found {:?} instead", class.name(), r.counts);
        let example = r.anomalies.iter().find(|a| a.class == class).unwrap();
        assert!(example.explanation.contains("T"), "{}", example.explanation);
    }
}

/// Snapshot isolation allows write skew (G2-item) but not lost updates;
/// serializability allows neither; a stale read after a completed write
/// is caught only under strict serializability.
#[test]
fn each_model_judges_what_it_prohibits() {
    let verdict = |class: Class, model: Model| {
        let mut events = Vec::new();
        gen::plant(&mut events, class);
        check(&history(&events), model).unwrap().valid
    };
    assert!(verdict(Class::G2Item, Model::SnapshotIsolation));
    assert!(!verdict(Class::G2Item, Model::Serializable));
    assert!(!verdict(Class::LostUpdate, Model::SnapshotIsolation));
    assert!(verdict(Class::GSingle, Model::ReadCommitted));
    assert!(!verdict(Class::GSingle, Model::SnapshotIsolation));
    assert!(verdict(Class::GSingleRealtime, Model::Serializable));
    assert!(!verdict(Class::GSingleRealtime, Model::StrictSerializable));
}

/// A G-single (read skew) explained edge by edge, in words a reader can
/// check against the history.
#[test]
fn a_cycle_is_explained_edge_by_edge() {
    let mut events = Vec::new();
    gen::plant(&mut events, Class::GSingle);
    let r = check(&history(&events), Model::Serializable).unwrap();
    let a = r.anomalies.iter().find(|a| a.class == Class::GSingle).unwrap();
    let kinds: Vec<&str> = a.cycle.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds.len(), 2, "{a:#?}");
    assert!(kinds.contains(&"rw") && kinds.contains(&"wr"), "{kinds:?}");
    let text = &a.explanation;
    assert!(text.contains("read key \"planted-1\" = [], which misses 1, appended by T0 (process 900001)"), "{text}");
    assert!(
        text.contains("read key \"planted-2\" = [1], which ends with 1, appended by T0 (process 900001)"),
        "{text}"
    );
    assert!(text.contains("no order of these transactions explains what they saw"), "{text}");
}

/// Small generator settings: seed, transactions, keys, processes, share
/// of stale reads, share of unknown outcomes.
fn small() -> impl Strategy<Value = GenOptions> {
    (
        any::<u64>(),
        2usize..=8,
        1usize..=3,
        2usize..=4,
        prop_oneof![Just(0.0), Just(0.3), Just(0.7)],
        prop_oneof![Just(0.0), Just(0.2)],
    )
        .prop_map(|(seed, txns, keys, processes, stale, info_rate)| GenOptions {
            txns,
            processes,
            keys,
            max_writes_per_key: 3,
            max_mops: 3,
            info_rate,
            fail_rate: 0.1,
            stale,
            seed,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// On small histories the graph checker's verdict is the brute-force
    /// verdict, under serializability and under strict serializability.
    #[test]
    fn the_verdict_is_the_brute_force_verdict(opts in small()) {
        let h = history(&gen::generate(&opts));
        for (model, strict) in [(Model::Serializable, false), (Model::StrictSerializable, true)] {
            let Some(expected) = brute::serializable(&h, strict) else { continue };
            let r = check(&h, model).unwrap();
            prop_assert_eq!(r.valid, expected, "{}: {}\n{:#?}\n{:#?}", model.name(), r.summary(), r.anomalies, h);
        }
    }
}

#[test]
fn a_duplicate_append_is_refused_naming_both_lines() {
    let mut events = Vec::new();
    gen::plant(&mut events, Class::G1b);
    // The same element appended again by another transaction.
    let mut again = events[0].clone();
    again.index = 100;
    again.process = checker::history::Process::Client(5);
    again.value = Value::List(
        vec![Value::List(vec![Value::Str("append".into()), Value::Str("planted-1".into()), Value::Int(1)].into())]
            .into(),
    );
    events.push(again);
    let err = check(&history(&events), Model::Serializable).unwrap_err().to_string();
    assert!(err.contains("appended to key \"planted-1\" twice (also on line 1)"), "{err}");
}

/// The property above is worth something only if the small histories
/// include invalid ones of each kind: with stale reads, a good share are
/// not serializable, and more are not strictly so.
#[test]
fn the_small_histories_are_often_invalid() {
    let (mut ser, mut strict, mut n) = (0, 0, 0);
    for seed in 0..1_000 {
        let opts = GenOptions {
            txns: 6,
            processes: 3,
            keys: 2,
            max_mops: 3,
            info_rate: 0.1,
            fail_rate: 0.1,
            stale: 0.7,
            seed,
            ..GenOptions::default()
        };
        let h = history(&gen::generate(&opts));
        if let (Some(s), Some(t)) = (brute::serializable(&h, false), brute::serializable(&h, true)) {
            n += 1;
            ser += usize::from(!s);
            strict += usize::from(!t);
        }
    }
    assert!(n == 1_000 && ser > 150 && strict > ser, "{ser} and {strict} invalid of {n}");
}

/// Jepsen's `history.edn` of an append workload reads as the same
/// transactions: keywords for micro-op names, `nil` for unknown reads, and
/// two micro-ops are not mistaken for an independent key's `[k v]`.
#[test]
fn jepsens_edn_append_history_reads_as_transactions() {
    let edn = "{:type :invoke, :f :txn, :value [[:append 9 1] [:r 8 nil]], :process 0, :time 1, :index 0}\n\
               {:type :invoke, :f :txn, :value [[:r 9 nil] [:append 8 1]], :process 1, :time 2, :index 1}\n\
               {:type :ok, :f :txn, :value [[:append 9 1] [:r 8 []]], :process 0, :time 3, :index 2}\n\
               {:type :ok, :f :txn, :value [[:r 9 []] [:append 8 1]], :process 1, :time 4, :index 3}\n\
               {:type :invoke, :f :txn, :value [[:r 8 nil] [:r 9 nil]], :process 2, :time 5, :index 4}\n\
               {:type :ok, :f :txn, :value [[:r 8 [1]] [:r 9 [1]]], :process 2, :time 6, :index 5}\n";
    let (events, lines) = checker::edn::parse(edn).unwrap();
    let h = pair_txns(&events, &lines).unwrap();
    assert_eq!(h.txns.len(), 3);
    let r = check(&h, Model::Serializable).unwrap();
    assert_eq!(r.prohibited, vec!["G2-item"], "{}", r.summary());
}

/// `checker export --format edn` writes a transaction history as Jepsen
/// does (`:f :txn`, keyword micro-ops), and reading it back gives the same
/// transactions.
#[test]
fn a_transaction_history_round_trips_through_edn() {
    let events = gen::generate(&GenOptions { txns: 300, seed: 9, ..GenOptions::default() });
    let edn: String = events.iter().map(|e| checker::edn::emit(e) + "\n").collect();
    assert!(edn.contains(":f :txn") && edn.contains("[:append "), "{}", &edn[..300]);
    let (back, lines) = checker::edn::parse(&edn).unwrap();
    assert_eq!(pair_txns(&back, &lines).unwrap(), history(&events));
}
