//! The named test plans a user picks with `faultline test --plan NAME`
//! and `faultline matrix --plan NAME`: what each is for, and the test
//! options of each of its runs. One definition: `faultline` takes a plan's
//! options from here (`faultline plan` shows them), and any option given on
//! its command line overrides the plan's.
//!
//! - `quick`: the everyday default; moderate load on many keys under mixed
//!   faults.
//! - `hunt`: tuned for detection power, against the mutation suite. Few
//!   keys at a high rate from many clients (contention makes stale reads
//!   and lost updates visible), the mixed workload (list keys, whose reads
//!   expose every lost write, beside register keys, which take cas and
//!   deletes) with reads of keys at rest, faults aimed at the leader
//!   (`deaf-leader`, `pause-isolate`, kills and pauses that often take the
//!   leader, bounces that bring it back mid-election, partitions), power
//!   failures, short intervals between faults, and a raftkv node that
//!   compacts its log often (lagging followers catch up by snapshot) and
//!   elects fast.
//! - `nightly`: the matrix: fault mixes × both workloads, each over several
//!   seeds.
//! - `deep`: hunt's load and node under faults at exact steps (raftkv's
//!   failpoints): the bugs a random kill almost never reaches.
//! - `txn`: transactions (the `txn-append` workload) under contention:
//!   three active keys, many clients at a high rate, partitions, kills and
//!   pauses, each history checked for strict serializability.

use serde::Serialize;

/// One run of a plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    pub time_limit: &'static str,
    pub faults: &'static str,
    pub interval: &'static str,
    pub workload: &'static str,
    pub concurrency: u32,
    pub rate: u32,
    /// `checker run`'s workload options (keys, ops per key, op mix).
    pub workload_args: &'static str,
    /// Settings of the raftkv node the run tests (`raftkv serve` flags),
    /// empty for none. They are raftkv's, so `faultline test` leaves them
    /// out when it tests another system.
    pub node_args: &'static str,
}

impl Run {
    /// The run as `faultline test` options.
    pub fn args(&self) -> Vec<String> {
        let pairs = [
            ("--time-limit", self.time_limit.to_string()),
            ("--faults", self.faults.to_string()),
            ("--interval", self.interval.to_string()),
            ("--workload", self.workload.to_string()),
            ("--concurrency", self.concurrency.to_string()),
            ("--rate", self.rate.to_string()),
            ("--workload-args", self.workload_args.to_string()),
            ("--node-args", self.node_args.to_string()),
        ];
        pairs.into_iter().flat_map(|(k, v)| [k.to_string(), v]).collect()
    }

    /// A short name for the run: its workload and faults.
    pub fn label(&self) -> String {
        format!("{}-{}", self.workload, self.faults.replace(',', "+"))
    }
}

/// A named plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub name: &'static str,
    /// What the plan is for, in one sentence.
    pub purpose: &'static str,
    /// Seeds per run when the plan is run as a matrix (`faultline matrix`).
    pub seeds: u32,
    pub runs: Vec<Run>,
}

/// No plan of that name.
#[derive(Debug, thiserror::Error)]
#[error("no plan named {name:?}; the plans are: {}", names().join(", "), name = .0)]
pub struct UnknownPlan(pub String);

const QUICK: Run = Run {
    time_limit: "60s",
    faults: "partition,kill,pause",
    interval: "8s",
    workload: "register",
    concurrency: 10,
    rate: 100,
    workload_args: "--active-keys 8 --ops-per-key 200",
    node_args: "",
};

