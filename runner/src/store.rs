//! The Client protocol (Jepsen's Client): what the runner needs of a
//! system's client, whatever the system. Each worker holds one store,
//! bound to one node as a Jepsen client is, and [`crate::client::perform`]
//! turns each answer into the history's ok, fail or info.
//!
//! The errors are `raftkv_client`'s [`ClientError`], whose
//! [`ClientError::is_definite`] is the one question the history needs
//! answered: did the operation certainly not happen? Each implementation
//! sorts its system's errors into those variants, and says in its module
//! docs how.
//!
//! Implementations: raftkv ([`raftkv_client::Client`], below), etcd
//! ([`crate::etcd`]), NATS JetStream ([`crate::nats`]), and any system through an external program
//! ([`crate::adapter`]).

use std::time::Duration;

use raftkv_client::tls::ClientTls;
use raftkv_client::{CasResult, Client, ClientError, TxnOp};

use crate::adapter::AdapterStore;
use crate::etcd::EtcdStore;
use crate::nats::NatsStore;

/// Worker `home`'s node.
fn home_of(endpoints: &[String], home: usize) -> Result<&String, ClientError> {
    endpoints
        .get(home % endpoints.len().max(1))
        .ok_or_else(|| ClientError::InvalidArgument("no endpoints given".into()))
}

/// Which system's client a run uses, and how.
#[derive(Clone, Debug)]
pub enum StoreKind {
    /// raftkv, over TLS when given the cluster's CA.
    Raftkv { tls: Option<ClientTls> },
    /// etcd 3.x; `serializable` reads may be stale, as etcd documents.
    Etcd { serializable: bool },
    /// NATS JetStream's key-value bucket; `direct` reads (any replica
    /// answers) may be stale.
    Nats { direct: bool },
    /// Any system, through an external adapter program ([`crate::adapter`]).
    Adapter { program: Vec<String> },
}

impl StoreKind {
    /// The system's name, for messages.
    pub fn system(&self) -> &'static str {
        match self {
            StoreKind::Raftkv { .. } => "raftkv",
            StoreKind::Etcd { .. } => "etcd",
            StoreKind::Nats { .. } => "nats",
            StoreKind::Adapter { .. } => "adapter",
        }
    }

    /// What its clients speak: `tls` or `plaintext` (an adapter's own
    /// business: `adapter`).
    pub fn transport(&self) -> &'static str {
        match self {
            StoreKind::Raftkv { tls: Some(_) } => "tls",
            StoreKind::Raftkv { tls: None } | StoreKind::Etcd { .. } | StoreKind::Nats { .. } => "plaintext",
            StoreKind::Adapter { .. } => "adapter",
        }
    }

    /// A store bound to `endpoints[home % n]`, each op giving up after
    /// `timeout`. A raftkv client follows redirects to the leader from
    /// there; an etcd member forwards to its leader itself, and a NATS
    /// server routes to the bucket's leader.
    pub async fn open(
        &self,
        endpoints: &[String],
        home: usize,
        timeout: Duration,
    ) -> Result<Box<dyn Store>, ClientError> {
        match self {
            StoreKind::Raftkv { tls } => {
                Ok(Box::new(Client::new(endpoints.to_vec(), timeout).with_home(home).with_tls(tls.clone())))
            }
            StoreKind::Etcd { serializable } => {
                Ok(Box::new(EtcdStore::connect(home_of(endpoints, home)?, timeout, *serializable).await?))
            }
            StoreKind::Nats { direct } => {
                Ok(Box::new(NatsStore::connect(home_of(endpoints, home)?, timeout, *direct).await?))
            }
            StoreKind::Adapter { program } => {
                Ok(Box::new(AdapterStore::new(program.clone(), home_of(endpoints, home)?, endpoints, timeout)))
            }
        }
    }
}

/// One client of the system under test.
#[tonic::async_trait]
pub trait Store: Send {
    /// Makes what the system needs before a run's first op (a NATS
    /// bucket); no change when it is there. The probe calls it until the
    /// cluster serves a read.
    async fn prepare(&mut self) -> Result<(), ClientError> {
        Ok(())
    }
    /// The key's value; `None` when absent.
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError>;
    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError>;
    async fn delete(&mut self, key: &[u8]) -> Result<(), ClientError>;
    /// Appends `value` to the key's value, creating it when absent.
    async fn append(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError>;
    /// Sets `new` if the key holds `expected` (`None`: is absent).
    async fn cas(&mut self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<CasResult, ClientError>;
    /// Applies `ops` as one transaction; what each read found, in order
    /// (`None`: absent). The whole transaction takes effect at one point
    /// between the call and its answer, or not at all.
    async fn txn(&mut self, ops: &[TxnOp]) -> Result<Vec<Option<Vec<u8>>>, ClientError>;
}

#[tonic::async_trait]
impl Store for Client {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        Client::get(self, key).await
    }
    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        Client::put(self, key, value).await.map(drop)
    }
    async fn delete(&mut self, key: &[u8]) -> Result<(), ClientError> {
        Client::delete(self, key).await.map(drop)
    }
    async fn append(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        Client::append(self, key, value).await.map(drop)
    }
    async fn cas(&mut self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<CasResult, ClientError> {
        Client::cas(self, key, expected, new).await
    }
    async fn txn(&mut self, ops: &[TxnOp]) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
        Client::txn(self, ops).await
    }
}
