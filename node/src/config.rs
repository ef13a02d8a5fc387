//! The node's configuration: the `raftkv serve` flags, their validation, and
//! the identity file that ties a data dir to one node of one cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use raftkv_client::NodeId;

/// The cluster's members: id to the address that serves both Raft peers and
/// clients (`host:port`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Peers(pub BTreeMap<NodeId, String>);

pub use raftkv_client::CLUSTER_SIZE;

impl FromStr for Peers {
    type Err = String;
    /// Parses `1=HOST:PORT,2=HOST:PORT,3=HOST:PORT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut map = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, addr) =
                part.split_once('=').ok_or_else(|| format!("peer {part:?} is not of the form ID=HOST:PORT"))?;
            let id: NodeId = id.parse()?;
            let addr = addr.trim();
            match addr.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                _ => return Err(format!("peer {id}: address {addr:?} is not HOST:PORT")),
            }
            if map.insert(id, addr.to_string()).is_some() {
                return Err(format!("peer id {id} appears twice"));
            }
        }
        if map.len() != CLUSTER_SIZE {
            return Err(format!("expected exactly {CLUSTER_SIZE} peers, got {}", map.len()));
        }
        Ok(Peers(map))
    }
}

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(id, a)| format!("{id}={a}")).collect();
        f.write_str(&parts.join(","))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// When the text log carries ANSI colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogColor {
    Auto,
    Always,
    Never,
}

/// How reads are served. Only `index` is linearizable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadConsistency {
    /// ReadIndex through the leader (Raft's ReadOnlyOption::Safe).
    Index,
    /// UNSAFE: any node answers from its own state machine, at once, like
    /// etcd's serializable reads. Stale on lagging followers and on a
    /// partitioned old leader.
    Local,
    /// UNSAFE: raft-rs's LeaseBased read-only option: the leader answers
    /// from its lease without a quorum round. Safe only while clocks and
    /// pauses behave.
    Lease,
}

/// Flags of `raftkv serve`.
#[derive(Clone, Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("transport-security").required(true).args(["tls_dir", "insecure"]))]
pub struct ServeArgs {
    /// This node's id; must be one of the ids in --peers.
    #[arg(long)]
    pub id: NodeId,
    /// Every member, this node included: 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT.
    /// Each address serves both Raft peers and clients.
    #[arg(long)]
    pub peers: Peers,
    /// Where RocksDB keeps the log, the Raft state and the data.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Mutual TLS: a folder holding `ca.pem` (the CA every member trusts),
    /// `node.pem` and `node.key` (this node's certificate, issued for
    /// `raftkv` and `node-ID`). Peers must present their own certificate;
    /// clients connect over TLS without one.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Plaintext, with no peer authentication: anyone who reaches the port
    /// can speak for a peer. For benchmarks and tests only.
    #[arg(long)]
    pub insecure: bool,
    /// Address to listen on; defaults to this node's address in --peers.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Period of one Raft tick.
    #[arg(long, default_value = "100ms", value_parser = flags::duration)]
    pub tick_interval: Duration,
    /// Ticks without a leader before a follower campaigns (randomised up to 2x).
    #[arg(long, default_value_t = 10)]
    pub election_ticks: usize,
    /// Ticks between leader heartbeats.
    #[arg(long, default_value_t = 3)]
    pub heartbeat_ticks: usize,
    /// How long a client request may wait for its answer before it gets
    /// "outcome unknown" (writes) or "unavailable" (reads).
    #[arg(long, default_value = "2s", value_parser = flags::duration)]
    pub request_timeout: Duration,
    /// How long a ReadIndex request may stay unanswered before it is re-sent.
    #[arg(long, default_value = "500ms", value_parser = flags::duration)]
    pub read_index_retry: Duration,
    /// Compact the Raft log once this many applied entries sit in it; the
    /// newest half is kept for followers that lag a little.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_threshold: u64,
    /// Largest key accepted, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub max_key_size: usize,
    /// Largest value accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_value_size: usize,
    /// Snapshot bytes held in memory at once, over every incoming snapshot
    /// stream together: a stream that would pass it is refused before it
    /// is all in memory. It is also the largest snapshot a peer can send.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_snapshot_size: u64,
    /// How long a new connection may take to finish its TLS handshake, and
    /// then to send its first HTTP/2 bytes.
    #[arg(long, default_value = "3s", value_parser = flags::duration)]
    pub handshake_timeout: Duration,
    /// Connections served at once; a quarter as many more may be in their
    /// handshake. Both are fitted inside the file-descriptor limit.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Requests in progress at once, over all connections (peer streams
    /// included); more wait their turn.
    #[arg(long, default_value_t = 1024)]
    pub max_inflight_requests: usize,
    /// For the test of the panic hook only: a task panics this long after
    /// start. No peer message can make the node panic any more, so the
    /// test asks for one.
    #[arg(long, hide = true, value_parser = flags::duration)]
    pub panic_after: Option<Duration>,
    /// How reads are served: index (linearizable), or the unsafe local or
    /// lease.
    #[arg(long, value_enum, default_value_t = ReadConsistency::Index)]
    pub read_consistency: ReadConsistency,
    /// UNSAFE: write the Raft log, Raft state and data without syncing and
    /// without RocksDB's write-ahead log, like etcd's --unsafe-no-fsync.
    /// Acknowledged writes vanish when a majority is killed together.
    #[arg(long)]
    pub unsafe_no_fsync: bool,
    /// UNSAFE: keep RocksDB's write-ahead log but never fsync it. A killed
    /// process loses nothing (the page cache survives it); a power failure
    /// (the `lose-unsynced` fault) loses acknowledged writes.
    #[arg(long)]
    pub unsafe_wal_no_sync: bool,
    /// UNSAFE: the leader answers a put, delete or append as soon as it is
    /// in its own log, before a majority has it. Acknowledged writes are
    /// lost when that leader is cut off or killed. (A cas still waits: its
    /// answer depends on the state it is applied to.)
    #[arg(long)]
    pub unsafe_ack_before_commit: bool,
    /// Threads of the async runtime that serves gRPC, TLS and the peer
    /// streams (the Raft loop has its own thread). One by default: this
    /// work is light and I/O-bound, and on a few cores more threads mostly
    /// hand tasks to each other (docs/node.md measures it).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub worker_threads: u16,
    /// Time where writes spend their time inside the node, stage by stage,
    /// on the leader and the followers. On SIGUSR1 the node logs each
    /// stage's p50/p99 since the last SIGUSR1 and writes them to
    /// `stages.json` in the data dir. For profiling; off by default.
    #[arg(long)]
    pub stage_timings: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter: a level (info, debug, …) or a tracing EnvFilter directive.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// ANSI colours in the log: `auto` only when stderr is a terminal, so
    /// a log file holds plain text.
    #[arg(long, value_enum, default_value_t = LogColor::Auto)]
    pub log_color: LogColor,
}

