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
//!   written) read and try again, until the op's timeout;
//! - txn (Jepsen's etcd append workload): read every key the transaction
//!   touches in one Txn of Ranges (one revision), work out what its reads
//!   return and what its appends make, then, when it writes, a Txn
//!   guarded on each key's `mod_revision` (`create_revision == 0` when
//!   absent) that puts the new values. A failed guard wrote nothing: read
//!   and try again, until the op's timeout. A read-only transaction is the
//!   first Txn alone (serializable when the run asks for it).
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
use raftkv_client::{CasResult, ClientError, TxnOp as Micro};
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

    async fn txn(&mut self, ops: &[Micro]) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for op in ops {
            let (Micro::Read { key } | Micro::Append { key, .. } | Micro::Put { key, .. }) = op;
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        let writes = ops.iter().any(|o| !matches!(o, Micro::Read { .. }));
        let deadline = Instant::now() + self.timeout;
        let mut conflicts = 0;
        loop {
            let snapshot = self.snapshot(&keys).await;
            // Before the guarded Txn nothing is written: a failure is
            // definite.
            let snapshot = if writes { snapshot.map_err(|e| ClientError::Refused(e.to_string()))? } else { snapshot? };
            let start: Vec<_> = keys.iter().cloned().zip(snapshot.iter().map(|(v, _)| v.clone())).collect();
            let (reads, new_values) = play(ops, &start);
            if !writes {
                return Ok(reads);
            }
            let guards = keys.iter().zip(&snapshot).map(|(k, (_, rev))| match rev {
                0 => Compare::create_revision(k.clone(), CompareOp::Equal, 0),
                rev => Compare::mod_revision(k.clone(), CompareOp::Equal, *rev),
            });
            let puts = new_values.into_iter().map(|(k, v)| TxnOp::put(k, v, None));
            let txn = Txn::new().when(guards.collect::<Vec<_>>()).and_then(puts.collect::<Vec<_>>());
            let mut kv = self.client.kv_client();
            if self.within(false, kv.txn(txn)).await?.succeeded() {
                return Ok(reads);
            }
            conflicts += 1;
            if Instant::now() >= deadline {
                return Err(ClientError::Refused(format!(
                    "{}: gave up after {conflicts} transactions lost to concurrent writes",
                    self.endpoint
                )));
            }
        }
    }
}

/// What a transaction does against the values it started from: its reads'
/// answers, and each appended key's new value.
type Outcome = (Vec<Option<Vec<u8>>>, Vec<(Vec<u8>, Vec<u8>)>);

/// Runs `ops` in order over `start` (each key's value before them).
fn play(ops: &[Micro], start: &[(Vec<u8>, Option<Vec<u8>>)]) -> Outcome {
    let mut now: Vec<(Vec<u8>, Option<Vec<u8>>)> = start.to_vec();
    let mut reads = Vec::new();
    let mut written: Vec<Vec<u8>> = Vec::new();
    for op in ops {
        let (key, new) = match op {
            Micro::Read { key } => {
                reads.push(now.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.clone()));
                continue;
            }
            Micro::Append { key, value } => (key, value),
            Micro::Put { key, value } => (key, value),
        };
        let slot = now.iter_mut().find(|(k, _)| k == key).expect("every key was read first");
        let mut v = if matches!(op, Micro::Append { .. }) { slot.1.take().unwrap_or_default() } else { Vec::new() };
        v.extend_from_slice(new);
        slot.1 = Some(v);
        if !written.contains(key) {
            written.push(key.clone());
        }
    }
    let writes = written
        .into_iter()
        .map(|k| {
            let v = now.iter().find(|(key, _)| *key == k).and_then(|(_, v)| v.clone()).unwrap_or_default();
            (k, v)
        })
        .collect();
    (reads, writes)
}

impl EtcdStore {
    /// The transaction's keys, each with its value and `mod_revision` (0:
    /// absent), read in one Txn, so at one revision.
    async fn snapshot(&mut self, keys: &[Vec<u8>]) -> Result<Vec<(Option<Vec<u8>>, i64)>, ClientError> {
        let opts = || self.serializable.then(|| GetOptions::new().with_serializable());
        let gets: Vec<TxnOp> = keys.iter().map(|k| TxnOp::get(k.clone(), opts())).collect();
        let mut kv = self.client.kv_client();
        let r = self.within(true, kv.txn(Txn::new().and_then(gets))).await?;
        let found: Vec<_> = r
            .op_responses()
            .into_iter()
            .map(|op| match op {
                TxnOpResponse::Get(g) => g.kvs().first().map(|kv| (Some(kv.value().to_vec()), kv.mod_revision())),
                _ => None,
            })
            .collect();
        if found.len() != keys.len() {
            return Err(ClientError::ReadUnavailable(format!(
                "{}: {} answers to {} reads in one Txn",
                self.endpoint,
                found.len(),
                keys.len()
            )));
        }
        Ok(found.into_iter().map(|f| f.unwrap_or((None, 0))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_played_in_order_over_its_start() {
        let k = |s: &str| s.as_bytes().to_vec();
        let ops = [
            Micro::Read { key: k("a") },
            Micro::Append { key: k("a"), value: k("3,") },
            Micro::Read { key: k("a") },
            Micro::Append { key: k("b"), value: k("1,") },
            Micro::Read { key: k("b") },
        ];
        let (reads, writes) = play(&ops, &[(k("a"), Some(k("1,2,"))), (k("b"), None)]);
        assert_eq!(reads, vec![Some(k("1,2,")), Some(k("1,2,3,")), Some(k("1,"))]);
        assert_eq!(writes, vec![(k("a"), k("1,2,3,")), (k("b"), k("1,"))]);
    }

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
