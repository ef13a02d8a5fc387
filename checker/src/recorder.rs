//! The one writer of `history.jsonl`.
//!
//! Workers hand events to [`Recorder::record`], which stamps each with the
//! next index and the CLOCK_MONOTONIC time under one lock, so that index
//! order, time order and line order agree. The order is also real-time
//! safe: an invoke is recorded before its request is sent and a completion
//! after its answer arrived, so when A's completion line precedes B's
//! invoke line, A really finished before B began.
//!
//! A writer thread streams the lines to the file in batches of whole lines,
//! one `write` each, as they come: if the checker is killed, the file holds
//! a valid prefix of the history.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use crate::history::{Event, EventType, OpType, Process, Value};

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("{0} already holds a history; refusing to overwrite it (use --force, or another --out)")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

struct Inner {
    next_index: u64,
    tx: Option<mpsc::Sender<Event>>,
}

pub struct Recorder {
    path: PathBuf,
    inner: Mutex<Inner>,
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
        let (tx, rx) = mpsc::channel::<Event>();
        let writer = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                let mut buf = Vec::with_capacity(1 << 16);
                while let Ok(first) = rx.recv() {
                    buf.clear();
                    serde_json::to_writer(&mut buf, &first)?;
                    buf.push(b'\n');
                    // Batch what is already waiting, whole lines only.
                    while buf.len() < (1 << 20) {
                        match rx.try_recv() {
                            Ok(ev) => {
                                serde_json::to_writer(&mut buf, &ev)?;
                                buf.push(b'\n');
                            }
                            Err(_) => break,
                        }
                    }
                    file.write_all(&buf)?;
                }
                file.flush()
            })
            .map_err(io)?;
        Ok(Recorder {
            path: path.into(),
            inner: Mutex::new(Inner { next_index: 0, tx: Some(tx) }),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Records one client event now; returns its time (ns).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        process: u64,
        kind: EventType,
        f: OpType,
        key: i64,
        value: Value,
        error: Option<String>,
    ) -> u64 {
        let mut inner = self.inner.lock().expect("recorder lock");
        let time = cluster::clock::monotonic_ns();
        let ev = Event {
            index: inner.next_index,
            time,
            process: Process::Client(process),
            kind,
            f: f.as_str().to_string(),
            key: Some(Value::Int(key)),
            value,
            error,
            node: None,
        };
        inner.next_index += 1;
        if let Some(tx) = &inner.tx {
            // A dead writer shows up in `finish`.
            let _ = tx.send(ev);
        }
        time
    }

    /// Events recorded so far.
    pub fn count(&self) -> u64 {
        self.inner.lock().expect("recorder lock").next_index
    }

    /// Waits until every event is in the file.
    pub fn finish(&self) -> Result<u64, RecorderError> {
        let count = {
            let mut inner = self.inner.lock().expect("recorder lock");
            inner.tx = None;
            inner.next_index
        };
        if let Some(h) = self.writer.lock().expect("writer lock").take() {
            let io = |source| RecorderError::Io { path: self.path.clone(), source };
            h.join().map_err(|_| io(std::io::Error::other("history writer panicked")))?.map_err(io)?;
        }
        Ok(count)
    }
}
