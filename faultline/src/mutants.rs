//! `faultline mutants`: the mutation suite, how often the rig catches
//! realistic bugs planted in the node. Each `mutants/NAME.patch` is one
//! small bug, whose head (its `#` lines) says its class, what it does and,
//! when it needs one, the plan that can see it (`# plan: txn`). For each
//! mutant the suite applies it to a scratch worktree of HEAD, builds that
//! raftkv into a target dir of its own (the main binaries are never
//! touched), and runs its plan over N seeds with that node beside this
//! build's nemesis and checker; the summary counts a mutant caught when
//! every run of it is invalid.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use report::run_dir::Verdict;

use crate::batch::{self, Batch, BatchArgs, Files};
use crate::file_lock::{FileLock, LockError};
use crate::run::{self, Bins, BROKEN};
use crate::scenario::{refuse, Scenario, ScenarioError, TestOptions};
use crate::shrink;

/// One planted bug.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutant {
    pub name: String,
    pub patch: PathBuf,
    /// Its head without the `# `: the class first, then the bug.
    pub head: Vec<String>,
    /// The plan its head names, if any.
    pub plan: Option<String>,
}

/// `faultline mutants`' options.
#[derive(Clone, Debug, clap::Args)]
pub struct MutantsOptions {
    /// The plan of every mutant's runs; else the one its patch names,
    /// else hunt.
    #[arg(long)]
    pub plan: Option<String>,
    /// Seeds per mutant; its plan's when not given.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// Overrides every run's time limit.
    #[arg(long)]
    pub time_limit: Option<String>,
    /// Overrides the plan's faults (the durability mutants need
    /// lose-unsynced: a kill cannot lose what was never synced).
    #[arg(long)]
    pub faults: Option<String>,
    /// Overrides the plan's workload.
    #[arg(long)]
    pub workload: Option<String>,
    /// Overrides the plan's workload options.
    #[arg(long, allow_hyphen_values = true)]
    pub workload_args: Option<String>,
    /// Overrides the plan's node settings.
    #[arg(long, allow_hyphen_values = true)]
    pub node_args: Option<String>,
    /// Only these mutants (comma-separated names; `--list` shows them).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Print every mutant and its bug, and exit.
    #[arg(long)]
    pub list: bool,
    /// Only check that every patch applies to this tree, and exit.
    #[arg(long)]
    pub check: bool,
    /// After each mutant's runs, shrink its first failing run (as
    /// `faultline shrink`, on the mutant's own binaries) into OUT-shrinks/,
    /// whose shrinks.md is the table of every shrink.
    #[arg(long)]
    pub shrink: bool,
    /// With --shrink: replays of each shrunk schedule, every one run, for
    /// its replay rate.
    #[arg(long, default_value_t = 10, requires = "shrink")]
    pub confirm: u32,
}

