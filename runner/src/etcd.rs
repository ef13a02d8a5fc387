//! The etcd 3.x implementation of the Client protocol ([`Store`]), on the
//! `etcd-client` crate. Each store is bound to one member, as a Jepsen
//! client is; etcd forwards proposals to its leader itself.
//!
//! The operations:
//! - read: a Range, linearizable; `serializable` (etcd's documented weaker
//!   mode, which may be stale) when the run asks for it;
//! - write: a Put; delete: a DeleteRange;
//! - cas: a Txn comparing the value (`create_revision == 0` for "expected
//!   absent"), putting the new value, else reading the current one;
//! - append: read the value and its `mod_revision`, then a Txn guarded on
//!   that revision (`create_revision == 0` when absent) that puts the
//!   longer value; on a conflict (the guard failed: certainly nothing
//!   written) read and try again, until the op's timeout.
//!
//! Errors, sorted as the history needs them ([`classify`]):
//! - no connection could be made (a transport error, or `UNAVAILABLE`
//!   whose cause is a refused or failed connect): never sent, a definite
//!   failure;
//! - `INVALID_ARGUMENT`: refused, definite;
//! - "etcdserver: no leader" (the client asks etcd to refuse requests
//!   while it has no leader, `require_leader`) and "etcdserver: too many
//!   requests" (`RESOURCE_EXHAUSTED`, refused before proposing): definite;
//! - anything else after sending, "etcdserver: request timed out" and
//!   "etcdserver: leader changed" included, or no answer within the op's
//!   timeout: unknown, so a write is recorded `info`. A read that fails in
//!   any way changed nothing.

use std::time::Duration;

use etcd_client::{
    Client as Etcd, Compare, CompareOp, ConnectOptions, Error as EtcdError, GetOptions, Txn, TxnOp, TxnOpResponse,
};
use raftkv_client::{CasResult, ClientError};
use tokio::time::Instant;
use tonic::Code;

use crate::store::Store;

/// Connection attempts give up after this; the member may be down.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A client of one etcd member.
pub struct EtcdStore {
    client: Etcd,
    endpoint: String,
    timeout: Duration,
    serializable: bool,
}

impl EtcdStore {
    /// A store bound to `endpoint` (HOST:PORT, plaintext), whose ops each
    /// give up after `timeout`.
    pub async fn connect(endpoint: &str, timeout: Duration, serializable: bool) -> Result<EtcdStore, ClientError> {
        let options =
            ConnectOptions::new().with_connect_timeout(CONNECT_TIMEOUT).with_timeout(timeout).with_require_leader(true);
        let client = Etcd::connect([format!("http://{endpoint}")], Some(options))
            .await
            .map_err(|e| ClientError::Unreachable(format!("{endpoint}: {e}")))?;
        Ok(EtcdStore { client, endpoint: endpoint.to_string(), timeout, serializable })
    }

    /// Runs `call` within the op's timeout; classifies its error.
    async fn within<T>(
        &self,
        is_read: bool,
        call: impl std::future::Future<Output = Result<T, EtcdError>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(&self.endpoint, &e, is_read)),
            Err(_) => Err(ClientError::Timeout(self.timeout)),
        }
    }

    /// The value and `mod_revision` of `key`, linearizably.
    async fn read_revision(&mut self, key: &[u8]) -> Result<Option<(Vec<u8>, i64)>, ClientError> {
        let mut kv = self.client.kv_client();
        let r = self.within(true, kv.get(key, None)).await?;
        Ok(r.kvs().first().map(|kv| (kv.value().to_vec(), kv.mod_revision())))
    }
}

/// Sorts an etcd error into "certainly not applied" or not.
pub fn classify(endpoint: &str, e: &EtcdError, is_read: bool) -> ClientError {
    let status = match e {
        EtcdError::GRpcStatus(s) => s,
        EtcdError::TransportError(t) => return ClientError::Unreachable(format!("{endpoint}: {t}")),
        EtcdError::InvalidArgs(m) => return ClientError::InvalidArgument(m.clone()),
        other if is_read => return ClientError::ReadUnavailable(format!("{endpoint}: {other}")),
        other => return ClientError::Unknown(format!("{endpoint}: {other}")),
    };
    let msg = format!("{endpoint}: {:?}: {}", status.code(), status.message());
    let refused = status.message().contains("etcdserver: no leader")
        || status.message().contains("etcdserver: too many requests");
    match status.code() {
        Code::InvalidArgument => ClientError::InvalidArgument(msg),
        _ if refused => ClientError::Refused(msg),
        Code::Unavailable if raftkv_client::is_connect_error(status) => ClientError::Unreachable(msg),
        _ if is_read => ClientError::ReadUnavailable(msg),
        _ => ClientError::Unknown(msg),
    }
}

