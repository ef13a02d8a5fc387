//! The test as one typed value: which system, which plan and run of it,
//! the faults, the workload, the node settings, the hosts, the seed and the
//! time limit. A [`Scenario`] is built from a plan plus command-line
//! overrides ([`TestOptions`]) and validated once, before any host is
//! touched: every bad value is refused naming the option, the value and
//! what is allowed. It is recorded in the run's `test.json`
//! ([`Scenario::record`]) and rebuilt from it for a replay
//! ([`TestOptions::from_record`]).

use std::path::PathBuf;
use std::time::Duration;

use cluster::DbKind;
use nemesis::faults::FaultKind;
use nemesis::schedule_file::ScheduleFile;
use report::run_dir::TestRecord;
use runner::workload::Workload;

/// `faultline test`'s options: `scripts/run-test`'s, with the same names.
/// Those a plan sets are unset until given, so that an option given here,
/// even an empty one, overrides the plan's.
#[derive(Clone, Debug, Default, PartialEq, clap::Args)]
pub struct TestOptions {
    /// The named plan (`faultline plan` lists them).
    #[arg(long, default_value = "quick")]
    pub plan: String,
    /// Which run of a matrix plan (0-based).
    #[arg(long)]
    pub plan_run: Option<usize>,
    /// How long the workload and the faults run (a bare number is seconds).
    #[arg(long)]
    pub time_limit: Option<String>,
    /// Comma-separated fault kinds, or none (`nemesis faults` lists them).
    #[arg(long)]
    pub faults: Option<String>,
    /// Mean time between and during faults (a bare number is seconds).
    #[arg(long)]
    pub interval: Option<String>,
    /// register, list-append, mixed, txn-append or txn-rw-register.
    #[arg(long)]
    pub workload: Option<String>,
    /// Concurrent clients, 1 to 1000.
    #[arg(long)]
    pub concurrency: Option<String>,
    /// Ops per second across all clients (0: as fast as they go).
    #[arg(long)]
    pub rate: Option<String>,
    /// Space-separated `checker run` workload options.
    #[arg(long, allow_hyphen_values = true)]
    pub workload_args: Option<String>,
    /// Extra `raftkv serve` flags for every node; replaces the plan's.
    #[arg(long, allow_hyphen_values = true)]
    pub node_args: Option<String>,
    /// The seed of the faults and the workload (random when not given).
    #[arg(long)]
    pub seed: Option<String>,
    /// The machines to test on (a cluster file); the local test hosts when
    /// not given.
    #[arg(long)]
    pub cluster: Option<PathBuf>,
    /// The run's name (its folder under results/); WORKLOAD-FAULTS by default.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep the nodes and hosts up afterwards.
    #[arg(long)]
    pub leave_running: bool,
    /// Put the data dirs on lossyfs even when no fault needs it.
    #[arg(long)]
    pub lossy_fs: bool,
    /// Plaintext nodes, peers unauthenticated, instead of mutual TLS.
    #[arg(long)]
    pub insecure: bool,
    /// The system under test: raftkv, etcd, or a FILE.json describing one
    /// by commands.
    #[arg(long, default_value = "raftkv")]
    pub db: String,
    /// How reads are served: raftkv's index (or the unsafe local, lease);
    /// etcd's linearizable or serializable; NATS's leader or direct.
    #[arg(long)]
    pub read_consistency: Option<String>,
    /// Replay this fault schedule (a run's schedule.json) instead of
    /// dealing faults: each fault at its recorded offset, drawn again from
    /// its seeds. --faults and --interval are then unused.
    #[arg(long, conflicts_with_all = ["faults", "interval"])]
    pub schedule: Option<PathBuf>,
}

/// A value the scenario cannot take: the option, the value, and what is
/// allowed.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{option} {value}: {allowed}")]
pub struct ScenarioError {
    pub option: &'static str,
    pub value: String,
    pub allowed: String,
}

pub(crate) fn refuse(option: &'static str, value: impl Into<String>, allowed: impl Into<String>) -> ScenarioError {
    ScenarioError { option, value: value.into(), allowed: allowed.into() }
}

