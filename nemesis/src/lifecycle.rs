//! A node's process on its host: install, start, stop, kill, pause,
//! resume, wipe, and fetch its log.
//!
//! Each step is a function of `lifecycle.sh` (shellchecked by
//! `scripts/test`), run through a [`Remote`] after a preamble that sets
//! the node's paths and command line.
//! The pid file carries the node's intended state, so that a heal needs no
//! memory of what the nemesis did:
//! - pid file present, process alive: running (or paused, state `T`);
//! - pid file present, process gone: killed, and a heal restarts it;
//! - no pid file: deliberately stopped, and a heal leaves it alone.
//!
//! Nodes are started detached (`setsid`, output to the log file), never by
//! an init system, so a kill stays a kill until the nemesis restarts it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster::{Cluster, NodeCertFiles, NodeSpec};
use lossyfs::control::Response;
use lossyfs::{Loss, LossReport};
use raftkv_client::tls::{CA_FILE, CERT_FILE, KEY_FILE};

use crate::clock::Offset;
use crate::corrupt::Damage;
use crate::db::Db;
use crate::hosts::REAP_SH;
use crate::remote::{quote, quote_words, Remote, RemoteError};

/// Upper bound for one lifecycle step on a host. Steps wait for their
/// effect (a pid file, a dead process) with their own shorter deadlines.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Long enough to copy a release binary over SSH.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The steps, as shell functions.
const LIFECYCLE_SH: &str = include_str!("lifecycle.sh");

/// What a node's process is doing, as its host sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcState {
    Running,
    Paused,
    /// The pid file names a process that is gone: killed (or crashed).
    Dead,
    /// No pid file: never started, or stopped on purpose.
    Stopped,
}

impl fmt::Display for ProcState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProcState::Running => "running",
            ProcState::Paused => "paused",
            ProcState::Dead => "dead",
            ProcState::Stopped => "stopped",
        })
    }
}

/// The lifecycle of one node.
#[derive(Clone, Debug)]
pub struct NodeProc {
    pub spec: NodeSpec,
    pub remote: Remote,
    /// The full command line that starts the node, quoted for the shell.
    serve: String,
    /// Its program's name as `ps` shows it (at most 15 characters).
    comm: String,
    /// The system's own stop command, quoted; empty for none.
    stop: String,
    /// The system's own install command, quoted, if it has one.
    install: Option<String>,
    /// The lossyfs binary on the host, when the data dir is a lossyfs mount.
    lossyfs: Option<PathBuf>,
    /// The clock shim on the host, when the node's clocks are the
    /// nemesis's to move.
    clockshim: Option<PathBuf>,
    /// This node's CA, certificate and key on this machine, to install
    /// into its TLS folder; none when the cluster runs `--insecure`.
    tls: Option<(PathBuf, NodeCertFiles)>,
}

/// The name of the lossyfs binary, installed beside the node's.
pub const LOSSYFS: &str = "lossyfs";
/// The name of the clock shim (an LD_PRELOAD library), installed beside
/// the node's binary.
pub const CLOCKSHIM: &str = "libclockshim.so";