#[tonic::async_trait]
impl Store for EtcdStore {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        let opts = self.serializable.then(|| GetOptions::new().with_serializable());
        let mut kv = self.client.kv_client();
        let r = self.within(true, kv.get(key, opts)).await?;
        Ok(r.kvs().first().map(|kv| kv.value().to_vec()))
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let mut kv = self.client.kv_client();
        self.within(false, kv.put(key, value, None)).await.map(drop)
    }

    async fn delete(&mut self, key: &[u8]) -> Result<(), ClientError> {
        let mut kv = self.client.kv_client();
        self.within(false, kv.delete(key, None)).await.map(drop)
    }

    async fn append(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut conflicts = 0;
        loop {
            // Nothing is written yet: any failure here is definite.
            let current = self.read_revision(key).await.map_err(|e| ClientError::Refused(e.to_string()))?;
            let (guard, mut longer) = match current {
                Some((v, rev)) => (Compare::mod_revision(key, CompareOp::Equal, rev), v),
                None => (Compare::create_revision(key, CompareOp::Equal, 0), Vec::new()),
            };
            longer.extend_from_slice(value);
            let txn = Txn::new().when([guard]).and_then([TxnOp::put(key, longer, None)]);
            let mut kv = self.client.kv_client();
            if self.within(false, kv.txn(txn)).await?.succeeded() {
                return Ok(());
            }
            conflicts += 1;
            if Instant::now() >= deadline {
                return Err(ClientError::Refused(format!(
                    "{}: gave up after {conflicts} appends lost to concurrent writes",
                    self.endpoint
                )));
            }
        }
    }

    async fn cas(&mut self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<CasResult, ClientError> {
        let guard = match expected {
            Some(v) => Compare::value(key, CompareOp::Equal, v),
            None => Compare::create_revision(key, CompareOp::Equal, 0),
        };
        let txn = Txn::new().when([guard]).and_then([TxnOp::put(key, new, None)]).or_else([TxnOp::get(key, None)]);
        let mut kv = self.client.kv_client();
        let r = self.within(false, kv.txn(txn)).await?;
        if r.succeeded() {
            return Ok(CasResult::Swapped);
        }
        let current = r.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(g) => Some(g.kvs().first().map(|kv| kv.value().to_vec())),
            _ => None,
        });
        Ok(CasResult::Mismatch { current: current.flatten() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, msg: &str) -> EtcdError {
        EtcdError::GRpcStatus(tonic::Status::new(code, msg))
    }

    /// Each etcd error we map, sorted as the history needs: definite only
    /// when etcd certainly did nothing.
    #[test]
    fn each_etcd_error_is_sorted_definite_or_not() {
        let sort = |e: &EtcdError, read: bool| {
            let c = classify("n1:2379", e, read);
            (c.is_definite(), c.to_string())
        };
        assert!(sort(&status(Code::InvalidArgument, "etcdserver: key is not provided"), false).0);
        assert!(sort(&status(Code::Unavailable, "etcdserver: no leader"), false).0);
        assert!(sort(&status(Code::ResourceExhausted, "etcdserver: too many requests"), false).0);
        assert!(sort(&status(Code::Unavailable, "tcp connect error: Connection refused (os error 111)"), false).0);
        for (code, m) in [
            (Code::DeadlineExceeded, "context deadline exceeded"),
            (Code::Unavailable, "etcdserver: request timed out"),
            (Code::Unavailable, "etcdserver: leader changed"),
            (Code::Unknown, "transport is closing"),
            (Code::Internal, "x"),
        ] {
            let (definite, text) = sort(&status(code, m), false);
            assert!(!definite, "{code:?} {m}: {text}");
            assert!(text.contains(m), "{text}");
            let (definite, text) = sort(&status(code, m), true);
            assert!(!definite && text.starts_with("read unavailable"), "{text}");
        }
    }
}