/// Why the suite could not go on.
#[derive(Debug, thiserror::Error)]
pub enum MutantsError {
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Failed(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MutantsError {
    let what = what.into();
    move |source| MutantsError::Io { what, source }
}

/// Every mutant in `dir` (`mutants/`), by name.
pub fn all(dir: &Path) -> Result<Vec<Mutant>, MutantsError> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(io(format!("{}: cannot list the mutants (run from the repository's root)", dir.display())))?;
    for e in entries {
        let path = e.map_err(io(dir.display().to_string()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".patch")) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(io(path.display().to_string()))?;
        let head: Vec<String> = text
            .lines()
            .take_while(|l| !l.starts_with("diff "))
            .filter_map(|l| l.strip_prefix('#'))
            .map(|l| l.strip_prefix(' ').unwrap_or(l).to_string())
            .collect();
        let plan = head.iter().find_map(|l| l.strip_prefix("plan:")).map(|p| p.trim().to_string());
        found.push(Mutant { name: name.to_string(), patch: path, head, plan });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

impl Mutant {
    /// What the patch breaks: its head's lines after `class:` and `plan:`,
    /// as one sentence.
    pub fn description(&self) -> String {
        let lines = self.head.iter().filter(|l| !l.starts_with("class:") && !l.starts_with("plan:"));
        lines.map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
    }
}

/// The mutants `only` names (all when empty); an unknown name is refused.
pub fn select(all: Vec<Mutant>, only: &[String]) -> Result<Vec<Mutant>, ScenarioError> {
    for o in only {
        if !all.iter().any(|m| &m.name == o) {
            return Err(refuse("--only", o, "no mutant of that name (faultline mutants --list)"));
        }
    }
    Ok(all.into_iter().filter(|m| only.is_empty() || only.contains(&m.name)).collect())
}

/// The suite's runs, in order: each mutant over its seeds, named
/// `mutant-NAME-sSEED`, with the mutant each belongs to.
pub fn runs(mutants: &[Mutant], o: &MutantsOptions) -> Result<Vec<(usize, TestOptions)>, ScenarioError> {
    let mut out = Vec::new();
    for (m, mutant) in mutants.iter().enumerate() {
        let plan_name = o.plan.clone().or_else(|| mutant.plan.clone()).unwrap_or_else(|| "hunt".into());
        let plan = plans::find(&plan_name).map_err(|e| refuse("--plan", &plan_name, e.to_string()))?;
        for seed in 1..=o.seeds.unwrap_or(u64::from(plan.seeds)) {
            out.push((
                m,
                TestOptions {
                    plan: plan_name.clone(),
                    seed: Some(seed.to_string()),
                    name: Some(format!("mutant-{}-s{seed}", mutant.name)),
                    time_limit: o.time_limit.clone(),
                    faults: o.faults.clone(),
                    workload: o.workload.clone(),
                    workload_args: o.workload_args.clone(),
                    node_args: o.node_args.clone(),
                    cluster: o.batch.cluster.clone(),
                    db: "raftkv".into(),
                    ..TestOptions::default()
                },
            ));
        }
    }
    Ok(out)
}

/// Whether each patch applies to this tree: one line per mutant.
pub fn check(mutants: &[Mutant]) -> bool {
    let mut ok = true;
    for m in mutants {
        let out = std::process::Command::new("git").arg("apply").arg("--check").arg(&m.patch).output();
        match out {
            Ok(o) if o.status.success() => println!("mutants: {} applies", m.name),
            Ok(o) => {
                eprintln!("mutants: {} NO LONGER APPLIES to this tree:", m.name);
                eprint!("{}", String::from_utf8_lossy(&o.stderr));
                ok = false;
            }
            Err(e) => {
                eprintln!("mutants: git apply did not run: {e}");
                ok = false;
            }
        }
    }
    ok
}

/// The scratch worktree of HEAD the mutants are applied in: removed on
/// every way out (its target dir stays, as a build cache).
pub struct Worktree {
    pub path: PathBuf,
}

fn git(args: &[&str], dir: Option<&Path>) -> Result<(), MutantsError> {
    let mut cmd = std::process::Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let out = cmd.args(args).output().map_err(io("git did not run"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(MutantsError::Failed(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

impl Worktree {
    pub fn add(path: PathBuf) -> Result<Worktree, MutantsError> {
        let w = Worktree { path };
        w.remove();
        git(&["worktree", "add", "--detach", &w.path.display().to_string(), "HEAD"], None)?;
        Ok(w)
    }

    /// Back to HEAD, then `patch` applied.
    pub fn apply(&self, patch: &Path) -> Result<(), MutantsError> {
        git(&["checkout", "--quiet", "--force", "--detach", "HEAD"], Some(&self.path))?;
        git(&["clean", "-fdq"], Some(&self.path))?;
        let patch = patch.canonicalize().map_err(io(patch.display().to_string()))?;
        git(&["apply", &patch.display().to_string()], Some(&self.path))
            .map_err(|e| MutantsError::Failed(format!("{e} (faultline mutants --check)")))
    }

    fn remove(&self) {
        let _ = git(&["worktree", "remove", "--force", &self.path.display().to_string()], None);
        let _ = git(&["worktree", "prune"], None);
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The release dir of this checkout's build: `$CARGO_TARGET_DIR/release`,
/// else `target/release`.
pub fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from).join("release")
}

/// Seeds the mutants' own target dir from this checkout's release dir,
/// once: the compiled dependencies (deps/ and build/, some 30 GB with
/// RocksDB's objects) hard-linked rather than copied, since a copy can fill
/// the disk. Cargo never writes into a fresh unit's files, and a mutant's
/// own units (a worktree elsewhere, so other hashes) go to new files. The
/// fingerprints, which cargo does rewrite, are copied.
pub fn seed_target(target: &Path) -> Result<(), MutantsError> {
    if target.join("release").is_dir() {
        return Ok(());
    }
    let from = release_dir();
    println!(
        "mutants: seeding {} from {} (dependencies linked, fingerprints copied)",
        target.display(),
        from.display()
    );
    let new = target.with_extension("new");
    let _ = std::fs::remove_dir_all(&new);
    let seeded = (|| {
        for d in ["deps", "build"] {
            batch::mirror(&from.join(d), &new.join("release").join(d), Files::Link)?;
        }
        batch::mirror(&from.join(".fingerprint"), &new.join("release/.fingerprint"), Files::Copy)?;
        std::fs::rename(&new, target)
    })();
    seeded.map_err(io(format!("cannot seed {} from {}", target.display(), from.display())))
}

/// Builds the worktree's raftkv into `target`, its output into `log`:
/// the binary's path. Stops (killing cargo) on SIGINT or SIGTERM.
pub async fn build(work: &Path, target: &Path, log: &Path) -> Result<PathBuf, MutantsError> {
    let file = std::fs::File::create(log).map_err(io(log.display().to_string()))?;
    let err = file.try_clone().map_err(io(log.display().to_string()))?;
    let mut cargo = tokio::process::Command::new("cargo")
        .args(["build", "--release", "-q", "-p", "raftkv"])
        .current_dir(work)
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(io("cargo did not start"))?;
    tokio::select! {
        status = cargo.wait() => match status {
            Ok(s) if s.success() => Ok(target.join("release/raftkv")),
            _ => Err(MutantsError::Failed(format!("the mutant does not build; see {}", log.display()))),
        },
        () = crate::interrupt::wait() => Err(MutantsError::Failed("interrupted".into())),
    }
}

/// Lists, checks, or runs the suite: 0 when every mutant was caught in
/// every run (or every patch applies), 1 otherwise, 3 when the suite itself
/// failed.
pub async fn main(o: MutantsOptions) -> u8 {
    match suite(o).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mutants: {e}");
            BROKEN
        }
    }
}

async fn suite(o: MutantsOptions) -> Result<u8, MutantsError> {
    let mutants = select(all(Path::new("mutants"))?, &o.only)?;
    if o.list {
        for m in &mutants {
            println!("{}:", m.name);
            for l in &m.head {
                println!("  {l}");
            }
        }
        return Ok(0);
    }
    if o.check {
        return Ok(u8::from(!check(&mutants)));
    }
    let options = runs(&mutants, &o)?;
    let mut kept: Vec<(usize, Scenario)> = Vec::new();
    for (place, (m, opts)) in options.iter().enumerate() {
        let scenario = Scenario::build(opts)?;
        if o.batch.shard.keeps(place) {
            kept.push((*m, scenario));
        }
    }
    if o.batch.dry_run {
        batch::show("mutants", &kept.into_iter().map(|(_, s)| s).collect::<Vec<_>>());
        return Ok(0);
    }
    let main_bins = run::require_root().and_then(|()| Bins::find()).map_err(|e| MutantsError::Failed(e.to_string()))?;
    let mut batch = Batch::create("mutants", "mutants", o.batch.out.clone()).map_err(MutantsError::Failed)?;
    let cache = std::env::current_dir().map_err(io("the current folder"))?.join("target/mutants");
    std::fs::create_dir_all(&cache).map_err(io(format!("cannot create {}", cache.display())))?;
    // One batch at a time per checkout: a second would check out, build in
    // and in the end remove the same scratch worktree under the first.
    let lock = FileLock::take(&cache.join("lock")).map_err(|e| match e {
        LockError::Held { .. } => MutantsError::Failed(format!(
            "another mutants batch is using {} ({e}); wait for it, or run this one from another worktree",
            cache.display()
        )),
        LockError::Io { lock, source } => MutantsError::Io { what: format!("cannot open the lock {lock}"), source },
    })?;
    lock.name_holder(&format!("pid {}, batch {}", std::process::id(), batch.out.display()));
    let target = cache.join("target");
    seed_target(&target)?;
    let work = Worktree::add(cache.join("work"))?;
    let shrinks_dir = PathBuf::from(format!("{}-shrinks", batch.out.display()));
    let mut shrinks = Vec::new();
    for (m, mutant) in mutants.iter().enumerate() {
        let mine: Vec<Scenario> = kept.iter().filter(|(k, _)| *k == m).map(|(_, s)| s.clone()).collect();
        if mine.is_empty() || crate::interrupt::raised() {
            continue;
        }
        println!("mutants: {}: {}", mutant.name, mutant.head.iter().skip(1).cloned().collect::<Vec<_>>().join(" "));
        work.apply(&mutant.patch)?;
        let node = build(&work.path, &target, &batch.out.join(format!("{}.build.log", mutant.name))).await?;
        // The binaries of this mutant's runs, in the cache: a node binary
        // with its debug info is some 500 MB, too much to keep per mutant.
        let bins =
            main_bins.copy_to(&cache.join("bin"), Some(&node)).map_err(|e| MutantsError::Failed(e.to_string()))?;
        batch::run_all(&mut batch, mine, &bins).await;
        if o.shrink && !crate::interrupt::raised() {
            match shrink_first_failure(&batch.out, &shrinks_dir, &mutant.name, &bins, &o).await {
                Ok(row) => {
                    shrinks.push(row);
                    write_shrinks(&shrinks_dir, &shrinks)?;
                }
                // Stopped partway: no row, and the runs so far are
                // summarised below.
                Err(e) if crate::interrupt::raised() => println!("mutants: {e}"),
                Err(e) => return Err(e),
            }
        }
    }
    drop(work);
    if crate::interrupt::raised() {
        batch.summarise(Verdict::Invalid);
        return Ok(BROKEN);
    }
    Ok(batch.summarise(Verdict::Invalid))
}

/// Shrinks the first failing run of `mutant` in the batch's folder `out`,
/// on its binaries, into `shrinks/NAME`. A mutant no run caught has a row
/// with nothing shrunk.
async fn shrink_first_failure(
    out: &Path,
    shrinks: &Path,
    mutant: &str,
    bins: &Bins,
    o: &MutantsOptions,
) -> Result<shrink::Row, MutantsError> {
    let Some(run) = first_failure(out, mutant)? else {
        println!("mutants: {mutant}: no run failed, nothing to shrink");
        return Ok(shrink::Row { name: mutant.into(), shrunk: None });
    };
    let options = shrink::ShrinkOptions {
        run,
        replays: 3,
        cluster: o.batch.cluster.clone(),
        out: Some(shrinks.join(mutant)),
        confirm: o.confirm,
        dry_run: false,
    };
    let shrunk = shrink::shrink(&options, bins).await.map_err(|e| MutantsError::Failed(format!("{mutant}: {e}")))?;
    Ok(shrink::Row { name: mutant.into(), shrunk })
}

/// The run folder of the lowest seed of `mutant` in the suite's folder
/// `out` that failed (invalid, or a node failure).
fn first_failure(out: &Path, mutant: &str) -> Result<Option<PathBuf>, MutantsError> {
    let prefix = format!("mutant-{mutant}-s");
    let mut runs: Vec<(u64, PathBuf)> = std::fs::read_dir(out)
        .map_err(io(out.display().to_string()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            Some((name.strip_prefix(&prefix)?.parse().ok()?, e.path()))
        })
        .collect();
    runs.sort();
    Ok(runs
        .into_iter()
        .filter_map(|(_, named)| shrink::run_folder(&named))
        .find(|dir| report::run_dir::read_test(dir).is_ok_and(|t| t.verdict().meets(Verdict::Invalid))))
}

/// `shrinks.json` and `shrinks.md` (the table) in `dir`, rewritten after
/// every mutant so that an interrupted suite keeps what it shrank.
fn write_shrinks(dir: &Path, rows: &[shrink::Row]) -> Result<(), MutantsError> {
    std::fs::create_dir_all(dir).map_err(io(dir.display().to_string()))?;
    let table = shrink::table(rows);
    std::fs::write(dir.join("shrinks.json"), serde_json::to_vec_pretty(rows).expect("serialises"))
        .and_then(|()| std::fs::write(dir.join("shrinks.md"), &table))
        .map_err(io(dir.display().to_string()))?;
    print!("{table}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--shrink` takes the lowest failing seed of the mutant (seed 10
    /// after seed 9, by number), not a valid run nor another mutant's.
    #[test]
    fn the_run_shrunk_is_the_mutants_lowest_failing_seed() {
        let out = tempfile::tempdir().unwrap();
        let options = TestOptions { plan: "quick".into(), db: "raftkv".into(), ..TestOptions::default() };
        let record = Scenario::build(&options).unwrap().record("20260101T000000Z", "abc");
        let run = |name: &str, code: i32| {
            let dir = out.path().join(name).join("20260101T000000Z");
            std::fs::create_dir_all(&dir).unwrap();
            let r = report::run_dir::TestRecord {
                status: report::run_dir::RunStatus::Done,
                exit_code: Some(code),
                ..record.clone()
            };
            report::run_dir::write_test(&dir, &r).unwrap();
            dir
        };
        run("mutant-a-s1", 0);
        let ten = run("mutant-a-s10", 1);
        run("mutant-a-s9", 0);
        run("mutant-ab-s2", 1);
        assert_eq!(first_failure(out.path(), "a").unwrap(), Some(ten));
        let four = run("mutant-a-s4", report::run_dir::NODE_FAILED_EXIT);
        assert_eq!(first_failure(out.path(), "a").unwrap(), Some(four));
        assert_eq!(first_failure(out.path(), "b").unwrap(), None);
    }

    fn repo_mutants() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("mutants")
    }

    #[test]
    fn every_mutant_has_a_class_and_a_transaction_mutant_names_its_plan() {
        let all = all(&repo_mutants()).unwrap();
        assert!(all.len() >= 10, "{all:?}");
        for m in &all {
            assert!(m.head.first().is_some_and(|l| l.starts_with("class:")), "{}: {:?}", m.name, m.head);
        }
        let txn = all.iter().find(|m| m.name == "txn-not-atomic").unwrap();
        assert_eq!(txn.plan.as_deref(), Some("txn"));
        // The bugs that need exact timing run under the failpoint plan.
        let acks = all.iter().find(|m| m.name == "acks-before-persist").unwrap();
        assert_eq!(acks.plan.as_deref(), Some("deep"));
        let e = select(all, &["nope".into()]).unwrap_err().to_string();
        assert!(e.starts_with("--only nope: no mutant of that name"), "{e}");
    }
}
