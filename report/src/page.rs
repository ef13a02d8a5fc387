//! `report.html`: one self-contained page per run, for a reviewer.
//!
//! It reads the run dir (`history.jsonl`, and when present `results.json`,
//! `nemesis.jsonl`, `test.json`) and writes static HTML with inline SVG:
//! nothing is fetched, and the page opens from disk. Sections:
//! - the summary: verdict, options, counts, throughput, latency, lost writes;
//! - latency and throughput over time, with the fault windows shaded and
//!   labelled;
//! - a timeline of ops per process (bounded: around the first error, or
//!   the start);
//! - for each invalid key, an explanation view in the manner of
//!   Porcupine's: the key's ops on a time axis, the longest linearizable
//!   prefix, the op that could not be linearized, and the possible states.
//!
//! Big histories are downsampled (plots) and windowed (timeline), so a
//! 100,000-op run renders in about a second.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use checker::history::{self, Event, EventType, Process};

/// Most points drawn in the latency plot.
const MAX_POINTS: usize = 4000;
/// Most ops drawn in the timeline.
const MAX_TIMELINE_OPS: usize = 1500;
/// Most ops of the linearizable prefix shown before the culprit.
const EXPLAIN_PREFIX_OPS: usize = 20;
/// Most invalid keys given an explanation view.
const MAX_EXPLAINED_KEYS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {detail}")]
    Input { path: PathBuf, detail: String },
    #[error("writing {path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
}

/// One client op with its times (ns since the run's first event).
#[derive(Clone, Debug)]
struct TimedOp {
    process: u64,
    f: String,
    key: String,
    invoke_value: String,
    value: String,
    kind: EventType,
    start: u64,
    /// `None`: no completion (counts as info).
    end: Option<u64>,
    invoke_index: u64,
    error: Option<String>,
}

/// A fault in force from `start` to `end` (ns since the run's first event).
#[derive(Clone, Debug)]
struct FaultWindow {
    f: String,
    label: String,
    start: u64,
    end: u64,
}

/// Everything the page shows.
struct Run {
    dir: PathBuf,
    ops: Vec<TimedOp>,
    index_time: HashMap<u64, u64>,
    faults: Vec<FaultWindow>,
    fault_failures: Vec<String>,
    results: Option<Json>,
    test: Option<Json>,
    t_end: u64,
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn read_json(path: &Path) -> Result<Option<Json>, ReportError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ReportError::Input { path: path.into(), detail: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ReportError::Input { path: path.into(), detail: e.to_string() }),
    }
}

fn load(dir: &Path) -> Result<Run, ReportError> {
    let hpath = dir.join("history.jsonl");
    let text = std::fs::read_to_string(&hpath)
        .map_err(|e| ReportError::Input { path: hpath.clone(), detail: e.to_string() })?;
    let (events, _) =
        history::parse_jsonl(&text).map_err(|e| ReportError::Input { path: hpath.clone(), detail: e.to_string() })?;
    let nemesis = read_nemesis(&dir.join("nemesis.jsonl"))?;
    let t0 = events.iter().map(|e| e.time).chain(nemesis.iter().map(|(t, _)| *t)).min().unwrap_or(0);
    let mut ops = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut index_time = HashMap::new();
    let mut t_end = 0;
    for e in &events {
        let t = e.time.saturating_sub(t0);
        t_end = t_end.max(t);
        index_time.insert(e.index, t);
        let Process::Client(p) = e.process else { continue };
        match e.kind {
            EventType::Invoke => {
                open.insert(p, ops.len());
                ops.push(timed_invoke(e, p, t));
            }
            kind => {
                if let Some(i) = open.remove(&p) {
                    let op: &mut TimedOp = &mut ops[i];
                    op.kind = kind;
                    op.end = Some(t);
                    op.value = e.value.to_string();
                    op.error = e.error.clone();
                }
            }
        }
    }
    let (faults, fault_failures) = fault_windows(&nemesis, t0, t_end);
    for w in &faults {
        t_end = t_end.max(w.end);
    }
    Ok(Run {
        dir: dir.into(),
        ops,
        index_time,
        faults,
        fault_failures,
        results: read_json(&dir.join("results.json"))?,
        test: read_json(&dir.join("test.json"))?,
        t_end: t_end.max(1),
    })
}

