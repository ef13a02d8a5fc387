//! The DB protocol (Jepsen's DB): what the nemesis needs to know of the
//! system under test. Everything else a node's lifecycle needs (install,
//! start, stop, kill, pause, wipe, logs) is the same for any system that
//! runs as one process per host with a data dir and a log
//! (`lifecycle.sh`), so a system is two things:
//! - the command line that starts a node;
//! - how to ask a node about itself: its role and term (for leader-aimed
//!   faults such as `pause-isolate`, and for `nemesis status`).
//!
//! A system may add a command run on each host after install, and one that
//! asks a node to stop before the nemesis's SIGTERM.
//!
//! Implementations: [`Raftkv`] (its Status RPC), [`Etcd`] (etcd 3.x's
//! maintenance Status), [`Nats`] (the bucket's stream info) and
//! [`Commands`] (a system described by commands in the cluster file, run
//! on the node's host). The cluster description's
//! `db` picks one.

use std::time::Duration;

use cluster::{Cluster, CommandDb, DbKind, NodeSpec};
use raftkv_client::failpoint::{self, Action};
use raftkv_client::tls::ClientTls;
use raftkv_client::Client;
use serde::Deserialize;

use crate::remote::{quote_words, Remote};

/// Each status question gives up after this: a paused node never answers.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(1000);

/// A status command runs through the host's shell (`ip netns exec`, or
/// SSH), so it gets longer than an RPC.
pub const STATUS_COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

/// What a node says of itself; also what a command DB's status command
/// prints, as JSON (other fields are ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Report {
    /// "leader", "follower", "candidate", …
    pub role: String,
    pub term: u64,
    /// The leader it knows of, by node name.
    #[serde(default)]
    pub leader: Option<String>,
    #[serde(default)]
    pub commit: Option<u64>,
    #[serde(default)]
    pub applied: Option<u64>,
}

/// The system under test, as the nemesis sees it.
#[tonic::async_trait]
pub trait Db: Send + Sync {
    /// The command line that starts `node` on its host, its binary first.
    fn command(&self, cluster: &Cluster, node: &NodeSpec) -> Vec<String>;
    /// Asks `node` about itself.
    async fn report(&self, cluster: &Cluster, node: &NodeSpec) -> Result<Report, String>;
    /// Run on `node`'s host after its binary is copied there, if the
    /// system needs it.
    fn install_command(&self, _cluster: &Cluster, _node: &NodeSpec) -> Option<Vec<String>> {
        None
    }
    /// Asks a running node to stop, before the nemesis's own SIGTERM.
    fn stop_command(&self, _cluster: &Cluster, _node: &NodeSpec) -> Option<Vec<String>> {
        None
    }
    /// Sets failpoint `name` on `node` to `action`, or clears it.
    async fn set_failpoint(
        &self,
        _cluster: &Cluster,
        _node: &NodeSpec,
        _name: &str,
        _action: Option<&Action>,
    ) -> Result<(), String> {
        Err("this system has no failpoints".into())
    }
}

