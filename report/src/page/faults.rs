//! Pairing the nemesis's events into fault windows: each fault with its
//! undo (or the final heal), labelled for the plots and the table.

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

/// The nemesis op that undoes fault op `f`; none for an op that is not a
/// fault.
pub fn undo_of(f: &str) -> Option<&'static str> {
    Some(match f {
        "start-partition" | "pause-isolate" | "clock-isolate" => "stop-partition",
        "kill" | "bounce" | "lose-unsynced" | "corrupt" => "restart",
        "pause" => "resume",
        "packet-loss" => "stop-packet-loss",
        "clock" => "reset-clock",
        "disk-full" => "free-disk",
        _ => return None,
    })
}

/// A fault as people read it: `partition n1✕n2+n3`, `kill n2`.
pub fn fault_label(f: &str, value: &Json) -> String {
    let grudge = |g: &serde_json::Map<String, Json>| -> String {
        let parts: Vec<String> = g
            .iter()
            .map(|(n, d)| {
                let d: Vec<&str> = d.as_array().into_iter().flatten().filter_map(Json::as_str).collect();
                format!("{n}✕{}", d.join("+"))
            })
            .collect();
        parts.join(" ")
    };
    if let (Some(g), Some(o)) = (value.get("grudge").and_then(Json::as_object), value.get("offset_ms")) {
        return format!("clock-isolate ({o} ms) {}", grudge(g));
    }
    if let (Some(g), Some(p)) = (value.get("grudge").and_then(Json::as_object), value.get("percent")) {
        return format!("packet-loss {p}% {}", grudge(g));
    }
    if let (Some(n), Some(shape)) = (value.get("nodes").and_then(Json::as_array), value.get("clock")) {
        let n: Vec<&str> = n.iter().filter_map(Json::as_str).collect();
        let how = match shape.as_str() {
            Some("bump") => format!("bump {:+} ms", value["offset_ms"].as_i64().unwrap_or(0)),
            Some("strobe") => format!("strobe ±{} ms", value["delta_ms"].as_i64().unwrap_or(0)),
            Some("drift") => format!("drift {}%", value["rate_pct"].as_i64().unwrap_or(100)),
            _ => "?".into(),
        };
        return format!("clock {how} {}", n.join(","));
    }
    if let (Some(n), Some(d)) = (value.get("nodes").and_then(Json::as_array), value.get("damage")) {
        let n: Vec<&str> = n.iter().filter_map(Json::as_str).collect();
        return format!(
            "corrupt {}: {} {} at {}+{}",
            n.join(","),
            d["how"].as_str().unwrap_or("?"),
            d["file"].as_str().unwrap_or("?"),
            d["offset"],
            d["len"]
        );
    }
    if let (Some(n), Some(loss)) = (value.get("nodes").and_then(Json::as_array), value.get("loss")) {
        let n: Vec<&str> = n.iter().filter_map(Json::as_str).collect();
        return format!("lose-unsynced ({}) {}", loss.as_str().unwrap_or("?"), n.join(","));
    }
    if let Some(g) = value.get("grudge").and_then(Json::as_object) {
        return format!("partition {}", grudge(g));
    }
    if let Some(n) = value.get("nodes").and_then(Json::as_array) {
        let n: Vec<&str> = n.iter().filter_map(Json::as_str).collect();
        return format!("{f} {}", n.join(","));
    }
    f.to_string()
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
    let mut open: Vec<(String, String, u64)> = Vec::new();
    for (t, v) in events {
        let t = t.saturating_sub(t0);
        let f = v["f"].as_str().unwrap_or("?");
        match v["type"].as_str() {
            Some("info") => {
                if undo_of(f).is_some() {
                    open.push((f.to_string(), fault_label(f, &v["value"]), t));
                } else if let Some(pos) = open.iter().position(|(of, _, _)| undo_of(of) == Some(f)) {
                    let (of, label, start) = open.remove(pos);
                    if v["value"]["refused"] == Json::Bool(true) {
                        let after = match of.as_str() {
                            "lose-unsynced" => "a power failure",
                            "corrupt" => "corruption",
                            _ => "a crash",
                        };
                        findings.push(format!(
                            "node refused to start after {after} ({label}): {}",
                            v["value"]["why"].as_str().unwrap_or("(its log said nothing)")
                        ));
                    }
                    windows.push(FaultWindow { f: of, label, start, end: t });
                } else if f == "heal" {
                    for (of, label, start) in open.drain(..) {
                        windows.push(FaultWindow { f: of, label, start, end: t });
                    }
                }
            }
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