fn timed_invoke(e: &Event, p: u64, t: u64) -> TimedOp {
    TimedOp {
        process: p,
        f: e.f.clone(),
        key: e.key.as_ref().map(|k| k.to_string()).unwrap_or_default(),
        invoke_value: e.value.to_string(),
        value: e.value.to_string(),
        kind: EventType::Info,
        start: t,
        end: None,
        invoke_index: e.index,
        error: None,
    }
}

/// The nemesis events file, as raw JSON (values there are objects).
fn read_nemesis(path: &Path) -> Result<Vec<(u64, Json)>, ReportError> {
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

fn undo_of(f: &str) -> Option<&'static str> {
    Some(match f {
        "start-partition" | "pause-isolate" => "stop-partition",
        "kill" => "restart",
        "pause" => "resume",
        _ => return None,
    })
}

fn fault_label(f: &str, value: &Json) -> String {
    if let Some(g) = value.get("grudge").and_then(Json::as_object) {
        let parts: Vec<String> = g
            .iter()
            .map(|(n, d)| {
                let d: Vec<&str> = d.as_array().into_iter().flatten().filter_map(Json::as_str).collect();
                format!("{n}✕{}", d.join("+"))
            })
            .collect();
        return format!("partition {}", parts.join(" "));
    }
    if let Some(n) = value.get("nodes").and_then(Json::as_array) {
        let n: Vec<&str> = n.iter().filter_map(Json::as_str).collect();
        return format!("{f} {}", n.join(","));
    }
    f.to_string()
}

/// Pairs each applied fault (its `info`) with the `info` of its undo.
fn fault_windows(events: &[(u64, Json)], t0: u64, t_end: u64) -> (Vec<FaultWindow>, Vec<String>) {
    let mut windows = Vec::new();
    let mut failures = Vec::new();
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
    (windows, failures)
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// A plot frame: maps run time to x, and a value to y.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    bottom: f64,
    t_end: u64,
}

