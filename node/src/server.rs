//! The gRPC services one node serves on its address: `RaftTransport` for
//! peers and `Kv` for clients.
//!
//! Client requests are checked here (key and value limits) and handed to the
//! Raft loop as [`Event`]s; the answer is awaited with the request timeout.
//! How each internal outcome maps to a status code is the contract written
//! in `raftkv.proto`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use faultline_proto::command::Op;
use faultline_proto::kv_server::Kv;
use faultline_proto::raft_transport_server::RaftTransport;
use faultline_proto::*;
use prost_011::Message as _;
use raft::prelude::Message;
use raftkv_client::NodeId;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status, Streaming};
use tracing::warn;

use crate::raft_loop::{Event, ProposeError, ReadError, StatusInfo};
use crate::revocation::{self, Fingerprint, Revoked};
use crate::state_machine::Outcome;
use crate::throttle::Throttle;

pub use faultline_proto::{LEADER_ADDR_KEY, LEADER_ID_KEY, MAX_GRPC_MESSAGE};

/// Peer-facing service: feeds incoming Raft messages to the loop.
pub struct RaftService {
    pub id: u64,
    pub peers: BTreeMap<u64, String>,
    pub events: Sender<Event>,
    /// Snapshot bytes all incoming streams together may hold in memory.
    pub max_snapshot_size: u64,
    /// Snapshot bytes held now, over every stream.
    pub snapshot_bytes: Arc<AtomicU64>,
    /// Mutual TLS is on: a stream is taken only from a connection whose
    /// certificate names a peer, and carries only that peer's messages.
    pub authenticate: bool,
    /// Certificates refused even though the CA signed them.
    pub revoked: Arc<Revoked>,
    /// Streams refused for their certificate, for a throttled log.
    pub refused: Throttle,
}

/// The peer a stream speaks for, and its certificate's fingerprint.
#[derive(Clone, Copy)]
struct PeerStream {
    id: u64,
    fingerprint: Fingerprint,
}

impl RaftService {
    /// The peer a stream comes from, by its connection's certificate; `None`
    /// without TLS, where only the messages' own `from` says.
    fn sender<T>(&self, request: &Request<T>) -> Result<Option<PeerStream>, Status> {
        if !self.authenticate {
            return Ok(None);
        }
        let chain = request.peer_certs();
        let chain = chain.as_deref().map(Vec::as_slice);
        let peers = self.peers.keys().filter(|id| **id != self.id).map(|id| NodeId(*id));
        let remote = || request.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
        match (crate::tls::peer_of(chain, peers), chain.and_then(|c| c.first())) {
            (Some(id), Some(leaf)) => {
                let fingerprint = revocation::fingerprint(leaf);
                if self.revoked.contains(&fingerprint) {
                    self.refuse(&remote(), "refusing raft traffic over a revoked certificate", Some(id.get()));
                    return Err(Status::permission_denied("this peer certificate is revoked"));
                }
                Ok(Some(PeerStream { id: id.get(), fingerprint }))
            }
            _ => {
                self.refuse(&remote(), "refusing raft traffic from a connection without a peer's certificate", None);
                Err(Status::unauthenticated("raft traffic needs a peer's certificate"))
            }
        }
    }

    /// Logs a refused stream, at a bounded rate: anyone who reaches the
    /// port can cause one.
    fn refuse(&self, remote: &str, what: &str, peer: Option<u64>) {
        if self.refused.admit() {
            warn!(%remote, ?peer, suppressed = self.refused.take_suppressed(), "{what}");
        }
    }

