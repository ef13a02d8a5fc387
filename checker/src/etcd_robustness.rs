//! etcd's robustness reports: the `operations.json` each client of a
//! failed robustness test leaves (`client-N/operations.json` in the report
//! folder), read as a single-key history (`--format etcd-robustness`).
//!
//! Each file is a stream of JSON objects, one per request, as etcd's
//! `tests/robustness/report` writes them: `ClientId`, `Call` and `Return`
//! (nanoseconds), `Input` (the request: `Type` range or txn, and its
//! `Range` or `Txn`) and `Output` (the response, or `Error` when the client
//! does not know the outcome, or `Persisted`). They map onto the register
//! model so:
//! - a range of one key at the current revision (`End` empty, `Revision`
//!   0) is a read: the value found, or nil;
//! - a txn without conditions putting one key is a write; deleting one, a
//!   delete;
//! - a txn whose one condition is the key's mod revision and whose success
//!   branch puts that key is a cas: it expects the value the write that
//!   produced that revision wrote (nil for revision 0); when it did not
//!   succeed it is dropped, as a failed cas is;
//! - a request with an `Error` (or only `Persisted`) is info: it may have
//!   taken effect;
//! - ranges over several keys or at an old revision, compactions,
//!   defragmentations and lease grants are passed over: they change no
//!   key and are not reads of one key now.
//!
//! Everything else (leases attached to puts or revoked, transactions over
//! several operations or keys, a condition on a revision no recorded write
//! returned) is refused with the operation's line: the register model
//! cannot follow it, and guessing would give a wrong verdict.
//!
//! Values longer than etcd's cut-off are recorded as hashes; such a value
//! reads as the string `hash:N`, the same on both sides.

use std::collections::HashMap;

use serde::Deserialize;

