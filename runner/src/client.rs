//! How the runner invokes one op on the system under test (through its
//! [`Store`]) and classifies its outcome. What each outcome is recorded as
//! (the history must be exactly true):
//! - an answer is `ok`;
//! - an error that proves the request never took effect (connection refused
//!   before sending, NotLeader, invalid argument) is `fail`, and so is a cas
//!   whose comparison failed (with the value found in its `error`);
//! - anything else (a timeout, a lost connection, "outcome unknown") is
//!   `info` for a write, cas or append, and that process retires: the
//!   worker goes on under a fresh process id. A read that fails in any way
//!   is `fail`, since reads change nothing.
//!
//! - a transaction is a write unless all its micro-ops are reads: one that
//!   fails in any way is `info` unless the error is definite, and a
//!   read-only one is `fail`.
//!
//! Keys are stored under a per-run prefix, and values encoded per model.

use raftkv_client::{CasResult, ClientError, TxnOp};

use crate::store::Store;

use crate::workload::Invocation;
use checker::history::{EventType, OpType, Value};
use checker::model::ModelName;
use checker::txn::{txn_value, Mop};

/// A key as stored: the run's prefix and the key. The prefix keeps runs
/// against the same cluster apart; a leftover value of an earlier run
/// would otherwise look like a linearizability violation.
fn key_bytes(prefix: &str, key: i64) -> Vec<u8> {
    format!("{prefix}{key}").into_bytes()
}

/// A prefix unique to this run: `r<ns of CLOCK_MONOTONIC, hex>-<seed>/`.
pub(crate) fn run_prefix(seed: u64) -> String {
    format!("r{:x}-{seed}/", cluster::clock::monotonic_ns())
}