    /// Decodes one peer message. Unknown senders, senders other than the
    /// peer whose certificate the stream came with, and undecodable bytes
    /// are logged and dropped: they must never reach Raft.
    pub fn admit(&self, bytes: &[u8], sender: Option<u64>) -> Option<Message> {
        let m = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                warn!("dropping undecodable raft message: {e}");
                return None;
            }
        };
        if !self.peers.contains_key(&m.from) || m.from == self.id || m.to != self.id {
            warn!(from = m.from, to = m.to, "dropping raft message from an unknown peer or for another node");
            return None;
        }
        if let Some(s) = sender.filter(|s| *s != m.from) {
            warn!(
                from = m.from,
                certificate_of = s,
                "dropping a raft message that claims another sender than its peer certificate"
            );
            return None;
        }
        Some(m)
    }
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    async fn send(&self, request: Request<Streaming<RaftMessage>>) -> Result<Response<SendAck>, Status> {
        let sender = self.sender(&request)?;
        let mut stream = request.into_inner();
        while let Some(msg) = stream.message().await? {
            let received = std::time::Instant::now();
            // A revocation (SIGHUP) also cuts a stream opened before it.
            if sender.is_some_and(|s| self.revoked.contains(&s.fingerprint)) {
                warn!(peer = sender.map(|s| s.id), "cutting a raft stream: its certificate was revoked");
                return Err(Status::permission_denied("this peer certificate is revoked"));
            }
            if let Some(m) = self.admit(&msg.message, sender.map(|s| s.id)) {
                if self.events.send(Event::Raft(Box::new(m), received)).is_err() {
                    return Err(Status::unavailable("node shutting down"));
                }
            }
        }
        Ok(Response::new(SendAck {}))
    }

    async fn snapshot(&self, request: Request<Streaming<SnapshotChunk>>) -> Result<Response<SnapshotAck>, Status> {
        let sender = self.sender(&request)?.map(|s| s.id);
        let mut stream = request.into_inner();
        let mut head: Option<Message> = None;
        let mut data = Vec::new();
        // What this stream holds of the shared budget, given back when the
        // stream ends, however it ends.
        let mut held = Held { total: &self.snapshot_bytes, bytes: 0 };
        while let Some(chunk) = stream.message().await? {
            if head.is_none() {
                head = Some(
                    self.admit(&chunk.message, sender)
                        .ok_or_else(|| Status::invalid_argument("bad snapshot header"))?,
                );
            }
            if !held.take(chunk.data.len() as u64, self.max_snapshot_size) {
                warn!(
                    limit = self.max_snapshot_size,
                    "refusing a snapshot: the snapshots in flight would pass --max-snapshot-size"
                );
                return Err(Status::resource_exhausted(format!(
                    "snapshots in flight would pass --max-snapshot-size ({} bytes, over all streams)",
                    self.max_snapshot_size
                )));
            }
            data.extend_from_slice(&chunk.data);
            if chunk.last {
                let mut m = head.take().expect("header set above");
                m.mut_snapshot().data = data;
                self.events
                    .send(Event::Raft(Box::new(m), std::time::Instant::now()))
                    .map_err(|_| Status::unavailable("node shutting down"))?;
                return Ok(Response::new(SnapshotAck {}));
            }
        }
        Err(Status::invalid_argument("snapshot stream ended before its last chunk"))
    }
}

/// One stream's share of the snapshot budget.
struct Held<'a> {
    total: &'a AtomicU64,
    bytes: u64,
}