/// One test, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// The system under test, as given (`raftkv`, `etcd` or a file), and
    /// what it is.
    pub db_arg: String,
    pub db: DbKind,
    pub plan: String,
    pub plan_run: usize,
    pub time_limit: Duration,
    pub faults: Vec<FaultKind>,
    pub interval: Duration,
    pub workload: Workload,
    pub concurrency: u32,
    pub rate: f64,
    pub workload_args: Vec<String>,
    /// raftkv's flags for every node (the read consistency among them).
    pub node_args: String,
    /// Reads served by the member alone, possibly stale: etcd's
    /// serializable reads, NATS's direct gets.
    pub serializable_reads: bool,
    pub seed: u64,
    pub cluster: Option<PathBuf>,
    /// The schedule replayed instead of faults dealt from the seed.
    pub schedule: Option<PathBuf>,
    pub lossy_fs: bool,
    pub insecure: bool,
    pub leave_running: bool,
}

/// A duration as run-test took it: a bare number is seconds, as in Jepsen.
fn duration(option: &'static str, s: &str) -> Result<Duration, ScenarioError> {
    let text = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { format!("{s}s") } else { s.to_string() };
    match flags::duration(&text) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(refuse(option, s, "not a duration like 30 (seconds), 30s, 500ms, 2m or 1h")),
    }
}

