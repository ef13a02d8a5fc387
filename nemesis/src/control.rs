//! The cluster under the nemesis's hand: one [`NodeProc`] per node, and the
//! actions that span nodes: lifecycle on a set of nodes, partitions from a
//! grudge, leader lookup through the Status RPC, status, and heal.
//!
//! Actions on several nodes run in parallel, and a failure on one node
//! never hides the others: every error is collected and named.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use cluster::{Cluster, ClusterError, NodeSpec};
use futures_util::future::join_all;
use lossyfs::{Loss, LossReport};
use raftkv_client::failpoint::Action;
use raftkv_client::tls::TlsError;
use serde::Serialize;

use crate::clock;
use crate::db::{self, Db, Report};
use crate::lifecycle::{NodeProc, ProcState, STEP_TIMEOUT};
use crate::partition::{self, Grudge};
use crate::remote::RemoteError;

/// How long a node restarted on damaged files gets to serve, or to die.
const RECOVERY_WAIT: Duration = Duration::from_secs(10);
/// The log lines kept of a node that refused to start: enough to hold a
/// panic's message above its backtrace (the report shows the excerpt).
const REFUSAL_LOG_LINES: usize = 40;

/// Errors of a multi-node action: every node that failed, with why.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Nodes(Vec<RemoteError>),
    #[error("local raftkv binary {0} does not exist (build it with `cargo build --release -p raftkv`)")]
    NoBinary(String),
    #[error(
        "{0} does not exist, and the cluster needs it (lossyfs data dirs or moved clocks); \
         build it with `cargo build --release -p lossyfs -p clockshim`"
    )]
    NoHelper(String),
    #[error(
        "lose-unsynced and disk-full need lossyfs data dirs: describe the cluster with \
         `nemesis describe --lossy-fs` (faultline test does so when --faults names either)"
    )]
    NoLossyFsMount,
    #[error(
        "clock faults need nodes under the clock shim: describe the cluster with `nemesis describe --faked-clock` \
         (faultline test does so when --faults names clock or clock-isolate)"
    )]
    NoFakedClock,
    #[error("{0}: no log, table or manifest file to corrupt yet")]
    NothingToCorrupt(String),
    #[error("{0}")]
    NoLeader(String),
    #[error("the cluster's tls.ca: {0}")]
    Tls(#[from] TlsError),
    #[error("failpoint on {node}: {why}")]
    Failpoint { node: String, why: String },
}

/// What one node reports about itself, for `nemesis status`.
#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub endpoint: String,
    pub process: Result<ProcState, String>,
    pub role: Option<String>,
    pub term: Option<u64>,
    pub leader: Option<String>,
    pub commit: Option<u64>,
    pub applied: Option<u64>,
    pub raft_error: Option<String>,
    /// Our iptables rules on its host, or why they could not be listed.
    pub rules: Result<Vec<String>, String>,
    /// Its clock offset, when it runs under the clock shim.
    pub clock: Result<Option<String>, String>,
    /// Whether the disk under its data dir is full (disk-full).
    pub disk_full: Result<bool, String>,
}

/// What a heal could not repair (the rig's trouble), and the killed nodes
/// it restarted that refused to start (the system's failure: left stopped,
/// as after a fault's own restart).
#[derive(Debug, Default, Serialize)]
pub struct HealReport {
    pub still_broken: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refusal>,
}

/// A node that died when it was started again, with its last log lines.
#[derive(Debug, Serialize)]
pub struct Refusal {
    pub node: String,
    pub why: String,
}

impl HealReport {
    pub fn is_healed(&self) -> bool {
        self.still_broken.is_empty()
    }
}

impl fmt::Display for HealReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_healed() {
            f.write_str("healed: no partition rule, no paused node, no killed node left")?;
        } else {
            write!(f, "heal incomplete; still broken: {}", self.still_broken.join("; "))?;
        }
        for r in &self.refused {
            write!(f, "\n{} refused to start again (left stopped): {}", r.node, r.why)?;
        }
        Ok(())
    }
}

