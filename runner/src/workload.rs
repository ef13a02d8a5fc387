//! What the clients of `checker run` ask for: the op generators.
//!
//! One generator serves all workers (as Jepsen's does), so the seed fixes
//! the sequence of ops handed out. Keys are independent: only a bounded
//! number are active at once, each gets a bounded number of ops (varied a
//! little so that keys do not retire in lockstep) and is then retired for a
//! fresh one. That keeps each key's history short enough to check quickly,
//! however long the run.
//!
//! - **register**: read, write, cas and delete. Written values are unique
//!   per key (1, 2, 3, …), which makes every read informative. A cas
//!   expects the value most recently handed out for the key, or now and
//!   then an older one (or nil), so both outcomes occur. A delete makes the
//!   key absent, so a read of nil is an observation too, and a value that
//!   comes back after its delete is caught.
//! - **list-append**: append of unique elements, and read of the whole list.
//! - **mixed**: both in one run, on alternate keys (odd keys are lists,
//!   [`ModelName::of_key`]), so one run sees what each can: every lost
//!   append, and every cas and delete.
//!
//! With `--retired-reads`, some reads go to a key that has just retired
//! (one of the last [`RECENTLY_RETIRED`]): a key at rest, as etcd's
//! robustness traffic reads keys nobody writes any more. An active key is
//! rewritten within milliseconds, so a replica that holds a stale value of
//! it (a key a snapshot install failed to delete, an append applied twice
//! after a restart) is overwritten before anyone reads it; a key at rest
//! keeps the stale value in view until that replica serves a read.

use clap::builder::RangedU64ValueParser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use checker::history::{OpType, Value};
use checker::model::ModelName;

const MAX_ACTIVE_KEYS: u64 = 100_000;
const MAX_OPS_PER_KEY: u64 = 10_000_000;
const MAX_WEIGHT: u32 = 1_000;
/// How many of the most recently retired keys `--retired-reads` reads: the
/// ones whose last writes may still sit in a lagging replica's log or
/// snapshot.
pub const RECENTLY_RETIRED: usize = 16;

/// An op weight: small enough that the weights' sum cannot overflow.
fn weight() -> RangedU64ValueParser<u32> {
    RangedU64ValueParser::<u32>::new().range(0..=MAX_WEIGHT as u64)
}

/// What a run's clients do: single-key ops checked for linearizability
/// against a model, or transactions checked for isolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Register,
    ListAppend,
    Mixed,
    /// Transactions of reads and appends over several keys ([`crate::txn`]).
    TxnAppend,
    /// Transactions of reads and writes of single values (rw-register).
    TxnRwRegister,
}

impl Workload {
    /// The single-key model its history is checked against; `None` for
    /// transactions.
    pub fn model(self) -> Option<ModelName> {
        match self {
            Workload::Register => Some(ModelName::Register),
            Workload::ListAppend => Some(ModelName::ListAppend),
            Workload::Mixed => Some(ModelName::Mixed),
            Workload::TxnAppend | Workload::TxnRwRegister => None,
        }
    }

    /// Whether its clients run transactions.
    pub fn is_txn(self) -> bool {
        self.model().is_none()
    }

    /// The name as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::TxnAppend => "txn-append",
            Workload::TxnRwRegister => "txn-rw-register",
            w => w.values().as_str(),
        }
    }

    /// The model of the values stored: transactions append to lists, or
    /// write registers.
    pub fn values(self) -> ModelName {
        match self {
            Workload::TxnAppend => ModelName::ListAppend,
            Workload::TxnRwRegister => ModelName::Register,
            w => w.model().expect("a single-key workload has a model"),
        }
    }
}

