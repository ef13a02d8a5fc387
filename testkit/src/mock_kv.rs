//! An in-memory `Kv` server that answers at once: correct, or broken on
//! purpose.
//!
//! It stands in for a raftkv cluster where the rig itself is under test:
//! the recorder benchmark (a server that never makes the rig wait), and
//! fixtures that the checker must catch:
//! - [`Behaviour::StaleReads`]: reads of one key return the value before
//!   the latest write, once a few writes have happened;
//! - [`Behaviour::LostWrite`]: from the third write on, writes to one key
//!   are acknowledged and then dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use faultline_proto::kv_server::{Kv, KvServer};
use faultline_proto::*;
use tonic::{Request, Response, Status};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    Correct,
    StaleReads,
    LostWrite,
}

/// The key that the broken behaviours break: key 2 of any run (`checker
/// run` stores it as `PREFIX/2`).
pub fn is_broken_key(key: &[u8]) -> bool {
    key == b"2" || key.ends_with(b"/2")
}

#[derive(Default)]
struct Data {
    map: HashMap<Vec<u8>, Vec<u8>>,
    /// The value each key held before its latest change.
    previous: HashMap<Vec<u8>, Option<Vec<u8>>>,
    writes_to_broken: u64,
}

pub struct MockKv {
    behaviour: Behaviour,
    data: Mutex<Data>,
}

impl MockKv {
    pub fn new(behaviour: Behaviour) -> MockKv {
        MockKv { behaviour, data: Mutex::new(Data::default()) }
    }

    fn set(&self, d: &mut Data, key: &[u8], value: Vec<u8>) {
        if is_broken_key(key) {
            d.writes_to_broken += 1;
            if self.behaviour == Behaviour::LostWrite && d.writes_to_broken >= 3 {
                return; // acknowledged, never applied
            }
        }
        let old = d.map.insert(key.to_vec(), value);
        d.previous.insert(key.to_vec(), old);
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Kv for MockKv {
    async fn get(&self, r: Request<GetRequest>) -> Reply<GetResponse> {
        let key = r.into_inner().key;
        let d = self.data.lock().unwrap();
        let mut value = d.map.get(&key[..]).cloned();
        if self.behaviour == Behaviour::StaleReads && is_broken_key(&key) && d.writes_to_broken >= 3 {
            value = d.previous.get(&key[..]).cloned().flatten();
        }
        Ok(Response::new(GetResponse { found: value.is_some(), value: value.unwrap_or_default().into() }))
    }

    async fn put(&self, r: Request<PutRequest>) -> Reply<WriteResponse> {
        let r = r.into_inner();
        let mut d = self.data.lock().unwrap();
        self.set(&mut d, &r.key, r.value.to_vec());
        Ok(Response::new(WriteResponse { index: 0 }))
    }

    async fn delete(&self, r: Request<DeleteRequest>) -> Reply<WriteResponse> {
        let key = r.into_inner().key;
        let mut d = self.data.lock().unwrap();
        let old = d.map.remove(&key[..]);
        d.previous.insert(key.to_vec(), old);
        Ok(Response::new(WriteResponse { index: 0 }))
    }

    async fn cas(&self, r: Request<CasRequest>) -> Reply<CasResponse> {
        let r = r.into_inner();
        let mut d = self.data.lock().unwrap();
        let current = d.map.get(&r.key[..]).cloned();
        let matches = match &current {
            None => r.expect_absent,
            Some(v) => !r.expect_absent && v[..] == r.expected[..],
        };
        if matches {
            self.set(&mut d, &r.key, r.new_value.to_vec());
            return Ok(Response::new(CasResponse { succeeded: true, ..Default::default() }));
        }
        Ok(Response::new(CasResponse {
            succeeded: false,
            current_found: current.is_some(),
            current: current.unwrap_or_default().into(),
            index: 0,
        }))
    }

    async fn append(&self, r: Request<AppendRequest>) -> Reply<WriteResponse> {
        let r = r.into_inner();
        let mut d = self.data.lock().unwrap();
        let mut v = d.map.get(&r.key[..]).cloned().unwrap_or_default();
        v.extend_from_slice(&r.value);
        self.set(&mut d, &r.key, v);
        Ok(Response::new(WriteResponse { index: 0 }))
    }

    /// Applies the micro-ops in order under one lock: atomic, with the
    /// broken key as broken as in single ops.
    async fn txn(&self, r: Request<TxnRequest>) -> Reply<TxnResponse> {
        let r = r.into_inner();
        let mut d = self.data.lock().unwrap();
        let mut reads = Vec::new();
        for m in r.ops {
            let mut value = d.map.get(&m.key[..]).cloned();
            match micro_op::Kind::try_from(m.kind) {
                Ok(micro_op::Kind::Read) => {
                    if self.behaviour == Behaviour::StaleReads && is_broken_key(&m.key) && d.writes_to_broken >= 3 {
                        value = d.previous.get(&m.key[..]).cloned().flatten();
                    }
                    reads.push(ReadResult { found: value.is_some(), value: value.unwrap_or_default().into() });
                }
                Ok(micro_op::Kind::Append) => {
                    let mut v = value.unwrap_or_default();
                    v.extend_from_slice(&m.value);
                    self.set(&mut d, &m.key, v);
                }
                Ok(micro_op::Kind::Put) => self.set(&mut d, &m.key, m.value.to_vec()),
                Err(_) => return Err(Status::invalid_argument(format!("unknown micro-op kind {}", m.kind))),
            }
        }
        Ok(Response::new(TxnResponse { reads, index: 0 }))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Reply<StatusResponse> {
        Ok(Response::new(StatusResponse { id: 1, role: "leader".into(), leader_id: 1, ..Default::default() }))
    }
}

/// Serves until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, behaviour: Behaviour) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(KvServer::new(MockKv::new(behaviour)))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr, behaviour: Behaviour) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, behaviour));
    Ok(local)
}