/// Errors found before the node touches anything.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--id {id} is not among the --peers ids ({peers})")]
    IdNotInPeers { id: NodeId, peers: Peers },
    #[error("--peers: {0}")]
    Peers(String),
    #[error("--{flag} must be positive")]
    NotPositive { flag: &'static str },
    #[error("--heartbeat-ticks ({heartbeat}) must be smaller than --election-ticks ({election})")]
    Ticks { heartbeat: usize, election: usize },
    #[error("cannot listen: --listen is not set and the address of node {id} ({addr}) is not IP:PORT")]
    ListenAddr { id: NodeId, addr: String },
    #[error(
        "data dir {dir} belongs to node {found_id} of cluster {found_peers}, \
         but this node was started as node {id} of cluster {peers}; \
         refusing to start (use the right --data-dir, or wipe it to join afresh)"
    )]
    IdentityMismatch { dir: PathBuf, found_id: NodeId, found_peers: Peers, id: NodeId, peers: Peers },
    #[error("data dir {dir} is not empty and holds no raftkv identity file; refusing to use it")]
    ForeignDataDir { dir: PathBuf },
    #[error("data dir {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
    #[error("data dir {dir}: identity file is corrupt: {detail}")]
    CorruptIdentity { dir: PathBuf, detail: String },
}

impl ServeArgs {
    /// The unsafe settings in force, as `--flag=value` strings; empty for a
    /// safe node. Logged at start-up and reported by the Status RPC.
    pub fn unsafe_settings(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.read_consistency {
            ReadConsistency::Index => {}
            ReadConsistency::Local => out.push("--read-consistency=local".to_string()),
            ReadConsistency::Lease => out.push("--read-consistency=lease".to_string()),
        }
        if self.unsafe_no_fsync {
            out.push("--unsafe-no-fsync".into());
        }
        if self.unsafe_wal_no_sync {
            out.push("--unsafe-wal-no-sync".into());
        }
        if self.unsafe_ack_before_commit {
            out.push("--unsafe-ack-before-commit".into());
        }
        out
    }

