//! Which system the nodes run: raftkv, etcd, NATS JetStream, or a system
//! described by commands ([`CommandDb`]), for one with no Rust in the rig.
//!
//! A command DB is a few command lines with placeholders (`{id}`,
//! `{data_dir}`, …) that the nemesis fills in for each node and runs like
//! its own steps: `start` on the node's host (detached, its output to the
//! node's log, its pid in the pid file, as every node is), and `install`,
//! `stop` and `status` on the host too. Its client is an external adapter
//! (`runner/src/adapter.rs`). The format is in `docs/cluster-format.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{Cluster, NodeSpec};

/// Which system the nodes run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    /// `raftkv serve`, this project's node.
    #[default]
    Raftkv,
    /// etcd 3.x: clients on the node's port, peers on the port after it.
    Etcd,
    /// NATS with JetStream (2.9): clients on the node's port, routes on
    /// the port after it; the data is one key-value bucket ([`nats`]).
    Nats,
    /// A system described by commands.
    Command(CommandDb),
}

/// What a fault may need of the system under test beyond running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Its clocks move under the clock shim (it reads them through libc).
    FakedClock,
    /// Its data files are ones `corrupt` knows: raftkv's RocksDB files, or
    /// NATS JetStream's message blocks.
    KnownFiles,
    /// It names its leader, so a fault can aim at it.
    LeaderLookup,
    /// It has raftkv's failpoints, set at run time over its mutual TLS.
    Failpoints,
}

impl DbKind {
    /// Why the system lacks `cap`, if it does: what it declares of itself,
    /// so that no script or fault has to know systems by name.
    pub fn lacks(&self, cap: Capability) -> Option<&'static str> {
        match (cap, self) {
            (Capability::FakedClock, DbKind::Etcd | DbKind::Nats) => Some(
                "clock faults cannot move a Go program's clocks (etcd and nats-server read them without libc); they \
                 are for raftkv",
            ),
            (Capability::KnownFiles, DbKind::Etcd | DbKind::Command(_)) => {
                Some("corrupt knows raftkv's RocksDB files and NATS's message blocks, not this system's")
            }
            (Capability::Failpoints, DbKind::Etcd | DbKind::Nats | DbKind::Command(_)) => Some(
                "failpoints are raftkv's (the Failpoints service of a build with them); this system has none the rig can set",
            ),
            (Capability::LeaderLookup, DbKind::Command(c)) if c.status.is_none() => Some(
                "it is aimed at the leader, and a system described by commands names its leader only through a \
                 status command (db.status), which this one lacks",
            ),
            _ => None,
        }
    }

    pub fn is_raftkv(&self) -> bool {
        *self == DbKind::Raftkv
    }

    /// Whether its nodes serve their peers on the port after the client
    /// port ([`NodeSpec::peer_port`]): etcd's peer URLs, NATS's routes.
    pub fn has_peer_port(&self) -> bool {
        matches!(self, DbKind::Etcd | DbKind::Nats)
    }

    /// The name reports show (and `--db` takes, for the built-in systems).
    pub fn name(&self) -> &str {
        match self {
            DbKind::Raftkv => "raftkv",
            DbKind::Etcd => "etcd",
            DbKind::Nats => "nats",
            DbKind::Command(c) => &c.name,
        }
    }

    /// Whether `--db ARG` names a file (a system described by commands)
    /// rather than a built-in system.
    pub fn names_file(arg: &str) -> bool {
        arg.ends_with(".json") || arg.contains('/')
    }

    /// What `--db` names: `raftkv`, `etcd`, `nats`, or the path of a JSON
    /// file describing a system by commands (a [`CommandDb`]).
    pub fn from_arg(arg: &str) -> Result<DbKind, String> {
        match arg {
            "raftkv" => Ok(DbKind::Raftkv),
            "etcd" => Ok(DbKind::Etcd),
            "nats" => Ok(DbKind::Nats),
            _ if DbKind::names_file(arg) => CommandDb::load(Path::new(arg)).map(DbKind::Command),
            _ => Err(format!(
                "unknown system {arg:?}; use raftkv, etcd, nats, or the path of a system described by commands (FILE.json)"
            )),
        }
    }
}

impl std::str::FromStr for DbKind {
    type Err = String;
    /// As [`DbKind::from_arg`], so that command lines take a file too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DbKind::from_arg(s)
    }
}

