//! A node's process on its host: install, start, stop, kill, pause,
//! resume, wipe, and fetch its log.
//!
//! Each step is a bash script built here and run through a [`Remote`].
//! The pid file carries the node's intended state, so that a heal needs no
//! memory of what the nemesis did:
//! - pid file present, process alive: running (or paused, state `T`);
//! - pid file present, process gone: killed, and a heal restarts it;
//! - no pid file: deliberately stopped, and a heal leaves it alone.
//!
//! Nodes are started detached (`setsid`, output to the log file), never by
//! an init system, so a kill stays a kill until the nemesis restarts it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use cluster::{Cluster, NodeSpec};

use crate::remote::{quote, Remote, RemoteError};

/// Upper bound for one lifecycle step on a host. Steps wait for their
/// effect (a pid file, a dead process) with their own shorter deadlines.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Long enough to copy a release binary over SSH.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// The full `raftkv serve` command line, quoted for the shell.
    serve: String,
}

impl NodeProc {
    pub fn new(cluster: &Cluster, spec: &NodeSpec) -> NodeProc {
        let mut args: Vec<String> = vec![
            spec.binary.to_string_lossy().into_owned(),
            "serve".into(),
            "--id".into(),
            spec.id.to_string(),
            "--peers".into(),
            cluster.peers_arg(),
            "--data-dir".into(),
            spec.data_dir.to_string_lossy().into_owned(),
            "--listen".into(),
            format!("0.0.0.0:{}", spec.port),
        ];
        args.extend(cluster.node_args.iter().cloned());
        let serve = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        NodeProc { spec: spec.clone(), remote: Remote::for_node(spec), serve }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Shell functions every step shares: where the files are, and what
    /// state the process is in.
    fn prelude(&self) -> String {
        let comm: String = self.spec.binary.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        // `ps -o comm=` shows at most 15 characters of the name.
        let comm: String = comm.chars().take(15).collect();
        format!(
            r#"set -u
pidfile={pid}
bin={bin}
state() {{
  [ -s "$pidfile" ] || {{ echo stopped; return; }}
  pid=$(cat "$pidfile")
  s=$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)
  c=$(ps -o comm= -p "$pid" 2>/dev/null)
  if [ -z "$s" ] || [ "$s" = Z ] || [ "$s" = X ] || [ "$c" != {comm} ]; then echo dead
  elif [ "$s" = T ] || [ "$s" = t ]; then echo paused
  else echo running; fi
}}
# wait_state STATE...: polls (5 s at most) until the process is in one of them.
wait_state() {{
  for _ in $(seq 100); do
    st=$(state); for want in "$@"; do [ "$st" = "$want" ] && return 0; done
    sleep 0.05
  done
  echo "process still $(state) after 5 s; wanted $*" >&2; return 1
}}
"#,
            pid = quote(&self.spec.pid_file.to_string_lossy()),
            bin = quote(&self.spec.binary.to_string_lossy()),
            comm = quote(&comm),
        )
    }

    async fn step(&self, what: &str, body: &str) -> Result<String, RemoteError> {
        let script = format!("{}{}", self.prelude(), body);
        self.remote.run(what, &script, STEP_TIMEOUT).await
    }

    /// Copies the local `raftkv` binary to the node's binary path.
    pub async fn install(&self, local_binary: &Path) -> Result<(), RemoteError> {
        self.remote.upload(local_binary, &self.spec.binary, INSTALL_TIMEOUT).await
    }

    /// Starts the node unless it runs already. Readiness (a leader, a
    /// served request) is for the caller to wait for.
    pub async fn start(&self) -> Result<(), RemoteError> {
        let body = format!(
            r#"case $(state) in running|paused) exit 0;; esac
[ -x "$bin" ] || {{ echo "raftkv binary $bin is missing or not executable on this host" >&2; exit 3; }}
mkdir -p {data} "$(dirname {log})" "$(dirname "$pidfile")"
rm -f "$pidfile"
nohup setsid bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" {serve} >> {log} 2>&1 < /dev/null &
for _ in $(seq 100); do [ -s "$pidfile" ] && exit 0; sleep 0.05; done
echo "no pid file $pidfile within 5 s of starting" >&2; exit 1
"#,
            data = quote(&self.spec.data_dir.to_string_lossy()),
            log = quote(&self.spec.log_file.to_string_lossy()),
            serve = self.serve,
        );
        self.step("start", &body).await.map(drop)
    }

    /// SIGKILL. The pid file stays: the node is meant to come back.
    pub async fn kill(&self) -> Result<(), RemoteError> {
        let body = r#"case $(state) in stopped|dead) exit 0;; esac
kill -9 "$(cat "$pidfile")" 2>/dev/null || true
wait_state dead
"#;
        self.step("kill", body).await.map(drop)
    }

    /// SIGSTOP.
    pub async fn pause(&self) -> Result<(), RemoteError> {
        let body = r#"case $(state) in
  paused) exit 0;;
  stopped|dead) echo "cannot pause: the node is $(state)" >&2; exit 1;;
esac
kill -STOP "$(cat "$pidfile")"
wait_state paused
"#;
        self.step("pause", body).await.map(drop)
    }

    /// SIGCONT; nothing to do unless paused.
    pub async fn resume(&self) -> Result<(), RemoteError> {
        let body = r#"[ "$(state)" = paused ] || exit 0
kill -CONT "$(cat "$pidfile")"
wait_state running dead
"#;
        self.step("resume", body).await.map(drop)
    }

    /// A graceful stop (SIGTERM, then SIGKILL after 10 s); removes the pid
    /// file, so a heal will not restart the node.
    pub async fn stop(&self) -> Result<(), RemoteError> {
        let body = r#"if [ "$(state)" != stopped ] && [ "$(state)" != dead ]; then
  pid=$(cat "$pidfile")
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 200); do [ "$(state)" = dead ] && break; sleep 0.05; done
  [ "$(state)" = dead ] || kill -9 "$pid" 2>/dev/null || true
  wait_state dead
fi
rm -f "$pidfile"
"#;
        self.step("stop", body).await.map(drop)
    }

    /// Deletes the data dir; only a node that is not running may be wiped.
    pub async fn wipe(&self) -> Result<(), RemoteError> {
        let body = format!(
            r#"case $(state) in running|paused) echo "refusing to wipe the data dir of a $(state) node" >&2; exit 1;; esac
rm -rf {data}
"#,
            data = quote(&self.spec.data_dir.to_string_lossy())
        );
        self.step("wipe", &body).await.map(drop)
    }

    pub async fn state(&self) -> Result<ProcState, RemoteError> {
        let out = self.step("state", "state\n").await?;
        Ok(match out.trim() {
            "running" => ProcState::Running,
            "paused" => ProcState::Paused,
            "dead" => ProcState::Dead,
            _ => ProcState::Stopped,
        })
    }

    /// The node's log file, or an empty string when there is none yet.
    pub async fn fetch_log(&self) -> Result<String, RemoteError> {
        let body = format!("cat {} 2>/dev/null || true\n", quote(&self.spec.log_file.to_string_lossy()));
        self.step("fetch log", &body).await
    }
}