impl Frame {
    fn x(&self, t: u64) -> f64 {
        self.left + (t as f64 / self.t_end as f64) * (self.width - self.left - 10.0)
    }
    fn plot_height(&self) -> f64 {
        self.height - self.bottom - 10.0
    }
    /// Fault shading and labels, then the time axis.
    fn background(&self, out: &mut String, faults: &[FaultWindow]) {
        for (i, w) in faults.iter().enumerate() {
            let (x0, x1) = (self.x(w.start), self.x(w.end).max(self.x(w.start) + 1.0));
            let _ = write!(
                out,
                r#"<rect class="fault-window fault-{f}" x="{x0:.1}" y="10" width="{:.1}" height="{:.1}"><title>{label}: {:.1}s–{:.1}s</title></rect><text class="fault-label" x="{:.1}" y="{:.1}">{label}</text>"#,
                x1 - x0,
                self.plot_height(),
                secs(w.start),
                secs(w.end),
                x0 + 2.0,
                22.0 + (i % 3) as f64 * 11.0,
                f = esc(&w.f),
                label = esc(&w.label),
            );
        }
        let y = self.height - self.bottom;
        let _ = write!(out, r#"<line class="axis" x1="{}" y1="{y}" x2="{}" y2="{y}"/>"#, self.left, self.width - 10.0);
        let step = nice_step(secs(self.t_end), 10);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let mut i = 0;
        while i as f64 * step <= secs(self.t_end) + 1e-9 {
            let s = i as f64 * step;
            let x = self.x((s * 1e9) as u64);
            let _ = write!(out, r#"<text class="tick" x="{x:.1}" y="{:.1}">{s:.decimals$}s</text>"#, y + 14.0);
            i += 1;
        }
    }
}

/// A round step that splits `range` into at most about `n` parts.
fn nice_step(range: f64, n: usize) -> f64 {
    let raw = (range / n as f64).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

fn kind_class(k: EventType, completed: bool) -> &'static str {
    match (k, completed) {
        (EventType::Ok, _) => "ok",
        (EventType::Fail, _) => "fail",
        _ => "info",
    }
}

fn latency_plot(run: &Run) -> String {
    let fr = Frame { width: 1000.0, height: 260.0, left: 50.0, bottom: 24.0, t_end: run.t_end };
    let mut out = String::new();
    let _ = write!(out, r#"<svg id="latency-plot" class="plot" viewBox="0 0 {} {}">"#, fr.width, fr.height);
    fr.background(&mut out, &run.faults);
    let done: Vec<&TimedOp> = run.ops.iter().filter(|o| o.end.is_some()).collect();
    let max_ms = done.iter().map(|o| (o.end.unwrap() - o.start) as f64 / 1e6).fold(1.0, f64::max);
    // Log scale: latencies span 0.1 ms to seconds.
    let (lo, hi) = (0.1f64.log10(), max_ms.max(1.0).log10());
    let y = |ms: f64| 10.0 + fr.plot_height() * (1.0 - (ms.max(0.1).log10() - lo) / (hi - lo).max(1e-9));
    for tick in [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0].iter().filter(|t| **t <= max_ms.max(1.0) * 1.01) {
        let _ = write!(out, r#"<text class="tick" x="2" y="{:.1}">{tick}ms</text>"#, y(*tick) + 4.0);
    }
    let stride = done.len().div_ceil(MAX_POINTS).max(1);
    for o in done.iter().step_by(stride) {
        let ms = (o.end.unwrap() - o.start) as f64 / 1e6;
        let _ = write!(
            out,
            r#"<circle class="pt {}" cx="{:.1}" cy="{:.1}" r="1.8"/>"#,
            kind_class(o.kind, true),
            fr.x(o.end.unwrap()),
            y(ms)
        );
    }
    // Ops without a completion: marked at their invoke, on the top edge.
    for o in run.ops.iter().filter(|o| o.end.is_none()).take(MAX_POINTS) {
        let _ = write!(out, r#"<circle class="pt info" cx="{:.1}" cy="12" r="2.5"/>"#, fr.x(o.start));
    }
    out.push_str("</svg>");
    if stride > 1 {
        let _ = write!(out, r#"<p class="note">Every {stride}th completed op is drawn ({} in all).</p>"#, done.len());
    }
    out
}

fn throughput_plot(run: &Run) -> String {
    let fr = Frame { width: 1000.0, height: 200.0, left: 50.0, bottom: 24.0, t_end: run.t_end };
    let buckets = (secs(run.t_end).ceil() as usize).clamp(1, 600);
    let width_ns = run.t_end as f64 / buckets as f64;
    let mut counts = vec![[0u64; 3]; buckets];
    for o in &run.ops {
        if let Some(end) = o.end {
            let b = ((end as f64 / width_ns) as usize).min(buckets - 1);
            let k = match o.kind {
                EventType::Ok => 0,
                EventType::Fail => 1,
                _ => 2,
            };
            counts[b][k] += 1;
        }
    }
    let per_s = |c: u64| c as f64 / (width_ns / 1e9);
    let max = counts.iter().map(|c| per_s(c[0] + c[1] + c[2])).fold(1.0, f64::max);
    let y = |v: f64| 10.0 + fr.plot_height() * (1.0 - v / max);
    let mut out = String::new();
    let _ = write!(out, r#"<svg id="throughput-plot" class="plot" viewBox="0 0 {} {}">"#, fr.width, fr.height);
    fr.background(&mut out, &run.faults);
    let _ = write!(out, r#"<text class="tick" x="2" y="{:.1}">{:.0}/s</text>"#, y(max) + 4.0, max);
    for (k, class) in [(0, "ok"), (1, "fail"), (2, "info")] {
        let pts: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(b, c)| format!("{:.1},{:.1}", fr.x(((b as f64 + 0.5) * width_ns) as u64), y(per_s(c[k]))))
            .collect();
        let _ = write!(out, r#"<polyline class="line {class}" points="{}"/>"#, pts.join(" "));
    }
    out.push_str("</svg>");
    out
}

/// Ops per process on a time axis, like Jepsen's timeline.html.
fn timeline(run: &Run, around: Option<u64>) -> String {
    if run.ops.is_empty() {
        return r#"<p id="timeline" class="note">No operations were recorded.</p>"#.into();
    }
    // A window of ops: around the first error's invoke, or from the start.
    let centre = around.and_then(|idx| run.ops.iter().position(|o| o.invoke_index >= idx)).unwrap_or(0);
    let from = centre.saturating_sub(MAX_TIMELINE_OPS / 2).min(run.ops.len().saturating_sub(MAX_TIMELINE_OPS));
    let window = &run.ops[from..(from + MAX_TIMELINE_OPS).min(run.ops.len())];
    let t_lo = window.iter().map(|o| o.start).min().unwrap_or(0);
    let t_hi = window.iter().map(|o| o.end.unwrap_or(o.start)).max().unwrap_or(1).max(t_lo + 1);
    let mut procs: Vec<u64> = window.iter().map(|o| o.process).collect();
    procs.sort_unstable();
    procs.dedup();
    let lane: HashMap<u64, usize> = procs.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let (left, width, lane_h) = (60.0, 1000.0, 16.0);
    let height = procs.len() as f64 * lane_h + 30.0;
    let x = |t: u64| left + (t - t_lo) as f64 / (t_hi - t_lo) as f64 * (width - left - 10.0);
    let mut out = String::new();
    let _ = write!(out, r#"<svg id="timeline" class="plot" viewBox="0 0 {width} {height:.0}">"#);
    for w in run.faults.iter().filter(|w| w.end >= t_lo && w.start <= t_hi) {
        let (x0, x1) = (x(w.start.max(t_lo)), x(w.end.min(t_hi)));
        let _ = write!(
            out,
            r#"<rect class="fault-window fault-{}" x="{x0:.1}" y="0" width="{:.1}" height="{:.0}"><title>{}</title></rect>"#,
            esc(&w.f),
            (x1 - x0).max(1.0),
            height - 20.0,
            esc(&w.label)
        );
    }
    for (i, p) in procs.iter().enumerate() {
        let _ = write!(out, r#"<text class="tick" x="2" y="{:.1}">p{p}</text>"#, i as f64 * lane_h + 12.0);
    }
    for o in window {
        let y = lane[&o.process] as f64 * lane_h + 2.0;
        let end = o.end.unwrap_or(t_hi);
        let (x0, x1) = (x(o.start), x(end));
        let _ = write!(
            out,
            r#"<rect class="op {}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>p{} {} key {} {} → {}{}</title></rect>"#,
            kind_class(o.kind, o.end.is_some()),
            (x1 - x0).max(1.5),
            lane_h - 4.0,
            o.process,
            esc(&o.f),
            esc(&o.key),
            esc(&o.invoke_value),
            esc(&o.value),
            o.error.as_deref().map(|e| format!(" ({})", esc(e))).unwrap_or_default(),
        );
    }
    let _ = write!(
        out,
        r#"<text class="tick" x="{left}" y="{:.0}">{:.3}s</text><text class="tick" x="{:.0}" y="{:.0}">{:.3}s</text></svg>"#,
        height - 4.0,
        secs(t_lo),
        width - 60.0,
        height - 4.0,
        secs(t_hi)
    );
    if window.len() < run.ops.len() {
        let _ = write!(
            out,
            r#"<p class="note">Showing {} of {} ops ({}).</p>"#,
            window.len(),
            run.ops.len(),
            if around.is_some() { "around the first error" } else { "from the start" }
        );
    }
    out
}

/// Porcupine-style view of one invalid key.
fn explanation(run: &Run, f: &Json, first: bool) -> String {
    let key = f["key"].to_string();
    let id = if first { "first-error".to_string() } else { format!("key-{}", esc(&key)) };
    let bad_idx = f["op"]["invoke_index"].as_u64();
    let prefix: Vec<u64> =
        f["linearized_prefix"].as_array().into_iter().flatten().filter_map(|o| o["invoke_index"].as_u64()).collect();
    let all_ops: Vec<&Json> = f["key_ops"].as_array().into_iter().flatten().collect();
    let time_of = |idx: Option<u64>| idx.and_then(|i| run.index_time.get(&i).copied());
    // Show the end of the prefix, the culprit, and what overlaps them: the
    // whole key can hold hundreds of ops.
    let recent: std::collections::HashSet<u64> = prefix.iter().rev().take(EXPLAIN_PREFIX_OPS).copied().collect();
    let span_of = |o: &Json| {
        let s = time_of(o["invoke_index"].as_u64()).unwrap_or(0);
        (s, time_of(o["complete_index"].as_u64()).unwrap_or(u64::MAX))
    };
    let core: Vec<(u64, u64)> = all_ops
        .iter()
        .filter(|o| o["invoke_index"].as_u64().is_some_and(|i| recent.contains(&i) || Some(i) == bad_idx))
        .map(|o| span_of(o))
        .collect();
    let lo = core.iter().map(|s| s.0).min().unwrap_or(0);
    let hi = core.iter().map(|s| s.1).filter(|t| *t != u64::MAX).max().unwrap_or(u64::MAX);
    let ops: Vec<&Json> = all_ops
        .iter()
        .copied()
        .filter(|o| {
            let (s, e) = span_of(o);
            e >= lo && s <= hi
        })
        .collect();
    let t_lo = ops.iter().filter_map(|o| time_of(o["invoke_index"].as_u64())).min().unwrap_or(0);
    let t_hi = ops
        .iter()
        .filter_map(|o| time_of(o["complete_index"].as_u64()).or(time_of(o["invoke_index"].as_u64())))
        .max()
        .unwrap_or(1)
        .max(t_lo + 1);
    let mut procs: Vec<u64> = ops.iter().filter_map(|o| o["process"].as_u64()).collect();
    procs.sort_unstable();
    procs.dedup();
    let lane: HashMap<u64, usize> = procs.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let (left, width, lane_h) = (60.0, 1000.0, 22.0);
    let height = procs.len() as f64 * lane_h + 26.0;
    let x = |t: u64| left + (t.saturating_sub(t_lo)) as f64 / (t_hi - t_lo) as f64 * (width - left - 10.0);
    let mut svg = String::new();
    let _ = write!(svg, r#"<svg class="plot key-ops" viewBox="0 0 {width} {height:.0}">"#);
    for (i, p) in procs.iter().enumerate() {
        let _ = write!(svg, r#"<text class="tick" x="2" y="{:.1}">p{p}</text>"#, i as f64 * lane_h + 15.0);
    }
    for o in &ops {
        let Some(inv) = o["invoke_index"].as_u64() else { continue };
        let start = time_of(Some(inv)).unwrap_or(t_lo);
        let end = time_of(o["complete_index"].as_u64()).unwrap_or(t_hi);
        let p = o["process"].as_u64().unwrap_or(0);
        let y = lane.get(&p).copied().unwrap_or(0) as f64 * lane_h + 2.0;
        let pos = prefix.iter().position(|i| *i == inv);
        let role = if Some(inv) == bad_idx {
            "culprit"
        } else if pos.is_some() {
            "linearized"
        } else {
            "rest"
        };
        let order = pos.map(|p| format!("#{} ", p + 1)).unwrap_or_default();
        let label = format!("{order}{} {}", o["f"].as_str().unwrap_or("?"), o["value"]);
        let (x0, x1) = (x(start), x(end).max(x(start) + 2.0));
        // Label what fits; the tooltip always has the whole of it.
        let fits = ((x1 - x0 - 4.0) / 6.0).max(0.0) as usize;
        let shown: String = if label.chars().count() <= fits {
            label.clone()
        } else if fits >= 4 {
            label.chars().take(fits - 1).collect::<String>() + "…"
        } else {
            String::new()
        };
        let _ = write!(
            svg,
            r#"<g class="kop {role} {}"><rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"/><text x="{:.1}" y="{:.1}">{}</text><title>p{p} {} (events {inv}–{})</title></g>"#,
            o["type"].as_str().unwrap_or(""),
            x1 - x0,
            lane_h - 6.0,
            x0 + 2.0,
            y + 12.0,
            esc(&shown),
            esc(&label),
            o["complete_index"].as_u64().map(|c| c.to_string()).unwrap_or_else(|| "never".into()),
        );
    }
    svg.push_str("</svg>");
    let states: Vec<String> = f["candidate_states"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("<code>{}</code>", esc(&s.to_string())))
        .collect();
    let prefix_list: Vec<String> = f["linearized_prefix"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            format!(
                "<li>p{} {} {}</li>",
                o["process"],
                esc(o["f"].as_str().unwrap_or("")),
                esc(&o["value"].to_string())
            )
        })
        .collect();
    format!(
        r#"<section class="explanation" id="{id}"><h3>Key {key_e}: not linearizable</h3>
<p class="why">{why}</p>
<p>The op that could not be linearized: <b>p{p} {f} {v}</b> (events {i}–{c}), outlined in red. Ops in the longest linearizable prefix are green and numbered in linearization order (the last {recent} are shown, with every op that overlaps them; grey ops were not linearized).</p>
{svg}
<p>Possible states at that point: {states}</p>
<details><summary>Longest linearizable prefix ({n} ops)</summary><ol>{prefix}</ol></details></section>"#,
        key_e = esc(&key),
        why = esc(f["explanation"].as_str().unwrap_or("")),
        p = f["op"]["process"],
        f = esc(f["op"]["f"].as_str().unwrap_or("")),
        v = esc(&f["op"]["value"].to_string()),
        i = f["op"]["invoke_index"],
        c = f["op"]["complete_index"],
        states = if states.is_empty() { "none".into() } else { states.join(", ") },
        n = prefix_list.len(),
        recent = EXPLAIN_PREFIX_OPS,
        prefix = prefix_list.join(""),
    )
}

fn verdict_of(results: Option<&Json>) -> (&'static str, &'static str) {
    match results.map(|r| &r["valid"]) {
        Some(Json::Bool(true)) => ("valid", "VALID"),
        Some(Json::Bool(false)) => ("invalid", "INVALID"),
        Some(Json::String(s)) if s == "unknown" => ("unknown", "UNKNOWN"),
        _ => ("unknown", "NOT CHECKED"),
    }
}

fn summary(run: &Run) -> String {
    let mut out = String::new();
    let results = run.results.as_ref();
    let stats = results.map(|r| &r["run"]);
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(t) = &run.test {
        for (k, v) in t.as_object().into_iter().flatten() {
            let v = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            rows.push((k.clone(), v));
        }
    }
    let done = run.ops.iter().filter(|o| o.end.is_some()).count();
    rows.push(("ops".into(), format!("{} ({} without a completion)", run.ops.len(), run.ops.len() - done)));
    if let Some(s) = stats.filter(|s| s.is_object()) {
        rows.push(("throughput".into(), format!("{:.0} ops/s", s["ops_per_s"].as_f64().unwrap_or(0.0))));
        let l = &s["latency_ms"];
        rows.push((
            "latency of ok ops".into(),
            format!(
                "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                l["p50"].as_f64().unwrap_or(0.0),
                l["p95"].as_f64().unwrap_or(0.0),
                l["p99"].as_f64().unwrap_or(0.0),
                l["max"].as_f64().unwrap_or(0.0)
            ),
        ));
        if s["lost_write_count"].as_u64().is_some() {
            rows.push(("lost writes".into(), s["lost_write_count"].to_string()));
        }
        let missing = s["final_reads_missing"].as_array().map(|a| a.len()).unwrap_or(0);
        rows.push((
            "final reads".into(),
            format!("{} keys read, {missing} without a successful read", s["final_reads_ok"]),
        ));
    }
    if let Some(r) = results {
        rows.push(("check".into(), r["summary"].as_str().unwrap_or("").to_string()));
    }
    out.push_str(r#"<table class="summary">"#);
    for (k, v) in rows {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    out.push_str("</table>");
    // Counts per f and type, from the ops themselves.
    let mut counts: std::collections::BTreeMap<&str, [u64; 3]> = Default::default();
    for o in &run.ops {
        let c = counts.entry(o.f.as_str()).or_default();
        match o.kind {
            EventType::Ok => c[0] += 1,
            EventType::Fail => c[1] += 1,
            _ => c[2] += 1,
        }
    }
    out.push_str(r#"<table class="counts"><tr><th>f</th><th class="ok">ok</th><th class="fail">fail</th><th class="info">info</th></tr>"#);
    for (f, c) in counts {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(f), c[0], c[1], c[2]);
    }
    out.push_str("</table>");
    out
}

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1060px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: .3em .8em; border-radius: 4px; font-weight: bold; color: #fff; }
.verdict.valid { background: #2e7d32; } .verdict.invalid { background: #c62828; } .verdict.unknown { background: #8d6e00; }
table { border-collapse: collapse; margin: .6em 0; } th, td { text-align: left; padding: .15em .8em .15em 0; vertical-align: top; }
.plot { width: 100%; height: auto; background: #fafafa; border: 1px solid #eee; }
.axis { stroke: #999; } .tick { font-size: 10px; fill: #666; }
.fault-window { fill: #ffcc80; opacity: .35; } .fault-window.fault-kill { fill: #ef9a9a; } .fault-window.fault-pause { fill: #90caf9; }
.fault-label { font-size: 10px; fill: #8a4b00; }
.pt.ok { fill: #2e7d32; } .pt.fail { fill: #c62828; } .pt.info { fill: #f9a825; }
.line { fill: none; stroke-width: 1.5; } .line.ok { stroke: #2e7d32; } .line.fail { stroke: #c62828; } .line.info { stroke: #f9a825; }
.op.ok { fill: #81c784; } .op.fail { fill: #e57373; } .op.info { fill: #ffd54f; }
th.ok { color: #2e7d32; } th.fail { color: #c62828; } th.info { color: #b8860b; }
.kop rect { fill: #e0e0e0; stroke: #9e9e9e; } .kop text { font-size: 10px; fill: #222; }
.kop.linearized rect { fill: #c8e6c9; stroke: #2e7d32; } .kop.culprit rect { fill: #ffcdd2; stroke: #c62828; stroke-width: 2.5; }
.explanation { border-left: 4px solid #c62828; padding-left: 1em; margin: 1.2em 0; } .why { font-weight: bold; }
.note { color: #666; font-size: 12px; } .legend span { margin-right: 1em; }
"#;

/// Renders `dir/report.html`; returns its path.
pub fn render(dir: &Path) -> Result<PathBuf, ReportError> {
    let run = load(dir)?;
    let (class, word) = verdict_of(run.results.as_ref());
    let failures: Vec<&Json> =
        run.results.as_ref().and_then(|r| r["failures"].as_array()).into_iter().flatten().collect();
    let first_error = failures.first().and_then(|f| f["op"]["invoke_index"].as_u64());
    let title = run
        .test
        .as_ref()
        .map(|t| format!("{} {}", t["name"].as_str().unwrap_or("run"), t["timestamp"].as_str().unwrap_or("")))
        .unwrap_or_else(|| run.dir.display().to_string());
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Faultline: {t}</title><style>{STYLE}</style></head><body>
<h1>Faultline run: {t}</h1>
<p><span id="verdict" class="verdict {class}">{word}</span> {jump}</p>
<h2>Summary</h2>{summary}
<h2>Faults</h2>{faults}
<h2>Latency over time</h2><p class="legend note"><span style="color:#2e7d32">● ok</span><span style="color:#c62828">● fail</span><span style="color:#b8860b">● info (top edge: never completed)</span>shaded: faults in force</p>{lat}
<h2>Throughput over time (completions per second)</h2>{thr}
<h2>Timeline of ops per process</h2>{tl}
"#,
        t = esc(&title),
        jump = if failures.is_empty() {
            String::new()
        } else {
            r##"<a id="jump" href="#first-error">Jump to first error</a>"##.into()
        },
        summary = summary(&run),
        faults = faults_table(&run),
        lat = latency_plot(&run),
        thr = throughput_plot(&run),
        tl = timeline(&run, first_error),
    );
    if !failures.is_empty() {
        html.push_str("<h2>Why it is not linearizable</h2>");
        for (i, f) in failures.iter().take(MAX_EXPLAINED_KEYS).enumerate() {
            html.push_str(&explanation(&run, f, i == 0));
        }
        if failures.len() > MAX_EXPLAINED_KEYS {
            let _ = write!(
                html,
                r#"<p class="note">{} more invalid keys are listed in results.json.</p>"#,
                failures.len() - MAX_EXPLAINED_KEYS
            );
        }
    }
    // Marks a complete render for the browser tests; any script error is
    // recorded on the body as well.
    html.push_str(
        r#"<script>window.addEventListener('error', function (e) { document.body.dataset.errors = (document.body.dataset.errors || '') + e.message; }); document.body.dataset.rendered = 'ok';</script></body></html>
"#,
    );
    let out = dir.join("report.html");
    std::fs::write(&out, html).map_err(|source| ReportError::Output { path: out.clone(), source })?;
    Ok(out)
}

fn faults_table(run: &Run) -> String {
    if run.faults.is_empty() && run.fault_failures.is_empty() {
        return r#"<p class="note">No faults were injected.</p>"#.into();
    }
    let mut out = String::from(r#"<table class="faults"><tr><th>from</th><th>to</th><th>fault</th></tr>"#);
    for w in &run.faults {
        let _ = write!(
            out,
            "<tr><td>{:.1}s</td><td>{:.1}s</td><td>{}</td></tr>",
            secs(w.start),
            secs(w.end),
            esc(&w.label)
        );
    }
    for f in &run.fault_failures {
        let _ = write!(out, r#"<tr><td colspan="2"></td><td class="fail">{}</td></tr>"#, esc(f));
    }
    out.push_str("</table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(60.0, 10), 10.0);
        assert_eq!(nice_step(7.0, 10), 1.0);
        assert_eq!(nice_step(0.3, 10), 0.05);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn fault_windows_pair_with_their_undo_or_the_heal() {
        let ev =
            |t: u64, ty: &str, f: &str, v: Json| (t, serde_json::json!({"time": t, "type": ty, "f": f, "value": v}));
        let events = vec![
            ev(10, "invoke", "kill", serde_json::json!({"target": "one"})),
            ev(11, "info", "kill", serde_json::json!({"nodes": ["n2"]})),
            ev(20, "info", "restart", serde_json::json!({"nodes": ["n2"]})),
            ev(30, "info", "start-partition", serde_json::json!({"grudge": {"n1": ["n2"]}})),
            ev(40, "fail", "pause", Json::Null),
            ev(50, "info", "heal", Json::Null),
        ];
        let (w, failures) = fault_windows(&events, 0, 100);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].start, w[0].end, w[0].label.as_str()), (11, 20, "kill n2"));
        assert_eq!((w[1].start, w[1].end), (30, 50));
        assert!(w[1].label.contains("n1✕n2"));
        assert_eq!(failures.len(), 1);
    }
}
