//! The cluster description, `cluster.json`.
//!
//! One file tells every part of the rig where the three nodes are: their
//! ids and names, the address that serves both Raft peers and clients, how
//! to run a command on each host (a local network namespace, or SSH), and
//! where the node's binary, data, log and pid file live on that host.
//! `nemesis hosts up` writes it for the local test hosts; the Vagrant set-up
//! writes it for VMs. The format is documented in `docs/cluster-format.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raftkv_client::tls::{ClientTls, TlsError};
use raftkv_client::Client;
use serde::{Deserialize, Serialize};

use crate::db::DbKind;
use crate::NodeId;

pub use raftkv_client::CLUSTER_SIZE;

/// A whole cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// A label for reports ("local", "vagrant", …).
    pub name: String,
    pub nodes: Vec<NodeSpec>,
    /// Extra `raftkv serve` flags given to every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_args: Vec<String>,
    /// Each node's data dir is a lossyfs mount (`lossyfs` installed beside
    /// the node's binary), so that the `lose-unsynced` fault can throw away
    /// what was never fsynced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lossy_fs: bool,
    /// Each node runs under the clock shim, its clocks offset by a file the
    /// `clock` fault rewrites.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub faked_clock: bool,
    /// Mutual TLS between the nodes, and TLS to their clients. Absent, the
    /// nodes run `--insecure`: plaintext, peers unauthenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// The system under test; raftkv unless named.
    #[serde(default, skip_serializing_if = "DbKind::is_raftkv")]
    pub db: DbKind,
}

/// The certificates of a cluster, as files on this (the controlling)
/// machine; relative paths are taken from the cluster file's folder. The
/// nemesis installs each node's into its TLS folder on its host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// The CA certificate (PEM) every node and client trusts.
    pub ca: PathBuf,
    /// Each node's certificate and private key, by node name. A node's
    /// certificate must carry the names `raftkv` and `node-ID`.
    pub nodes: BTreeMap<String, NodeCertFiles>,
}

/// One node's certificate and key (PEM).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeCertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One node and its host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub id: NodeId,
    /// Short name used in commands and reports: n1, n2, n3.
    pub name: String,
    /// IP address (or host name) that peers and clients connect to.
    pub address: String,
    /// The port that serves both Raft peers and clients.
    pub port: u16,
    /// How to run a command on this node's host.
    pub host: HostSpec,
    /// Where the node keeps its RocksDB data, on the host.
    pub data_dir: PathBuf,
    /// The node's stderr, on the host.
    pub log_file: PathBuf,
    /// Holds the pid of the running node, on the host. Present with a dead
    /// pid means "killed, to be restarted"; absent means "stopped".
    pub pid_file: PathBuf,
    /// Where `raftkv` is installed, on the host.
    pub binary: PathBuf,
}

/// How commands reach a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HostSpec {
    /// A network namespace on this machine (`ip netns exec NAMESPACE`).
    Netns { namespace: String },
    /// A machine reached with OpenSSH.
    Ssh {
        /// The `Host` in the ssh config, or a host name.
        target: String,
        /// Login user; commands run through `sudo -n` when it is not root.
        user: String,
        /// An ssh config file (as `vagrant ssh-config` writes); relative
        /// paths are taken from the cluster file's folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ssh_config: Option<PathBuf>,
        /// A private key, when the ssh config does not name one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity_file: Option<PathBuf>,
        /// SSH port, when the ssh config does not name one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
}

/// A cluster description that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cluster file {path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("cluster file {path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("unknown node {given:?}: the cluster has {known}")]
    UnknownNode { given: String, known: String },
}

impl NodeSpec {
    /// A node in the standard layout: everything of node NAME under
    /// `base/NAME/` (`data/`, `raftkv.log`, `raftkv.pid`, `bin/raftkv`).
    /// One folder per node, so hosts that share a file system (the local
    /// test hosts) never share files; VMs use the same layout.
    pub fn standard(id: NodeId, name: &str, address: &str, port: u16, host: HostSpec, base: &Path) -> NodeSpec {
        let dir = base.join(name);
        NodeSpec {
            id,
            name: name.to_string(),
            address: address.to_string(),
            port,
            host,
            data_dir: dir.join("data"),
            log_file: dir.join("raftkv.log"),
            pid_file: dir.join("raftkv.pid"),
            binary: dir.join("bin/raftkv"),
        }
    }

