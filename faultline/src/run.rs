//! One test run, from hosts to verdict, as Jepsen's `run!` composes it:
//! hold the host set, make the run folder and its `test.json`, bring the
//! hosts up, describe the cluster, install and start fresh nodes, run the
//! nemesis and the clients together, then heal, fetch the logs, stop the
//! nodes, take the hosts down, record the outcome and render the report.
//!
//! Each step is one of the rig's own commands (`nemesis`, `checker`), run
//! as a child process, so that a step's output and failure are its own and
//! the nemesis can heal on its own signal. What is undone at the end
//! ([`Run::finish`]) is undone on every way out: a failed step, SIGINT or
//! SIGTERM.
//!
//! Exit codes: 0 valid, 1 invalid, 2 unknown, 3 the run itself broke. When
//! the checker found the history invalid, a failure of the rig afterwards
//! does not hide it: the system's failure wins.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use cluster::DbKind;
use report::run_dir::{BinaryVersion, RunStatus};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::file_lock::{FileLock, LockError};
use crate::scenario::{duration_text, Scenario};

pub const VALID: u8 = 0;
pub const INVALID: u8 = 1;
pub const UNKNOWN: u8 = 2;
pub const BROKEN: u8 = 3;
/// The system failed beyond its history: a node panicked, would not come
/// back, or the cluster served no final read (`report::health`).
pub const NODE_FAILED: u8 = report::run_dir::NODE_FAILED_EXIT as u8;