impl Held<'_> {
    /// Takes `n` more bytes if the total stays within `limit`.
    fn take(&mut self, n: u64, limit: u64) -> bool {
        let before = self.total.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > limit {
            self.total.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        self.bytes += n;
        true
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Most micro-ops in one transaction. The whole request must also fit the
/// request size bound ([`KvService::max_request_size`]).
pub const MAX_TXN_OPS: usize = 64;

/// Client-facing service.
pub struct KvService {
    pub events: Sender<Event>,
    /// Client address of every node, for NotLeader redirects.
    pub addrs: BTreeMap<u64, String>,
    pub addr: String,
    pub request_timeout: Duration,
    pub max_key_size: usize,
    pub max_value_size: usize,
    /// The unsafe settings in force, for the Status RPC.
    pub unsafe_settings: Vec<String>,
}

impl KvService {
    /// The largest request a client may send: a cas with a key and two
    /// values at their limits, plus framing. Anything larger is refused
    /// as soon as its length is read.
    pub fn max_request_size(&self) -> usize {
        self.max_key_size + 2 * self.max_value_size + 1024
    }

    fn check_key(&self, key: &[u8]) -> Result<(), Status> {
        if key.is_empty() {
            return Err(Status::invalid_argument("key is empty"));
        }
        if key.len() > self.max_key_size {
            return Err(Status::invalid_argument(format!(
                "key is {} bytes, over the limit of {} bytes (--max-key-size)",
                key.len(),
                self.max_key_size
            )));
        }
        Ok(())
    }

    fn check_value(&self, what: &str, value: &[u8]) -> Result<(), Status> {
        if value.len() > self.max_value_size {
            return Err(Status::invalid_argument(format!(
                "{what} is {} bytes, over the limit of {} bytes (--max-value-size)",
                value.len(),
                self.max_value_size
            )));
        }
        Ok(())
    }

    fn not_leader(&self, leader: Option<u64>) -> Status {
        let addr = leader.and_then(|l| self.addrs.get(&l));
        let mut status = match (leader, addr) {
            (Some(l), Some(a)) => Status::failed_precondition(format!("not leader; the leader is node {l} at {a}")),
            _ => Status::failed_precondition("not leader; no leader is known (election in progress?)"),
        };
        if let (Some(l), Some(a)) = (leader, addr) {
            let md = status.metadata_mut();
            md.insert(LEADER_ID_KEY, l.to_string().parse().expect("digits are valid metadata"));
            if let Ok(v) = a.parse() {
                md.insert(LEADER_ADDR_KEY, v);
            }
        }
        status
    }

    async fn propose(&self, op: Op) -> Result<Outcome, Status> {
        let received = std::time::Instant::now();
        let (reply, rx) = oneshot::channel();
        let cmd = Command { request_id: 0, op: Some(op), max_value_size: self.max_value_size as u64 };
        self.events.send(Event::Propose { cmd, reply, received }).map_err(|_| {
            let mut s = Status::unavailable("node shutting down; nothing was proposed");
            s.metadata_mut().insert(NOT_PROPOSED_KEY, tonic::metadata::MetadataValue::from_static("1"));
            s
        })?;
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(Ok(outcome))) => {
                crate::failpoint!("server-before-reply");
                Ok(outcome)
            }
            Ok(Ok(Err(ProposeError::NotLeader { leader }))) => Err(self.not_leader(leader)),
            Ok(Ok(Err(e @ ProposeError::Unknown(_)))) => Err(Status::unknown(e.to_string())),
            Ok(Err(_)) => Err(Status::unknown("outcome unknown: node stopped before answering")),
            Err(_) => Err(Status::unknown(format!(
                "outcome unknown: not applied within the request timeout ({:?})",
                self.request_timeout
            ))),
        }
    }

    /// Proposes micro-ops as one log entry; once applied, what each read
    /// found and the entry's index.
    async fn apply_txn(&self, ops: Vec<MicroOp>) -> Result<(Vec<Option<Vec<u8>>>, u64), Status> {
        match self.propose(Op::Txn(TxnRequest { ops })).await? {
            Outcome::Txn { reads, index } => Ok((reads, index)),
            Outcome::Written { index } | Outcome::Cas { index, .. } => {
                Err(Status::internal(format!("txn at index {index} applied as another command")))
            }
            Outcome::Refused { reason, .. } => Err(Status::invalid_argument(reason)),
        }
    }

    /// Reads a key as the node's read mode serves it (by default after a
    /// ReadIndex round, once applied up to it).
    async fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Status> {
        let (reply, rx) = oneshot::channel();
        self.events
            .send(Event::Read { key: key.to_vec(), reply })
            .map_err(|_| Status::unavailable("node shutting down"))?;
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(ReadError::NotLeader { leader }))) => Err(self.not_leader(leader)),
            Ok(Ok(Err(e))) => Err(Status::unavailable(e.to_string())),
            Ok(Err(_)) => Err(Status::unavailable("node stopped before the read was served")),
            Err(_) => Err(Status::unavailable(format!(
                "read not served within the request timeout ({:?})",
                self.request_timeout
            ))),
        }
    }

    async fn status_info(&self) -> Result<StatusInfo, Status> {
        let (reply, rx) = oneshot::channel();
        self.events.send(Event::Status { reply }).map_err(|_| Status::unavailable("node shutting down"))?;
        tokio::time::timeout(self.request_timeout, rx)
            .await
            .map_err(|_| Status::unavailable("raft loop did not answer in time"))?
            .map_err(|_| Status::unavailable("node shutting down"))
    }
}

