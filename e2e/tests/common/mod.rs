//! Local test hosts for the nemesis tests, on a subnet and a prefix of
//! their own (10.77.9.0/24, `flt`), so they never touch the hosts of a real
//! run. They need root; in CI, which is root, a missing capability fails
//! the test rather than skipping it. Every wait polls a condition with a
//! deadline.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cluster::Cluster;
use nemesis::control::Control;
use nemesis::hosts::Hosts;
use nemesis::lifecycle::ProcState;
use raftkv_client::Client;

pub const DEADLINE: Duration = Duration::from_secs(20);
pub const SUBNET: &str = "10.77.9.0/24";
pub const PORT: u16 = 7001;

/// The tests share one set of namespaces, so they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the machine for a test that needs it alone without test hosts
/// (a FUSE mount of its own, which the mount checks of the others would
/// see).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the nemesis tests need root (network namespaces, iptables); CI runs them as root");
}

/// The raftkv binary built beside this test binary.
pub struct TestHosts {
    _serial: std::sync::MutexGuard<'static, ()>,
    pub hosts: Hosts,
    pub dir: tempfile::TempDir,
    pub cluster_path: PathBuf,
    pub control: Control,
}

impl TestHosts {
    /// Fresh hosts (leftovers of an earlier crashed test are cleared first).
    pub fn up() -> TestHosts {
        TestHosts::up_with(|_| {})
    }

    /// Fresh hosts, with `describe` applied to their cluster description
    /// (node flags, lossyfs data dirs).
    pub fn up_with(describe: impl FnOnce(&mut Cluster)) -> TestHosts {
        let serial = serial();
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let hosts = Hosts::new("flt", SUBNET.parse().unwrap(), PORT, dir.path()).unwrap();
        hosts.down().expect("clearing leftovers");
        hosts.up().expect("hosts up");
        let mut cluster = hosts.cluster();
        cluster.name = "test".into();
        cluster.node_args = vec!["--tick-interval".into(), "50ms".into()];
        // Mutual TLS, as the rig runs nodes; `describe` may take it away.
        nemesis::tls::issue(&mut cluster, dir.path()).unwrap();
        describe(&mut cluster);
        let cluster_path = dir.path().join("cluster.json");
        cluster.save(&cluster_path).unwrap();
        let control = Control::new(Cluster::load(&cluster_path).unwrap()).unwrap();
        TestHosts { _serial: serial, hosts, dir, cluster_path, control }
    }

    /// Installs raftkv, starts all three nodes and waits for a leader.
    pub async fn start_cluster(&self) -> String {
        self.control.install(&testkit::bins::path("raftkv"), &testkit::bins::dir()).await.expect("install");
        self.control.start(&self.control.names()).await.expect("start");
        self.control.wait_for_leader(DEADLINE).await.expect("leader")
    }

    pub fn namespace(&self, node: &str) -> String {
        let i: u32 = node.trim_start_matches('n').parse().unwrap();
        self.hosts.namespace(i)
    }

    pub fn address(&self, node: &str) -> String {
        self.control.node(node).unwrap().spec.address.clone()
    }

    /// Whether a TCP connection from `from`'s namespace to `to`'s node port
    /// opens within a second.
    pub fn tcp_ok(&self, from: &str, to: &str) -> bool {
        tcp_from_namespace(&self.namespace(from), &self.address(to), PORT)
    }

    pub async fn state(&self, node: &str) -> ProcState {
        self.control.node(node).unwrap().state().await.unwrap()
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.control.cluster.endpoints()
    }

    /// A client of every node, over the cluster's TLS.
    pub fn client(&self, timeout: Duration) -> Client {
        self.control.cluster.client(timeout).unwrap()
    }

    /// A client of the given endpoints only, over the cluster's TLS.
    pub fn client_of(&self, endpoints: Vec<String>, timeout: Duration) -> Client {
        Client::new(endpoints, timeout).with_tls(self.control.cluster.client_tls().unwrap())
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        // Killing what runs in the namespaces is part of `down`.
        if let Err(e) = self.hosts.down() {
            eprintln!("test hosts down failed: {e}");
        }
    }
}

pub fn tcp_from_namespace(ns: &str, addr: &str, port: u16) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "timeout", "1", "bash", "-c", &format!("</dev/tcp/{addr}/{port}")])
        .status()
        .unwrap()
        .success()
}

/// Polls `cond` every 50 ms until it holds or `DEADLINE` passes.
pub async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
