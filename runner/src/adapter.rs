//! The Client protocol for a system with no Rust client here: an external
//! adapter program, as Maelstrom's nodes are. The runner starts one adapter
//! per worker and speaks JSON Lines with it:
//!
//! - a request per line on its stdin:
//!   `{"id":7,"f":"read","key":"r1a-3/4"}`; `"write"` and `"append"`
//!   carry `"value"`, `"cas"` carries `"expected"` (null: the key must be
//!   absent) and `"value"` (the new one); `"delete"` carries neither;
//!   `"txn"` carries no key but `"ops"`, its micro-ops in order:
//!   `{"id":8,"f":"txn","ops":[["r","k1",null],["append","k2","5,"]]}`
//!   (`"put"` sets a key), all to take effect at one instant or not at all;
//! - an answer per line on its stdout, with the same id:
//!   `{"id":7,"type":"ok","value":"12"}` (`value` null or absent: the key
//!   is absent, for a read; a txn answers `"reads":["1,5,",null]`, one per
//!   `"r"` in order); `"type":"fail"` when the op certainly did not
//!   happen (a cas whose comparison failed adds `"mismatch":true` and the
//!   current value); `"type":"info"` when it may have; `"error"` says why.
//!
//! An answer that does not come within the op's timeout is unknown (a
//! write is recorded info), and the adapter is restarted, so a late answer
//! can never be taken for the next op's. So is an adapter that exits or
//! writes a line that is not such an answer. The environment tells the
//! adapter where to go: `FAULTLINE_ENDPOINT` (this worker's node,
//! HOST:PORT) and `FAULTLINE_ENDPOINTS` (all of them, comma-separated).
//! Its stderr is the runner's.

use std::process::Stdio;
use std::time::Duration;

use raftkv_client::{CasResult, ClientError, TxnOp};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::store::Store;

#[derive(Serialize)]
struct Request<'a> {
    id: u64,
    f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// Only for txn: `[f, key, value]` per micro-op.
    #[serde(skip_serializing_if = "Option::is_none")]
    ops: Option<Vec<(&'static str, String, Option<String>)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// Only for cas: `None` serializes as null ("must be absent").
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<Option<String>>,
}

#[derive(Deserialize)]
struct Answer {
    id: u64,
    #[serde(rename = "type")]
    kind: AnswerType,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    mismatch: bool,
    /// A txn's reads, in order.
    #[serde(default)]
    reads: Option<Vec<Option<String>>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize, PartialEq, Eq, Clone, Copy, Debug)]
#[serde(rename_all = "lowercase")]
enum AnswerType {
    Ok,
    Fail,
    Info,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

/// One adapter process, started on first use and after every failure.
pub struct AdapterStore {
    program: Vec<String>,
    endpoint: String,
    endpoints: String,
    timeout: Duration,
    next_id: u64,
    running: Option<Running>,
}

impl AdapterStore {
    /// An adapter `program` (the command and its arguments) bound to
    /// `endpoint`, each op giving up after `timeout`.
    pub fn new(program: Vec<String>, endpoint: &str, endpoints: &[String], timeout: Duration) -> AdapterStore {
        AdapterStore {
            program,
            endpoint: endpoint.to_string(),
            endpoints: endpoints.join(","),
            timeout,
            next_id: 0,
            running: None,
        }
    }

    fn start(&self) -> Result<Running, ClientError> {
        let (cmd, args) = self
            .program
            .split_first()
            .ok_or_else(|| ClientError::InvalidArgument("the adapter command is empty".into()))?;
        let mut child = Command::new(cmd)
            .args(args)
            .env("FAULTLINE_ENDPOINT", &self.endpoint)
            .env("FAULTLINE_ENDPOINTS", &self.endpoints)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ClientError::Unreachable(format!("starting the adapter {cmd:?}: {e}")))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        Ok(Running { child, stdin, stdout })
    }