fn written(outcome: Outcome) -> Reply<WriteResponse> {
    match outcome {
        Outcome::Written { index } | Outcome::Cas { index, .. } | Outcome::Txn { index, .. } => {
            Ok(Response::new(WriteResponse { index }))
        }
        Outcome::Refused { reason, .. } => Err(Status::invalid_argument(reason)),
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Kv for KvService {
    async fn get(&self, request: Request<GetRequest>) -> Reply<GetResponse> {
        let req = request.into_inner();
        self.check_key(&req.key)?;
        let value = self.read(&req.key).await?;
        Ok(Response::new(GetResponse { found: value.is_some(), value: value.unwrap_or_default().into() }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Reply<WriteResponse> {
        let req = request.into_inner();
        self.check_key(&req.key)?;
        self.check_value("value", &req.value)?;
        self.propose(Op::Put(req)).await.and_then(written)
    }

    async fn delete(&self, request: Request<DeleteRequest>) -> Reply<WriteResponse> {
        let req = request.into_inner();
        self.check_key(&req.key)?;
        self.propose(Op::Delete(req)).await.and_then(written)
    }

    async fn append(&self, request: Request<AppendRequest>) -> Reply<WriteResponse> {
        let req = request.into_inner();
        self.check_key(&req.key)?;
        self.check_value("appended value", &req.value)?;
        self.propose(Op::Append(req)).await.and_then(written)
    }

    async fn cas(&self, request: Request<CasRequest>) -> Reply<CasResponse> {
        let req = request.into_inner();
        self.check_key(&req.key)?;
        self.check_value("expected value", &req.expected)?;
        self.check_value("new value", &req.new_value)?;
        match self.propose(Op::Cas(req)).await? {
            Outcome::Cas { succeeded, current, index } => Ok(Response::new(CasResponse {
                succeeded,
                current_found: current.is_some(),
                current: current.unwrap_or_default().into(),
                index,
            })),
            Outcome::Written { index } | Outcome::Txn { index, .. } => {
                Err(Status::internal(format!("cas at index {index} applied as another command")))
            }
            Outcome::Refused { reason, .. } => Err(Status::invalid_argument(reason)),
        }
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Reply<TxnResponse> {
        let req = request.into_inner();
        if req.ops.is_empty() {
            return Err(Status::invalid_argument("a transaction needs at least one micro-op"));
        }
        if req.ops.len() > MAX_TXN_OPS {
            return Err(Status::invalid_argument(format!(
                "a transaction of {} micro-ops is over the limit of {MAX_TXN_OPS}",
                req.ops.len()
            )));
        }
        for (i, m) in req.ops.iter().enumerate() {
            let at = |s: Status| Status::new(s.code(), format!("micro-op {i}: {}", s.message()));
            self.check_key(&m.key).map_err(at)?;
            self.check_value("value", &m.value).map_err(at)?;
            if micro_op::Kind::try_from(m.kind).is_err() {
                return Err(Status::invalid_argument(format!("micro-op {i}: unknown kind {}", m.kind)));
            }
        }
        let (reads, index) = self.apply_txn(req.ops).await?;
        let reads = reads.into_iter().map(|r| ReadResult { found: r.is_some(), value: r.unwrap_or_default().into() });
        Ok(Response::new(TxnResponse { reads: reads.collect(), index }))
    }

    async fn status(&self, _request: Request<StatusRequest>) -> Reply<StatusResponse> {
        let s = self.status_info().await?;
        Ok(Response::new(StatusResponse {
            id: s.id,
            role: s.role.to_string(),
            term: s.term,
            leader_id: s.leader_id,
            leader_addr: self.addrs.get(&s.leader_id).cloned().unwrap_or_default(),
            commit: s.commit,
            applied: s.applied,
            first_index: s.first_index,
            last_index: s.last_index,
            addr: self.addr.clone(),
            unsafe_settings: self.unsafe_settings.clone(),
        }))
    }
}
