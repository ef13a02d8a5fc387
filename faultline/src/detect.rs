//! `faultline detect`: shows that the rig catches what it exists to catch.
//! For each unsafe setting of a node (or of etcd), several seeded runs
//! under the fault mix chosen for it, as one batch; the summary says how
//! many were flagged invalid and how fast (`docs/unsafe-settings.md`
//! quotes its table). Two rows are controls, expected to pass: a kill
//! cannot lose what the page cache holds (`wal-no-sync-kill-all`,
//! `nats-lazy-fsync-kill-all`). Each setting is a row of the ledger
//! (`faultline ledger`), made from this table.

use std::path::PathBuf;

use report::run_dir::Verdict;

use crate::batch::{self, BatchArgs, Spec};
use crate::run::BROKEN;
use crate::scenario::{refuse, ScenarioError, TestOptions};

/// `faultline detect`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct DetectOptions {
    /// Seeds per setting.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Only these settings (comma-separated; every row of the table by
    /// default).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// One unsafe setting and the test that should expose it.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub name: &'static str,
    pub db: &'static str,
    pub read_consistency: Option<&'static str>,
    pub node_args: Option<&'static str>,
    /// `checker run` workload options (the op mix).
    pub workload_args: Option<&'static str>,
    pub faults: &'static str,
    pub workload: &'static str,
    pub time_limit: &'static str,
    pub interval: &'static str,
    /// What the setting breaks (or, for a control, why nothing breaks), in
    /// one sentence: the ledger's row.
    pub what: &'static str,
    /// The verdict its runs should reach: invalid for an unsafe setting,
    /// valid for a control.
    pub expect: Verdict,
}

impl Setting {
    /// The system it is a setting of, as the ledger names it.
    pub fn system(&self) -> &'static str {
        match self.db {
            "etcd" => "etcd 3.4.23",
            "nats" => "NATS 2.9.10",
            _ => "raftkv",
        }
    }

    /// Where its catch rate is argued.
    pub fn doc(&self) -> &'static str {
        match self.db {
            "raftkv" => "docs/unsafe-settings.md",
            _ => "docs/systems.md",
        }
    }
}

const BASE: Setting = Setting {
    name: "",
    db: "raftkv",
    read_consistency: None,
    node_args: None,
    workload_args: None,
    faults: "partition",
    workload: "register",
    time_limit: "30s",
    interval: "4s",
    what: "",
    expect: Verdict::Invalid,
};

/// The register mix without cas: no guarded writes on NATS.
const NATS_UNGUARDED: &str = "--cas 0";

/// Every setting, in the order of the table.
pub const SETTINGS: [Setting; 14] = [
    Setting {
        name: "local",
        read_consistency: Some("local"),
        time_limit: "20s",
        what: "any node answers a read from its own state machine (`--read-consistency local`), so reads go stale on a lagging follower or a cut-off old leader",
        ..BASE
    },
    Setting {
        name: "lease",
        read_consistency: Some("lease"),
        faults: "pause-isolate",
        what: "the leader answers reads from its lease (`--read-consistency lease`), which does not run down while the leader is paused",
        ..BASE
    },
    Setting {
        name: "no-fsync",
        node_args: Some("--unsafe-no-fsync"),
        faults: "kill-all",
        workload: "list-append",
        time_limit: "20s",
        what: "nothing is synced and RocksDB's WAL is off (`--unsafe-no-fsync`), so killing every node loses acknowledged writes",
        ..BASE
    },
    Setting {
        name: "ack-before-commit",
        node_args: Some("--unsafe-ack-before-commit"),
        interval: "3s",
        what: "the leader acknowledges a write once it is in its own log (`--unsafe-ack-before-commit`), so a cut-off leader's acknowledged writes are lost",
        ..BASE
    },
    Setting {
        name: "wal-no-sync",
        node_args: Some("--unsafe-wal-no-sync"),
        faults: "lose-unsynced",
        workload: "list-append",
        what: "RocksDB's WAL is never fsynced (`--unsafe-wal-no-sync`), so a power failure loses acknowledged writes",
        ..BASE
    },
    // The control: a kill cannot lose what the page cache holds.
    Setting {
        name: "wal-no-sync-kill-all",
        node_args: Some("--unsafe-wal-no-sync"),
        faults: "kill-all",
        workload: "list-append",
        what: "the control for wal-no-sync: a kill keeps the page cache, so killing every node loses nothing",
        expect: Verdict::Valid,
        ..BASE
    },
    // Lease reads under the leader's clock set back behind a cut, no pause.
    Setting {
        name: "lease-clock-isolate",
        read_consistency: Some("lease"),
        faults: "clock-isolate",
        what: "lease reads with the leader's clock set back behind a cut: the old leader's lease outlives its office",
        ..BASE
    },
    // Random clock faults beside random partitions.
    Setting {
        name: "lease-clock-lanes",
        read_consistency: Some("lease"),
        faults: "clock,partition",
        time_limit: "60s",
        interval: "2s",
        what: "lease reads under random clock faults beside random partitions",
        ..BASE
    },
    // Partitions alone, no pause: how often lease reads still go stale.
    Setting {
        name: "lease-partition",
        read_consistency: Some("lease"),
        what: "lease reads under partitions alone, no pause and no clock fault: how often they still go stale",
        ..BASE
    },
    // etcd's serializable reads, which etcd documents as possibly stale:
    // the rig on a system we did not write.
    Setting {
        name: "etcd-serializable",
        db: "etcd",
        read_consistency: Some("serializable"),
        what: "etcd's serializable reads, which any member answers from its own state, go stale on a cut-off member",
        ..BASE
    },
    // NATS JetStream's default: a write is acknowledged before it is
    // fsynced (the file store syncs on a two-minute timer), so a power
    // failure loses it. Jepsen's NATS 2.12.1 analysis, reproduced on 2.9.
    // Reads and plain writes only: a guarded write races on 2.9.10
    // (nats-server#4320, docs/findings), which would catch the run alone.
    Setting {
        name: "nats-lazy-fsync",
        db: "nats",
        workload_args: Some(NATS_UNGUARDED),
        faults: "lose-unsynced",
        time_limit: "60s",
        what: "JetStream acknowledges before it fsyncs, so a power failure of a majority loses acknowledged writes",
        ..BASE
    },
    // The control: a kill loses nothing the page cache holds.
    Setting {
        name: "nats-lazy-fsync-kill-all",
        db: "nats",
        workload_args: Some(NATS_UNGUARDED),
        faults: "kill-all",
        time_limit: "60s",
        what: "the control for nats-lazy-fsync: kills keep the page cache, so nothing acknowledged is lost",
        expect: Verdict::Valid,
        ..BASE
    },
    // NATS's direct gets, which any replica answers.
    Setting {
        name: "nats-direct",
        db: "nats",
        read_consistency: Some("direct"),
        workload_args: Some(NATS_UNGUARDED),
        faults: "pause-isolate",
        what: "direct gets, which any replica answers, go stale under a paused and cut-off leader",
        ..BASE
    },
    // The leader's reads under the same faults: a deposed leader still
    // answers them (docs/findings/nats-2.9.10-stale-leader-read).
    Setting {
        name: "nats-leader",
        db: "nats",
        workload_args: Some(NATS_UNGUARDED),
        faults: "pause-isolate",
        what: "the stream leader's message gets go stale when a paused leader is replaced and still answers",
        ..BASE
    },
];