    /// Sends one request and waits for its answer. Before the request is
    /// written nothing can have happened, so a failure to start or to write
    /// is definite; after it, only an answer says what happened.
    async fn call(&mut self, mut req: Request<'_>) -> Result<Answer, ClientError> {
        if self.running.is_none() {
            self.running = Some(self.start()?);
        }
        self.next_id += 1;
        req.id = self.next_id;
        let line = serde_json::to_string(&req).expect("a request serializes") + "\n";
        let r = self.running.as_mut().expect("started above");
        if let Err(e) = r.stdin.write_all(line.as_bytes()).await {
            self.stop().await;
            return Err(ClientError::Unreachable(format!("the adapter does not take requests: {e}")));
        }
        let answer = match tokio::time::timeout(self.timeout, r.stdout.next_line()).await {
            Err(_) => Err(ClientError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(ClientError::Unknown(format!("reading the adapter's answer: {e}"))),
            Ok(Ok(None)) => Err(ClientError::Unknown("the adapter exited without answering".into())),
            Ok(Ok(Some(text))) => match serde_json::from_str::<Answer>(&text) {
                Ok(a) if a.id == req.id => Ok(a),
                Ok(a) => Err(ClientError::Unknown(format!("the adapter answered id {} to request {}", a.id, req.id))),
                Err(e) => Err(ClientError::Unknown(format!("the adapter's answer {text:?} is not one: {e}"))),
            },
        };
        if answer.is_err() {
            // Out of step: a late answer must never pass for the next op's.
            self.stop().await;
        }
        answer
    }

    async fn stop(&mut self) {
        if let Some(mut r) = self.running.take() {
            let _ = r.child.kill().await;
        }
    }

    async fn op(
        &mut self,
        f: &'static str,
        key: &[u8],
        value: Option<&[u8]>,
        is_read: bool,
    ) -> Result<Answer, ClientError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let req = Request { id: 0, f, key: Some(text(key)), ops: None, value: value.map(text), expected: None };
        let a = self.call(req).await?;
        sort(a, is_read)
    }
}

/// An answer's type as a result: `ok` passes, `fail` is definite, `info`
/// is not (a read changes nothing either way).
fn sort(a: Answer, is_read: bool) -> Result<Answer, ClientError> {
    let why = a.error.clone().unwrap_or_else(|| "(no error given)".into());
    match a.kind {
        AnswerType::Ok => Ok(a),
        AnswerType::Fail if a.mismatch => Ok(a),
        AnswerType::Fail => Err(ClientError::Refused(why)),
        AnswerType::Info if is_read => Err(ClientError::ReadUnavailable(why)),
        AnswerType::Info => Err(ClientError::Unknown(why)),
    }
}

#[tonic::async_trait]
impl Store for AdapterStore {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        Ok(self.op("read", key, None, true).await?.value.map(String::into_bytes))
    }
    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        self.op("write", key, Some(value), false).await.map(drop)
    }
    async fn delete(&mut self, key: &[u8]) -> Result<(), ClientError> {
        self.op("delete", key, None, false).await.map(drop)
    }
    async fn append(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        self.op("append", key, Some(value), false).await.map(drop)
    }
    async fn cas(&mut self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<CasResult, ClientError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let req = Request {
            id: 0,
            f: "cas",
            key: Some(text(key)),
            ops: None,
            value: Some(text(new)),
            expected: Some(expected.map(text)),
        };
        let a = sort(self.call(req).await?, false)?;
        Ok(match a.kind {
            AnswerType::Ok => CasResult::Swapped,
            _ => CasResult::Mismatch { current: a.value.map(String::into_bytes) },
        })
    }
    async fn txn(&mut self, ops: &[TxnOp]) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let micro = ops
            .iter()
            .map(|o| match o {
                TxnOp::Read { key } => ("r", text(key), None),
                TxnOp::Append { key, value } => ("append", text(key), Some(text(value))),
                TxnOp::Put { key, value } => ("put", text(key), Some(text(value))),
            })
            .collect();
        let req = Request { id: 0, f: "txn", key: None, ops: Some(micro), value: None, expected: None };
        let read_only = ops.iter().all(|o| matches!(o, TxnOp::Read { .. }));
        let a = sort(self.call(req).await?, read_only)?;
        let want = ops.iter().filter(|o| matches!(o, TxnOp::Read { .. })).count();
        match a.reads {
            Some(r) if r.len() == want => Ok(r.into_iter().map(|v| v.map(String::into_bytes)).collect()),
            other => {
                // Out of step with us: start it afresh.
                self.stop().await;
                Err(ClientError::Unknown(format!(
                    "the adapter answered {} reads to a txn of {want}",
                    other.map_or(0, |r| r.len())
                )))
            }
        }
    }
}