fn encode(workload: ModelName, v: &Value) -> Vec<u8> {
    match (workload, v) {
        // Elements are comma-terminated, so a read splits the list apart.
        (ModelName::ListAppend, Value::Int(i)) => format!("{i},").into_bytes(),
        (_, Value::Int(i)) => i.to_string().into_bytes(),
        (_, Value::Str(s)) => s.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

fn decode(workload: ModelName, bytes: Option<Vec<u8>>) -> Value {
    let Some(b) = bytes else {
        return Value::Nil;
    };
    let text = String::from_utf8_lossy(&b);
    match workload {
        ModelName::ListAppend => Value::List(
            text.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().map(Value::Int).unwrap_or_else(|_| Value::Str(s.into())))
                .collect(),
        ),
        ModelName::Register | ModelName::Mixed => {
            text.parse().map(Value::Int).unwrap_or_else(|_| Value::Str(text.into()))
        }
    }
}

/// A completion: its type, value and error.
pub(crate) struct Completion {
    pub(crate) kind: EventType,
    pub(crate) value: Value,
    pub(crate) error: Option<String>,
    /// The error was the system's word that it broke an invariant of its
    /// own ([`ClientError::Internal`]).
    pub(crate) internal: bool,
}

impl Completion {
    fn ok(value: Value) -> Completion {
        Completion { kind: EventType::Ok, value, error: None, internal: false }
    }

    fn failed(kind: EventType, value: Value, e: &ClientError) -> Completion {
        Completion { kind, value, error: Some(e.to_string()), internal: matches!(e, ClientError::Internal(_)) }
    }
}

fn failed_write(e: ClientError, value: Value) -> Completion {
    let kind = if e.is_definite() { EventType::Fail } else { EventType::Info };
    Completion::failed(kind, value, &e)
}

pub(crate) async fn perform(client: &mut dyn Store, workload: ModelName, prefix: &str, inv: &Invocation) -> Completion {
    let key = key_bytes(prefix, inv.key);
    // In a mixed run, each key is stored as its own kind.
    let workload = workload.of_key(inv.key);
    match inv.f {
        OpType::Read => match client.get(&key).await {
            Ok(v) => Completion::ok(decode(workload, v)),
            Err(e) => Completion::failed(EventType::Fail, Value::Nil, &e),
        },
        OpType::Write => match client.put(&key, &encode(workload, &inv.value)).await {
            Ok(_) => Completion::ok(inv.value.clone()),
            Err(e) => failed_write(e, inv.value.clone()),
        },
        OpType::Delete => match client.delete(&key).await {
            Ok(_) => Completion::ok(Value::Nil),
            Err(e) => failed_write(e, Value::Nil),
        },
        OpType::Append => match client.append(&key, &encode(workload, &inv.value)).await {
            Ok(_) => Completion::ok(inv.value.clone()),
            Err(e) => failed_write(e, inv.value.clone()),
        },
        OpType::Cas => {
            let (expected, new) = match &inv.value {
                Value::List(l) if l.len() == 2 => (l[0].clone(), l[1].clone()),
                _ => unreachable!("the generator builds cas values as [expected, new]"),
            };
            let exp = (expected != Value::Nil).then(|| encode(workload, &expected));
            match client.cas(&key, exp.as_deref(), &encode(workload, &new)).await {
                Ok(CasResult::Swapped) => Completion::ok(inv.value.clone()),
                Ok(CasResult::Mismatch { current }) => Completion {
                    kind: EventType::Fail,
                    value: inv.value.clone(),
                    error: Some(format!("cas mismatch: current {}", decode(workload, current))),
                    internal: false,
                },
                Err(e) => failed_write(e, inv.value.clone()),
            }
        }
        OpType::Txn => unreachable!("transactions go through perform_txn"),
    }
}

/// Performs one transaction of list-append or rw-register micro-ops
/// (integer keys and values); returns its completion and, when ok, its
/// micro-ops with what each read found.
pub(crate) async fn perform_txn(client: &mut dyn Store, prefix: &str, ops: &[Mop]) -> (Completion, Vec<Mop>) {
    let (lists, registers) = (ModelName::ListAppend, ModelName::Register);
    let key = |k: &checker::history::Value| match k {
        Value::Int(k) => key_bytes(prefix, *k),
        other => unreachable!("the generator's keys are integers, not {other}"),
    };
    let micro: Vec<TxnOp> = ops
        .iter()
        .map(|m| match m {
            Mop::Read { key: k, .. } | Mop::Get { key: k, .. } => TxnOp::Read { key: key(k) },
            Mop::Append { key: k, elem } => TxnOp::Append { key: key(k), value: encode(lists, elem) },
            Mop::Write { key: k, value } => TxnOp::Put { key: key(k), value: encode(registers, value) },
        })
        .collect();
    match client.txn(&micro).await {
        Ok(reads) => {
            let mut reads = reads.into_iter();
            let done: Vec<Mop> = ops
                .iter()
                .map(|m| match m {
                    Mop::Read { key, .. } => {
                        // An absent key is the empty list.
                        let list = match decode(lists, reads.next().flatten()) {
                            Value::List(l) => l,
                            _ => Vec::<Value>::new().into(),
                        };
                        Mop::Read { key: key.clone(), list: Some(list) }
                    }
                    // An absent register reads nil.
                    Mop::Get { key, .. } => {
                        Mop::Get { key: key.clone(), value: Some(decode(registers, reads.next().flatten())) }
                    }
                    m => m.clone(),
                })
                .collect();
            (Completion::ok(txn_value(&done)), done)
        }
        Err(e) if !ops.iter().any(Mop::is_write) => {
            (Completion::failed(EventType::Fail, txn_value(ops), &e), Vec::new())
        }
        Err(e) => (failed_write(e, txn_value(ops)), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fake system: an in-memory map whose next answer can be an error.
    #[derive(Default)]
    struct FakeStore {
        map: HashMap<Vec<u8>, Vec<u8>>,
        fail_next: Option<ClientError>,
    }

    impl FakeStore {
        fn answer<T>(&mut self, ok: impl FnOnce(&mut HashMap<Vec<u8>, Vec<u8>>) -> T) -> Result<T, ClientError> {
            match self.fail_next.take() {
                Some(e) => Err(e),
                None => Ok(ok(&mut self.map)),
            }
        }
    }

    #[tonic::async_trait]
    impl Store for FakeStore {
        async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
            self.answer(|m| m.get(key).cloned())
        }
        async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
            self.answer(|m| drop(m.insert(key.to_vec(), value.to_vec())))
        }
        async fn delete(&mut self, key: &[u8]) -> Result<(), ClientError> {
            self.answer(|m| drop(m.remove(key)))
        }
        async fn append(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
            self.answer(|m| m.entry(key.to_vec()).or_default().extend_from_slice(value))
        }
        async fn cas(&mut self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<CasResult, ClientError> {
            self.answer(|m| {
                if m.get(key).map(Vec::as_slice) == expected {
                    m.insert(key.to_vec(), new.to_vec());
                    CasResult::Swapped
                } else {
                    CasResult::Mismatch { current: m.get(key).cloned() }
                }
            })
        }
        async fn txn(&mut self, ops: &[TxnOp]) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
            self.answer(|m| {
                let mut reads = Vec::new();
                for op in ops {
                    match op {
                        TxnOp::Read { key } => reads.push(m.get(key).cloned()),
                        TxnOp::Append { key, value } => m.entry(key.clone()).or_default().extend_from_slice(value),
                        TxnOp::Put { key, value } => drop(m.insert(key.clone(), value.clone())),
                    }
                }
                reads
            })
        }
    }

    /// A transaction's reads come back as lists (an absent key as the
    /// empty list); a failed one is fail when read-only or definite, else
    /// info.
    #[tokio::test]
    async fn a_transaction_s_answer_becomes_ok_fail_or_info() {
        let mut s = FakeStore::default();
        let (r, a) = (
            |k| Mop::Read { key: Value::Int(k), list: None },
            |k, e| Mop::Append { key: Value::Int(k), elem: Value::Int(e) },
        );
        let (c, done) = perform_txn(&mut s, "t/", &[r(1), a(1, 5), a(1, 6), r(1), r(2)]).await;
        assert_eq!(c.kind, EventType::Ok);
        let list = |l: &[i64]| Some(l.iter().map(|e| Value::Int(*e)).collect::<Vec<_>>().into());
        assert_eq!(done[0], Mop::Read { key: Value::Int(1), list: list(&[]) });
        assert_eq!(done[3], Mop::Read { key: Value::Int(1), list: list(&[5, 6]) });
        assert_eq!(done[4], Mop::Read { key: Value::Int(2), list: list(&[]) });
        assert_eq!(c.value, txn_value(&done));
        s.fail_next = Some(ClientError::Unknown("x".into()));
        assert_eq!(perform_txn(&mut s, "t/", &[r(1)]).await.0.kind, EventType::Fail);
        s.fail_next = Some(ClientError::Unknown("x".into()));
        let (c, done) = perform_txn(&mut s, "t/", &[r(1), a(1, 7)]).await;
        assert_eq!((c.kind, done.len()), (EventType::Info, 0));
        assert_eq!(c.value, txn_value(&[r(1), a(1, 7)]), "an unknown txn keeps its reads unknown");
        s.fail_next = Some(ClientError::Refused("no leader".into()));
        assert_eq!(perform_txn(&mut s, "t/", &[a(1, 8)]).await.0.kind, EventType::Fail);
    }

    fn inv(f: OpType, value: Value) -> Invocation {
        Invocation { f, key: 1, value }
    }

    /// The Client protocol through a fake system: every op's answer
    /// becomes ok, fail or info as the history needs, whatever the system.
    #[tokio::test]
    async fn a_store_s_answers_become_ok_fail_or_info() {
        let mut s = FakeStore::default();
        let w = ModelName::Register;
        let c = perform(&mut s, w, "p/", &inv(OpType::Write, Value::Int(3))).await;
        assert_eq!(c.kind, EventType::Ok);
        let c = perform(&mut s, w, "p/", &inv(OpType::Read, Value::Nil)).await;
        assert_eq!((c.kind, c.value), (EventType::Ok, Value::Int(3)));
        let cas = |e: i64, n: i64| inv(OpType::Cas, Value::List(vec![Value::Int(e), Value::Int(n)].into()));
        let c = perform(&mut s, w, "p/", &cas(9, 4)).await;
        assert_eq!(c.kind, EventType::Fail);
        assert!(c.error.unwrap().contains("cas mismatch: current 3"));
        assert_eq!(perform(&mut s, w, "p/", &cas(3, 4)).await.kind, EventType::Ok);
        // A refusal is a definite fail; an unknown outcome is info; a read
        // that fails is a fail whatever the cause.
        s.fail_next = Some(ClientError::Refused("no leader".into()));
        assert_eq!(perform(&mut s, w, "p/", &inv(OpType::Write, Value::Int(5))).await.kind, EventType::Fail);
        s.fail_next = Some(ClientError::Unknown("request timed out".into()));
        assert_eq!(perform(&mut s, w, "p/", &inv(OpType::Delete, Value::Nil)).await.kind, EventType::Info);
        s.fail_next = Some(ClientError::Unknown("x".into()));
        assert_eq!(perform(&mut s, w, "p/", &inv(OpType::Read, Value::Nil)).await.kind, EventType::Fail);
        let l = ModelName::ListAppend;
        perform(&mut s, l, "q/", &inv(OpType::Append, Value::Int(1))).await;
        perform(&mut s, l, "q/", &inv(OpType::Append, Value::Int(2))).await;
        let c = perform(&mut s, l, "q/", &inv(OpType::Read, Value::Nil)).await;
        assert_eq!(c.value, Value::List(vec![Value::Int(1), Value::Int(2)].into()));
    }

    /// A write that certainly did not happen is fail; one that may have is
    /// info, so its process retires.
    #[test]
    fn a_failed_write_is_fail_only_when_definite() {
        let c = failed_write(ClientError::NoLeader("every node said NotLeader".into()), Value::Int(3));
        assert_eq!((c.kind, c.value), (EventType::Fail, Value::Int(3)));
        let c = failed_write(ClientError::Timeout(std::time::Duration::from_secs(1)), Value::Int(4));
        assert_eq!(c.kind, EventType::Info);
        assert!(c.error.unwrap().contains("timed out"));
    }

    #[test]
    fn values_round_trip_per_model() {
        for v in [Value::Int(7), Value::Int(-2)] {
            assert_eq!(decode(ModelName::Register, Some(encode(ModelName::Register, &v))), v);
        }
        assert_eq!(decode(ModelName::Register, None), Value::Nil);
        let list = Value::List(vec![Value::Int(1), Value::Int(2)].into());
        let stored =
            [encode(ModelName::ListAppend, &Value::Int(1)), encode(ModelName::ListAppend, &Value::Int(2))].concat();
        assert_eq!(decode(ModelName::ListAppend, Some(stored)), list);
        assert_eq!(key_bytes("p7-", 3), b"p7-3".to_vec());
    }
}
