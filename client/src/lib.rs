//! The client library: the `Kv` API with leader redirects, and errors that
//! say whether an operation certainly did not happen or might have.
//!
//! The CLI subcommands and the checker's workers both use it, so what the
//! rig records is what a real client of raftkv would see.
//!
//! Retry rule (etcd's): an attempt is retried on another node only when it
//! certainly changed nothing: the node said NotLeader, or the connection
//! could not be opened so the request was never sent. Anything else ends
//! the operation with the error, and for a write that error is ambiguous.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use faultline_proto::kv_client::KvClient;
use faultline_proto::*;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};

use faultline_proto::{LEADER_ADDR_KEY, MAX_GRPC_MESSAGE, NOT_PROPOSED_KEY};

pub mod failpoint;
pub mod stages;
pub mod tls;

use tls::ClientTls;

/// A raftkv cluster has exactly this many members; membership never
/// changes. The node enforces it, and cluster descriptions are checked
/// against it.
pub const CLUSTER_SIZE: usize = 3;

/// A Raft node id. Raft reserves 0 for "none", so ids start at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl NodeId {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().parse::<u64>() {
            Ok(0) => Err("node id 0 is reserved by Raft; ids start at 1".into()),
            Ok(n) => Ok(NodeId(n)),
            Err(_) => Err(format!("node id {s:?} is not a positive integer")),
        }
    }
}

/// What went wrong with one operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Every node answered NotLeader or could not be reached; nothing was
    /// applied.
    #[error("no leader reachable: {0}")]
    NoLeader(String),
    /// The node rejected the request; nothing was applied.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The connection could not be opened; the request was never sent.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// A read could not be served; reads change nothing.
    #[error("read unavailable: {0}")]
    ReadUnavailable(String),
    /// The system refused the request before acting on it (no leader,
    /// overloaded, or an op that gave up before it wrote); nothing was
    /// applied.
    #[error("refused: {0}")]
    Refused(String),
    /// The request may or may not have taken effect.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// No answer within the operation's timeout; may or may not have taken
    /// effect.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The system said that it broke an invariant of its own while serving
    /// the request: gRPC's INTERNAL, which the protocol reserves for that,
    /// sent by the server itself (tonic's INTERNAL for a broken stream
    /// carries its cause, and is `Unknown`). The outcome is unknown, and
    /// the answer is a finding in itself: raftkv sends it only when it
    /// handed a request another command's outcome.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ClientError {
    /// True when the operation certainly did not take effect.
    pub fn is_definite(&self) -> bool {
        matches!(
            self,
            ClientError::NoLeader(_)
                | ClientError::InvalidArgument(_)
                | ClientError::Unreachable(_)
                | ClientError::Refused(_)
        )
    }
}

/// Result of a compare-and-set that was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasResult {
    Swapped,
    /// The comparison failed; the key held this (None: absent).
    Mismatch {
        current: Option<Vec<u8>>,
    },
}