/// The op mix and the key schedule.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct WorkloadOptions {
    /// Keys active at once (1 to 100,000).
    #[arg(long, default_value_t = 8, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_ACTIVE_KEYS))]
    pub active_keys: usize,
    /// Ops per key before it is retired (each key gets 75%–125% of this;
    /// 1 to 10,000,000).
    #[arg(long, default_value_t = 200, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_OPS_PER_KEY))]
    pub ops_per_key: usize,
    /// Relative weight of reads (0 to 1,000, as are the other weights).
    #[arg(long, default_value_t = 2, value_parser = weight())]
    pub reads: u32,
    /// Relative weight of writes (register keys) or appends (list keys).
    #[arg(long, default_value_t = 2, value_parser = weight())]
    pub writes: u32,
    /// Relative weight of cas (register keys only).
    #[arg(long, default_value_t = 1, value_parser = weight())]
    pub cas: u32,
    /// Relative weight of deletes (register keys only).
    #[arg(long, default_value_t = 1, value_parser = weight())]
    pub deletes: u32,
    /// Relative weight of reads of a recently retired key, one no client
    /// writes any more (0, the default, for none).
    #[arg(long, default_value_t = 0, value_parser = weight())]
    pub retired_reads: u32,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions { active_keys: 8, ops_per_key: 200, reads: 2, writes: 2, cas: 1, deletes: 1, retired_reads: 0 }
    }
}

impl WorkloadOptions {
    /// Checks the options given other than on the command line (where
    /// clap has checked each range already).
    pub fn validate(&self, workload: ModelName) -> Result<(), String> {
        if !(1..=MAX_ACTIVE_KEYS as usize).contains(&self.active_keys) {
            return Err(format!("--active-keys {}: must be from 1 to {MAX_ACTIVE_KEYS}", self.active_keys));
        }
        if !(1..=MAX_OPS_PER_KEY as usize).contains(&self.ops_per_key) {
            return Err(format!("--ops-per-key {}: must be from 1 to {MAX_OPS_PER_KEY}", self.ops_per_key));
        }
        for (flag, w) in [
            ("--reads", self.reads),
            ("--writes", self.writes),
            ("--cas", self.cas),
            ("--deletes", self.deletes),
            ("--retired-reads", self.retired_reads),
        ] {
            if w > MAX_WEIGHT {
                return Err(format!("{flag} {w}: must be from 0 to {MAX_WEIGHT}"));
            }
        }
        let register_only = if workload != ModelName::ListAppend { self.cas + self.deletes } else { 0 };
        if self.reads + self.writes + register_only == 0 {
            return Err("--reads, --writes, --cas and --deletes are all 0: there is no op to run".into());
        }
        Ok(())
    }
}

/// One op to perform.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub f: OpType,
    pub key: i64,
    /// As the history records it at invoke: null for reads, the value for
    /// writes and appends, `[expected, new]` for cas.
    pub value: Value,
}

struct KeyState {
    key: i64,
    ops_left: usize,
    /// The last value (or element) handed out; 0 = none yet.
    last: i64,
    /// A delete was handed out since the last cas: the next cas expects
    /// the key absent, the one case where a cas on a written key may find
    /// nil.
    deleted: bool,
}

pub struct Generator {
    workload: ModelName,
    opts: WorkloadOptions,
    rng: StdRng,
    active: Vec<KeyState>,
    /// The last [`RECENTLY_RETIRED`] keys retired, oldest first.
    retired: std::collections::VecDeque<i64>,
    next_key: i64,
}

impl Generator {
    pub fn new(workload: ModelName, opts: WorkloadOptions, seed: u64) -> Generator {
        let mut g = Generator {
            workload,
            opts,
            rng: StdRng::seed_from_u64(seed),
            active: Vec::new(),
            retired: Default::default(),
            next_key: 0,
        };
        for _ in 0..g.opts.active_keys {
            let k = g.fresh_key();
            g.active.push(k);
        }
        g
    }

    fn fresh_key(&mut self) -> KeyState {
        let n = self.opts.ops_per_key;
        let ops = self.rng.gen_range((n * 3 / 4).max(1)..=(n * 5 / 4).max(1));
        let key = self.next_key;
        self.next_key += 1;
        KeyState { key, ops_left: ops, last: 0, deleted: false }
    }

