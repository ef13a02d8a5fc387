//! The transactions the clients of a `txn-append` run ask for: Elle's
//! list-append workload, as Jepsen runs it against etcd; and of a
//! `txn-rw-register` run, Elle's rw-register.
//!
//! Each transaction has 1 to `--max-txn-length` micro-ops over the active
//! keys: a read of a key's whole list, or an append of an element unique
//! to that key (1, 2, 3, …), so that every read tells the order in which
//! the appends it saw were applied. In rw-register the writes set a key to
//! a value unique to it (1, 2, 3, …) and a read returns one value: it
//! names the write it saw, but not the ones before. A key takes about `--ops-per-key`
//! appends and is then retired for a fresh one, which keeps lists short
//! however long the run. Few active keys (`--active-keys`) make
//! transactions meet on the same keys, which is where anomalies show.
//!
//! What the history is checked against is the consistency model the system
//! claims (`--consistency-model`, strict serializable unless told).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use checker::history::Value;
use checker::txn::{Model, Mop};

use crate::workload::WorkloadOptions;

/// The most micro-ops one transaction may have (raftkv's limit).
const MAX_TXN_LENGTH: u64 = 64;

/// What a transaction run adds to the op mix.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct TxnOptions {
    /// Most micro-ops in one transaction of `--workload txn-append` (each
    /// has from 1 to this many; 1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_TXN_LENGTH))]
    pub max_txn_length: usize,
    /// The consistency model the system claims: `--workload txn-append`
    /// checks its history against it.
    #[arg(long, value_enum, default_value_t = Model::StrictSerializable)]
    pub consistency_model: Model,
}

impl Default for TxnOptions {
    fn default() -> Self {
        TxnOptions { max_txn_length: 4, consistency_model: Model::StrictSerializable }
    }
}

struct ActiveKey {
    key: i64,
    appends_left: usize,
    /// The last element handed out; 0 = none yet.
    last: i64,
}

/// Hands out transactions; one serves all workers, so the seed fixes the
/// sequence.
pub struct TxnGenerator {
    rng: StdRng,
    /// rw-register: writes and reads of single values.
    register: bool,
    mix: WorkloadOptions,
    max_len: usize,
    active: Vec<ActiveKey>,
    next_key: i64,
}

impl TxnGenerator {
    pub fn new(mix: WorkloadOptions, txn: &TxnOptions, register: bool, seed: u64) -> TxnGenerator {
        let mut g = TxnGenerator {
            rng: StdRng::seed_from_u64(seed),
            register,
            max_len: txn.max_txn_length.max(1),
            active: Vec::new(),
            next_key: 0,
            mix,
        };
        for _ in 0..g.mix.active_keys.max(1) {
            let k = g.fresh_key();
            g.active.push(k);
        }
        g
    }

    fn fresh_key(&mut self) -> ActiveKey {
        let n = self.mix.ops_per_key;
        let appends = self.rng.gen_range((n * 3 / 4).max(1)..=(n * 5 / 4).max(1));
        let key = self.next_key;
        self.next_key += 1;
        ActiveKey { key, appends_left: appends, last: 0 }
    }

    /// The next transaction, its reads unknown.
    pub fn next_txn(&mut self) -> Vec<Mop> {
        let len = self.rng.gen_range(1..=self.max_len);
        let total = self.mix.reads + self.mix.writes;
        (0..len)
            .map(|_| {
                let slot = self.rng.gen_range(0..self.active.len());
                let key = Value::Int(self.active[slot].key);
                if self.rng.gen_range(0..total.max(1)) < self.mix.reads {
                    return if self.register { Mop::Get { key, value: None } } else { Mop::Read { key, list: None } };
                }
                let k = &mut self.active[slot];
                k.last += 1;
                k.appends_left -= 1;
                let elem = Value::Int(k.last);
                if k.appends_left == 0 {
                    self.active[slot] = self.fresh_key();
                }
                if self.register {
                    Mop::Write { key, value: elem }
                } else {
                    Mop::Append { key, elem }
                }
            })
            .collect()
    }

    /// Keys handed out so far: 0..n.
    pub fn keys_touched(&self) -> i64 {
        self.next_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn elements_are_unique_per_key_lengths_bounded_and_keys_retire() {
        let mix = WorkloadOptions { active_keys: 3, ops_per_key: 10, ..Default::default() };
        let txn = TxnOptions { max_txn_length: 4, ..Default::default() };
        let mut g = TxnGenerator::new(mix.clone(), &txn, false, 7);
        let mut seen: HashMap<Value, HashSet<Value>> = HashMap::new();
        let (mut reads, mut lengths) = (0, HashSet::new());
        for _ in 0..2000 {
            let t = g.next_txn();
            lengths.insert(t.len());
            for m in t {
                match m {
                    Mop::Append { key, elem } => assert!(seen.entry(key).or_default().insert(elem)),
                    Mop::Read { list, .. } => {
                        assert!(list.is_none());
                        reads += 1;
                    }
                    other => panic!("a register micro-op in list-append: {other:?}"),
                }
            }
        }
        assert_eq!(lengths, HashSet::from([1, 2, 3, 4]));
        assert!(reads > 0 && g.keys_touched() > 3, "keys retire: {}", g.keys_touched());
        assert!(seen.values().all(|s| s.len() <= 13), "a key took more than 125% of --ops-per-key appends");
        let again = |seed| {
            let mut g = TxnGenerator::new(mix.clone(), &txn, false, seed);
            (0..100).map(|_| g.next_txn()).collect::<Vec<_>>()
        };
        assert_eq!(again(1), again(1));
        assert_ne!(again(1), again(2));
    }
}