/// A system described by commands. Each command is a list of words, the
/// program first; placeholders in a word are filled in per node (see
/// [`PLACEHOLDERS`]), `{{` and `}}` stand for braces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDb {
    /// The system's name, for reports and the node binary's file name
    /// (letters, digits, `-` and `_`).
    pub name: String,
    /// The program `nemesis install` copies to every host as the node's
    /// binary (`{binary}` there), as a path on this machine; relative to
    /// the description's folder when read from a file.
    pub binary: PathBuf,
    /// Starts one node, in the foreground: the nemesis detaches it, sends
    /// its output to the node's log and keeps its pid. Run on the host.
    pub start: Vec<String>,
    /// Run on every host after the binary is copied (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Vec<String>>,
    /// Asks a running node to stop (optional), before the nemesis's own
    /// SIGTERM and, 10 s later, SIGKILL. Run on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Asks a node about itself (optional): prints one JSON object with
    /// `role` ("leader" for the leader) and `term`, and may add `leader`
    /// (a node name), `commit` and `applied`; other fields are ignored.
    /// Run on the host. Without it no leader is known, so the faults aimed
    /// at the leader cannot run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<String>>,
    /// The client: an adapter program speaking JSON Lines (`checker run
    /// --adapter`), run on this machine from the rig's folder (optional:
    /// `checker run --adapter` can name one instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<Vec<String>>,
}

/// The placeholders a command may use, and what each becomes.
pub const PLACEHOLDERS: [(&str, &str); 12] = [
    ("id", "the node's id: 1, 2, 3"),
    ("name", "the node's name: n1, n2, n3"),
    ("address", "the node's address"),
    ("port", "the node's port"),
    ("peer_port", "the port after it, for systems that serve peers apart from clients"),
    ("endpoint", "ADDRESS:PORT"),
    ("peers", "every node as ID=ADDRESS:PORT, comma-separated"),
    ("binary", "the node's binary on its host"),
    ("data_dir", "the node's data dir on its host"),
    ("log_file", "the node's log on its host"),
    ("pid_file", "the file holding the node's pid on its host"),
    ("cluster", "the cluster's name"),
];

impl CommandDb {
    /// Reads a description from a JSON file; a relative `binary` is taken
    /// from the file's folder.
    pub fn load(path: &Path) -> Result<CommandDb, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut db: CommandDb = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if db.binary.is_relative() {
            let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            db.binary = base.join(&db.binary);
        }
        db.validate().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(db)
    }

    /// Checks the name and that every command is a program with known
    /// placeholders.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !matches!(self.name.as_str(), "raftkv" | "etcd" | "nats");
        if !name_ok {
            return Err(format!(
                "db.name {:?}: must be 1 to 32 letters, digits, - or _, and not raftkv, etcd or nats",
                self.name
            ));
        }
        let commands = [
            ("start", Some(&self.start)),
            ("install", self.install.as_ref()),
            ("stop", self.stop.as_ref()),
            ("status", self.status.as_ref()),
            ("adapter", self.adapter.as_ref()),
        ];
        for (what, words) in commands {
            let Some(words) = words else { continue };
            if words.first().is_none_or(|w| w.is_empty()) {
                return Err(format!("db.{what}: needs a program first"));
            }
            for w in words {
                fill(w, |_| Some(String::new())).map_err(|e| format!("db.{what}: {w:?}: {e}"))?;
            }
        }
        if self.adapter.as_ref().is_some_and(|a| a.iter().any(|w| w.contains('{'))) {
            return Err("db.adapter: the adapter is told its nodes by its environment \
                        (FAULTLINE_ENDPOINT, FAULTLINE_ENDPOINTS), not by placeholders"
                .into());
        }
        Ok(())
    }

    /// `words` with every placeholder filled in for `node`.
    pub fn command_for(&self, words: &[String], cluster: &Cluster, node: &NodeSpec) -> Vec<String> {
        let value = |key: &str| -> Option<String> {
            let path = |p: &Path| p.to_string_lossy().into_owned();
            Some(match key {
                "id" => node.id.to_string(),
                "name" => node.name.clone(),
                "address" => node.address.clone(),
                "port" => node.port.to_string(),
                "peer_port" => node.peer_port().to_string(),
                "endpoint" => node.endpoint(),
                "peers" => cluster.peers_arg(),
                "binary" => path(&node.binary),
                "data_dir" => path(&node.data_dir),
                "log_file" => path(&node.log_file),
                "pid_file" => path(&node.pid_file),
                "cluster" => cluster.name.clone(),
                _ => return None,
            })
        };
        // Validated when the cluster was loaded, so every word fills.
        words.iter().map(|w| fill(w, value).unwrap_or_else(|_| w.clone())).collect()
    }
}