    /// The next op.
    pub fn next_op(&mut self) -> Invocation {
        // Without retired reads no extra draw is made, so a seed hands out
        // the same ops as before the option existed.
        if self.opts.retired_reads > 0 && !self.retired.is_empty() {
            let rest = self.opts.reads + self.opts.writes + self.opts.cas + self.opts.deletes;
            if self.rng.gen_range(0..self.opts.retired_reads + rest) < self.opts.retired_reads {
                let key = self.retired[self.rng.gen_range(0..self.retired.len())];
                return Invocation { f: OpType::Read, key, value: Value::Nil };
            }
        }
        let slot = self.rng.gen_range(0..self.active.len());
        let model = self.workload.of_key(self.active[slot].key);
        let (cas_weight, delete_weight) =
            if model == ModelName::Register { (self.opts.cas, self.opts.deletes) } else { (0, 0) };
        let total = self.opts.reads + self.opts.writes + cas_weight + delete_weight;
        if total == 0 {
            // A list key of a mixed run whose register-only ops alone
            // have weight: read it.
            let key = self.active[slot].key;
            return self.spend(slot, Invocation { f: OpType::Read, key, value: Value::Nil });
        }
        let roll = self.rng.gen_range(0..total);
        let st = &mut self.active[slot];
        let inv = if roll < self.opts.reads {
            Invocation { f: OpType::Read, key: st.key, value: Value::Nil }
        } else if roll < self.opts.reads + self.opts.writes {
            st.last += 1;
            let f = if model == ModelName::Register { OpType::Write } else { OpType::Append };
            Invocation { f, key: st.key, value: Value::Int(st.last) }
        } else if roll >= self.opts.reads + self.opts.writes + cas_weight {
            st.deleted = true;
            Invocation { f: OpType::Delete, key: st.key, value: Value::Nil }
        } else {
            let expected = if std::mem::take(&mut st.deleted) {
                Value::Nil
            } else if st.last == 0 || self.rng.gen_bool(0.1) {
                // Sometimes an old or absent value, so mismatches happen.
                match self.rng.gen_range(0..=st.last) {
                    0 => Value::Nil,
                    v => Value::Int(v),
                }
            } else {
                Value::Int(st.last)
            };
            st.last += 1;
            Invocation { f: OpType::Cas, key: st.key, value: Value::List(vec![expected, Value::Int(st.last)].into()) }
        };
        self.spend(slot, inv)
    }

    /// Counts `inv` against its key's ops, retiring the key when they are
    /// spent.
    fn spend(&mut self, slot: usize, inv: Invocation) -> Invocation {
        let st = &mut self.active[slot];
        st.ops_left -= 1;
        if st.ops_left == 0 {
            if self.retired.len() == RECENTLY_RETIRED {
                self.retired.pop_front();
            }
            self.retired.push_back(st.key);
            self.active[slot] = self.fresh_key();
        }
        inv
    }