/// What became of a node started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coming {
    /// Its system answers for it.
    Serving,
    /// Its process is gone: it refused to start.
    Down,
    /// Neither, within the wait.
    Late,
}

pub struct Control {
    pub cluster: Cluster,
    pub nodes: Vec<NodeProc>,
    /// The system under test: how to start a node and ask it about itself.
    db: Box<dyn Db>,
}

fn collect<T>(results: Vec<Result<T, RemoteError>>) -> Result<Vec<T>, ControlError> {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(ok)
    } else {
        Err(ControlError::Nodes(errs))
    }
}

impl Control {
    /// Control of `cluster`; its CA, when it has TLS, is read now so that
    /// a bad file is named before anything is done.
    pub fn new(cluster: Cluster) -> Result<Control, ControlError> {
        let db = db::for_cluster(&cluster, cluster.client_tls()?);
        Ok(Control::with_db(cluster, db))
    }

    /// Control of `cluster` running `db` (a system the cluster file cannot
    /// name, such as a test's fake).
    pub fn with_db(cluster: Cluster, db: Box<dyn Db>) -> Control {
        let nodes = cluster.nodes.iter().map(|n| NodeProc::new(&cluster, n, db.as_ref())).collect();
        Control { cluster, nodes, db }
    }

    pub fn load(path: &Path) -> Result<Control, ControlError> {
        Control::new(Cluster::load(path)?)
    }

    /// What `node` says of itself, through the system's own protocol.
    async fn report(&self, node: &NodeSpec) -> Result<Report, String> {
        self.db.report(&self.cluster, node).await
    }

    pub fn names(&self) -> Vec<String> {
        self.cluster.names()
    }

    /// Sets failpoint `name` on the node `node` to `action`, or clears it.
    pub async fn set_failpoint(&self, node: &str, name: &str, action: Option<&Action>) -> Result<(), ControlError> {
        let spec = &self.node(node)?.spec;
        let fail = |why| ControlError::Failpoint { node: node.to_string(), why };
        self.db.set_failpoint(&self.cluster, spec, name, action).await.map_err(fail)
    }