/// The implementation the cluster description names. `client_tls` is what
/// a client of a TLS cluster trusts (raftkv only).
pub fn for_cluster(cluster: &Cluster, client_tls: Option<ClientTls>) -> Box<dyn Db> {
    match &cluster.db {
        DbKind::Raftkv => Box::new(Raftkv { client_tls }),
        DbKind::Etcd => Box::new(Etcd),
        DbKind::Nats => Box::new(Nats),
        DbKind::Command(c) => Box::new(Commands(c.clone())),
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

    async fn set_failpoint(
        &self,
        cluster: &Cluster,
        node: &NodeSpec,
        name: &str,
        action: Option<&Action>,
    ) -> Result<(), String> {
        let tls = cluster.member_tls(&node.name).map_err(|e| e.to_string())?;
        failpoint::set(&node.endpoint(), tls.as_ref(), name, action).await.map(drop).map_err(|e| e.to_string())
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

/// NATS 2.9 with JetStream, plaintext: clients on the node's port, routes
/// on the port after it ([`NodeSpec::peer_port`]) to every member, the
/// file store in the node's data dir. The server's name is the node's, so
/// the leader JetStream names is a node.
///
/// The leader that matters to a fault is the bucket's: the stream's Raft
/// group leader takes every write and the leader's reads
/// ([`cluster::nats`]). JetStream shows no Raft term to clients, so the
/// report's term is 0.
pub struct Nats;

fn route_url(n: &NodeSpec) -> String {
    format!("nats://{}:{}", n.address, n.peer_port())
}

#[tonic::async_trait]
impl Db for Nats {
    fn command(&self, cluster: &Cluster, node: &NodeSpec) -> Vec<String> {
        let routes: Vec<String> = cluster.nodes.iter().map(route_url).collect();
        let mut args = vec![
            path(&node.binary),
            "--server_name".into(),
            node.name.clone(),
            "--addr".into(),
            "0.0.0.0".into(),
            "--port".into(),
            node.port.to_string(),
            "--client_advertise".into(),
            node.endpoint(),
            "--jetstream".into(),
            "--store_dir".into(),
            path(&node.data_dir),
            "--cluster_name".into(),
            format!("faultline-{}", cluster.name),
            "--cluster".into(),
            format!("nats://0.0.0.0:{}", node.peer_port()),
            "--cluster_advertise".into(),
            format!("{}:{}", node.address, node.peer_port()),
            "--routes".into(),
            routes.join(","),
        ];
        args.extend(cluster.node_args.iter().cloned());
        args
    }

    async fn report(&self, _cluster: &Cluster, node: &NodeSpec) -> Result<Report, String> {
        let ask = async {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(STATUS_TIMEOUT)
                .ignore_discovered_servers()
                .connect(format!("nats://{}", node.endpoint()))
                .await
                .map_err(|e| e.to_string())?;
            let mut js = async_nats::jetstream::new(client);
            js.set_timeout(STATUS_TIMEOUT);
            let stream = js
                .get_stream(cluster::nats::STREAM)
                .await
                .map_err(|e| format!("the bucket's stream {}: {e}", cluster::nats::STREAM))?;
            let info = stream.cached_info();
            let leader = info.cluster.as_ref().and_then(|c| c.leader.clone());
            let role = if leader.as_deref() == Some(node.name.as_str()) { "leader" } else { "follower" };
            Ok::<_, String>(Report {
                role: role.into(),
                term: 0,
                leader,
                commit: Some(info.state.last_sequence),
                applied: None,
            })
        };
        tokio::time::timeout(STATUS_TIMEOUT * 2, ask).await.map_err(|_| "no answer in time".to_string())?
    }
}

/// A system described by commands in the cluster file: each is filled in
/// for the node and run on its host, as the nemesis's own steps are.
pub struct Commands(pub CommandDb);

impl Commands {
    fn words(&self, words: Option<&Vec<String>>, cluster: &Cluster, node: &NodeSpec) -> Option<Vec<String>> {
        words.map(|w| self.0.command_for(w, cluster, node))
    }
}

#[tonic::async_trait]
impl Db for Commands {
    fn command(&self, cluster: &Cluster, node: &NodeSpec) -> Vec<String> {
        let mut args = self.0.command_for(&self.0.start, cluster, node);
        args.extend(cluster.node_args.iter().cloned());
        args
    }

    async fn report(&self, cluster: &Cluster, node: &NodeSpec) -> Result<Report, String> {
        let Some(words) = self.words(self.0.status.as_ref(), cluster, node) else {
            return Err(format!("{} has no status command (db.status), so it cannot say who leads", self.0.name));
        };
        let out = Remote::for_node(node)
            .run("status", &quote_words(&words), STATUS_COMMAND_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_str(out.trim()).map_err(|e| {
            format!("the status command printed {:?}, not a JSON object with role and term: {e}", out.trim())
        })
    }

    fn install_command(&self, cluster: &Cluster, node: &NodeSpec) -> Option<Vec<String>> {
        self.words(self.0.install.as_ref(), cluster, node)
    }

    fn stop_command(&self, cluster: &Cluster, node: &NodeSpec) -> Option<Vec<String>> {
        self.words(self.0.stop.as_ref(), cluster, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use cluster::{HostSpec, NodeId};
    use std::collections::BTreeMap;

    fn cluster(db: DbKind) -> Cluster {
        let nodes = (1..=3)
            .map(|i| {
                let host = HostSpec::Netns { namespace: format!("fake-n{i}") };
                NodeSpec::standard(NodeId(i), &format!("n{i}"), &format!("10.1.0.{i}"), 7001, host, "/h".as_ref())
            })
            .collect();
        Cluster { db, ..Cluster::new("t", nodes) }
    }

    /// A fake system: fixed answers per node name.
    struct FakeDb(BTreeMap<String, Result<Report, String>>);

    #[tonic::async_trait]
    impl Db for FakeDb {
        fn command(&self, _: &Cluster, node: &NodeSpec) -> Vec<String> {
            vec!["fake-db".into(), node.name.clone()]
        }
        async fn report(&self, _: &Cluster, node: &NodeSpec) -> Result<Report, String> {
            self.0[&node.name].clone()
        }
    }

    fn says(role: &str, term: u64) -> Result<Report, String> {
        Ok(Report { role: role.into(), term, ..Report::default() })
    }

    /// The nemesis finds the leader through the system's own answers: the
    /// node that says it leads in the highest term (an old leader cut off
    /// may still say so in a lower one), and none while nobody leads.
    #[tokio::test]
    async fn the_leader_is_whoever_says_so_in_the_highest_term() {
        let db = FakeDb(
            [("n1", says("leader", 3)), ("n2", says("leader", 5)), ("n3", Err("paused".into()))]
                .into_iter()
                .map(|(n, r)| (n.to_string(), r))
                .collect(),
        );
        let c = Control::with_db(cluster(DbKind::Raftkv), Box::new(db));
        assert_eq!(c.leader().await.as_deref(), Some("n2"));
        let db = FakeDb(["n1", "n2", "n3"].into_iter().map(|n| (n.to_string(), says("follower", 5))).collect());
        let c = Control::with_db(cluster(DbKind::Raftkv), Box::new(db));
        assert_eq!(c.leader().await, None);
    }

    #[test]
    fn raftkv_runs_with_tls_or_says_insecure() {
        let c = cluster(DbKind::Raftkv);
        let cmd = Raftkv { client_tls: None }.command(&c, &c.nodes[1]);
        assert_eq!(cmd[..4], ["/h/n2/bin/raftkv", "serve", "--id", "2"]);
        assert!(cmd.contains(&"--insecure".to_string()), "{cmd:?}");
        assert!(cmd.contains(&"1=10.1.0.1:7001,2=10.1.0.2:7001,3=10.1.0.3:7001".to_string()), "{cmd:?}");
    }

    /// Every etcd member bootstraps the same cluster, peers on the port
    /// after the client port.
    #[test]
    fn etcd_members_share_one_initial_cluster() {
        let c = cluster(DbKind::Etcd);
        let cmd = Etcd.command(&c, &c.nodes[0]);
        let arg = |flag: &str| cmd[cmd.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(arg("--name"), "n1");
        assert_eq!(arg("--initial-cluster"), "n1=http://10.1.0.1:7002,n2=http://10.1.0.2:7002,n3=http://10.1.0.3:7002");
        assert_eq!(arg("--advertise-client-urls"), "http://10.1.0.1:7001");
        assert_eq!(arg("--listen-peer-urls"), "http://0.0.0.0:7002");
        assert_eq!(arg("--data-dir"), "/h/n1/data");
    }

    /// Every NATS server routes to every member, is named for its node
    /// (so the leader JetStream names is a node) and keeps its file store
    /// in the node's data dir, where lossyfs and the faults reach it.
    #[test]
    fn nats_servers_route_to_every_member_under_the_node_s_name() {
        let c = cluster(DbKind::Nats);
        let cmd = Nats.command(&c, &c.nodes[1]);
        let arg = |flag: &str| cmd[cmd.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(arg("--server_name"), "n2");
        assert_eq!(arg("--routes"), "nats://10.1.0.1:7002,nats://10.1.0.2:7002,nats://10.1.0.3:7002");
        assert_eq!(arg("--cluster"), "nats://0.0.0.0:7002");
        assert_eq!(arg("--port"), "7001");
        assert_eq!(arg("--store_dir"), "/h/n2/data");
        assert!(cmd.contains(&"--jetstream".to_string()));
    }
}