    /// The node's TLS folder on its host (`raftkv serve --tls-dir`), beside
    /// its binary.
    pub fn tls_dir(&self) -> PathBuf {
        self.binary.with_file_name("tls")
    }

    /// The port a system with a separate peer port (etcd's peers, NATS's
    /// routes) serves its peers on: the one after [`NodeSpec::port`].
    pub fn peer_port(&self) -> u16 {
        self.port.saturating_add(1)
    }

    /// `address:port`, as peers and clients dial it.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }
}

impl fmt::Display for NodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (id {}, {})", self.name, self.id, self.endpoint())
    }
}

impl Cluster {
    /// A raftkv cluster of `nodes` with nothing else set: no node flags,
    /// plain data dirs, true clocks, no TLS.
    pub fn new(name: &str, nodes: Vec<NodeSpec>) -> Cluster {
        Cluster {
            name: name.to_string(),
            nodes,
            node_args: vec![],
            lossy_fs: false,
            faked_clock: false,
            tls: None,
            db: DbKind::Raftkv,
        }
    }

    /// Machines reached over SSH in the standard layout, as the Vagrant
    /// set-up describes its VMs: `nodes` are (name, address) in id order,
    /// and each name is also the `Host` of `ssh_config`.
    pub fn over_ssh(
        name: &str,
        nodes: &[(String, String)],
        port: u16,
        user: &str,
        ssh_config: &Path,
        base: &Path,
    ) -> Cluster {
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(i, (n, addr))| {
                let host = HostSpec::Ssh {
                    target: n.clone(),
                    user: user.to_string(),
                    ssh_config: Some(ssh_config.to_path_buf()),
                    identity_file: None,
                    port: None,
                };
                NodeSpec::standard(NodeId(i as u64 + 1), n, addr, port, host, base)
            })
            .collect();
        Cluster::new(name, nodes)
    }

    /// Reads and validates a cluster file.
    pub fn load(path: &Path) -> Result<Cluster, ClusterError> {
        let text = std::fs::read_to_string(path).map_err(|source| ClusterError::Read { path: path.into(), source })?;
        let mut cluster: Cluster = serde_json::from_str(&text)
            .map_err(|e| ClusterError::Parse { path: path.into(), detail: e.to_string() })?;
        cluster.validate().map_err(|detail| ClusterError::Invalid { path: path.into(), detail })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cluster.resolve_relative(base);
        Ok(cluster)
    }

    /// Writes the description as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), ClusterError> {
        let text = serde_json::to_string_pretty(self).expect("a cluster always serializes") + "\n";
        std::fs::write(path, text).map_err(|source| ClusterError::Read { path: path.into(), source })
    }

    /// Checks what serde cannot: the count, uniqueness, and absolute paths.
    /// The message names the node at fault.
    pub fn validate(&self) -> Result<(), String> {
        // Every string ends up quoted inside a bash script run as root, and
        // no quoting can carry a NUL.
        let doc = serde_json::to_value(self).expect("a cluster always serializes");
        if let Some(at) = nul_at(&doc, String::new()) {
            return Err(format!("{at} holds a NUL byte, which no path, address or argument may hold"));
        }
        if self.nodes.len() != CLUSTER_SIZE {
            return Err(format!("expected exactly {CLUSTER_SIZE} nodes, found {}", self.nodes.len()));
        }
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        let mut endpoints = BTreeSet::new();
        for n in &self.nodes {
            let ok_name = !n.name.is_empty()
                && n.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && n.name != "leader";
            if !ok_name {
                return Err(format!(
                    "node id {}: name {:?} must be non-empty letters, digits, - or _, and not \"leader\"",
                    n.id, n.name
                ));
            }
            if n.id.get() == 0 {
                return Err(format!("node {}: id 0 is reserved by Raft; ids start at 1", n.name));
            }
            if !ids.insert(n.id) {
                return Err(format!("node {}: id {} appears twice", n.name, n.id));
            }
            if !names.insert(n.name.as_str()) {
                return Err(format!("node {}: the name appears twice", n.name));
            }
            if n.address.is_empty() || n.port == 0 {
                return Err(format!("node {}: address and a non-zero port are required", n.name));
            }
            if !endpoints.insert(n.endpoint()) {
                return Err(format!("node {}: endpoint {} is used by another node", n.name, n.endpoint()));
            }
            for (field, p) in
                [("data_dir", &n.data_dir), ("log_file", &n.log_file), ("pid_file", &n.pid_file), ("binary", &n.binary)]
            {
                if !p.is_absolute() {
                    return Err(format!(
                        "node {}: {field} {} must be an absolute path on the host",
                        n.name,
                        p.display()
                    ));
                }
            }
            match &n.host {
                HostSpec::Netns { namespace } if namespace.is_empty() => {
                    return Err(format!("node {}: host namespace is empty", n.name));
                }
                HostSpec::Ssh { target, user, .. } if target.is_empty() || user.is_empty() => {
                    return Err(format!("node {}: ssh host needs a target and a user", n.name));
                }
                HostSpec::Ssh { target, user, .. } if target.starts_with('-') || user.starts_with('-') => {
                    return Err(format!(
                        "node {}: ssh target {target:?} and user {user:?} must not begin with '-' \
                         (ssh would read them as options)",
                        n.name
                    ));
                }
                _ => {}
            }
        }
        if matches!(self.db, DbKind::Etcd | DbKind::Nats) {
            let name = self.db.name();
            if self.tls.is_some() {
                return Err(format!(
                    "tls: the {name} nodes run plaintext here; drop tls (nemesis describe --insecure)"
                ));
            }
            if self.faked_clock {
                return Err(format!(
                    "faked_clock: the clock shim cannot move a Go program's clocks ({name} reads them without \
                     libc); clock faults are for raftkv"
                ));
            }
        }
        if self.db.has_peer_port() {
            if let Some(n) = self.nodes.iter().find(|n| n.port == u16::MAX) {
                return Err(format!(
                    "node {}: {} serves peers on port+1, and port {} has none after it",
                    n.name,
                    self.db.name(),
                    n.port
                ));
            }
        }
        if let DbKind::Command(db) = &self.db {
            db.validate()?;
            if self.tls.is_some() {
                return Err(format!(
                    "tls: a system described by commands ({}) runs plaintext here; drop tls (nemesis describe --insecure)",
                    db.name
                ));
            }
        }
        if let Some(tls) = &self.tls {
            for n in &self.nodes {
                if !tls.nodes.contains_key(&n.name) {
                    return Err(format!("tls: node {} has no certificate (tls.nodes.{})", n.name, n.name));
                }
            }
            if let Some(extra) = tls.nodes.keys().find(|k| !names.contains(k.as_str())) {
                return Err(format!("tls: certificate for {extra:?}, which is no node of this cluster"));
            }
        }
        Ok(())
    }

    fn resolve_relative(&mut self, base: &Path) {
        if let Some(tls) = &mut self.tls {
            let files = tls.nodes.values_mut().flat_map(|f| [&mut f.cert, &mut f.key]);
            for p in std::iter::once(&mut tls.ca).chain(files) {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        if let DbKind::Command(db) = &mut self.db {
            if db.binary.is_relative() {
                db.binary = base.join(&db.binary);
            }
        }
        for n in &mut self.nodes {
            if let HostSpec::Ssh { ssh_config, identity_file, .. } = &mut n.host {
                for p in [ssh_config, identity_file].into_iter().flatten() {
                    if p.is_relative() {
                        *p = base.join(&*p);
                    }
                }
            }
        }
    }

    /// The node named `name` (n2) or with id `name` (2).
    pub fn node(&self, name: &str) -> Result<&NodeSpec, ClusterError> {
        self.nodes
            .iter()
            .find(|n| n.name == name || n.id.to_string() == name)
            .ok_or_else(|| ClusterError::UnknownNode { given: name.to_string(), known: self.names().join(", ") })
    }

    pub fn node_by_id(&self, id: NodeId) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The `--peers` value of `raftkv serve`: `1=ADDR:PORT,2=…`.
    pub fn peers_arg(&self) -> String {
        self.nodes.iter().map(|n| format!("{}={}", n.id, n.endpoint())).collect::<Vec<_>>().join(",")
    }

    /// What a client of this cluster trusts: its CA, or nothing (plaintext)
    /// when the cluster runs without TLS.
    pub fn client_tls(&self) -> Result<Option<ClientTls>, TlsError> {
        self.tls.as_ref().map(|t| ClientTls::load(&t.ca)).transpose()
    }

    /// What member `name` presents when it dials (its CA, certificate and
    /// key), or nothing when the cluster runs without TLS. The rig sets a
    /// node's failpoints with the node's own certificate: the node takes
    /// them only from a cluster member.
    pub fn member_tls(&self, name: &str) -> Result<Option<ClientTls>, TlsError> {
        let Some(t) = &self.tls else { return Ok(None) };
        let Some(files) = t.nodes.get(name) else { return Ok(None) };
        let ca = raftkv_client::tls::read_pem(&t.ca, "CERTIFICATE")?;
        let cert = raftkv_client::tls::read_pem(&files.cert, "CERTIFICATE")?;
        let key = raftkv_client::tls::read_pem(&files.key, "PRIVATE KEY")?;
        Ok(Some(ClientTls::peer(&ca, &cert, &key)))
    }

    /// A client of every node, over TLS when the cluster has it.
    pub fn client(&self, timeout: Duration) -> Result<Client, TlsError> {
        Ok(Client::new(self.endpoints(), timeout).with_tls(self.client_tls()?))
    }

    /// Every node's client endpoint.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(NodeSpec::endpoint).collect()
    }
}