/// Why a run could not start: nothing was set up, nothing needs undoing.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("needs root (network namespaces, iptables, node processes); run it with sudo")]
    NotRoot,
    #[error("{0}")]
    Binaries(String),
    #[error("another run holds this host set: {holder} (lock {lock})")]
    Held { holder: String, lock: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// The rig's binaries, all in one folder: beside `faultline` itself, or
/// `$FAULTLINE_BIN_DIR` (prebuilt binaries, as the nightly matrix and the
/// mutation suite use).
#[derive(Clone, Debug)]
pub struct Bins {
    dir: PathBuf,
}

/// What a run needs from the build: the node, the nemesis, the checker and
/// the helpers the nemesis installs beside the node.
const NEEDED: [&str; 5] = ["raftkv", "nemesis", "checker", "lossyfs", "libclockshim.so"];

impl Bins {
    /// The binaries of `$FAULTLINE_BIN_DIR`, else of the folder
    /// `faultline` runs from.
    pub fn find() -> Result<Bins, StartError> {
        Bins::at(Bins::folder()?)
    }

    /// `$FAULTLINE_BIN_DIR`, else the folder `faultline` runs from; not
    /// checked.
    pub fn folder() -> Result<PathBuf, StartError> {
        match std::env::var_os("FAULTLINE_BIN_DIR") {
            Some(d) => Ok(PathBuf::from(d)),
            None => std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(Path::to_path_buf))
                .ok_or_else(|| StartError::Binaries("cannot tell where faultline is".into())),
        }
    }

    /// The binaries in `dir`, every one of them there.
    pub fn at(dir: PathBuf) -> Result<Bins, StartError> {
        if let Some(missing) = NEEDED.iter().map(|b| dir.join(b)).find(|p| !p.exists()) {
            return Err(StartError::Binaries(format!("{} is missing", missing.display())));
        }
        Ok(Bins { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies the binaries into `dir` (each written beside and renamed, so
    /// a reader never sees half a file), with `node` as raftkv when given:
    /// the runs of a batch then use the same binaries even if the build
    /// changes meanwhile.
    pub fn copy_to(&self, dir: &Path, node: Option<&Path>) -> Result<Bins, StartError> {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        for name in NEEDED {
            let from = match (name, node) {
                ("raftkv", Some(n)) => n.to_path_buf(),
                _ => self.path(name),
            };
            let new = dir.join(format!("{name}.new"));
            std::fs::copy(&from, &new).and_then(|_| std::fs::rename(&new, dir.join(name))).map_err(io(format!(
                "cannot copy {} into {}",
                from.display(),
                dir.display()
            )))?;
        }
        Bins::at(dir.to_path_buf())
    }
}

/// The lock that makes one run at a time per host set: a second run on the
/// same local hosts (or the same cluster file) would tear down or fault
/// the first one's nodes.
fn lock_path(cluster: Option<&Path>) -> PathBuf {
    match cluster {
        None => PathBuf::from("/run/faultline-local-hosts.lock"),
        Some(c) => {
            let real = c.canonicalize().unwrap_or_else(|_| c.to_path_buf());
            // FNV-1a: stable across runs and builds, which is all a lock
            // name needs.
            let hash = real
                .to_string_lossy()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
            PathBuf::from(format!("/run/faultline-cluster-{hash:016x}.lock"))
        }
    }
}

/// Prints a line (unless the run is one of a batch, whose runs are told
/// only in their folders) and keeps it in the run's log.
struct Log {
    file: Option<File>,
    echo: bool,
}

impl Log {
    fn say(&mut self, line: &str) {
        if self.echo {
            println!("{line}");
        }
        self.record(line);
    }

    /// Keeps a line in the log only.
    fn record(&mut self, line: &str) {
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A run in progress: what has been set up, so that [`Run::finish`] undoes
/// exactly that.
pub struct Run {
    scenario: Scenario,
    bins: Bins,
    results: PathBuf,
    dir: PathBuf,
    timestamp: String,
    git_commit: String,
    /// What the nemesis installs as the node: raftkv's, etcd's or
    /// nats-server's binary;
    /// none for a system described by commands (its file names it).
    node_binary: Option<PathBuf>,
    versions: Vec<BinaryVersion>,
    log: Log,
    local_hosts: bool,
    nemesis: Option<Child>,
    _lock: FileLock,
}

/// Where runs land: `$FAULTLINE_RESULTS`, else `results/`.
pub fn results_root() -> PathBuf {
    std::env::var_os("FAULTLINE_RESULTS").map_or_else(|| PathBuf::from("results"), PathBuf::from)
}

/// Now, as a run or batch folder's name: UTC, `YYYYMMDDTHHMMSSZ`.
pub fn timestamp() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace(['-', ':'], "")
}

/// Today (UTC), `YYYY-MM-DD`: the day a ledger row was verified.
pub fn day() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_string()
}

/// The commit the tree is at, `-dirty` when it has changes.
pub fn git_commit() -> String {
    let head = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output();
    let head = match head {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => return "unknown".into(),
    };
    let clean = std::process::Command::new("git").args(["diff", "--quiet", "HEAD"]).status().is_ok_and(|s| s.success());
    if clean {
        head
    } else {
        format!("{head}-dirty")
    }
}

/// Where a program is on PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(program)).find(|p| p.is_file())
}

/// A program in /usr/sbin, where Debian puts servers.
fn sbin(program: &str) -> Option<PathBuf> {
    Some(Path::new("/usr/sbin").join(program)).filter(|p| p.is_file())
}

/// Runs need root: network namespaces, iptables, the nodes' processes.
pub fn require_root() -> Result<(), StartError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(StartError::NotRoot);
    }
    Ok(())
}

impl Run {
    /// Takes the host set and makes the run folder under `results`;
    /// nothing is started. `echo`: print what the run says, as well as
    /// logging it in the run folder.
    pub fn start(scenario: Scenario, bins: Bins, results: &Path, echo: bool) -> Result<Run, StartError> {
        require_root()?;
        // The binary the nemesis installs on each host, and every binary's
        // version for test.json: found once.
        let node_binary = match &scenario.db {
            DbKind::Raftkv => Some(bins.path("raftkv")),
            DbKind::Etcd => Some(on_path("etcd").ok_or_else(|| {
                StartError::Binaries(
                    "--db etcd: no etcd binary on PATH; scripts/bootstrap installs Debian's etcd-server".into(),
                )
            })?),
            // Debian puts nats-server in /usr/sbin, which a user's PATH
            // may lack.
            DbKind::Nats => Some(on_path("nats-server").or_else(|| sbin("nats-server")).ok_or_else(|| {
                StartError::Binaries(
                    "--db nats: no nats-server on PATH or in /usr/sbin; scripts/bootstrap installs Debian's \
                     nats-server"
                        .into(),
                )
            })?),
            DbKind::Command(_) => None,
        };
        let mut versions: Vec<BinaryVersion> = ["nemesis", "checker", "lossyfs"]
            .into_iter()
            .filter_map(|t| Some(BinaryVersion { name: t.into(), version: version_of(&bins.path(t))? }))
            .collect();
        if let Some(node) = &node_binary {
            if let Some(version) = version_of(node) {
                versions.insert(0, BinaryVersion { name: scenario.db.name().into(), version });
            }
        }
        let lock_file = lock_path(scenario.cluster.as_deref());
        let lock = FileLock::take(&lock_file).map_err(|e| match e {
            LockError::Held { holder, lock } => StartError::Held { holder, lock },
            LockError::Io { lock, source } => StartError::Io { what: format!("cannot open the lock {lock}"), source },
        })?;
        let timestamp = timestamp();
        let results = results.to_path_buf();
        let dir = results.join(&scenario.name).join(&timestamp);
        std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
        lock.name_holder(&format!("pid {}, run {}", std::process::id(), dir.display()));
        let file = File::options().create(true).append(true).open(dir.join("run-test.log")).ok();
        let mut run = Run {
            scenario,
            bins,
            results,
            dir,
            timestamp,
            git_commit: git_commit(),
            node_binary,
            versions,
            log: Log { file, echo },
            local_hosts: false,
            nemesis: None,
            _lock: lock,
        };
        let s = &run.scenario;
        let line = format!("run-test: {} (plan {}, run {}, seed {})", run.dir.display(), s.plan, s.plan_run, s.seed);
        run.log.say(&line);
        run.write_record(RunStatus::Running, None);
        Ok(run)
    }

    fn cluster_file(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }

    /// Writes `test.json` (serde; never assembled by hand).
    fn write_record(&mut self, status: RunStatus, code: Option<u8>) {
        let mut record = self.scenario.record(&self.timestamp, &self.git_commit);
        record.status = status;
        record.exit_code = code.map(i32::from);
        record.versions = self.versions.clone();
        if let Err(e) = report::run_dir::write_test(&self.dir, &record) {
            self.log.say(&format!("run-test: test.json could not be written: {e}"));
        }
    }

    /// Runs one of the rig's commands to its end, its output shown and
    /// logged (`quiet`: only its errors).
    async fn step(&mut self, what: &str, program: &str, args: &[String], quiet: bool) -> Result<(), String> {
        let mut cmd = Command::new(self.bins.path(program));
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("{what}: {program} did not start: {e}"))?;
        let (out, err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        let mut out = BufReader::new(out).lines();
        let mut err = BufReader::new(err).lines();
        let (mut out_done, mut err_done) = (false, false);
        while !(out_done && err_done) {
            tokio::select! {
                line = out.next_line(), if !out_done => match line {
                    Ok(Some(l)) if !quiet => self.log.say(&l),
                    Ok(Some(_)) => {}
                    _ => out_done = true,
                },
                line = err.next_line(), if !err_done => match line {
                    Ok(Some(l)) => self.log.say(&l),
                    _ => err_done = true,
                },
            }
        }
        match child.wait().await {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("{what} failed ({s})")),
            Err(e) => Err(format!("{what}: {e}")),
        }
    }

    fn nemesis_args(&self, words: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        v.extend(["--cluster".into(), self.cluster_file().display().to_string()]);
        v
    }

    /// Everything from the hosts to the checker's verdict: its exit code.
    pub async fn steps(&mut self) -> u8 {
        match self.try_steps().await {
            Ok(code) => code,
            Err(why) => {
                self.log.say(&format!("run-test: {why}"));
                BROKEN
            }
        }
    }

    async fn try_steps(&mut self) -> Result<u8, String> {
        let s = self.scenario.clone();
        let dir = self.dir.display().to_string();
        // Hosts and the cluster description.
        let source = match &s.cluster {
            Some(c) => c.display().to_string(),
            None => {
                self.local_hosts = true;
                let out = format!("{dir}/cluster.hosts.json");
                self.step(
                    "local test hosts could not be brought up",
                    "nemesis",
                    &["hosts".into(), "up".into(), "--out".into(), out.clone()],
                    false,
                )
                .await?;
                out
            }
        };
        let mut describe: Vec<String> =
            vec!["describe".into(), "--cluster".into(), source.clone(), "--node-args".into(), s.node_args.clone()];
        if s.lossy_fs {
            describe.push("--lossy-fs".into());
        }
        if s.insecure {
            describe.push("--insecure".into());
        }
        describe.extend(["--db".into(), s.db_arg.clone()]);
        if s.faked_clock() {
            describe.push("--faked-clock".into());
        }
        describe.extend(["--out".into(), self.cluster_file().display().to_string()]);
        self.step(&format!("cluster file {source} is not usable"), "nemesis", &describe, true).await?;

        // Fresh nodes.
        self.step("stopping leftover nodes failed", "nemesis", &self.nemesis_args(&["stop", "all"]), true).await?;
        self.step("wiping data dirs failed", "nemesis", &self.nemesis_args(&["wipe", "all"]), true).await?;
        let mut install = self.nemesis_args(&["install", "--helpers", &self.bins.dir.display().to_string()]);
        if let Some(node) = &self.node_binary {
            install.extend(["--binary".into(), node.display().to_string()]);
        }
        self.step(&format!("installing {} failed", s.db.name()), "nemesis", &install, false).await?;
        self.step("starting the nodes failed", "nemesis", &self.nemesis_args(&["start", "all"]), false).await?;

        // The nemesis and the clients together; the nemesis heals at its
        // end, and the checker waits out the recovery before its final
        // reads.
        let nemesis_log = File::create(self.dir.join("nemesis.log")).map_err(|e| format!("nemesis.log: {e}"))?;
        let mut nemesis = Command::new(self.bins.path("nemesis"));
        nemesis.args(self.nemesis_args(&["run"]));
        match &s.schedule {
            Some(file) => nemesis.arg("--schedule").arg(file),
            None => nemesis
                .args(["--faults", &s.faults_arg(), "--interval", &duration_text(s.interval)])
                .args(["--seed", &s.seed.to_string()]),
        };
        nemesis
            .args(["--duration", &duration_text(s.time_limit)])
            .args(["--events", &format!("{dir}/nemesis.jsonl"), "--schedule-out", &format!("{dir}/schedule.json")])
            .stdin(Stdio::null())
            .stdout(nemesis_log.try_clone().map_err(|e| format!("nemesis.log: {e}"))?)
            .stderr(nemesis_log);
        self.nemesis = Some(nemesis.spawn().map_err(|e| format!("the nemesis did not start: {e}"))?);

        let checker_log = File::create(self.dir.join("checker.log")).map_err(|e| format!("checker.log: {e}"))?;
        let mut checker = Command::new(self.bins.path("checker"));
        checker
            .args(["run", "--cluster", &self.cluster_file().display().to_string()])
            .args(["--workload", &s.workload_name(), "--concurrency", &s.concurrency.to_string()])
            .args(["--rate", &s.rate.to_string(), "--duration", &duration_text(s.time_limit)])
            .args(["--seed", &s.seed.to_string(), "--recovery-wait", "10s", "--out", &dir])
            .args(&s.workload_args)
            .args(s.serializable_reads.then_some("--serializable-reads"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(checker_log)
            .kill_on_drop(true);
        let mut child = checker.spawn().map_err(|e| format!("the checker did not start: {e}"))?;
        let mut summary = File::create(self.dir.join("summary.txt")).map_err(|e| format!("summary.txt: {e}"))?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut progress = crate::progress::Progress::start(&self.dir, s.time_limit, self.log.echo);
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(250));
        loop {
            tokio::select! {
                line = lines.next_line() => {
                    let Ok(Some(l)) = line else { break };
                    let _ = writeln!(summary, "{l}");
                    self.log.record(&l);
                    if self.log.echo {
                        progress.println(&l);
                    }
                }
                _ = ticks.tick() => progress.tick(),
            }
        }
        progress.finish();
        let mut code = match child.wait().await.map(|s| s.code()) {
            Ok(Some(c @ 0..=2)) => c as u8,
            _ => BROKEN,
        };
        let nemesis = self.nemesis.take().expect("spawned above").wait().await;
        if !nemesis.as_ref().is_ok_and(|s| s.success()) {
            let how = nemesis.map_or_else(|e| e.to_string(), |s| s.to_string());
            self.log.say(&format!("run-test: the nemesis failed ({how}); see {dir}/nemesis.log"));
            code = broken_unless_invalid(code);
        }
        Ok(code)
    }

    /// Heals, collects, stops, tears down and reports: whatever was set
    /// up, on every way out. Returns the run's exit code.
    pub async fn finish(mut self, mut code: u8) -> u8 {
        if let Some(mut nemesis) = self.nemesis.take() {
            // It heals before it exits.
            if let Some(pid) = nemesis.id() {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            }
            let _ = nemesis.wait().await;
        }
        let leave = self.scenario.leave_running;
        if self.cluster_file().exists() {
            if let Err(e) = self.step("heal", "nemesis", &self.nemesis_args(&["heal"]), false).await {
                self.log.say(&format!("run-test: heal incomplete: {e}"));
                code = broken_unless_invalid(code);
            }
            let logs = self.nemesis_args(&["logs", "--out", &self.dir.display().to_string()]);
            if self.step("logs", "nemesis", &logs, true).await.is_err() {
                self.log.say("run-test: could not fetch every node log");
            }
            code = self.judge_nodes(code);
            if !leave && self.step("stop", "nemesis", &self.nemesis_args(&["stop", "all"]), true).await.is_err() {
                self.log.say("run-test: could not stop every node");
            }
        }
        if self.local_hosts
            && !leave
            && self.step("hosts down", "nemesis", &["hosts".into(), "down".into()], true).await.is_err()
        {
            self.log.say("run-test: hosts down failed");
        }
        let status = if code <= UNKNOWN || code == NODE_FAILED { RunStatus::Done } else { RunStatus::Broken };
        self.write_record(status, Some(code));
        let dir = self.dir.display().to_string();
        if self.dir.join("history.jsonl").exists()
            && self.step("report", "checker", &["report".into(), dir.clone()], true).await.is_err()
        {
            self.log.say("run-test: the report could not be rendered");
        }
        let latest = self.results.join("latest");
        let _ = std::fs::remove_file(&latest);
        let target = Path::new(&self.scenario.name).join(&self.timestamp);
        if std::os::unix::fs::symlink(target, &latest).is_err() {
            self.log.say(&format!("run-test: {} could not be pointed at the run", latest.display()));
        }
        let results = self.results.display().to_string();
        if self.step("index", "checker", &["index".into(), results.clone()], true).await.is_err() {
            self.log.say(&format!("run-test: {results}/index.html could not be rendered"));
        }
        let verdict = match code {
            VALID => "VALID",
            INVALID => "INVALID",
            UNKNOWN => "UNKNOWN",
            NODE_FAILED => "NODE FAILED (the system failed beyond its history)",
            _ => "BROKEN (the run itself failed)",
        };
        self.log.say(&format!("run-test: verdict: {verdict}"));
        self.log.say(&format!("run-test: report: {dir}/report.html"));
        code
    }

    /// The run's code once the nodes' own failures are counted (their
    /// logs fetched): an invalid history stands, and so does the rig's own
    /// failure; otherwise a node that panicked or would not come back, or
    /// a cluster that served nothing at the end, fails the run.
    fn judge_nodes(&mut self, code: u8) -> u8 {
        let failures = match report::health::node_failures(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                self.log.say(&format!("run-test: the nodes' failures could not be read: {e}"));
                return broken_unless_invalid(code);
            }
        };
        for f in &failures {
            self.log.say(&format!("run-test: node failure: {f}"));
        }
        match code {
            VALID | UNKNOWN if !failures.is_empty() => NODE_FAILED,
            _ => code,
        }
    }

    pub fn say(&mut self, line: &str) {
        self.log.say(line);
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A failure of the rig after the checker's verdict: the run is broken,
/// unless the history was already found invalid, which is the system's
/// failure and stands.
fn broken_unless_invalid(code: u8) -> u8 {
    if code == INVALID {
        INVALID
    } else {
        BROKEN
    }
}

/// What a binary's `--version` prints (its first line).
fn version_of(binary: &Path) -> Option<String> {
    let out = std::process::Command::new(binary).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().next().map(|l| l.trim().to_string())
}

/// Runs the scenario from start to finish: its exit code. SIGINT and
/// SIGTERM ([`crate::interrupt`], watched by the caller) stop the steps
/// where they are, and the finish still runs.
pub async fn run(mut run: Run) -> u8 {
    let ended = tokio::select! {
        code = run.steps() => Some(code),
        () = crate::interrupt::wait() => None,
    };
    let code = ended.unwrap_or_else(|| {
        run.say("run-test: interrupted");
        BROKEN
    });
    run.finish(code).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_history_stands_when_the_rig_fails_afterwards() {
        assert_eq!(broken_unless_invalid(INVALID), INVALID);
        assert_eq!(broken_unless_invalid(VALID), BROKEN);
        assert_eq!(broken_unless_invalid(UNKNOWN), BROKEN);
    }

    #[test]
    fn each_host_set_has_its_own_lock() {
        assert_eq!(lock_path(None), PathBuf::from("/run/faultline-local-hosts.lock"));
        let a = lock_path(Some(Path::new("/nonexistent/a.json")));
        let b = lock_path(Some(Path::new("/nonexistent/b.json")));
        assert_ne!(a, b);
        assert_eq!(a, lock_path(Some(Path::new("/nonexistent/a.json"))));
    }

    #[test]
    fn a_run_folder_is_named_for_its_utc_start() {
        let t = timestamp();
        assert_eq!(t.len(), "20261203T081500Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[8] == b'T', "{t}");
    }
}
