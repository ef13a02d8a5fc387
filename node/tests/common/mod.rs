//! A three-node raftkv cluster of real processes on loopback ports, with
//! RocksDB in temp dirs, for the integration tests. Killing is SIGKILL, so
//! durability is tested for real. Every wait polls a condition with a
//! deadline; nothing sleeps to hope.
//!
//! The nodes run with mutual TLS, as the rig runs them, from a CA made for
//! the cluster, unless the extra arguments hold `--insecure`. Each node's
//! log goes to `DIR/nN.log`, so a test can check what it said.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline_proto::kv_client::KvClient;
use faultline_proto::raft_transport_client::RaftTransportClient;
use raftkv::client::tls::{self, ClientTls};
use raftkv::client::{Client, NodeId};
use testkit::ports::free_port;
use tonic::transport::Channel;

pub const DEADLINE: Duration = Duration::from_secs(20);

/// Cluster tests run one at a time: three nodes per test on two cores is
/// already a load, and elections must not starve.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Cluster {
    _serial: std::sync::MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
    pub addrs: Vec<String>,
    pub procs: Vec<Option<Child>>,
    pub extra_args: Vec<String>,
    /// Mutual TLS (not `--insecure`): each node's folder is `DIR/tls/nN`.
    pub tls: bool,
}

impl Cluster {
    /// Starts three nodes with `extra_args` added to every `serve`.
    pub fn start(extra_args: &[&str]) -> Cluster {
        let serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let addrs: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let tls = !extra_args.contains(&"--insecure");
        let mut c = Cluster {
            _serial: serial,
            dir: tempfile::tempdir().unwrap(),
            addrs,
            procs: vec![None, None, None],
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            tls,
        };
        if tls {
            let nodes: Vec<(NodeId, String)> = (1..=3).map(|i| (NodeId(i), format!("n{i}"))).collect();
            certs::Authority::new("node tests").unwrap().write_cluster(&c.dir.path().join("tls"), &nodes).unwrap();
        }
        for i in 0..3 {
            c.start_node(i);
        }
        c
    }

    pub fn peers(&self) -> String {
        self.addrs.iter().enumerate().map(|(i, a)| format!("{}={a}", i + 1)).collect::<Vec<_>>().join(",")
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{}", i + 1))
    }