/// One micro-op of a transaction ([`Client::txn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Reads the key: the transaction's answer holds what it found.
    Read {
        key: Vec<u8>,
    },
    /// Appends `value` to the key's value, creating it when absent.
    Append {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

impl TxnOp {
    fn to_proto(&self) -> MicroOp {
        let (kind, key, value) = match self {
            TxnOp::Read { key } => (micro_op::Kind::Read, key, &[][..]),
            TxnOp::Append { key, value } => (micro_op::Kind::Append, key, &value[..]),
            TxnOp::Put { key, value } => (micro_op::Kind::Put, key, &value[..]),
        };
        MicroOp {
            kind: kind as i32,
            key: bytes::Bytes::copy_from_slice(key),
            value: bytes::Bytes::copy_from_slice(value),
        }
    }
}

/// One attempt's error: retry elsewhere, or give up with this error.
enum Attempt {
    Redirect(Option<String>, String),
    Fatal(ClientError),
}

/// A client of a raftkv cluster.
pub struct Client {
    endpoints: Vec<String>,
    channels: HashMap<String, KvClient<Channel>>,
    /// Where the next request goes first: the last known leader.
    preferred: Option<String>,
    next: usize,
    timeout: Duration,
    /// When set, every operation starts at this endpoint (redirects are
    /// still followed within the operation), as a Jepsen client is bound
    /// to one node: followers then see client traffic too.
    home: Option<usize>,
    /// TLS to the nodes; plaintext when absent (a node run `--insecure`).
    tls: Option<ClientTls>,
}

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between rounds over all endpoints when none is the leader, so an
/// election has time to finish.
const NO_LEADER_PAUSE: Duration = Duration::from_millis(50);

impl Client {
    /// A client of `endpoints` (HOST:PORT) whose operations each give up
    /// after `timeout`. No connection is made until the first operation.
    pub fn new(endpoints: Vec<String>, timeout: Duration) -> Client {
        Client { endpoints, channels: HashMap::new(), preferred: None, next: 0, timeout, home: None, tls: None }
    }

    /// Binds the client to endpoint `home % endpoints.len()`: each
    /// operation is sent there first.
    pub fn with_home(mut self, home: usize) -> Client {
        if !self.endpoints.is_empty() {
            self.home = Some(home % self.endpoints.len());
        }
        self
    }

    /// Dials the nodes over TLS, trusting `tls`'s CA; `None` keeps
    /// plaintext.
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Client {
        self.tls = tls;
        self.channels.clear();
        self
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    async fn channel(&mut self, addr: &str) -> Result<KvClient<Channel>, Attempt> {
        if let Some(c) = self.channels.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = tls::endpoint(addr, self.tls.as_ref(), tls::SERVER_NAME)
            .map_err(|e| Attempt::Fatal(ClientError::InvalidArgument(format!("endpoint {addr:?}: {e}"))))?
            .tcp_nodelay(true);
        match tls::connect(endpoint, CONNECT_TIMEOUT).await {
            Ok(ch) => {
                let c = KvClient::new(ch)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE)
                    .max_encoding_message_size(MAX_GRPC_MESSAGE);
                self.channels.insert(addr.to_string(), c.clone());
                Ok(c)
            }
            Err(e) => Err(Attempt::Redirect(None, format!("{addr}: connect failed: {e}"))),
        }
    }

    fn target(&mut self) -> String {
        if let Some(p) = self.preferred.clone() {
            return p;
        }
        let addr = self.endpoints[self.next % self.endpoints.len()].clone();
        self.next += 1;
        addr
    }

    /// Runs `call` against the leader, following redirects, within the
    /// operation timeout.
    async fn run<T, F, Fut>(&mut self, is_read: bool, call: F) -> Result<T, ClientError>
    where
        F: FnMut(KvClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        if let Some(h) = self.home {
            self.preferred = Some(self.endpoints[h].clone());
        }
        let result = self.attempt_all(is_read, call).await;
        if matches!(result, Err(ClientError::Timeout(_) | ClientError::Unknown(_) | ClientError::ReadUnavailable(_))) {
            // The node we preferred may be cut off or paused: the next
            // operation looks for the leader afresh, as etcd's client does.
            self.preferred = None;
        }
        result
    }

    async fn attempt_all<T, F, Fut>(&mut self, is_read: bool, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut(KvClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        if self.endpoints.is_empty() {
            return Err(ClientError::InvalidArgument("no endpoints given".into()));
        }
        let deadline = Instant::now() + self.timeout;
        let mut last_reason = String::from("no attempt made");
        let mut tried_without_leader = 0;
        loop {
            let now = Instant::now();
            if now >= deadline {
                // Every attempt so far certainly changed nothing.
                return Err(ClientError::NoLeader(last_reason));
            }
            let addr = self.target();
            let attempt = async {
                let client = self.channel(&addr).await?;
                call(client).await.map_err(|s| classify(&addr, &s, is_read))
            };
            let result = match tokio::time::timeout(deadline - now, attempt).await {
                Ok(r) => r,
                Err(_) => return Err(ClientError::Timeout(self.timeout)),
            };
            match result {
                Ok(v) => {
                    self.preferred = Some(addr);
                    return Ok(v);
                }
                Err(Attempt::Fatal(e)) => {
                    if matches!(e, ClientError::Unknown(_)) {
                        // The connection may be broken; open a fresh one next time.
                        self.channels.remove(&addr);
                    }
                    return Err(e);
                }
                Err(Attempt::Redirect(leader, reason)) => {
                    last_reason = reason;
                    if leader.is_none() {
                        self.channels.remove(&addr);
                    }
                    self.preferred = leader.filter(|l| *l != addr);
                    if self.preferred.is_none() {
                        tried_without_leader += 1;
                        if tried_without_leader % self.endpoints.len() == 0 {
                            let pause = NO_LEADER_PAUSE.min(deadline.saturating_duration_since(Instant::now()));
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
            }
        }
    }

    /// Reads a key linearizably; `None` when absent.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        let key = bytes::Bytes::copy_from_slice(key);
        let r = self
            .run(true, |mut c| {
                let key = key.clone();
                async move { c.get(GetRequest { key }).await }
            })
            .await?
            .into_inner();
        Ok(r.found.then(|| r.value.to_vec()))
    }

    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<u64, ClientError> {
        let (key, value) = (bytes::Bytes::copy_from_slice(key), bytes::Bytes::copy_from_slice(value));
        let r = self
            .run(false, |mut c| {
                let req = PutRequest { key: key.clone(), value: value.clone() };
                async move { c.put(req).await }
            })
            .await?;
        Ok(r.into_inner().index)
    }

    pub async fn delete(&mut self, key: &[u8]) -> Result<u64, ClientError> {
        let key = bytes::Bytes::copy_from_slice(key);
        let r = self
            .run(false, |mut c| {
                let req = DeleteRequest { key: key.clone() };
                async move { c.delete(req).await }
            })
            .await?;
        Ok(r.into_inner().index)
    }

    pub async fn append(&mut self, key: &[u8], value: &[u8]) -> Result<u64, ClientError> {
        let (key, value) = (bytes::Bytes::copy_from_slice(key), bytes::Bytes::copy_from_slice(value));
        let r = self
            .run(false, |mut c| {
                let req = AppendRequest { key: key.clone(), value: value.clone() };
                async move { c.append(req).await }
            })
            .await?;
        Ok(r.into_inner().index)
    }

    /// Compare-and-set: `expected = None` means "only if absent".
    pub async fn cas(&mut self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<CasResult, ClientError> {
        let req = CasRequest {
            key: bytes::Bytes::copy_from_slice(key),
            expect_absent: expected.is_none(),
            expected: bytes::Bytes::copy_from_slice(expected.unwrap_or_default()),
            new_value: bytes::Bytes::copy_from_slice(new),
        };
        let r = self
            .run(false, |mut c| {
                let req = req.clone();
                async move { c.cas(req).await }
            })
            .await?
            .into_inner();
        Ok(if r.succeeded {
            CasResult::Swapped
        } else {
            CasResult::Mismatch { current: r.current_found.then(|| r.current.to_vec()) }
        })
    }

    /// Applies `ops` atomically, in one log entry; returns what each read
    /// found, in order (`None`: absent). Like every write, the outcome of
    /// a transaction that errs without a definite error is unknown.
    pub async fn txn(&mut self, ops: &[TxnOp]) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
        let req = TxnRequest { ops: ops.iter().map(TxnOp::to_proto).collect() };
        let r = self
            .run(false, |mut c| {
                let req = req.clone();
                async move { c.txn(req).await }
            })
            .await?
            .into_inner();
        let reads = ops.iter().filter(|o| matches!(o, TxnOp::Read { .. })).count();
        if r.reads.len() != reads {
            return Err(ClientError::Unknown(format!(
                "the node answered {} reads to a transaction of {reads}",
                r.reads.len()
            )));
        }
        Ok(r.reads.into_iter().map(|r| r.found.then(|| r.value.to_vec())).collect())
    }

    /// The status of one node, asked directly (no redirect).
    pub async fn status_of(&mut self, addr: &str) -> Result<StatusResponse, ClientError> {
        let mut c = match self.channel(addr).await {
            Ok(c) => c,
            Err(Attempt::Redirect(_, reason)) => return Err(ClientError::Unreachable(reason)),
            Err(Attempt::Fatal(e)) => return Err(e),
        };
        match tokio::time::timeout(self.timeout, c.status(StatusRequest {})).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => {
                self.channels.remove(addr);
                Err(ClientError::ReadUnavailable(format!("{addr}: {}", s.message())))
            }
            Err(_) => Err(ClientError::Timeout(self.timeout)),
        }
    }
}

/// Sorts a failed attempt into "try elsewhere" or "give up with this".
fn classify(addr: &str, s: &Status, is_read: bool) -> Attempt {
    match s.code() {
        Code::FailedPrecondition => {
            let leader = s.metadata().get(LEADER_ADDR_KEY).and_then(|v| v.to_str().ok()).map(str::to_string);
            Attempt::Redirect(leader, format!("{addr}: {}", s.message()))
        }
        Code::InvalidArgument => Attempt::Fatal(ClientError::InvalidArgument(s.message().to_string())),
        Code::Internal if std::error::Error::source(s).is_none() => {
            Attempt::Fatal(ClientError::Internal(format!("{addr}: {}", s.message())))
        }
        // A connection that tonic could not (re)open never carried the
        // request: as certain a "not sent" as a refused connect. So is a
        // write the node refused before proposing it.
        Code::Unavailable if is_connect_error(s) || s.metadata().contains_key(NOT_PROPOSED_KEY) => {
            Attempt::Redirect(None, format!("{addr}: {}", s.message()))
        }
        _ if is_read => Attempt::Fatal(ClientError::ReadUnavailable(format!("{addr}: {}", s.message()))),
        _ => Attempt::Fatal(ClientError::Unknown(format!("{addr}: {:?}: {}", s.code(), s.message()))),
    }
}

/// Whether a status is tonic's own failure to connect: the request never
/// left this process.
pub fn is_connect_error(s: &Status) -> bool {
    let mut text = s.message().to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(s);
    while let Some(e) = src {
        text.push_str(&e.to_string());
        src = e.source();
    }
    text.contains("tcp connect error") || text.contains("Connection refused")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(s: &Status, is_read: bool) -> String {
        match classify("n1:7001", s, is_read) {
            Attempt::Redirect(leader, _) => format!("redirect to {leader:?}"),
            Attempt::Fatal(e) => format!("{} {e}", if e.is_definite() { "definite" } else { "not definite" }),
        }
    }

    /// Every gRPC code a node answers, sorted as the history needs: a
    /// redirect for NotLeader, a definite failure for a refused request,
    /// and "unknown" (never "failed") for anything a write may have done.
    #[test]
    fn each_status_code_is_classified() {
        let mut not_leader = Status::failed_precondition("not the leader");
        not_leader.metadata_mut().insert(LEADER_ADDR_KEY, "n2:7001".parse().unwrap());
        assert_eq!(outcome(&not_leader, false), "redirect to Some(\"n2:7001\")");
        assert_eq!(outcome(&Status::failed_precondition("no leader known"), false), "redirect to None");
        assert!(outcome(&Status::invalid_argument("key too long"), false).starts_with("definite invalid argument"));
        for code in [Code::Unknown, Code::DeadlineExceeded, Code::Unavailable, Code::Cancelled] {
            let write = outcome(&Status::new(code, "node shutting down"), false);
            assert!(write.starts_with("not definite outcome unknown"), "{code:?}: {write}");
            let read = outcome(&Status::new(code, "x"), true);
            assert!(read.starts_with("not definite read unavailable"), "{code:?}: {read}");
        }
        // INTERNAL from the node itself is its word that it broke an
        // invariant, on a write or a read alike; tonic's INTERNAL for a
        // broken stream carries its cause, and proves nothing.
        let internal = Status::internal("cas at index 7 applied as another command");
        for is_read in [false, true] {
            let said = outcome(&internal, is_read);
            assert_eq!(said, "not definite internal error: n1:7001: cas at index 7 applied as another command");
        }
        let mut broken_stream = Status::internal("h2 protocol error");
        broken_stream.set_source(std::sync::Arc::new(std::io::Error::other("stream reset")));
        assert!(outcome(&broken_stream, false).starts_with("not definite outcome unknown"));
        assert!(outcome(&broken_stream, true).starts_with("not definite read unavailable"));
        // A connection tonic could not open never carried the request.
        let refused = Status::unavailable("tcp connect error: Connection refused (os error 111)");
        assert_eq!(outcome(&refused, false), "redirect to None");
        // Nor did a write the node refused before proposing: another node
        // is tried, and if every node refuses, the write is a definite fail.
        let mut not_proposed = Status::unavailable("node shutting down; nothing was proposed");
        not_proposed.metadata_mut().insert(NOT_PROPOSED_KEY, "1".parse().unwrap());
        assert_eq!(outcome(&not_proposed, false), "redirect to None");
        assert!(ClientError::NoLeader("every node refused".into()).is_definite());
    }

    #[test]
    fn only_errors_that_prove_nothing_happened_are_definite() {
        assert!(ClientError::NoLeader("x".into()).is_definite());
        assert!(ClientError::InvalidArgument("x".into()).is_definite());
        assert!(ClientError::Unreachable("x".into()).is_definite());
        assert!(ClientError::Refused("x".into()).is_definite());
        assert!(!ClientError::Unknown("x".into()).is_definite());
        assert!(!ClientError::Timeout(Duration::from_secs(1)).is_definite());
        assert!(!ClientError::ReadUnavailable("x".into()).is_definite());
    }
}