use crate::history::{Event, EventType, HistoryError, Process, Value};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Operation {
    #[serde(alias = "ClientID")]
    client_id: u64,
    input: Request,
    call: i64,
    output: Response,
    #[serde(rename = "Return")]
    ret: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Request {
    #[serde(rename = "Type")]
    kind: String,
    range: Option<RangeRequest>,
    txn: Option<TxnRequest>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RangeRequest {
    start: String,
    end: String,
    revision: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct TxnRequest {
    conditions: Option<Vec<Condition>>,
    operations_on_success: Option<Vec<TxnOp>>,
    operations_on_failure: Option<Vec<TxnOp>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Condition {
    key: String,
    expected_revision: i64,
    expected_version: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct TxnOp {
    #[serde(rename = "Type")]
    kind: String,
    put: PutOptions,
    delete: DeleteOptions,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct PutOptions {
    key: String,
    value: ValueOrHash,
    #[serde(rename = "LeaseID")]
    lease_id: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct DeleteOptions {
    key: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "PascalCase")]
struct ValueOrHash {
    value: String,
    hash: u32,
}

impl ValueOrHash {
    fn to_value(&self) -> Value {
        if self.hash != 0 {
            Value::Str(format!("hash:{}", self.hash).into())
        } else {
            Value::Str(self.value.as_str().into())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Response {
    txn: Option<TxnResponse>,
    range: Option<RangeResponse>,
    client_error: String,
    revision: i64,
    persisted: bool,
    persisted_revision: i64,
    error: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct TxnResponse {
    failure: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RangeResponse {
    #[serde(rename = "KVs")]
    kvs: Option<Vec<KeyValue>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct KeyValue {
    key: String,
    value: ValueOrHash,
}

/// What one request is, for the register model.
enum Shape {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: Value,
    },
    Delete {
        key: String,
    },
    /// A put of `value` to `key` if its mod revision is `revision`.
    Cas {
        key: String,
        revision: i64,
        value: Value,
    },
    /// Changes no key and reads none now.
    Skip,
}

/// Parses one or more `operations.json` texts (one per client): events in
/// time order and, for each, the line of its operation. Lines count on
/// across the texts, in the order given.
pub fn parse(texts: &[&str]) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    // (text, line, op) for every operation.
    let mut ops: Vec<(usize, Operation)> = Vec::new();
    let mut line_base = 0;
    for text in texts {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Operation>();
        // Newlines before `counted`, so each object's line costs only the
        // text since the one before.
        let (mut counted, mut newlines) = (0, 0);
        loop {
            // The line where the next object starts, past the whitespace.
            let rest = &text[stream.byte_offset()..];
            let at = text.len() - rest.trim_start().len();
            newlines += text[counted..at].matches('\n').count();
            counted = at;
            let line = line_base + 1 + newlines;
            match stream.next() {
                None => break,
                Some(Ok(op)) => ops.push((line, op)),
                Some(Err(e)) => {
                    return Err(HistoryError::new(
                        line_base + e.line(),
                        "(json)",
                        format!("not an etcd robustness operation: {e}"),
                    ))
                }
            }
        }
        line_base += text.lines().count() + 1;
    }
    let shapes: Vec<Shape> = ops.iter().map(|(line, op)| shape(op, *line)).collect::<Result<_, _>>()?;
    // The value each known revision wrote, for the cas conditions.
    let mut written: HashMap<i64, (&str, Value)> = HashMap::new();
    for ((_, op), s) in ops.iter().zip(&shapes) {
        let revision = if op.output.error.is_empty() { op.output.revision } else { op.output.persisted_revision };
        if let (Shape::Write { key, value } | Shape::Cas { key, value, .. }, true) = (s, revision > 0) {
            if !op.output.txn.as_ref().is_some_and(|t| t.failure) {
                written.insert(revision, (key, value.clone()));
            }
        }
    }
    // Invoke and completion events, in time order (invokes first on ties).
    let mut timeline: Vec<(i64, bool, usize)> = Vec::new();
    for (i, ((_, op), s)) in ops.iter().zip(&shapes).enumerate() {
        if !matches!(s, Shape::Skip) {
            timeline.push((op.call, false, i));
            timeline.push((op.ret.max(op.call), true, i));
        }
    }
    timeline.sort();
    let mut events = Vec::with_capacity(timeline.len());
    let mut lines = Vec::with_capacity(timeline.len());
    // A client whose request ended unknown comes back as a new process.
    let mut process: HashMap<u64, u64> = HashMap::new();
    let mut next_process = ops.iter().map(|(_, o)| o.client_id + 1).max().unwrap_or(0);
    let mut running: HashMap<usize, u64> = HashMap::new();
    for (t, done, i) in timeline {
        let (line, op) = &ops[i];
        let unknown = !op.output.error.is_empty() || (op.output.persisted && op.output.revision == 0);
        let (f, key, invoke_value, done_value, failed) = match &shapes[i] {
            Shape::Read { key } => {
                let found = op.output.range.as_ref().and_then(|r| r.kvs.as_ref()).and_then(|kvs| kvs.first());
                let failed = !op.output.client_error.is_empty();
                ("read", key, Value::Nil, found.map_or(Value::Nil, |kv| kv.value.to_value()), failed)
            }
            Shape::Write { key, value } => ("write", key, value.clone(), value.clone(), false),
            Shape::Delete { key } => ("delete", key, Value::Nil, Value::Nil, false),
            Shape::Cas { key, revision, value } => {
                let expected = match *revision {
                    0 => Value::Nil,
                    r => match written.get(&r) {
                        Some((k, v)) if k == key => v.clone(),
                        _ => {
                            return Err(HistoryError::new(
                                *line,
                                "Input",
                                format!(
                                    "a condition on revision {r} of key {key:?}, which no recorded put of that key \
                                     returned"
                                ),
                            ))
                        }
                    },
                };
                let cas = Value::List(vec![expected, value.clone()].into());
                let failed = op.output.txn.as_ref().is_some_and(|t| t.failure);
                ("cas", key, cas.clone(), cas, failed)
            }
            Shape::Skip => unreachable!("skipped requests have no events"),
        };
        let (kind, value) = match (done, unknown, failed) {
            (false, ..) => (EventType::Invoke, invoke_value),
            (true, true, _) => (EventType::Info, invoke_value),
            (true, false, true) => (EventType::Fail, invoke_value),
            (true, false, false) => (EventType::Ok, done_value),
        };
        let p = if done {
            running.remove(&i).expect("invoked first")
        } else {
            let p = *process.entry(op.client_id).or_insert(op.client_id);
            running.insert(i, p);
            p
        };
        if kind == EventType::Info {
            process.insert(op.client_id, next_process);
            next_process += 1;
        }
        events.push(Event {
            index: events.len() as u64,
            time: t.max(0) as u64,
            process: Process::Client(p),
            kind,
            f: f.to_string(),
            key: Some(Value::Str(key.as_str().into())),
            value,
            error: (done && unknown).then(|| op.output.error.clone()),
            node: None,
        });
        lines.push(*line);
    }
    Ok((events, lines))
}

/// What a request is, or why the register model cannot follow it.
fn shape(op: &Operation, line: usize) -> Result<Shape, HistoryError> {
    let refuse = |why: &str| Err(HistoryError::new(line, "Input", why.to_string()));
    match op.input.kind.as_str() {
        "range" => {
            let Some(r) = &op.input.range else { return refuse("a range without its Range") };
            Ok(if r.end.is_empty() && r.revision == 0 { Shape::Read { key: r.start.clone() } } else { Shape::Skip })
        }
        "txn" => {
            let Some(t) = &op.input.txn else { return refuse("a txn without its Txn") };
            let conds = t.conditions.as_deref().unwrap_or_default();
            let success = t.operations_on_success.as_deref().unwrap_or_default();
            if !t.operations_on_failure.as_deref().unwrap_or_default().is_empty() {
                return refuse("a txn with operations on failure: the register model cannot follow it");
            }
            let [one] = success else {
                return refuse("a txn of several operations: check transactions with `checker txn`");
            };
            if one.put.lease_id != 0 {
                return refuse("a put with a lease: the register model does not follow leases");
            }
            match (one.kind.as_str(), conds) {
                ("put-operation", []) => Ok(Shape::Write { key: one.put.key.clone(), value: one.put.value.to_value() }),
                ("delete-operation", []) => Ok(Shape::Delete { key: one.delete.key.clone() }),
                ("put-operation", [c]) if c.key == one.put.key && c.expected_version == 0 => Ok(Shape::Cas {
                    key: c.key.clone(),
                    revision: c.expected_revision,
                    value: one.put.value.to_value(),
                }),
                _ => refuse("a txn whose conditions the register model cannot follow (one mod-revision condition on the key it puts)"),
            }
        }
        "leaseGrant" | "defragment" | "compact" => Ok(Shape::Skip),
        "leaseRevoke" => refuse("a lease revoke: the register model does not follow leases"),
        other => refuse(&format!(
            "a request of type {other:?}, which is not one of range, txn, leaseGrant, leaseRevoke, defragment, compact"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check, CheckOptions};
    use crate::history::pair_all;
    use crate::register::Register;
    use crate::results::Validity;

    /// One operation as etcd's report writes it (json.MarshalIndent of a
    /// porcupine.Operation).
    fn op(client: u64, call: i64, ret: i64, input: &str, output: &str) -> String {
        format!(
            "{{\n  \"ClientId\": {client},\n  \"Input\": {input},\n  \"Call\": {call},\n  \"Output\": {output},\n  \
             \"Return\": {ret},\n  \"Metadata\": {output}\n}}\n"
        )
    }
    const PUT_A1: &str = r#"{"Type": "txn", "Txn": {"Conditions": null, "OperationsOnSuccess": [{"Type": "put-operation", "Range": {"Start": "", "End": "", "Limit": 0, "KeysOnly": false}, "Put": {"Key": "a", "Value": {"Value": "1"}, "LeaseID": 0}, "Delete": {"Key": ""}}], "OperationsOnFailure": null}}"#;
    const CAS_A2: &str = r#"{"Type": "txn", "Txn": {"Conditions": [{"Key": "a", "ExpectedRevision": 2}], "OperationsOnSuccess": [{"Type": "put-operation", "Put": {"Key": "a", "Value": {"Value": "2"}}}], "OperationsOnFailure": null}}"#;
    const GET_A: &str =
        r#"{"Type": "range", "Range": {"Start": "a", "End": "", "Limit": 0, "KeysOnly": false, "Revision": 0}}"#;
    const LIST: &str = r#"{"Type": "range", "Range": {"Start": "a", "End": "b", "Limit": 0, "Revision": 0}}"#;

    fn verdict(texts: &[&str]) -> Validity {
        let (events, lines) = parse(texts).unwrap();
        let h = pair_all(events.into_iter().zip(lines)).unwrap();
        check(&Register, &h, &CheckOptions::default()).valid
    }

    #[test]
    fn puts_cas_and_gets_become_register_ops_and_a_stale_get_is_caught() {
        let put = op(1, 10, 20, PUT_A1, r#"{"Txn": {"Failure": false, "Results": [{}]}, "Revision": 2}"#);
        let cas = op(1, 30, 40, CAS_A2, r#"{"Txn": {"Failure": false, "Results": [{}]}, "Revision": 3}"#);
        let get = |value: &str| {
            op(
                2,
                50,
                60,
                GET_A,
                &format!(
                    r#"{{"Range": {{"KVs": [{{"Key": "a", "Value": {{"Value": "{value}"}}, "ModRevision": 3}}], "Count": 1}}, "Revision": 3}}"#
                ),
            )
        };
        let list = op(3, 5, 70, LIST, r#"{"Range": {"KVs": null, "Count": 0}, "Revision": 3}"#);
        let client1 = put.clone() + &cas;
        assert_eq!(verdict(&[&client1, &get("2"), &list]), Validity::Valid);
        assert_eq!(verdict(&[&client1, &get("1")]), Validity::Invalid);
        let (events, _) = parse(&[&client1]).unwrap();
        assert_eq!(events.iter().map(|e| e.f.as_str()).collect::<Vec<_>>(), ["write", "write", "cas", "cas"]);
        assert_eq!(events[3].value, Value::List(vec![Value::Str("1".into()), Value::Str("2".into())].into()));
        // An unknown outcome is info, and its client comes back as a new
        // process.
        let lost = op(1, 10, 20, PUT_A1, r#"{"Error": "context deadline exceeded"}"#);
        let after = op(1, 30, 40, GET_A, r#"{"Range": {"KVs": [], "Count": 0}, "Revision": 1}"#);
        let (events, _) = parse(&[&(lost + &after)]).unwrap();
        assert_eq!(events[1].kind, EventType::Info);
        assert_ne!(events[2].process, events[0].process);
    }

    #[test]
    fn what_the_register_model_cannot_follow_is_refused_with_its_line() {
        let lease = PUT_A1.replace(r#""LeaseID": 0"#, r#""LeaseID": 7"#);
        let text = op(1, 10, 20, PUT_A1, r#"{"Revision": 2}"#) + &op(1, 30, 40, &lease, r#"{"Revision": 3}"#);
        let e = parse(&[&text]).unwrap_err();
        assert_eq!(e.line, 9, "{e}");
        assert!(e.message.contains("lease"), "{e}");
        let orphan = op(1, 10, 20, CAS_A2, r#"{"Txn": {"Failure": false}, "Revision": 3}"#);
        let e = parse(&[&orphan]).unwrap_err();
        assert!(e.message.contains("revision 2"), "{e}");
        let e = parse(&["{\"ClientId\": 1, \"Call\": \"soon\"}"]).unwrap_err();
        assert!(e.message.starts_with("not an etcd robustness operation"), "{e}");
    }
}