/// `word` with each `{key}` replaced by `value(key)`; `{{` and `}}` are
/// braces.
fn fill(word: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let known = || PLACEHOLDERS.iter().map(|(k, _)| format!("{{{k}}}")).collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{") {
            out.push('{');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("}}") {
            out.push('}');
            rest = t;
        } else if tail.starts_with('}') {
            return Err("a lone }; write }} for a brace".into());
        } else {
            let end = tail.find('}').ok_or_else(|| "a { with no }; write {{ for a brace".to_string())?;
            let key = &tail[1..end];
            if !PLACEHOLDERS.iter().any(|(k, _)| *k == key) {
                return Err(format!("unknown placeholder {{{key}}}; known: {}", known()));
            }
            out.push_str(&value(key).unwrap_or_default());
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let nodes = (1..=3)
            .map(|i| {
                let host = crate::HostSpec::Netns { namespace: format!("fl-n{i}") };
                NodeSpec::standard(
                    crate::NodeId(i),
                    &format!("n{i}"),
                    &format!("10.77.0.1{i}"),
                    7001,
                    host,
                    Path::new("/b"),
                )
            })
            .collect();
        Cluster::new("t", nodes)
    }

    fn db() -> CommandDb {
        CommandDb {
            name: "mykv".into(),
            binary: "bin/mykv".into(),
            start: vec!["{binary}".into(), "--id={id}".into(), "--listen".into(), "0.0.0.0:{port}".into()],
            install: None,
            stop: None,
            status: Some(vec!["{binary}".into(), "status".into(), "{endpoint}".into()]),
            adapter: Some(vec!["python3".into(), "adapter.py".into()]),
        }
    }

    #[test]
    fn placeholders_fill_per_node_and_braces_escape() {
        let c = cluster();
        let n = &c.nodes[1];
        let d = CommandDb { start: vec!["{binary}".into(), "{{{name}}}".into(), "{peers}".into()], ..db() };
        let got = d.command_for(&d.start, &c, n);
        assert_eq!(got, [n.binary.to_string_lossy().into_owned(), format!("{{{}}}", n.name), c.peers_arg()]);
        let all: Vec<String> = PLACEHOLDERS.iter().map(|(k, _)| format!("{{{k}}}")).collect();
        assert!(d.command_for(&all, &c, n).iter().all(|w| !w.contains('{') && !w.is_empty()));
    }

    #[test]
    fn bad_descriptions_are_refused_naming_what_is_wrong() {
        let err = |d: CommandDb| d.validate().unwrap_err();
        assert!(err(CommandDb { name: "etcd".into(), ..db() }).contains("db.name"));
        assert!(err(CommandDb { name: "a b".into(), ..db() }).contains("db.name"));
        assert!(err(CommandDb { start: vec![], ..db() }).contains("db.start: needs a program"));
        let e = err(CommandDb { start: vec!["x".into(), "{datadir}".into()], ..db() });
        assert!(e.contains("unknown placeholder {datadir}") && e.contains("{data_dir}"), "{e}");
        assert!(err(CommandDb { stop: Some(vec!["x".into(), "{id".into()]), ..db() }).contains("db.stop"));
        assert!(err(CommandDb { status: Some(vec!["x}".into()]), ..db() }).contains("lone }"));
        assert!(err(CommandDb { adapter: Some(vec!["a".into(), "{port}".into()]), ..db() }).contains("environment"));
        assert_eq!(db().validate(), Ok(()));
    }

    #[test]
    fn a_file_is_read_with_its_binary_beside_it_and_unknown_fields_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("mykv.json");
        std::fs::write(&f, serde_json::to_string(&db()).unwrap()).unwrap();
        let d = CommandDb::load(&f).unwrap();
        assert_eq!(d.binary, dir.path().join("bin/mykv"));
        assert_eq!(DbKind::from_arg(f.to_str().unwrap()), Ok(DbKind::Command(d)));
        std::fs::write(&f, r#"{"name":"x","binary":"b","start":["b"],"strat":["b"]}"#).unwrap();
        assert!(CommandDb::load(&f).unwrap_err().contains("unknown field `strat`"));
        assert!(DbKind::from_arg("mongo").unwrap_err().contains("unknown system \"mongo\""));
        assert!(DbKind::from_arg("/no/such.json").unwrap_err().contains("/no/such.json"));
    }

    #[test]
    fn the_cluster_file_holds_it_as_db_command() {
        let c = Cluster { db: DbKind::Command(db()), tls: None, ..cluster() };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["db"]["command"]["name"], "mykv");
        let back: Cluster = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }
}