    /// Checks the flags against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.peers.0.len() != CLUSTER_SIZE {
            return Err(ConfigError::Peers(format!(
                "expected exactly {CLUSTER_SIZE} peers, got {}",
                self.peers.0.len()
            )));
        }
        if !self.peers.0.contains_key(&self.id) {
            return Err(ConfigError::IdNotInPeers { id: self.id, peers: self.peers.clone() });
        }
        for (flag, v) in [
            ("election-ticks", self.election_ticks as u64),
            ("heartbeat-ticks", self.heartbeat_ticks as u64),
            ("snapshot-threshold", self.snapshot_threshold),
            ("max-key-size", self.max_key_size as u64),
            ("max-value-size", self.max_value_size as u64),
            ("max-snapshot-size", self.max_snapshot_size),
            ("tick-interval", self.tick_interval.as_millis() as u64),
            ("request-timeout", self.request_timeout.as_millis() as u64),
            ("read-index-retry", self.read_index_retry.as_millis() as u64),
            ("handshake-timeout", self.handshake_timeout.as_millis() as u64),
            ("max-connections", self.max_connections as u64),
            ("max-inflight-requests", self.max_inflight_requests as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::NotPositive { flag });
            }
        }
        if self.heartbeat_ticks >= self.election_ticks {
            return Err(ConfigError::Ticks { heartbeat: self.heartbeat_ticks, election: self.election_ticks });
        }
        self.listen_addr()?;
        Ok(())
    }

    /// The socket address the server binds.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        if let Some(a) = self.listen {
            return Ok(a);
        }
        let addr = &self.peers.0[&self.id];
        addr.parse().map_err(|_| ConfigError::ListenAddr { id: self.id, addr: addr.clone() })
    }

    /// The address clients are redirected to for node `id`.
    pub fn addr_of(&self, id: NodeId) -> Option<&str> {
        self.peers.0.get(&id).map(String::as_str)
    }
}

/// What a data dir records about the node that owns it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub id: NodeId,
    pub peers: Peers,
}

const IDENTITY_FILE: &str = "identity.json";

impl Identity {
    /// Makes sure `dir` belongs to this node, claiming it when new. A dir of
    /// another node or cluster, or a non-empty dir that is not ours, is
    /// refused before anything in it is touched.
    pub fn claim(dir: &Path, id: NodeId, peers: &Peers) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io { dir: dir.to_path_buf(), source };
        let file = dir.join(IDENTITY_FILE);
        match fs::read(&file) {
            Ok(bytes) => {
                let found: Identity = serde_json::from_slice(&bytes)
                    .map_err(|e| ConfigError::CorruptIdentity { dir: dir.to_path_buf(), detail: e.to_string() })?;
                if found.id != id || &found.peers != peers {
                    return Err(ConfigError::IdentityMismatch {
                        dir: dir.to_path_buf(),
                        found_id: found.id,
                        found_peers: found.peers,
                        id,
                        peers: peers.clone(),
                    });
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.exists() && fs::read_dir(dir).map_err(io)?.next().is_some() {
                    return Err(ConfigError::ForeignDataDir { dir: dir.to_path_buf() });
                }
                fs::create_dir_all(dir).map_err(io)?;
                // Write-then-rename, fsynced, so a crash never leaves half a file.
                let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
                let body =
                    serde_json::to_vec_pretty(&Identity { id, peers: peers.clone() }).expect("identity serialises");
                let mut f = fs::File::create(&tmp).map_err(io)?;
                f.write_all(&body).map_err(io)?;
                f.sync_all().map_err(io)?;
                fs::rename(&tmp, &file).map_err(io)?;
                fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
                Ok(())
            }
            Err(e) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_reject() {
        let p: Peers = "1=127.0.0.1:1,2=127.0.0.1:2,3=h:3".parse().unwrap();
        assert_eq!(p.0.len(), 3);
        assert!("1=a:1,2=b:2".parse::<Peers>().unwrap_err().contains("exactly 3"));
        assert!("1=a:1,1=b:2,3=c:3".parse::<Peers>().unwrap_err().contains("twice"));
        assert!("0=a:1,2=b:2,3=c:3".parse::<Peers>().unwrap_err().contains("reserved"));
        assert!("1=a,2=b:2,3=c:3".parse::<Peers>().unwrap_err().contains("HOST:PORT"));
    }

    #[test]
    fn identity_mismatch_is_refused_and_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let peers: Peers = "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3".parse().unwrap();
        Identity::claim(dir.path(), NodeId(1), &peers).unwrap();
        Identity::claim(dir.path(), NodeId(1), &peers).unwrap();
        let before = fs::read(dir.path().join(IDENTITY_FILE)).unwrap();
        let err = Identity::claim(dir.path(), NodeId(2), &peers).unwrap_err();
        assert!(err.to_string().contains("belongs to node 1"), "{err}");
        let other: Peers = "1=127.0.0.1:1,2=127.0.0.1:2,4=127.0.0.1:4".parse().unwrap();
        assert!(matches!(Identity::claim(dir.path(), NodeId(1), &other), Err(ConfigError::IdentityMismatch { .. })));
        assert_eq!(before, fs::read(dir.path().join(IDENTITY_FILE)).unwrap());
    }

    #[test]
    fn foreign_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("precious"), b"data").unwrap();
        let peers: Peers = "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3".parse().unwrap();
        assert!(matches!(Identity::claim(dir.path(), NodeId(1), &peers), Err(ConfigError::ForeignDataDir { .. })));
        assert_eq!(fs::read(dir.path().join("precious")).unwrap(), b"data");
    }
}
