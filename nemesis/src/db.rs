//! The DB protocol (Jepsen's DB): what the nemesis needs to know of the
//! system under test. Everything else a node's lifecycle needs (install,
//! start, stop, kill, pause, wipe, logs) is the same for any system that
//! runs as one process per host with a data dir and a log
//! (`lifecycle.sh`), so a system is two things:
//! - the command line that starts a node;
//! - how to ask a node about itself: its role and term (for leader-aimed
//!   faults such as `pause-isolate`, and for `nemesis status`).
//!
//! Implementations: [`Raftkv`] (its Status RPC) and [`Etcd`] (etcd 3.x's
//! maintenance Status). The cluster description's `db` picks one.

use std::time::Duration;

use cluster::{Cluster, DbKind, NodeSpec};
use raftkv_client::tls::ClientTls;
use raftkv_client::Client;

/// Each status question gives up after this: a paused node never answers.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(1000);

/// What a node says of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// "leader", "follower", "candidate", …
    pub role: String,
    pub term: u64,
    /// The leader it knows of, by node name.
    pub leader: Option<String>,
    pub commit: Option<u64>,
    pub applied: Option<u64>,
}

/// The system under test, as the nemesis sees it.
#[tonic::async_trait]
pub trait Db: Send + Sync {
    /// The command line that starts `node` on its host, its binary first.
    fn command(&self, cluster: &Cluster, node: &NodeSpec) -> Vec<String>;
    /// Asks `node` about itself.
    async fn report(&self, cluster: &Cluster, node: &NodeSpec) -> Result<Report, String>;
}

/// The implementation the cluster description names. `client_tls` is what
/// a client of a TLS cluster trusts (raftkv only).
pub fn for_cluster(cluster: &Cluster, client_tls: Option<ClientTls>) -> Box<dyn Db> {
    match cluster.db {
        DbKind::Raftkv => Box::new(Raftkv { client_tls }),
        DbKind::Etcd => Box::new(Etcd),
    }
}

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// raftkv: `raftkv serve`, over mutual TLS when the cluster has it.
pub struct Raftkv {
    client_tls: Option<ClientTls>,
}

#[tonic::async_trait]
impl Db for Raftkv {
    fn command(&self, cluster: &Cluster, node: &NodeSpec) -> Vec<String> {
        let mut args = vec![
            path(&node.binary),
            "serve".into(),
            "--id".into(),
            node.id.to_string(),
            "--peers".into(),
            cluster.peers_arg(),
            "--data-dir".into(),
            path(&node.data_dir),
            "--listen".into(),
            format!("0.0.0.0:{}", node.port),
        ];
        match &cluster.tls {
            Some(_) => args.extend(["--tls-dir".into(), path(&node.tls_dir())]),
            None => args.push("--insecure".into()),
        }
        args.extend(cluster.node_args.iter().cloned());
        args
    }

    async fn report(&self, cluster: &Cluster, node: &NodeSpec) -> Result<Report, String> {
        let mut c = Client::new(vec![], STATUS_TIMEOUT).with_tls(self.client_tls.clone());
        let s = c.status_of(&node.endpoint()).await.map_err(|e| e.to_string())?;
        Ok(Report {
            role: s.role,
            term: s.term,
            leader: (s.leader_id != 0).then(|| {
                cluster
                    .node_by_id(cluster::NodeId(s.leader_id))
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| format!("id {}", s.leader_id))
            }),
            commit: Some(s.commit),
            applied: Some(s.applied),
        })
    }
}

/// etcd 3.x, plaintext: clients on the node's port, peers on the port
/// after it ([`NodeSpec::peer_port`]); every member bootstraps the same
/// `--initial-cluster`, and a restart on its data dir rejoins.
pub struct Etcd;

fn peer_url(n: &NodeSpec) -> String {
    format!("http://{}:{}", n.address, n.peer_port())
}

#[tonic::async_trait]
impl Db for Etcd {
    fn command(&self, cluster: &Cluster, node: &NodeSpec) -> Vec<String> {
        let initial: Vec<String> = cluster.nodes.iter().map(|n| format!("{}={}", n.name, peer_url(n))).collect();
        let mut args = vec![
            path(&node.binary),
            "--name".into(),
            node.name.clone(),
            "--data-dir".into(),
            path(&node.data_dir),
            "--listen-client-urls".into(),
            format!("http://0.0.0.0:{}", node.port),
            "--advertise-client-urls".into(),
            format!("http://{}", node.endpoint()),
            "--listen-peer-urls".into(),
            format!("http://0.0.0.0:{}", node.peer_port()),
            "--initial-advertise-peer-urls".into(),
            peer_url(node),
            "--initial-cluster".into(),
            initial.join(","),
            "--initial-cluster-state".into(),
            "new".into(),
            "--initial-cluster-token".into(),
            format!("faultline-{}", cluster.name),
            "--logger".into(),
            "zap".into(),
            "--log-outputs".into(),
            "stderr".into(),
        ];
        args.extend(cluster.node_args.iter().cloned());
        args
    }

    async fn report(&self, _cluster: &Cluster, node: &NodeSpec) -> Result<Report, String> {
        let ask = async {
            let opts =
                etcd_client::ConnectOptions::new().with_connect_timeout(STATUS_TIMEOUT).with_timeout(STATUS_TIMEOUT);
            let mut c = etcd_client::Client::connect([format!("http://{}", node.endpoint())], Some(opts))
                .await
                .map_err(|e| e.to_string())?;
            let status = c.status().await.map_err(|e| e.to_string())?;
            let members = c.member_list().await.map_err(|e| e.to_string())?;
            let me = status.header().map(|h| h.member_id()).unwrap_or_default();
            let name_of = |id: u64| {
                members.members().iter().find(|m| m.id() == id).map(|m| m.name().to_string()).filter(|n| !n.is_empty())
            };
            let leader = (status.leader() != 0)
                .then(|| name_of(status.leader()).unwrap_or_else(|| format!("member {:x}", status.leader())));
            let role = if status.leader() != 0 && status.leader() == me { "leader" } else { "follower" };
            Ok::<_, String>(Report {
                role: role.into(),
                term: status.raft_term(),
                leader,
                commit: Some(status.raft_index()),
                applied: Some(status.raft_applied_index()),
            })
        };
        tokio::time::timeout(STATUS_TIMEOUT * 2, ask).await.map_err(|_| "no answer in time".to_string())?
    }
}
