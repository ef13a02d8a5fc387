//! The one writer of `history.jsonl`.
//!
//! Workers hand events to [`Recorder::record`], which stamps each with the
//! next index and the CLOCK_MONOTONIC time under one lock, so that index
//! order, time order and line order agree. The order is also real-time
//! safe: an invoke is recorded before its request is sent and a completion
//! after its answer arrived, so when A's completion line precedes B's
//! invoke line, A really finished before B began.
//!
//! Recording is a push onto a buffer under that lock: no syscall, no
//! wake-up. A writer thread takes the buffer every few milliseconds and
//! writes it as whole lines, one `write` per batch: if the checker is
//! killed, the file holds a valid prefix of the history, at most one batch
//! short.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use checker::history::{Event, EventType, OpType, Process, Value};

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("{0} already holds a history; refusing to overwrite it (use --force, or another --out)")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// How often the writer takes what was recorded.
const WRITE_PERIOD: Duration = Duration::from_millis(5);

#[derive(Default)]
struct Inner {
    next_index: u64,
    pending: Vec<Event>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when the recorder closes, so the last batch goes out now.
    closing: Condvar,
}

pub struct Recorder {
    path: PathBuf,
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

impl Recorder {
    /// Creates `path`; an existing non-empty history is refused unless
    /// `force`.
    pub fn create(path: &Path, force: bool) -> Result<Recorder, RecorderError> {
        let io = |source| RecorderError::Io { path: path.into(), source };
        if !force && std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false) {
            return Err(RecorderError::Exists(path.into()));
        }
        let mut file = File::create(path).map_err(io)?;
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let writer = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                let mut batch = Vec::new();
                let mut buf = Vec::with_capacity(1 << 20);
                loop {
                    let closed = {
                        let inner = theirs.inner.lock().expect("recorder lock");
                        let (mut inner, _) = theirs
                            .closing
                            .wait_timeout_while(inner, WRITE_PERIOD, |i| !i.closed)
                            .expect("recorder lock");
                        std::mem::swap(&mut batch, &mut inner.pending);
                        inner.closed
                    };
                    buf.clear();
                    for ev in batch.drain(..) {
                        serde_json::to_writer(&mut buf, &ev)?;
                        buf.push(b'\n');
                    }
                    file.write_all(&buf)?;
                    if closed {
                        return file.flush();
                    }
                }
            })
            .map_err(io)?;
        Ok(Recorder { path: path.into(), shared, writer: Mutex::new(Some(writer)) })
    }

    /// Records one client event of a single-key op now; returns its time
    /// (ns).
    pub fn record(
        &self,
        process: u64,
        kind: EventType,
        f: OpType,
        key: i64,
        value: Value,
        error: Option<String>,
    ) -> u64 {
        self.record_event(process, kind, f.as_str(), Some(Value::Int(key)), value, error)
    }

    /// Records one client event now, of any op (a transaction has no key);
    /// returns its time (ns).
    pub fn record_event(
        &self,
        process: u64,
        kind: EventType,
        f: &str,
        key: Option<Value>,
        value: Value,
        error: Option<String>,
    ) -> u64 {
        let mut inner = self.shared.inner.lock().expect("recorder lock");
        let time = cluster::clock::monotonic_ns();
        let ev = Event {
            index: inner.next_index,
            time,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key,
            value,
            error,
            node: None,
        };
        inner.next_index += 1;
        if !inner.closed {
            inner.pending.push(ev);
        }
        time
    }

    /// Waits until every event is in the file.
    pub fn finish(&self) -> Result<u64, RecorderError> {
        let count = {
            let mut inner = self.shared.inner.lock().expect("recorder lock");
            inner.closed = true;
            self.shared.closing.notify_all();
            inner.next_index
        };
        if let Some(h) = self.writer.lock().expect("writer lock").take() {
            let io = |source| RecorderError::Io { path: self.path.clone(), source };
            h.join().map_err(|_| io(std::io::Error::other("history writer panicked")))?.map_err(io)?;
        }
        Ok(count)
    }
}