/// The sweep's runs: each setting (or only those named) over seeds 1..=N,
/// named `unsafe-SETTING-sSEED`.
pub fn runs(only: &[String], seeds: u64, cluster: Option<&PathBuf>) -> Result<Vec<TestOptions>, ScenarioError> {
    for o in only {
        if !SETTINGS.iter().any(|s| s.name == o) {
            let names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
            return Err(refuse("--only", o, format!("the settings are {}", names.join(", "))));
        }
    }
    let mut out = Vec::new();
    for s in SETTINGS.iter().filter(|s| only.is_empty() || only.iter().any(|o| o == s.name)) {
        for seed in 1..=seeds {
            out.push(TestOptions {
                plan: "quick".into(),
                db: s.db.into(),
                read_consistency: s.read_consistency.map(String::from),
                node_args: s.node_args.map(String::from),
                workload_args: s.workload_args.map(String::from),
                faults: Some(s.faults.into()),
                workload: Some(s.workload.into()),
                time_limit: Some(s.time_limit.into()),
                interval: Some(s.interval.into()),
                seed: Some(seed.to_string()),
                name: Some(format!("unsafe-{}-s{seed}", s.name)),
                cluster: cluster.cloned(),
                ..TestOptions::default()
            });
        }
    }
    Ok(out)
}

/// Runs the sweep (or lists it) and prints its table: 0 whatever the
/// verdicts (a measurement), 3 when the sweep itself failed.
pub async fn main(o: DetectOptions) -> u8 {
    let options = match runs(&o.only, o.seeds, o.batch.cluster.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("detect: {e}");
            return BROKEN;
        }
    };
    let spec = Spec { prefix: "detect", kind: "unsafe", args: o.batch, freeze_bins: false, expect: None };
    batch::drive(spec, &options).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn every_setting_builds_a_valid_scenario() {
        let runs = runs(&[], 2, None).unwrap();
        assert_eq!(runs.len(), SETTINGS.len() * 2);
        for o in &runs {
            let s = Scenario::build(o).unwrap();
            assert!(s.name.starts_with("unsafe-"), "{}", s.name);
        }
        let s = Scenario::build(&runs[0]).unwrap();
        assert_eq!((s.name.as_str(), s.node_args.as_str()), ("unsafe-local-s1", "--read-consistency local"));
    }

    #[test]
    fn an_unknown_setting_is_refused_listing_them() {
        let e = runs(&["locall".into()], 1, None).unwrap_err().to_string();
        assert!(e.starts_with("--only locall: the settings are local, lease, no-fsync"), "{e}");
    }
}
