//! Pairing the nemesis's events into fault windows: each fault with its
//! undo (or the final heal), under the label the nemesis gave it, for the
//! plots and the table.

use std::path::Path;

use serde_json::Value as Json;

use super::*;

/// The nemesis events file, as raw JSON (values there are objects).
pub(super) fn read_nemesis(path: &Path) -> Result<Vec<(u64, Json)>, ReportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ReportError::Input { path: path.into(), detail: e.to_string() }),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Json = serde_json::from_str(line)
            .map_err(|e| ReportError::Input { path: path.into(), detail: format!("line {}: {e}", i + 1) })?;
        let t = v["time"].as_u64().ok_or_else(|| ReportError::Input {
            path: path.into(),
            detail: format!("line {}: field `time` is missing", i + 1),
        })?;
        out.push((t, v));
    }
    Ok(out)
}

/// What one nemesis `info` event is. The nemesis writes, in every applied
/// fault's events, its `label` and the `undo` op that ends it, so a fault
/// is paired with its end without a table of fault names.
#[derive(Debug, PartialEq)]
pub enum NemesisInfo<'a> {
    /// A fault took effect.
    Applied {
        label: &'a str,
    },
    /// A fault ended (the value is the applied fault's, its label among it).
    Undone {
        label: &'a str,
    },
    /// The final heal: every fault in force ended.
    Healed,
    Other,
}

impl<'a> NemesisInfo<'a> {
    pub fn of(f: &str, value: &'a Json) -> NemesisInfo<'a> {
        match (value["label"].as_str(), value["undo"].as_str()) {
            (Some(label), Some(undo)) if undo != f => NemesisInfo::Applied { label },
            (Some(label), Some(_)) => NemesisInfo::Undone { label },
            _ if f == "heal" => NemesisInfo::Healed,
            _ => NemesisInfo::Other,
        }
    }
}

/// What the nemesis events say: the fault windows, the nemesis commands
/// that failed (the rig's trouble), and the findings (the system's: a node
/// that refused to start after a crash, or on damaged or lost files).
pub(super) struct NemesisView {
    pub windows: Vec<FaultWindow>,
    pub failures: Vec<String>,
    pub findings: Vec<String>,
}

/// Pairs each applied fault (its `info`) with the `info` of its undo.
pub(super) fn fault_windows(events: &[(u64, Json)], t0: u64, t_end: u64) -> NemesisView {
    let mut windows = Vec::new();
    let mut failures = Vec::new();
    let mut findings = Vec::new();
    // Faults in force: their op, label and start.
    let mut open: Vec<(String, String, u64)> = Vec::new();
    for (t, v) in events {
        let t = t.saturating_sub(t0);
        let f = v["f"].as_str().unwrap_or("?");
        match v["type"].as_str() {
            Some("info") => match NemesisInfo::of(f, &v["value"]) {
                NemesisInfo::Applied { label } => open.push((f.to_string(), label.to_string(), t)),
                NemesisInfo::Undone { label } => {
                    let Some(pos) = open.iter().position(|(_, l, _)| l == label) else { continue };
                    let (of, label, start) = open.remove(pos);
                    if v["value"]["refused"] == Json::Bool(true) {
                        findings.push(format!(
                            "node refused to start after {} ({label}): {}",
                            v["value"]["after"].as_str().unwrap_or("a crash"),
                            crate::health::excerpt(v["value"]["why"].as_str().unwrap_or("(its log said nothing)"))
                        ));
                    }
                    windows.push(FaultWindow { f: of, label, start, end: t });
                }
                NemesisInfo::Healed => {
                    for (of, label, start) in open.drain(..) {
                        windows.push(FaultWindow { f: of, label, start, end: t });
                    }
                }
                NemesisInfo::Other => {}
            },
            Some("fail") => {
                failures.push(format!("{f} failed: {}", v["error"].as_str().unwrap_or("(no error given)")));
            }
            _ => {}
        }
    }
    for (f, label, start) in open {
        windows.push(FaultWindow { f, label, start, end: t_end });
    }
    windows.sort_by_key(|w| w.start);
    NemesisView { windows, failures, findings }
}