    /// Keys handed out so far: 0..n.
    pub fn keys_touched(&self) -> i64 {
        self.next_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_fixes_the_sequence() {
        let run = |seed| {
            let mut g = Generator::new(ModelName::Register, WorkloadOptions::default(), seed);
            (0..500).map(|_| g.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn values_are_unique_per_key_and_keys_retire() {
        let opts = WorkloadOptions { active_keys: 3, ops_per_key: 20, ..Default::default() };
        let mut g = Generator::new(ModelName::Register, opts, 5);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let inv = g.next_op();
            let new = match (&inv.f, &inv.value) {
                (OpType::Write, Value::Int(v)) => Some(*v),
                (OpType::Cas, Value::List(l)) => match l[1] {
                    Value::Int(v) => Some(v),
                    _ => None,
                },
                _ => None,
            };
            if let Some(v) = new {
                assert!(seen.insert((inv.key, v)), "value {v} written twice to key {}", inv.key);
            }
        }
        // 1000 ops at 15–25 per key over 3 active keys: many keys retired.
        assert!(g.keys_touched() > 30, "{}", g.keys_touched());
    }

    #[test]
    fn the_mixed_workload_keeps_each_key_a_list_or_a_register() {
        let mut g = Generator::new(ModelName::Mixed, WorkloadOptions::default(), 4);
        let mut fs: std::collections::HashMap<bool, std::collections::HashSet<OpType>> = Default::default();
        for _ in 0..2000 {
            let inv = g.next_op();
            fs.entry(inv.key % 2 == 1).or_default().insert(inv.f);
        }
        let set = |fs: &[OpType]| fs.iter().copied().collect::<std::collections::HashSet<_>>();
        assert_eq!(fs[&true], set(&[OpType::Read, OpType::Append]));
        assert_eq!(fs[&false], set(&[OpType::Read, OpType::Write, OpType::Cas, OpType::Delete]));
        // Only cas and deletes weighed: the lists are read.
        let opts = WorkloadOptions { reads: 0, writes: 0, ..Default::default() };
        assert_eq!(opts.validate(ModelName::Mixed), Ok(()));
        let mut g = Generator::new(ModelName::Mixed, opts, 4);
        assert!((0..200).map(|_| g.next_op()).all(|i| (i.key % 2 == 1) == (i.f == OpType::Read)));
    }

    #[test]
    fn retired_reads_read_recently_retired_keys_only() {
        let opts = WorkloadOptions { active_keys: 2, ops_per_key: 8, ..Default::default() };
        // Without them, no op touches a key that is not active.
        let mut g = Generator::new(ModelName::Mixed, opts.clone(), 9);
        for _ in 0..400 {
            let active: Vec<i64> = g.active.iter().map(|k| k.key).collect();
            assert!(active.contains(&g.next_op().key));
        }

        let mut g = Generator::new(ModelName::Mixed, WorkloadOptions { retired_reads: 3, ..opts }, 9);
        let mut retired_reads = 0;
        for _ in 0..2000 {
            let active: Vec<i64> = g.active.iter().map(|k| k.key).collect();
            let retired = g.retired.clone();
            let inv = g.next_op();
            if !active.contains(&inv.key) {
                assert_eq!(inv.f, OpType::Read, "a retired key was written: {inv:?}");
                assert!(retired.contains(&inv.key), "key {} was not among the recently retired", inv.key);
                retired_reads += 1;
            }
            assert!(g.retired.len() <= RECENTLY_RETIRED);
        }
        // Weight 3 against the other 6: about a third of the ops.
        assert!((400..=950).contains(&retired_reads), "{retired_reads} retired reads in 2000 ops");
        let heavy = WorkloadOptions { retired_reads: 1001, ..Default::default() };
        assert!(heavy.validate(ModelName::Mixed).unwrap_err().starts_with("--retired-reads 1001"));
    }

    #[test]
    fn list_append_has_no_cas_and_no_delete() {
        let mut g = Generator::new(ModelName::ListAppend, WorkloadOptions::default(), 3);
        let fs: std::collections::HashSet<OpType> = (0..500).map(|_| g.next_op().f).collect();
        assert!(fs.contains(&OpType::Append) && fs.contains(&OpType::Read));
        assert!(!fs.contains(&OpType::Cas) && !fs.contains(&OpType::Delete));
    }

    #[test]
    fn the_register_workload_uses_every_call_of_the_api() {
        let mut g = Generator::new(ModelName::Register, WorkloadOptions::default(), 3);
        let fs: std::collections::HashSet<OpType> = (0..500).map(|_| g.next_op().f).collect();
        for f in [OpType::Read, OpType::Write, OpType::Cas, OpType::Delete] {
            assert!(fs.contains(&f), "no {f} in 500 ops");
        }
        let none = WorkloadOptions { reads: 0, writes: 0, cas: 0, deletes: 0, ..Default::default() };
        assert!(none.validate(ModelName::Register).unwrap_err().contains("--deletes"));
        let huge = WorkloadOptions { ops_per_key: usize::MAX, ..Default::default() };
        assert_eq!(
            huge.validate(ModelName::Register).unwrap_err(),
            format!("--ops-per-key {}: must be from 1 to 10000000", usize::MAX)
        );
        let heavy = WorkloadOptions { reads: u32::MAX, ..Default::default() };
        assert!(heavy
            .validate(ModelName::Register)
            .unwrap_err()
            .starts_with("--reads 4294967295: must be from 0 to 1000"));
    }
}