    /// Waits until `node`'s process is gone (a crash it was set up for),
    /// polling every 10 ms; whether it went within `within`.
    pub async fn await_death(&self, node: &str, within: Duration) -> Result<bool, ControlError> {
        let n = self.node(node)?;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(ProcState::Dead) = n.state().await {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn node(&self, name: &str) -> Result<&NodeProc, ControlError> {
        let spec = self.cluster.node(name)?;
        Ok(self.nodes.iter().find(|n| n.spec.id == spec.id).expect("every spec has a NodeProc"))
    }

    fn select(&self, names: &[String]) -> Result<Vec<&NodeProc>, ControlError> {
        names.iter().map(|n| self.node(n)).collect()
    }

    /// Copies the local binary to every node, and the helpers the
    /// cluster needs (lossyfs, the clock shim) from the folder `helpers`.
    pub async fn install(&self, local_binary: &Path, helpers: &Path) -> Result<(), ControlError> {
        if !local_binary.is_file() {
            return Err(ControlError::NoBinary(local_binary.display().to_string()));
        }
        for name in self.nodes.first().map(|n| n.helpers()).unwrap_or_default() {
            if !helpers.join(name).is_file() {
                return Err(ControlError::NoHelper(helpers.join(name).display().to_string()));
            }
        }
        collect(join_all(self.nodes.iter().map(|n| n.install(local_binary, helpers))).await).map(drop)
    }

    /// Runs one lifecycle step on the named nodes, in parallel; every
    /// node that failed is named in the error.
    async fn on_each<'a, F, Fut>(&'a self, names: &[String], step: F) -> Result<(), ControlError>
    where
        F: Fn(&'a NodeProc) -> Fut,
        Fut: std::future::Future<Output = Result<(), RemoteError>>,
    {
        collect(join_all(self.select(names)?.into_iter().map(step)).await).map(drop)
    }

    pub async fn start(&self, names: &[String]) -> Result<(), ControlError> {
        self.on_each(names, |n| n.start()).await
    }

    pub async fn stop(&self, names: &[String]) -> Result<(), ControlError> {
        self.on_each(names, |n| n.stop()).await
    }

    pub async fn kill(&self, names: &[String]) -> Result<(), ControlError> {
        self.on_each(names, |n| n.kill()).await
    }

    /// A power failure on the named nodes at once: each is killed and its
    /// lossyfs mount loses what was never fsynced (`seed` + the node's
    /// index seeds each node's tear). Returns what each lost.
    pub async fn lose(
        &self,
        names: &[String],
        loss: Loss,
        seed: u64,
    ) -> Result<Vec<(String, LossReport)>, ControlError> {
        if !self.cluster.lossy_fs {
            return Err(ControlError::NoLossyFsMount);
        }
        let nodes = self.select(names)?;
        // A node already down (one that refused to start again) has
        // nothing in memory and no mount to lose: the power failure passes
        // it by, rather than failing half-applied with the others down.
        let states = join_all(nodes.iter().map(|n| n.state())).await;
        let up = nodes.into_iter().zip(states).filter_map(|(n, s)| match s {
            Ok(ProcState::Running | ProcState::Paused) => Some(n),
            _ => None,
        });
        let steps = up.enumerate().map(|(i, n)| async move {
            n.lose(loss, seed.wrapping_add(i as u64)).await.map(|r| (n.name().to_string(), r))
        });
        collect(join_all(steps).await)
    }

    /// Starts nodes after a crash (a kill), a power failure (lost files)
    /// or damage (corrupt), in parallel, and waits for each to serve or to
    /// die. A node that dies has refused to recover from what it was left
    /// with: the system's finding, not the rig's failure. It is left
    /// stopped (a heal will not retry it). Returns each refusal, with the
    /// last lines of that node's log, which should say why.
    pub async fn restart_after_crash(&self, names: &[String]) -> Result<Vec<(String, String)>, ControlError> {
        let outcomes = join_all(names.iter().map(|n| self.restart_one_after_crash(n))).await;
        let mut refused = Vec::new();
        for (name, outcome) in names.iter().zip(outcomes) {
            if let Some(why) = outcome? {
                refused.push((name.clone(), why));
            }
        }
        Ok(refused)
    }

    /// The last lines of a node's log, or why there are none.
    pub async fn log_tail(&self, name: &str) -> String {
        match self.node(name) {
            Ok(n) => n.log_tail(REFUSAL_LOG_LINES).await.unwrap_or_else(|e| format!("(no log: {e})")),
            Err(e) => format!("(no log: {e})"),
        }
        .trim()
        .to_string()
    }

    async fn restart_one_after_crash(&self, name: &str) -> Result<Option<String>, ControlError> {
        let n = self.node(name)?;
        let one = [name.to_string()];
        self.start(&one).await?;
        if self.coming_up(n, RECOVERY_WAIT, Duration::from_millis(100)).await? == Coming::Down {
            let why = n.log_tail(REFUSAL_LOG_LINES).await.unwrap_or_else(|e| format!("(no log: {e})"));
            self.stop(&one).await?;
            return Ok(Some(why.trim().to_string()));
        }
        Ok(None)
    }

    /// Whether the started node `name` serves (its system answers for it)
    /// within `within`, polling every 10 ms: a fault that acts on a node as
    /// soon as it is back (a failpoint set before it campaigns) waits here.
    pub async fn await_serving(&self, name: &str, within: Duration) -> Result<bool, ControlError> {
        Ok(self.coming_up(self.node(name)?, within, Duration::from_millis(10)).await? == Coming::Serving)
    }

    /// What became of a started node within `within`, polling every `step`.
    async fn coming_up(&self, n: &NodeProc, within: Duration, step: Duration) -> Result<Coming, ControlError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match n.state().await.map_err(|e| ControlError::Nodes(vec![e]))? {
                ProcState::Dead | ProcState::Stopped => return Ok(Coming::Down),
                _ => {
                    if self.report(&n.spec).await.is_ok() {
                        return Ok(Coming::Serving);
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Coming::Late);
            }
            tokio::time::sleep(step).await;
        }
    }

    /// Fills the disks of the named nodes (`full`), or frees them.
    pub async fn fill(&self, names: &[String], full: bool) -> Result<(), ControlError> {
        if !self.cluster.lossy_fs {
            return Err(ControlError::NoLossyFsMount);
        }
        self.on_each(names, |n| n.fill(full)).await
    }

    /// Sets the clock offset of the named nodes, in parallel.
    pub async fn set_clock(&self, names: &[String], offset_ms: i64) -> Result<(), ControlError> {
        if !self.cluster.faked_clock {
            return Err(ControlError::NoFakedClock);
        }
        self.on_each(names, |n| n.set_clock(offset_ms)).await
    }

    pub async fn pause(&self, names: &[String]) -> Result<(), ControlError> {
        self.on_each(names, |n| n.pause()).await
    }

    pub async fn resume(&self, names: &[String]) -> Result<(), ControlError> {
        self.on_each(names, |n| n.resume()).await
    }

    pub async fn wipe(&self, names: &[String]) -> Result<(), ControlError> {
        self.on_each(names, |n| n.wipe()).await
    }

    pub async fn states(&self) -> Vec<Result<ProcState, RemoteError>> {
        join_all(self.nodes.iter().map(|n| n.state())).await
    }

    /// Enforces `grudge`: each host's chain is replaced by DROP rules for
    /// the addresses of the nodes it holds a grudge against.
    pub async fn partition(&self, grudge: &Grudge) -> Result<(), ControlError> {
        self.drop_packets(grudge, None).await
    }

    /// Like [`Control::partition`], but when `percent` is given each rule
    /// drops only that share of the packets, at random.
    pub async fn drop_packets(&self, grudge: &Grudge, percent: Option<u8>) -> Result<(), ControlError> {
        for name in grudge.0.keys().chain(grudge.0.values().flatten()) {
            self.node(name)?;
        }
        let steps = self.nodes.iter().map(|n| {
            let sources: Vec<String> =
                grudge.drops(n.name()).map(|d| self.node(d).expect("checked above").spec.address.clone()).collect();
            let script = partition::block_script(&sources, percent);
            async move { n.remote.run("partition", &script, STEP_TIMEOUT).await }
        });
        collect(join_all(steps).await).map(drop)
    }

    /// Removes our chain on every host.
    pub async fn heal_network(&self) -> Result<(), ControlError> {
        let script = partition::heal_script();
        collect(join_all(self.nodes.iter().map(|n| n.remote.run("heal partition", &script, STEP_TIMEOUT))).await)
            .map(drop)
    }

    /// Our active rules on each host.
    pub async fn rules(&self) -> Vec<Result<Vec<String>, RemoteError>> {
        let script = partition::list_script();
        join_all(self.nodes.iter().map(|n| async {
            let out = n.remote.run("list rules", &script, STEP_TIMEOUT).await?;
            Ok(out.lines().map(str::to_string).collect())
        }))
        .await
    }

    /// The name of the node that says it leads, with the highest term.
    pub async fn leader(&self) -> Option<String> {
        let statuses = join_all(
            self.cluster.nodes.iter().map(|n| async move { self.report(n).await.ok().map(|s| (n.name.clone(), s)) }),
        )
        .await;
        statuses.into_iter().flatten().filter(|(_, s)| s.role == "leader").max_by_key(|(_, s)| s.term).map(|(n, _)| n)
    }

    /// Polls until some node leads, or `within` passes.
    pub async fn wait_for_leader(&self, within: Duration) -> Result<String, ControlError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(l) = self.leader().await {
                return Ok(l);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControlError::NoLeader(format!("no node became leader within {within:?}")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every node's process state, Raft status and active rules.
    pub async fn status(&self) -> Vec<NodeStatus> {
        let states = self.states().await;
        let rules = self.rules().await;
        let clocks = join_all(self.nodes.iter().map(|n| n.clock())).await;
        let disks = join_all(self.nodes.iter().map(|n| n.disk_full())).await;
        let raft = join_all(self.cluster.nodes.iter().map(|n| self.report(n))).await;
        let mut out = Vec::new();
        let all = self.cluster.nodes.iter().zip(states).zip(rules).zip(raft).zip(clocks).zip(disks);
        for (((((spec, state), rules), raft), clock), disk) in all {
            let mut s = NodeStatus {
                name: spec.name.clone(),
                endpoint: spec.endpoint(),
                process: state.map_err(|e| e.to_string()),
                role: None,
                term: None,
                leader: None,
                commit: None,
                applied: None,
                raft_error: None,
                rules: rules.map_err(|e| e.to_string()),
                clock: clock.map_err(|e| e.to_string()),
                disk_full: disk.map_err(|e| e.to_string()),
            };
            match raft {
                Ok(r) => {
                    s.role = Some(r.role);
                    s.term = Some(r.term);
                    s.leader = r.leader;
                    s.commit = r.commit;
                    s.applied = r.applied;
                }
                Err(e) => s.raft_error = Some(e),
            }
            out.push(s);
        }
        out
    }

    /// Removes every partition, resumes every paused node and restarts
    /// every killed one, then checks that it worked. Idempotent. Nodes that
    /// were stopped on purpose (no pid file) stay stopped.
    pub async fn heal(&self) -> HealReport {
        let mut report = HealReport::default();
        let net = partition::heal_script();
        let steps = self.nodes.iter().map(|n| {
            let net = net.clone();
            async move {
                let mut broken = Vec::new();
                let mut refused = None;
                if let Err(e) = n.remote.run("heal partition", &net, STEP_TIMEOUT).await {
                    broken.push(format!("partition rules not removed: {e}"));
                }
                if n.lossy_fs() {
                    if let Err(e) = n.fill(false).await {
                        broken.push(format!("disk not freed: {e}"));
                    }
                }
                // Only a clock that is off is reset: a stopped node keeps no
                // clock file.
                match n.clock().await {
                    Ok(Some(c)) if !clock::is_true(&c) => {
                        if let Err(e) = n.set_clock(0).await {
                            broken.push(format!("clock not reset: {e}"));
                        }
                    }
                    Err(e) => broken.push(format!("clock unknown: {e}")),
                    _ => {}
                }
                match n.state().await {
                    Ok(ProcState::Paused) => {
                        if let Err(e) = n.resume().await {
                            broken.push(format!("still paused: {e}"));
                        }
                    }
                    Ok(ProcState::Dead) => match self.restart_one_after_crash(n.name()).await {
                        Ok(Some(why)) => refused = Some(why),
                        Ok(None) => {}
                        Err(e) => broken.push(format!("killed and not restarted: {e}")),
                    },
                    Ok(_) => {}
                    Err(e) => broken.push(format!("process state unknown: {e}")),
                }
                (n.name().to_string(), broken, refused)
            }
        });
        for (name, broken, refused) in join_all(steps).await {
            report.still_broken.extend(broken.into_iter().map(|b| format!("{name}: {b}")));
            report.refused.extend(refused.map(|why| Refusal { node: name, why }));
        }
        // Verify rather than trust: list what is left.
        for (n, (rules, state)) in self.nodes.iter().zip(self.rules().await.into_iter().zip(self.states().await)) {
            match rules {
                Ok(r) if !r.is_empty() => {
                    report.still_broken.push(format!("{}: rules left: {}", n.name(), r.join(" | ")))
                }
                Err(e) if !report.still_broken.iter().any(|b| b.starts_with(&format!("{}:", n.name()))) => {
                    report.still_broken.push(format!("{}: cannot list rules: {e}", n.name()))
                }
                _ => {}
            }
            if let Ok(s @ (ProcState::Paused | ProcState::Dead)) = state {
                report.still_broken.push(format!("{}: process still {s}", n.name()));
            }
            if let Ok(Some(c)) = n.clock().await {
                if !clock::is_true(&c) {
                    report.still_broken.push(format!("{}: clock still at {c}", n.name()));
                }
            }
            if let Ok(true) = n.disk_full().await {
                report.still_broken.push(format!("{}: disk still full", n.name()));
            }
        }
        report
    }
}