/// A duration written as the record and the other binaries take it:
/// whole seconds as `60s`, anything finer in milliseconds.
pub fn duration_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Scenario {
    /// The plan's run, overridden by every option given, validated.
    pub fn build(o: &TestOptions) -> Result<Scenario, ScenarioError> {
        let plan = plans::find(&o.plan).map_err(|e| refuse("--plan", &o.plan, e.to_string()))?;
        let plan_run = match o.plan_run {
            Some(r) if r < plan.runs.len() => r,
            Some(r) => {
                let runs = plan.runs.len();
                return Err(refuse(
                    "--plan-run",
                    r.to_string(),
                    format!("plan {} has {runs} run{}: 0..{}", plan.name, if runs == 1 { "" } else { "s" }, runs - 1),
                ));
            }
            None if plan.runs.len() == 1 => 0,
            None => {
                return Err(refuse(
                    "--plan",
                    plan.name,
                    format!(
                        "a matrix of {} runs: pick one with --plan-run 0..{}, or run them all with faultline matrix \
                         --plan {}",
                        plan.runs.len(),
                        plan.runs.len() - 1,
                        plan.name
                    ),
                ))
            }
        };
        let run = &plan.runs[plan_run];
        let given = |v: &Option<String>, plan: &str| v.clone().unwrap_or_else(|| plan.to_string());

        let time_limit = duration("--time-limit", &given(&o.time_limit, run.time_limit))?;
        let interval = duration("--interval", &given(&o.interval, run.interval))?;
        let concurrency_text = given(&o.concurrency, &run.concurrency.to_string());
        let concurrency = match concurrency_text.parse::<u32>() {
            Ok(c @ 1..=1000) => c,
            _ => return Err(refuse("--concurrency", concurrency_text, "must be a whole number from 1 to 1000")),
        };
        let rate_text = given(&o.rate, &run.rate.to_string());
        let rate = match rate_text.parse::<f64>() {
            Ok(r) if r.is_finite() && r >= 0.0 => r,
            _ => {
                return Err(refuse(
                    "--rate",
                    rate_text,
                    "must be a number of ops per second (0: as fast as the clients go)",
                ))
            }
        };
        let workload_text = given(&o.workload, run.workload);
        let workload = <Workload as clap::ValueEnum>::from_str(&workload_text, false).map_err(|_| {
            refuse("--workload", &workload_text, "use register, list-append, mixed, txn-append or txn-rw-register")
        })?;
        let seed = match &o.seed {
            None => rand_seed(),
            Some(s) => s.parse::<u64>().map_err(|_| refuse("--seed", s, "must be a non-negative integer"))?,
        };
        if let Some(name) = &o.name {
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return Err(refuse("--name", name, "must not be empty, contain / or start with ."));
            }
        }
        if let Some(c) = &o.cluster {
            if !c.is_file() {
                return Err(refuse("--cluster", c.display().to_string(), "no such file"));
            }
        }
        if DbKind::names_file(&o.db) && !std::path::Path::new(&o.db).is_file() {
            return Err(refuse("--db", &o.db, "no such file (a system described by commands: docs/cluster-format.md)"));
        }
        let db = DbKind::from_arg(&o.db).map_err(|e| refuse("--db", &o.db, e))?;
        if db == DbKind::Nats && workload.model().is_none() {
            return Err(refuse(
                "--workload",
                &workload_text,
                "NATS JetStream 2.9 has no multi-key transactions; use register, list-append or mixed",
            ));
        }

        // Node settings: a plan's are raftkv's flags, left out for another
        // system; --node-args replaces them.
        let mut node_args = match (&o.node_args, &db) {
            (Some(given), _) => given.clone(),
            (None, DbKind::Raftkv) => run.node_args.to_string(),
            (None, _) => String::new(),
        };
        let mut serializable_reads = false;
        match (&db, o.read_consistency.as_deref()) {
            (_, None) => {}
            (DbKind::Raftkv, Some(mode @ ("index" | "local" | "lease"))) => {
                node_args =
                    format!("--read-consistency {mode}{}{node_args}", if node_args.is_empty() { "" } else { " " });
            }
            (DbKind::Raftkv, Some(mode)) => {
                return Err(refuse(
                    "--read-consistency",
                    mode,
                    "raftkv's are index, local and lease (raftkv serve --help)",
                ))
            }
            (DbKind::Etcd, Some("linearizable")) => {}
            (DbKind::Etcd, Some("serializable")) => serializable_reads = true,
            (DbKind::Etcd, Some(mode)) => {
                return Err(refuse("--read-consistency", mode, "etcd's are linearizable and serializable"))
            }
            (DbKind::Nats, Some("leader")) => {}
            (DbKind::Nats, Some("direct")) => serializable_reads = true,
            (DbKind::Nats, Some(mode)) => {
                return Err(refuse(
                    "--read-consistency",
                    mode,
                    "NATS's are leader (the stream leader's read) and direct (any replica's, possibly stale)",
                ))
            }
            (DbKind::Command(_), Some(mode)) => return Err(refuse(
                "--read-consistency",
                mode,
                "is for raftkv, etcd and nats; give a system described by commands its flags in its start command or \
                     --node-args",
            )),
        }

        let (faults, faults_text) = match &o.schedule {
            Some(path) => {
                let file = ScheduleFile::load(path, &db)
                    .map_err(|e| refuse("--schedule", path.display().to_string(), e.to_string()))?;
                let kinds = file.kinds();
                let text = kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",");
                (kinds, if text.is_empty() { "none".to_string() } else { text })
            }
            None => {
                let text = given(&o.faults, run.faults);
                let faults = FaultKind::parse_list(&text).map_err(|e| refuse("--faults", &text, e))?;
                if let Some(why) = faults.iter().find_map(|k| k.unfit_for(&db)) {
                    return Err(refuse("--faults", &text, format!("not on {}: {why}", db.name())));
                }
                (faults, text)
            }
        };
        let workload_args = given(&o.workload_args, run.workload_args).split_whitespace().map(String::from).collect();
        let lossy_fs = o.lossy_fs || faults.iter().any(|k| k.needs_lossyfs());
        let name = o.name.clone().unwrap_or_else(|| format!("{workload_text}-{}", faults_text.replace(',', "+")));
        Ok(Scenario {
            name,
            db_arg: o.db.clone(),
            db,
            plan: plan.name.to_string(),
            plan_run,
            time_limit,
            faults,
            interval,
            workload,
            concurrency,
            rate,
            workload_args,
            node_args,
            serializable_reads,
            seed,
            cluster: o.cluster.clone(),
            schedule: o.schedule.clone(),
            lossy_fs,
            insecure: o.insecure,
            leave_running: o.leave_running,
        })
    }

    /// The scenario in one line: name, workload, system, plan, faults,
    /// load, time limit and seed.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} on {}, plan {} run {}, {} faults every {}, {} clients at {} ops/s, {}, seed {}",
            self.name,
            self.workload_name(),
            self.db.name(),
            self.plan,
            self.plan_run,
            self.faults_arg(),
            duration_text(self.interval),
            self.concurrency,
            self.rate,
            duration_text(self.time_limit),
            self.seed
        )
    }

    /// The faults as the nemesis takes them: `partition,kill`, or `none`.
    pub fn faults_arg(&self) -> String {
        if self.faults.is_empty() {
            "none".into()
        } else {
            self.faults.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
        }
    }

    /// Whether the nodes run under the clock shim.
    pub fn faked_clock(&self) -> bool {
        self.faults.iter().any(|k| k.needs_clock_shim())
    }

    pub fn workload_name(&self) -> String {
        clap::ValueEnum::to_possible_value(&self.workload).expect("every workload has a name").get_name().to_string()
    }

    /// `test.json` for this scenario, with the run's status and its
    /// binaries' versions.
    pub fn record(&self, timestamp: &str, git_commit: &str) -> TestRecord {
        TestRecord {
            name: self.name.clone(),
            db: self.db.name().to_string(),
            timestamp: timestamp.to_string(),
            status: report::run_dir::RunStatus::Running,
            exit_code: None,
            time_limit: duration_text(self.time_limit),
            faults: self.faults_arg(),
            workload: self.workload_name(),
            concurrency: u64::from(self.concurrency),
            rate: self.rate,
            interval: duration_text(self.interval),
            seed: self.seed,
            cluster: self.cluster.as_ref().map_or("local test hosts".into(), |c| c.display().to_string()),
            node_args: self.node_args.clone(),
            plan: self.plan.clone(),
            plan_run: self.plan_run,
            workload_args: self.workload_args.join(" "),
            leave_running: self.leave_running,
            git_commit: git_commit.to_string(),
            versions: Vec::new(),
            db_arg: self.db_arg.clone(),
            lossy_fs: self.lossy_fs,
            insecure: self.insecure,
            serializable_reads: self.serializable_reads,
            schedule: self.schedule.clone(),
        }
    }
}