/// The JSON pointer of the first string under `v` that holds a NUL.
fn nul_at(v: &serde_json::Value, at: String) -> Option<String> {
    match v {
        serde_json::Value::String(s) => s.contains('\0').then_some(at),
        serde_json::Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| nul_at(x, format!("{at}/{i}"))),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| nul_at(x, format!("{at}/{k}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64) -> NodeSpec {
        NodeSpec {
            id: NodeId(id),
            name: format!("n{id}"),
            address: format!("10.77.0.1{id}"),
            port: 7001,
            host: HostSpec::Netns { namespace: format!("fl-n{id}") },
            data_dir: format!("/tmp/fl/n{id}/data").into(),
            log_file: format!("/tmp/fl/n{id}/raftkv.log").into(),
            pid_file: format!("/tmp/fl/n{id}/raftkv.pid").into(),
            binary: "/tmp/fl/bin/raftkv".into(),
        }
    }

    fn cluster() -> Cluster {
        Cluster {
            name: "t".into(),
            nodes: (1..=3).map(node).collect(),
            node_args: vec![],
            lossy_fs: false,
            faked_clock: false,
            tls: None,
            db: DbKind::Raftkv,
        }
    }

    fn tls(names: &[&str]) -> TlsSpec {
        let files =
            |n: &str| NodeCertFiles { cert: format!("tls/{n}/node.pem").into(), key: format!("/k/{n}.key").into() };
        TlsSpec { ca: "tls/ca.pem".into(), nodes: names.iter().map(|n| (n.to_string(), files(n))).collect() }
    }

    /// Certificates named relative to the cluster file are found beside
    /// it; absolute ones stay.
    #[test]
    fn tls_files_resolve_from_the_cluster_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cluster();
        c.tls = Some(tls(&["n1", "n2", "n3"]));
        let path = dir.path().join("cluster.json");
        c.save(&path).unwrap();
        let back = Cluster::load(&path).unwrap().tls.unwrap();
        assert_eq!(back.ca, dir.path().join("tls/ca.pem"));
        assert_eq!(back.nodes["n2"].cert, dir.path().join("tls/n2/node.pem"));
        assert_eq!(back.nodes["n2"].key, std::path::Path::new("/k/n2.key"));
    }

    #[test]
    fn every_node_needs_a_certificate_and_every_certificate_a_node() {
        let mut c = cluster();
        c.tls = Some(tls(&["n1", "n3"]));
        assert!(c.validate().unwrap_err().contains("node n2 has no certificate"));
        c.tls = Some(tls(&["n1", "n2", "n3", "n4"]));
        assert!(c.validate().unwrap_err().contains("\"n4\", which is no node"));
        c.tls = Some(tls(&["n1", "n2", "n3"]));
        c.validate().unwrap();
    }

    #[test]
    fn round_trips_and_resolves_ssh_paths() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cluster();
        c.nodes[2].host = HostSpec::Ssh {
            target: "n3".into(),
            user: "vagrant".into(),
            ssh_config: Some("ssh-config".into()),
            identity_file: None,
            port: None,
        };
        let path = dir.path().join("cluster.json");
        c.save(&path).unwrap();
        let back = Cluster::load(&path).unwrap();
        assert_eq!(back.peers_arg(), "1=10.77.0.11:7001,2=10.77.0.12:7001,3=10.77.0.13:7001");
        match &back.nodes[2].host {
            HostSpec::Ssh { ssh_config: Some(p), .. } => assert_eq!(p, &dir.path().join("ssh-config")),
            other => panic!("unexpected host {other:?}"),
        }
        assert_eq!(back.node("2").unwrap().name, "n2");
        assert_eq!(back.node("n3").unwrap().id, NodeId(3));
        let err = back.node("n9").unwrap_err().to_string();
        assert!(err.contains("n9") && err.contains("n1, n2, n3"), "{err}");
    }

    #[test]
    fn errors_name_the_node() {
        let mut c = cluster();
        c.nodes[1].data_dir = "relative/data".into();
        let err = c.validate().unwrap_err();
        assert!(err.contains("node n2") && err.contains("data_dir"), "{err}");

        let mut c = cluster();
        c.nodes[2].id = NodeId(1);
        assert!(c.validate().unwrap_err().contains("node n3: id 1 appears twice"));

        let mut c = cluster();
        c.nodes.pop();
        assert!(c.validate().unwrap_err().contains("exactly 3 nodes"));
    }

    /// ssh reads an argument that begins with `-` as an option: a target of
    /// `-V` would print ssh's version and let the caller think it reached
    /// a host. Such a target or user is refused.
    #[test]
    fn an_ssh_target_or_user_that_looks_like_an_option_is_refused() {
        for (target, user) in [("-V", "vagrant"), ("-oProxyCommand=sh", "vagrant"), ("n3", "-V")] {
            let mut c = cluster();
            c.nodes[2].host = HostSpec::Ssh {
                target: target.into(),
                user: user.into(),
                ssh_config: None,
                identity_file: None,
                port: None,
            };
            let err = c.validate().unwrap_err();
            assert!(err.contains("node n3") && err.contains("must not begin with '-'"), "{err}");
        }
    }

    /// A NUL would panic the quoting of every script the nemesis runs as
    /// root; the file is refused instead, naming where the NUL is.
    #[test]
    fn a_nul_byte_anywhere_is_refused_with_its_place() {
        let mut c = cluster();
        c.nodes[1].data_dir = "/tmp/fl/n2\0/data".into();
        let err = c.validate().unwrap_err();
        assert!(err.starts_with("/nodes/1/data_dir holds a NUL byte"), "{err}");
        let mut c = cluster();
        c.node_args = vec!["--log-level".into(), "warn\0".into()];
        assert!(c.validate().unwrap_err().starts_with("/node_args/1 holds a NUL byte"));
        // Quotes, $() and newlines are fine: they are quoted, not refused.
        let mut c = cluster();
        c.node_args = vec!["it's $(reboot)\nsecond line".into()];
        c.validate().unwrap();
    }

    #[test]
    fn malformed_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.json");
        std::fs::write(&path, r#"{"name":"x","nodes":[{"id":1,"nmae":"n1"}]}"#).unwrap();
        let err = Cluster::load(&path).unwrap_err().to_string();
        assert!(err.contains("cluster.json") && err.contains("nmae"), "{err}");
    }
}