impl NodeProc {
    /// The lifecycle of `spec`, started with `db`'s command line.
    pub fn new(cluster: &Cluster, spec: &NodeSpec, db: &dyn Db) -> NodeProc {
        let args = db.command(cluster, spec);
        // The started program is the node's process; `ps -o comm=` shows
        // at most 15 characters of its name.
        let comm = args.first().and_then(|a| Path::new(a).file_name()).map(|f| f.to_string_lossy().into_owned());
        let comm = comm.unwrap_or_default().chars().take(15).collect();
        let serve = quote_words(&args);
        let stop = db.stop_command(cluster, spec).map(|w| quote_words(&w)).unwrap_or_default();
        let install = db.install_command(cluster, spec).map(|w| quote_words(&w));
        let lossyfs = cluster.lossy_fs.then(|| spec.binary.with_file_name(LOSSYFS));
        let clockshim = cluster.faked_clock.then(|| spec.binary.with_file_name(CLOCKSHIM));
        let tls = cluster.tls.as_ref().and_then(|t| t.nodes.get(&spec.name).map(|f| (t.ca.clone(), f.clone())));
        NodeProc {
            spec: spec.clone(),
            remote: Remote::for_node(spec),
            serve,
            comm,
            stop,
            install,
            lossyfs,
            clockshim,
            tls,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether the node's clocks are the nemesis's to move.
    pub fn faked_clock(&self) -> bool {
        self.clockshim.is_some()
    }

    /// Runs one step of `lifecycle.sh` on the node's host, with this
    /// node's paths and command line set (quoted) before it.
    async fn step(&self, what: &str, step: &str) -> Result<String, RemoteError> {
        self.remote.run(what, &self.script(step), STEP_TIMEOUT).await
    }

    /// The script of one step: the inputs, quoted, then `lifecycle.sh`,
    /// then the step.
    fn script(&self, step: &str) -> String {
        format!(
            "pidfile={}\nbin={}\ncomm={}\ndata={}\nlog={}\nserve=({})\nstopcmd=({})\nfs={}\nclock={}\n{REAP_SH}\n{LIFECYCLE_SH}\n{step}\n",
            quote(&self.spec.pid_file.to_string_lossy()),
            quote(&self.spec.binary.to_string_lossy()),
            quote(&self.comm),
            quote(&self.spec.data_dir.to_string_lossy()),
            quote(&self.spec.log_file.to_string_lossy()),
            self.serve,
            self.stop,
            quote(&self.lossyfs.as_deref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()),
            quote(&self.clockshim.as_deref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()),
        )
    }

    /// Copies the local binary (raftkv's, etcd's, or a command DB's) to the
    /// node's binary path, and beside it the helpers the cluster needs
    /// (`lossyfs`, the clock shim), taken from `helpers`, and the node's TLS
    /// folder; then runs the system's install command, if it has one.
    pub async fn install(&self, local_binary: &Path, helpers: &Path) -> Result<(), RemoteError> {
        self.remote.upload(local_binary, &self.spec.binary, 0o755, INSTALL_TIMEOUT).await?;
        for dest in self.lossyfs.iter().chain(&self.clockshim) {
            let name = dest.file_name().expect("helpers have file names");
            self.remote.upload(&helpers.join(name), dest, 0o755, INSTALL_TIMEOUT).await?;
        }
        if let Some((ca, files)) = &self.tls {
            let dir = self.spec.tls_dir();
            self.remote.upload(ca, &dir.join(CA_FILE), 0o644, STEP_TIMEOUT).await?;
            self.remote.upload(&files.cert, &dir.join(CERT_FILE), 0o644, STEP_TIMEOUT).await?;
            self.remote.upload(&files.key, &dir.join(KEY_FILE), 0o600, STEP_TIMEOUT).await?;
        }
        if let Some(install) = &self.install {
            self.remote.run("install command", install, INSTALL_TIMEOUT).await?;
        }
        Ok(())
    }

    /// The helper files this node needs: lossyfs, the clock shim.
    pub fn helpers(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.lossyfs.is_some() {
            v.push(LOSSYFS);
        }
        if self.clockshim.is_some() {
            v.push(CLOCKSHIM);
        }
        v
    }

    /// Starts the node unless it runs already. Readiness (a leader, a
    /// served request) is for the caller to wait for.
    pub async fn start(&self) -> Result<(), RemoteError> {
        self.step("start", "step_start").await.map(drop)
    }

    /// SIGKILL. The pid file stays: the node is meant to come back.
    pub async fn kill(&self) -> Result<(), RemoteError> {
        self.step("kill", "step_kill").await.map(drop)
    }

    /// A power failure: SIGKILL, then the lossyfs mount loses what was
    /// never fsynced. The pid file stays: the node is meant to come back.
    pub async fn lose(&self, loss: Loss, seed: u64) -> Result<LossReport, RemoteError> {
        let out = self.step("lose-unsynced", &format!("step_lose {} {seed}", loss.name())).await?;
        let bad = |detail: String| RemoteError::Failed {
            node: self.name().to_string(),
            what: "lose-unsynced".into(),
            code: 0,
            stderr: detail,
        };
        match serde_json::from_str::<Response>(out.trim()) {
            Ok(Response::Lost { report, .. }) => Ok(report),
            Ok(other) => Err(bad(format!("lossyfs answered {other:?}"))),
            Err(e) => Err(bad(format!("unreadable answer from lossyfs {:?}: {e}", out.trim()))),
        }
    }

    /// The node's files on disk: (path relative to the data dir, size).
    pub async fn files(&self) -> Result<Vec<(String, u64)>, RemoteError> {
        let out = self.step("list files", "step_files").await?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter_map(|(size, path)| size.parse().ok().map(|s| (path.to_string(), s)))
            .collect())
    }

    /// Damages one file of the node, which must not be running.
    pub async fn corrupt(&self, damage: &Damage) -> Result<(), RemoteError> {
        self.step("corrupt", &format!("step_corrupt {}", quote_words(&damage.args()))).await.map(drop)
    }

    /// The last `lines` lines of the node's log.
    pub async fn log_tail(&self, lines: usize) -> Result<String, RemoteError> {
        self.step("log tail", &format!("step_log_tail {lines}")).await
    }

    /// Fills the disk under the node's data dir, or frees it.
    pub async fn fill(&self, full: bool) -> Result<(), RemoteError> {
        self.step("disk-full", if full { "step_fill on" } else { "step_fill off" }).await.map(drop)
    }

    /// Whether the disk under the data dir is full now (a lossyfs mount
    /// answering that it is); false without a mount.
    pub async fn disk_full(&self) -> Result<bool, RemoteError> {
        if self.lossyfs.is_none() {
            return Ok(false);
        }
        let out = self.step("fs status", "step_fs_status").await?;
        Ok(matches!(serde_json::from_str::<Response>(out.trim()), Ok(Response::Status { full: true, .. })))
    }

    /// Whether the data dir is a lossyfs mount.
    pub fn lossy_fs(&self) -> bool {
        self.lossyfs.is_some()
    }

    /// Sets the node's clock offset (the clock shim's file); the
    /// running node reads it at its next clock call.
    pub async fn set_clock(&self, offset_ms: i64) -> Result<(), RemoteError> {
        self.step("clock", &format!("step_clock {}", Offset(offset_ms))).await.map(drop)
    }

    /// The node's clock offset as its file holds it, or None when the node
    /// runs on the real clock.
    pub async fn clock(&self) -> Result<Option<String>, RemoteError> {
        if self.clockshim.is_none() {
            return Ok(None);
        }
        let out = self.step("read clock", "step_clock_show").await?;
        Ok(Some(out.trim().to_string()).filter(|s| !s.is_empty()))
    }

    /// SIGSTOP.
    pub async fn pause(&self) -> Result<(), RemoteError> {
        self.step("pause", "step_pause").await.map(drop)
    }

    /// SIGCONT; nothing to do unless paused.
    pub async fn resume(&self) -> Result<(), RemoteError> {
        self.step("resume", "step_resume").await.map(drop)
    }

    /// A graceful stop (the system's own stop command if it has one, then
    /// SIGTERM, then SIGKILL after 10 s); removes the pid file, so a heal
    /// will not restart the node.
    pub async fn stop(&self) -> Result<(), RemoteError> {
        self.step("stop", "step_stop").await.map(drop)
    }

    /// Deletes the data dir and the log; only a node that is not running
    /// may be wiped.
    pub async fn wipe(&self) -> Result<(), RemoteError> {
        self.step("wipe", "step_wipe").await.map(drop)
    }

    pub async fn state(&self) -> Result<ProcState, RemoteError> {
        let out = self.step("state", "step_state").await?;
        Ok(match out.trim() {
            "running" => ProcState::Running,
            "paused" => ProcState::Paused,
            // Dying: its main thread is gone and a last thread is leaving
            // a syscall; a start waits for it (`step_start`).
            "dead" | "dying" => ProcState::Dead,
            _ => ProcState::Stopped,
        })
    }

    /// The node's log file, or an empty string when there is none yet.
    pub async fn fetch_log(&self) -> Result<String, RemoteError> {
        self.step("fetch log", "step_log").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::{Cluster, HostSpec, NodeId, NodeSpec, TlsSpec};

    /// Runs `node`'s step preamble in bash, then `show`, which prints
    /// words NUL-separated; returns the words.
    fn preamble_words(node: &NodeProc, show: &str) -> Vec<String> {
        let out = std::process::Command::new("bash").arg("-c").arg(node.script(show)).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    /// Every path and node argument reaches the script as itself, however
    /// hostile: quotes, command substitutions, spaces and newlines are data,
    /// never code. Checked by running the script's preamble in bash.
    #[test]
    fn hostile_paths_and_node_args_reach_bash_as_data() {
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("canary");
        let nasty = format!("it's $(touch {c}) `touch {c}` a b\n\tc;touch {c}", c = canary.display());
        let base = dir.path().join(&nasty);
        let host = HostSpec::Netns { namespace: "fl-n1".into() };
        let spec = NodeSpec::standard(NodeId(1), "n1", "127.0.0.1", 7001, host, &base);
        let cluster = Cluster {
            name: "t".into(),
            nodes: vec![spec.clone()],
            node_args: vec![nasty.clone(), "--x".into()],
            lossy_fs: true,
            faked_clock: true,
            tls: Some(TlsSpec {
                ca: base.join("ca.pem"),
                nodes: [("n1".to_string(), NodeCertFiles { cert: base.join("c.pem"), key: base.join("k.pem") })].into(),
            }),
            db: cluster::DbKind::Raftkv,
        };
        let node = NodeProc::new(&cluster, &spec, crate::db::for_cluster(&cluster, None).as_ref());
        let show = r#"printf '%s\0' "$pidfile" "$bin" "$data" "$log" "$fs" "$clock" "${serve[@]}""#;
        let got = preamble_words(&node, show);
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        assert_eq!(
            got[..6],
            [
                path(&spec.pid_file),
                path(&spec.binary),
                path(&spec.data_dir),
                path(&spec.log_file),
                path(&spec.binary.with_file_name(LOSSYFS)),
                path(&spec.binary.with_file_name(CLOCKSHIM)),
            ]
        );
        assert_eq!(got[got.len() - 2..], [nasty.clone(), "--x".to_string()]);
        assert!(got.contains(&path(&spec.data_dir)));
        assert!(got.windows(2).any(|w| w[0] == "--tls-dir" && w[1] == path(&spec.tls_dir())), "{got:?}");
        assert!(!canary.exists(), "a path or a node argument ran as code");
    }

    /// A process whose main thread has exited while another is still
    /// inside a syscall holds its files (a database's lock among them):
    /// it is dying, not dead, until that thread is gone, so a start waits.
    #[test]
    fn a_process_whose_last_thread_is_still_leaving_is_dying_not_dead() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let state = || {
            let script = format!(
                "pidfile={}\nbin=/bin/true\ncomm=python3\ndata={}\nlog=/dev/null\nserve=(true)\nstopcmd=()\nfs=\nclock=\n{REAP_SH}\n{LIFECYCLE_SH}\nstate\n",
                quote(&pidfile.to_string_lossy()),
                quote(&dir.path().join("data").to_string_lossy()),
            );
            let out = std::process::Command::new("bash").arg("-c").arg(script).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        // The main thread exits at once; a second thread lives 1.5 s more.
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import ctypes, threading, time\n\
                 threading.Thread(target=time.sleep, args=(1.5,)).start()\n\
                 ctypes.CDLL(None).pthread_exit(None)",
            ])
            .spawn()
            .unwrap();
        std::fs::write(&pidfile, child.id().to_string()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        // Before its exec it is another program (dead), then running.
        let mut seen = state();
        while seen != "dying" && std::time::Instant::now() < deadline {
            seen = state();
        }
        assert_eq!(seen, "dying");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while state() == "dying" {
            assert!(std::time::Instant::now() < deadline, "still dying after 10 s");
            std::thread::sleep(std::time::Duration::from_millis(50)); // poll interval, bounded by the deadline
        }
        assert_eq!(state(), "dead", "a zombie with no thread left is dead");
        child.wait().unwrap();
    }

    /// A system described by commands starts with its own command line,
    /// filled in for the node, and its stop command reaches the script as
    /// words; the process `ps` must see is its start's first word.
    #[test]
    fn a_command_db_starts_and_stops_with_its_own_words() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("it's $(x)");
        let host = HostSpec::Netns { namespace: "fl-n2".into() };
        let spec = NodeSpec::standard(NodeId(2), "n2", "10.0.0.2", 7001, host, &base);
        let db = cluster::CommandDb {
            name: "mykv".into(),
            binary: "/x/mykv".into(),
            start: vec!["/opt/my kv/mykv-server".into(), "--data={data_dir}".into(), "--me={{{name}}}".into()],
            install: None,
            stop: Some(vec![
                "sh".into(),
                "-c".into(),
                "kill \"$(cat \"$1\")\"".into(),
                "stop".into(),
                "{pid_file}".into(),
            ]),
            status: None,
            adapter: None,
        };
        let cluster = Cluster {
            db: cluster::DbKind::Command(db),
            node_args: vec!["--fast".into()],
            ..Cluster::new("t", vec![spec.clone()])
        };
        let node = NodeProc::new(&cluster, &spec, crate::db::for_cluster(&cluster, None).as_ref());
        let show = r#"printf '%s\0' "$comm" "${#serve[@]}" "${serve[@]}" "${stopcmd[@]}""#;
        let got = preamble_words(&node, show);
        let data = spec.data_dir.to_string_lossy();
        let pid = spec.pid_file.to_string_lossy();
        assert_eq!(
            got,
            [
                "mykv-server",
                "4",
                "/opt/my kv/mykv-server",
                &format!("--data={data}"),
                "--me={n2}",
                "--fast",
                "sh",
                "-c",
                "kill \"$(cat \"$1\")\"",
                "stop",
                &pid,
            ]
        );
    }
}