impl TestOptions {
    /// The options of the run recorded at `path`: a run folder, or its
    /// `test.json` (any other file is refused, rather than read beside).
    pub fn replaying(path: &std::path::Path) -> Result<TestOptions, String> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else if path.file_name() == Some("test.json".as_ref()) {
            path.parent().map(PathBuf::from).unwrap_or_default()
        } else {
            return Err(format!("--replay {}: give a run folder or its test.json", path.display()));
        };
        let record = report::run_dir::read_test(&dir).map_err(|e| format!("--replay {}: {e}", path.display()))?;
        Ok(TestOptions::from_record(&record))
    }

    /// The options that rebuild a recorded run: its plan and run, and every
    /// value it ran with given explicitly, so that neither a changed plan
    /// nor a random seed can make the replay another test.
    pub fn from_record(r: &TestRecord) -> TestOptions {
        let cluster = (r.cluster != "local test hosts").then(|| PathBuf::from(&r.cluster));
        TestOptions {
            plan: if r.plan.is_empty() { "quick".into() } else { r.plan.clone() },
            plan_run: Some(r.plan_run),
            time_limit: Some(r.time_limit.clone()),
            faults: Some(r.faults.clone()),
            interval: Some(r.interval.clone()),
            workload: Some(r.workload.clone()),
            concurrency: Some(r.concurrency.to_string()),
            rate: Some(r.rate.to_string()),
            workload_args: Some(r.workload_args.clone()),
            node_args: Some(r.node_args.clone()),
            seed: Some(r.seed.to_string()),
            cluster,
            name: Some(r.name.clone()),
            leave_running: r.leave_running,
            lossy_fs: r.lossy_fs,
            insecure: r.insecure,
            db: if r.db_arg.is_empty() { r.db.clone() } else { r.db_arg.clone() },
            read_consistency: r
                .serializable_reads
                .then(|| if r.db == "nats" { "direct" } else { "serializable" }.to_string()),
            // A replayed schedule stands for the faults and the interval.
            schedule: r.schedule.clone(),
        }
    }
}

