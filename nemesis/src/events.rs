//! The nemesis's events file: one JSON line per event, in the history
//! format (`docs/history-format.md`) with `process: "nemesis"`.
//!
//! Each action is an `invoke`, then its completion: `info` with what was
//! actually done, or `fail` with the error. Lines are flushed as they are
//! written, so a crash leaves a readable prefix.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

pub struct EventLog {
    out: Option<BufWriter<File>>,
    next_index: u64,
}

impl EventLog {
    /// Appends to `path` (created if needed); `None` records nothing.
    pub fn open(path: Option<&Path>) -> std::io::Result<EventLog> {
        let out = match path {
            Some(p) => Some(BufWriter::new(File::options().create(true).append(true).open(p)?)),
            None => None,
        };
        Ok(EventLog { out, next_index: 0 })
    }

    /// Writes one event; `kind` is invoke, info or fail.
    pub fn write(&mut self, kind: &str, f: &str, value: Value, error: Option<String>) -> std::io::Result<()> {
        let mut ev = json!({
            "index": self.next_index,
            "time": cluster::clock::monotonic_ns(),
            "process": "nemesis",
            "type": kind,
            "f": f,
            "value": value,
        });
        if let Some(e) = error {
            ev["error"] = Value::String(e);
        }
        self.next_index += 1;
        tracing::info!(target: "nemesis::events", "{kind} {f} {}", ev["value"]);
        if let Some(out) = &mut self.out {
            serde_json::to_writer(&mut *out, &ev)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        Ok(())
    }
}