    /// Node `i`'s TLS folder (0-based).
    pub fn tls_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("tls/n{}", i + 1))
    }

    /// What a client trusts: the cluster's CA, or nothing without TLS.
    pub fn client_tls(&self) -> Option<ClientTls> {
        self.tls.then(|| ClientTls::load(&self.dir.path().join("tls").join(tls::CA_FILE)).unwrap())
    }

    /// Node `i`'s log, as written so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("n{}.log", i + 1))).unwrap_or_default()
    }

    /// A Raft transport stream to node `target`, dialled with `tls` (a
    /// peer's folder, a client's CA, or plaintext).
    pub async fn raft_peer(
        &self,
        target: usize,
        tls: Option<&ClientTls>,
    ) -> Result<RaftTransportClient<Channel>, tonic::transport::Error> {
        let name = tls::peer_name(NodeId(target as u64 + 1));
        Ok(RaftTransportClient::new(tls::endpoint(&self.addrs[target], tls, &name)?.connect().await?))
    }

    /// A bare gRPC client of node `i`'s `Kv` service, no redirects.
    pub async fn raw_kv(&self, i: usize) -> KvClient<Channel> {
        let tls = self.client_tls();
        KvClient::new(tls::endpoint(&self.addrs[i], tls.as_ref(), tls::SERVER_NAME).unwrap().connect().await.unwrap())
    }

    /// The `serve` command line of node `i` (0-based), without spawning.
    pub fn serve_cmd(&self, i: usize) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftkv"));
        cmd.args(["serve", "--id", &(i + 1).to_string(), "--peers", &self.peers()])
            .arg("--data-dir")
            .arg(self.data_dir(i))
            .args(["--tick-interval", "50ms", "--log-level", "warn"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if self.tls {
            cmd.arg("--tls-dir").arg(self.tls_dir(i));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("n{}.log", i + 1)))
            .unwrap();
        cmd.stderr(log);
        cmd
    }

    pub fn start_node(&mut self, i: usize) {
        assert!(self.procs[i].is_none(), "node {} already running", i + 1);
        self.procs[i] = Some(self.serve_cmd(i).spawn().expect("spawn raftkv"));
    }

    /// SIGKILL: nothing is flushed, nothing is said goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Waits for node `i`'s process to end on its own; returns how it
    /// ended, and forgets the process.
    pub async fn wait_exit(&mut self, i: usize) -> std::process::ExitStatus {
        let status = wait_for(&format!("node {} to exit", i + 1), || {
            let exited = self.procs[i].as_mut().and_then(|p| p.try_wait().unwrap());
            async move { exited }
        })
        .await;
        self.procs[i] = None;
        status
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            unsafe_sigterm(p.id());
            let status = p.wait().unwrap();
            assert!(status.success(), "node {} exited with {status} on SIGTERM", i + 1);
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addrs.clone(), Duration::from_secs(5)).with_tls(self.client_tls())
    }

    pub fn client_of(&self, i: usize) -> Client {
        Client::new(vec![self.addrs[i].clone()], Duration::from_secs(5)).with_tls(self.client_tls())
    }

    /// Waits until a running node reports itself leader and the others that
    /// run agree; returns its index.
    pub async fn wait_leader(&self) -> usize {
        let running: Vec<usize> = (0..3).filter(|i| self.procs[*i].is_some()).collect();
        self.wait_or_explain("a leader", || async {
            let mut leader = None;
            for &i in &running {
                let s = self.client_of(i).status_of(&self.addrs[i]).await.ok()?;
                if s.role == "leader" {
                    leader = Some(i);
                }
            }
            let l = leader?;
            for &i in &running {
                let s = self.client_of(i).status_of(&self.addrs[i]).await.ok()?;
                if s.leader_id != (l + 1) as u64 {
                    return None;
                }
            }
            Some(l)
        })
        .await
    }

    /// [`wait_for`], failing with each node's [`diagnosis`](Self::diagnosis).
    async fn wait_or_explain<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        poll_until(probe)
            .await
            .unwrap_or_else(|| panic!("timed out after {DEADLINE:?} waiting for {what}\n{}", self.diagnosis()))
    }

    /// What each node is doing, for a failed wait: whether its process is
    /// still alive, and the end of its log. A node that could not start (a
    /// port taken, a refused data dir) says why here.
    pub fn diagnosis(&self) -> String {
        let mut out = String::new();
        for i in 0..3 {
            let state = match &self.procs[i] {
                None => "not started".to_string(),
                Some(p) => match std::fs::read_to_string(format!("/proc/{}/stat", p.id())) {
                    // The state is the field after the parenthesised name.
                    Ok(stat) if stat.rsplit(')').next().is_some_and(|r| !r.trim_start().starts_with('Z')) => {
                        format!("running (pid {})", p.id())
                    }
                    _ => format!("exited (pid {})", p.id()),
                },
            };
            let log = self.log(i);
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            out.push_str(&format!("-- n{} at {}: {state}; its log ends:\n", i + 1, self.addrs[i]));
            for line in tail.iter().rev() {
                out.push_str(&format!("   {line}\n"));
            }
        }
        out
    }

    pub async fn status(&self, i: usize) -> faultline_proto::StatusResponse {
        self.client_of(i).status_of(&self.addrs[i]).await.expect("status")
    }

    /// Waits until node `i` has applied at least `index`.
    pub async fn wait_applied(&self, i: usize, index: u64) {
        self.wait_or_explain(&format!("node {} to apply {index}", i + 1), || async {
            let s = self.client_of(i).status_of(&self.addrs[i]).await.ok()?;
            (s.applied >= index).then_some(())
        })
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
        }
    }
}

fn unsafe_sigterm(pid: u32) {
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill -TERM");
    assert!(status.success());
}

/// Polls `probe` until it yields a value, failing the test at DEADLINE.
pub async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_until(probe).await.unwrap_or_else(|| panic!("timed out after {DEADLINE:?} waiting for {what}"))
}

/// Polls `probe` until it yields a value, or gives `None` at DEADLINE.
pub async fn poll_until<T, F, Fut>(mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await; // poll interval
    }
}
