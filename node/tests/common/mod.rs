//! A three-node raftkv cluster of real processes on loopback ports, with
//! RocksDB in temp dirs, for the integration tests. Killing is SIGKILL, so
//! durability is tested for real. Every wait polls a condition with a
//! deadline; nothing sleeps to hope.

#![allow(dead_code)]

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use raftkv::client::Client;

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
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    /// Starts three nodes with `extra_args` added to every `serve`.
    pub fn start(extra_args: &[&str]) -> Cluster {
        let serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let addrs: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let mut c = Cluster {
            _serial: serial,
            dir: tempfile::tempdir().unwrap(),
            addrs,
            procs: vec![None, None, None],
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
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

    /// The `serve` command line of node `i` (0-based), without spawning.
    pub fn serve_cmd(&self, i: usize) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftkv"));
        cmd.args(["serve", "--id", &(i + 1).to_string(), "--peers", &self.peers()])
            .arg("--data-dir")
            .arg(self.data_dir(i))
            .args(["--tick-interval", "50ms", "--log-level", "warn"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
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

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            unsafe_sigterm(p.id());
            let status = p.wait().unwrap();
            assert!(status.success(), "node {} exited with {status} on SIGTERM", i + 1);
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addrs.clone(), Duration::from_secs(5))
    }

    pub fn client_of(&self, i: usize) -> Client {
        Client::new(vec![self.addrs[i].clone()], Duration::from_secs(5))
    }

    /// Waits until a running node reports itself leader and the others that
    /// run agree; returns its index.
    pub async fn wait_leader(&self) -> usize {
        let running: Vec<usize> = (0..3).filter(|i| self.procs[*i].is_some()).collect();
        wait_for("a leader", || async {
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

    pub async fn status(&self, i: usize) -> faultline_proto::StatusResponse {
        self.client_of(i).status_of(&self.addrs[i]).await.expect("status")
    }

    /// Waits until node `i` has applied at least `index`.
    pub async fn wait_applied(&self, i: usize, index: u64) {
        wait_for(&format!("node {} to apply {index}", i + 1), || async {
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
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await; // poll interval
    }
}