/// Every plan, in the order `faultline plan` lists them.
pub fn all() -> Vec<Plan> {
    let nightly_faults = [
        "none",
        "partition",
        "kill",
        "pause",
        "partition,kill,pause",
        "lose-unsynced",
        "packet-loss",
        "clock,clock-isolate,partition",
        "disk-full,corrupt",
    ];
    let nightly = nightly_faults
        .iter()
        .flat_map(|&faults| ["register", "list-append"].map(|workload| Run { faults, workload, ..QUICK }))
        .collect();
    vec![
        Plan {
            name: "quick",
            purpose: "the everyday default: moderate load on many keys under partitions, kills and pauses",
            seeds: 1,
            runs: vec![QUICK],
        },
        Plan {
            name: "hunt",
            purpose: "detection power: few keys, a high rate from many clients, lists and registers \
                      side by side (the mixed workload), reads of keys at rest, leader-aimed faults \
                      (a deaf leader among them) and power failures at short intervals, a node \
                      that compacts its log often and elects fast",
            seeds: 10,
            runs: vec![Run {
                time_limit: "60s",
                faults: "deaf-leader,pause-isolate,partition,kill,pause,bounce,lose-unsynced",
                // Short faults, often: about eleven a run (with the
                // restarts' waits), so the deck of seven kinds (`nemesis
                // run` deals each kind once a round) goes round at least
                // once and every kind, a power failure among them, comes
                // in every run.
                interval: "2s",
                workload: "mixed",
                concurrency: 30,
                rate: 1000,
                // Reads of keys just retired: a stale value a replica kept
                // (a key a snapshot install failed to delete, an append
                // applied twice) stays in view on a key nobody rewrites.
                workload_args: "--active-keys 4 --ops-per-key 300 --retired-reads 2",
                // Compacting the log every few hundred entries (10,000 by
                // default) makes a follower that was cut off or killed for
                // a fault's length catch up by snapshot, not by log, so the
                // snapshot install path is tested in every run. A 20 ms
                // tick (100 ms by default) elects in 200-400 ms and lets
                // check-quorum depose a leader as fast: a deposed leader
                // answers its waiting clients within their 1 s timeout, so
                // what it answers is recorded, not lost to a timeout.
                node_args: "--snapshot-threshold 300 --tick-interval 20ms",
            }],
        },
        Plan {
            name: "deep",
            purpose: "faults at exact steps: raftkv's failpoints (a follower crashed just before its write \
                      with the other cut off and the leader killed after it, a voter crashed just after \
                      its vote with the leader killed, two leaders' lives of a few hundred milliseconds \
                      back to back three times over, an old leader crashed just after it writes the new \
                      leader's entries over its own, and single crashes and stalls at the Ready loop's \
                      steps), beside kills and bounces, on hunt's load and node, the registers' ops mostly \
                      compare-and-sets",
            seeds: 10,
            runs: vec![Run {
                time_limit: "60s",
                faults: "failpoint-cut,failpoint-vote,failpoint-relead,failpoint-rejoin,failpoint,kill,bounce",
                interval: "2s",
                // Lists and registers, the registers' ops mostly
                // compare-and-sets. A lost acknowledged append stays in
                // view in every later read of its list (a register's lost
                // write is overwritten within milliseconds: registers alone
                // caught acks-before-persist 3 times in 6). An answer
                // handed to the wrong request (failpoint-relead's class) is
                // wrong for good only when a cas gets another cas's
                // outcome (a put or an append answered early is applied
                // moments later anyway), and only when that outcome
                // differs: a pile of cas ops applied in order all succeed,
                // so the puts and deletes between them are what make some
                // fail. Measured per relead cycle that led: about 1 in 6
                // at `--cas 4`, 1 in 3 at `--cas 12`, 1 in 7 at `--cas 20`.
                workload: "mixed",
                concurrency: 30,
                rate: 1000,
                workload_args:
                    "--active-keys 4 --ops-per-key 300 --cas 12 --reads 2 --writes 2 --deletes 1 --retired-reads 2",
                node_args: "--snapshot-threshold 300 --tick-interval 20ms",
            }],
        },
        Plan {
            name: "txn",
            purpose: "transactions under contention: reads and appends over three keys from many clients \
                      at a high rate, under partitions, kills and pauses, checked for strict \
                      serializability",
            seeds: 10,
            runs: vec![Run {
                time_limit: "60s",
                faults: "partition,kill,pause",
                interval: "4s",
                workload: "txn-append",
                concurrency: 20,
                rate: 500,
                // Three keys: most transactions meet on a key, which is
                // where a transaction that is not atomic or not isolated
                // shows as a cycle.
                workload_args: "--active-keys 3 --ops-per-key 200",
                node_args: "",
            }],
        },
        Plan {
            name: "nightly",
            purpose: "the matrix: nine fault mixes (none, partition, kill, pause, those three, \
                      lose-unsynced, packet-loss, clocks with partitions, disk-full with corrupt) x both \
                      workloads, \
                      five seeds each",
            seeds: 5,
            runs: nightly,
        },
    ]
}

/// The names of the plans.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name).collect()
}

/// The plan named `name`.
pub fn find(name: &str) -> Result<Plan, UnknownPlan> {
    all().into_iter().find(|p| p.name == name).ok_or_else(|| UnknownPlan(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plan_is_found_by_name_and_an_unknown_one_lists_them() {
        for p in all() {
            assert_eq!(find(p.name).unwrap(), p);
            assert!(!p.runs.is_empty() && p.seeds > 0, "{}", p.name);
        }
        let err = find("fast").unwrap_err().to_string();
        assert_eq!(err, r#"no plan named "fast"; the plans are: quick, hunt, deep, txn, nightly"#);
    }

    #[test]
    fn a_run_is_run_test_options_in_pairs() {
        let args = find("quick").unwrap().runs[0].args();
        assert_eq!(args.len() % 2, 0);
        let at = |flag: &str| args.iter().position(|a| a == flag).map(|i| args[i + 1].as_str());
        assert_eq!(at("--faults"), Some("partition,kill,pause"));
        assert_eq!(at("--workload-args"), Some("--active-keys 8 --ops-per-key 200"));
        assert_eq!(at("--node-args"), Some(""));
        let hunt = find("hunt").unwrap().runs[0].args();
        let at = |flag: &str| hunt.iter().position(|a| a == flag).map(|i| hunt[i + 1].as_str());
        assert_eq!(at("--node-args"), Some("--snapshot-threshold 300 --tick-interval 20ms"));
        assert!(at("--faults").unwrap().starts_with("deaf-leader,"));
    }

    #[test]
    fn the_nightly_matrix_covers_each_mix_with_both_workloads_once() {
        let runs = find("nightly").unwrap().runs;
        let labels: std::collections::HashSet<String> = runs.iter().map(Run::label).collect();
        assert_eq!((runs.len(), labels.len()), (18, 18));
        assert!(labels.contains("register-lose-unsynced") && labels.contains("list-append-packet-loss"));
        assert!(labels.contains("list-append-partition+kill+pause"));
    }
}