/// A seed for a run that was given none; recorded, so the run can be
/// replayed.
fn rand_seed() -> u64 {
    use rand::Rng;
    rand::thread_rng().gen_range(0..1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(f: impl FnOnce(&mut TestOptions)) -> TestOptions {
        let mut o = TestOptions { plan: "quick".into(), db: "raftkv".into(), ..TestOptions::default() };
        f(&mut o);
        o
    }

    #[test]
    fn a_plan_gives_every_value_and_an_option_overrides_it() {
        let s = Scenario::build(&opts(|o| o.seed = Some("7".into()))).unwrap();
        assert_eq!((s.time_limit, s.interval), (Duration::from_secs(60), Duration::from_secs(8)));
        assert_eq!(
            (s.faults_arg(), s.workload, s.concurrency, s.seed),
            ("partition,kill,pause".into(), Workload::Register, 10, 7)
        );
        assert_eq!(s.name, "register-partition+kill+pause");
        let s = Scenario::build(&opts(|o| {
            o.plan = "hunt".into();
            o.time_limit = Some("30".into());
            o.faults = Some("none".into());
        }))
        .unwrap();
        assert_eq!((s.time_limit, s.faults_arg()), (Duration::from_secs(30), "none".into()));
        assert!(s.node_args.contains("--snapshot-threshold"), "hunt's node settings: {}", s.node_args);
        // Another system runs without raftkv's node settings.
        let s = Scenario::build(&opts(|o| {
            o.plan = "hunt".into();
            o.db = "etcd".into();
            o.faults = Some("partition".into());
        }))
        .unwrap();
        assert_eq!(s.node_args, "");
    }

    #[test]
    fn every_bad_value_is_refused_naming_the_option_the_value_and_what_is_allowed() {
        let cases: Vec<(TestOptions, &str, &str)> = vec![
            (opts(|o| o.plan = "nope".into()), "--plan nope", "quick"),
            (opts(|o| o.plan = "nightly".into()), "--plan nightly", "--plan-run"),
            (opts(|o| o.time_limit = Some("soon".into())), "--time-limit soon", "30s"),
            (opts(|o| o.interval = Some("0".into())), "--interval 0", "500ms"),
            (opts(|o| o.concurrency = Some("0".into())), "--concurrency 0", "1 to 1000"),
            (opts(|o| o.rate = Some("-1".into())), "--rate -1", "ops per second"),
            (opts(|o| o.workload = Some("bank".into())), "--workload bank", "txn-append"),
            (opts(|o| o.faults = Some("flood".into())), "--faults flood", "partition"),
            (opts(|o| o.seed = Some("x".into())), "--seed x", "non-negative"),
            (opts(|o| o.name = Some("a/b".into())), "--name a/b", "/"),
            (opts(|o| o.db = "mongo".into()), "--db mongo", "raftkv, etcd"),
            (opts(|o| o.db = "/no/such.json".into()), "--db /no/such.json", "no such file"),
            (opts(|o| o.plan_run = Some(5)), "--plan-run 5", "plan quick has 1 run: 0..0"),
            (opts(|o| o.read_consistency = Some("stale".into())), "--read-consistency stale", "index, local and lease"),
            (
                opts(|o| {
                    o.db = "etcd".into();
                    o.faults = Some("clock".into());
                }),
                "--faults clock",
                "not on etcd",
            ),
            (
                opts(|o| {
                    o.db = "nats".into();
                    o.workload = Some("txn-append".into());
                }),
                "--workload txn-append",
                "no multi-key transactions",
            ),
            (
                opts(|o| {
                    o.db = "nats".into();
                    o.read_consistency = Some("serializable".into());
                }),
                "--read-consistency serializable",
                "leader",
            ),
            (
                opts(|o| {
                    o.db = "nats".into();
                    o.faults = Some("clock".into());
                }),
                "--faults clock",
                "not on nats",
            ),
            (opts(|o| o.cluster = Some("/nonexistent/cluster.json".into())), "--cluster /nonexistent", "no such file"),
            (
                opts(|o| o.schedule = Some("/nonexistent/schedule.json".into())),
                "--schedule /nonexistent/schedule.json",
                "No such file",
            ),
        ];
        for (o, names, allowed) in cases {
            let e = Scenario::build(&o).unwrap_err().to_string();
            assert!(e.starts_with(names) && e.contains(allowed), "{e}");
        }
    }

    #[test]
    fn a_recorded_scenario_rebuilds_the_same() {
        let s = Scenario::build(&opts(|o| {
            o.plan = "hunt".into();
            o.read_consistency = Some("lease".into());
            o.insecure = true;
        }))
        .unwrap();
        let record = s.record("20261203T000000Z", "abc");
        let json = serde_json::to_string(&record).unwrap();
        let back: TestRecord = serde_json::from_str(&json).unwrap();
        let replayed = Scenario::build(&TestOptions::from_record(&back)).unwrap();
        assert_eq!(replayed, s);
    }

    /// A schedule stands for the faults: its kinds are the run's (so
    /// lossyfs is mounted for its power failures), and the record replays
    /// it.
    #[test]
    fn a_schedule_gives_the_faults_and_is_recorded() {
        use nemesis::schedule_file::{ScheduleFile, Step};
        use rand::SeedableRng;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedule.json");
        let kind = FaultKind::named("lose-unsynced").unwrap();
        let fault = kind.choose(&mut rand::rngs::StdRng::seed_from_u64(9)).value();
        let step =
            Step { lane: 0, at_ms: 500, kind: kind.name().into(), fault, choice_seed: 9, apply_seed: 1, hold_ms: 900 };
        ScheduleFile { seed: Some(4), steps: vec![step] }.write(&path).unwrap();
        let s = Scenario::build(&opts(|o| o.schedule = Some(path.clone()))).unwrap();
        assert_eq!((s.faults_arg(), s.lossy_fs), ("lose-unsynced".into(), true));
        let replayed = Scenario::build(&TestOptions::from_record(&s.record("20261203T000000Z", "abc"))).unwrap();
        assert_eq!(replayed.schedule, Some(path));
        let e = Scenario::build(&opts(|o| {
            o.db = "etcd".into();
            o.schedule = Some(dir.path().join("schedule.json"));
        }));
        assert!(e.is_ok(), "etcd takes a power failure: {e:?}");
    }

    #[test]
    fn a_replay_takes_a_run_folder_or_its_test_json_and_nothing_else() {
        let s = Scenario::build(&opts(|o| o.seed = Some("11".into()))).unwrap();
        let dir = tempfile::tempdir().unwrap();
        report::run_dir::write_test(dir.path(), &s.record("20261203T000000Z", "abc")).unwrap();
        for path in [dir.path().to_path_buf(), dir.path().join("test.json")] {
            assert_eq!(Scenario::build(&TestOptions::replaying(&path).unwrap()).unwrap(), s);
        }
        let e = TestOptions::replaying(&dir.path().join("results.json")).unwrap_err();
        assert!(e.ends_with("results.json: give a run folder or its test.json"), "{e}");
        let e = TestOptions::replaying(&dir.path().join("nowhere")).unwrap_err();
        assert!(e.contains("give a run folder"), "{e}");
    }

    #[test]
    fn power_failures_and_full_disks_put_the_data_dirs_on_lossyfs_and_clock_faults_fake_the_clock() {
        let s = Scenario::build(&opts(|o| o.faults = Some("lose-unsynced".into()))).unwrap();
        assert!(s.lossy_fs && !s.faked_clock());
        let s = Scenario::build(&opts(|o| o.faults = Some("clock,partition".into()))).unwrap();
        assert!(!s.lossy_fs && s.faked_clock());
    }
}
