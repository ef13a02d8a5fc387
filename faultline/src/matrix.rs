//! `faultline matrix`: every run of a plan (the nightly matrix by default)
//! over several seeds and systems, as one batch. The runs are listed in a
//! fixed order (plan run, then system, then seed), so `--shard I/N` slices
//! the same list on every machine.

use cluster::DbKind;
use nemesis::faults::FaultKind;

use report::run_dir::Verdict;

use crate::batch::{self, BatchArgs, Spec};
use crate::run::BROKEN;
use crate::scenario::{refuse, ScenarioError, TestOptions};

/// `faultline matrix`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct MatrixOptions {
    /// The plan whose runs make the matrix (`faultline plan` lists them).
    #[arg(long, default_value = "nightly")]
    pub plan: String,
    /// Seeds per run; the plan's when not given.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// The first seed; the seeds run are it and the N-1 after it, so two
    /// nights can share one count.
    #[arg(long, default_value_t = 1)]
    pub first_seed: u64,
    /// Every run's time limit, instead of the plan's.
    #[arg(long)]
    pub time_limit: Option<String>,
    /// Keep only the plan's runs with these fault mixes (space-separated,
    /// each as the plan writes it: `partition,kill,pause`).
    #[arg(long)]
    pub faults: Option<String>,
    /// Keep only the plan's runs with these workloads (space-separated).
    #[arg(long)]
    pub workloads: Option<String>,
    /// raftkv flags for every run, instead of the plan's (which are
    /// raftkv's and only given to raftkv).
    #[arg(long, allow_hyphen_values = true)]
    pub node_args: Option<String>,
    /// The systems, comma-separated: raftkv, etcd, nats, FILE.json. Runs of
    /// another system than raftkv are named after it, and skip the mixes
    /// with faults it cannot take.
    #[arg(long, default_value = "raftkv")]
    pub dbs: String,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Whether `word` is one of the space-separated `list` (no list keeps
/// everything).
fn kept(word: &str, list: &Option<String>) -> bool {
    list.as_ref().is_none_or(|l| l.split_whitespace().any(|w| w == word))
}

/// The matrix's runs as test options, in order; the mixes a system
/// cannot take are left out, each said in a line of `skipped`.
pub fn runs(o: &MatrixOptions) -> Result<(Vec<TestOptions>, Vec<String>), ScenarioError> {
    let plan = plans::find(&o.plan).map_err(|e| refuse("--plan", &o.plan, e.to_string()))?;
    let seeds = o.seeds.unwrap_or(u64::from(plan.seeds));
    let mut dbs = Vec::new();
    for db in o.dbs.split(',') {
        if DbKind::names_file(db) && !std::path::Path::new(db).is_file() {
            return Err(refuse("--dbs", db, "no such file (a system described by commands: docs/cluster-format.md)"));
        }
        dbs.push((db, DbKind::from_arg(db).map_err(|e| refuse("--dbs", db, e))?));
    }
    for (option, list, known) in [
        ("--faults", &o.faults, plan.runs.iter().map(|r| r.faults).collect::<Vec<_>>()),
        ("--workloads", &o.workloads, plan.runs.iter().map(|r| r.workload).collect()),
    ] {
        for w in list.iter().flat_map(|l| l.split_whitespace()) {
            if !known.contains(&w) {
                let mut unique: Vec<&str> = Vec::new();
                for k in known {
                    if !unique.contains(&k) {
                        unique.push(k);
                    }
                }
                return Err(refuse(option, w, format!("plan {} has {}", plan.name, unique.join(" "))));
            }
        }
    }
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for (i, run) in plan.runs.iter().enumerate() {
        if !kept(run.faults, &o.faults) || !kept(run.workload, &o.workloads) {
            continue;
        }
        for (db_arg, db) in &dbs {
            let prefix = match db {
                DbKind::Raftkv => String::new(),
                _ => format!("{}-", db.name()),
            };
            let label = format!("{prefix}{}", run.label());
            let faults = FaultKind::parse_list(run.faults).map_err(|e| refuse("--plan", plan.name, e))?;
            if let Some(why) = faults.iter().find_map(|k| k.unfit_for(db)) {
                skipped.push(format!("{label}: skipped ({why})"));
                continue;
            }
            for seed in o.first_seed..o.first_seed + seeds {
                out.push(TestOptions {
                    plan: plan.name.to_string(),
                    plan_run: Some(i),
                    seed: Some(seed.to_string()),
                    name: Some(format!("{label}-s{seed}")),
                    time_limit: o.time_limit.clone(),
                    node_args: o.node_args.clone(),
                    cluster: o.batch.cluster.clone(),
                    db: db_arg.to_string(),
                    ..TestOptions::default()
                });
            }
        }
    }
    Ok((out, skipped))
}

/// Runs the matrix (or lists it): 0 when every run is valid, 1 when any
/// is not, 3 when the batch itself failed.
pub async fn main(o: MatrixOptions) -> u8 {
    let (options, skipped) = match runs(&o) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("matrix: {e}");
            return BROKEN;
        }
    };
    for s in skipped {
        println!("matrix: {s}");
    }
    let spec =
        Spec { prefix: "matrix", kind: "nightly", args: o.batch, freeze_bins: true, expect: Some(Verdict::Valid) };
    batch::drive(spec, &options).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        o: MatrixOptions,
    }

    fn options(args: &[&str]) -> MatrixOptions {
        Cli::try_parse_from(std::iter::once("matrix").chain(args.iter().copied())).unwrap().o
    }

    #[test]
    fn the_nightly_matrix_is_every_mix_and_workload_over_its_seeds() {
        let (all, skipped) = runs(&options(&[])).unwrap();
        assert_eq!(all.len(), 9 * 2 * 5);
        assert!(skipped.is_empty());
        assert_eq!(all[0].name.as_deref(), Some("register-none-s1"));
        assert_eq!(all[5].name.as_deref(), Some("list-append-none-s1"));
        let (some, _) = runs(&options(&[
            "--faults",
            "partition kill",
            "--workloads",
            "register",
            "--first-seed",
            "7",
            "--seeds",
            "2",
        ]))
        .unwrap();
        let names: Vec<_> = some.iter().map(|r| r.name.clone().unwrap()).collect();
        assert_eq!(names, ["register-partition-s7", "register-partition-s8", "register-kill-s7", "register-kill-s8"]);
    }

    #[test]
    fn another_system_skips_the_mixes_it_cannot_take_saying_why() {
        let (all, skipped) = runs(&options(&["--dbs", "raftkv,etcd", "--seeds", "1"])).unwrap();
        assert!(all.iter().any(|r| r.name.as_deref() == Some("etcd-register-partition-s1")));
        assert!(
            skipped.iter().any(|s| s.starts_with("etcd-register-clock+clock-isolate+partition: skipped")),
            "{skipped:?}"
        );
        assert!(all.iter().all(|r| !r.name.as_deref().unwrap().starts_with("etcd-register-clock")));
    }

    #[test]
    fn a_mix_or_system_the_plan_has_not_is_refused_naming_it() {
        let e = runs(&options(&["--faults", "partition flood"])).unwrap_err().to_string();
        assert!(e.starts_with("--faults flood: plan nightly has none partition"), "{e}");
        let e = runs(&options(&["--workloads", "bank"])).unwrap_err().to_string();
        assert!(e.starts_with("--workloads bank: plan nightly has register list-append"), "{e}");
        let e = runs(&options(&["--dbs", "raftkv,mongo"])).unwrap_err().to_string();
        assert!(e.starts_with("--dbs mongo:"), "{e}");
        let e = runs(&options(&["--plan", "nope"])).unwrap_err().to_string();
        assert!(e.starts_with("--plan nope:"), "{e}");
    }
}
