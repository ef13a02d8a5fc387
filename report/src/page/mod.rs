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

use checker::history::{self, Event, EventType, Process};
use checker::results::{KeyFailure, ResultsFile, Validity};

use crate::run_dir::{self, TestRecord};

mod explain;
pub mod faults;
mod plots;
mod svg;

use explain::*;
use faults::*;
use plots::*;
use svg::*;

/// The page's stylesheet, inlined into every report.
const STYLE: &str = include_str!("style.css");

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
    #[error(transparent)]
    Record(#[from] run_dir::RecordError),
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
    /// What the system did that the checker does not judge: a node that
    /// refused to start after its files were damaged.
    findings: Vec<String>,
    /// The system's failures beyond its history, which fail the run.
    node_failures: Vec<crate::health::NodeFailure>,
    results: Option<ResultsFile>,
    test: Option<TestRecord>,
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
                    // A history without times (Knossos's often lack
                    // them) gives completions at 0: never before the invoke.
                    op.end = Some(t.max(op.start));
                    op.value = e.value.to_string();
                    op.error = e.error.clone();
                }
            }
        }
    }
    let view = fault_windows(&nemesis, t0, t_end);
    let (faults, fault_failures, findings) = (view.windows, view.failures, view.findings);
    for w in &faults {
        t_end = t_end.max(w.end);
    }
    Ok(Run {
        dir: dir.into(),
        ops,
        index_time,
        faults,
        fault_failures,
        findings,
        node_failures: crate::health::node_failures(dir)?,
        results: run_dir::read_results(dir)?,
        test: run_dir::read_test_if_any(dir)?,
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

/// The page's verdict: the history's, unless the system failed beyond it
/// and the history alone would not fail the run.
fn verdict_of(run: &Run) -> (&'static str, &'static str) {
    let valid = run.results.as_ref().map(|r| r.check.valid);
    match valid {
        Some(Validity::Invalid) => ("invalid", "INVALID"),
        _ if !run.node_failures.is_empty() => ("invalid", "NODE FAILED"),
        _ => verdict_of_history(valid),
    }
}

fn verdict_of_history(valid: Option<Validity>) -> (&'static str, &'static str) {
    match valid {
        Some(Validity::Valid) => ("valid", "VALID"),
        Some(Validity::Invalid) => ("invalid", "INVALID"),
        Some(Validity::Unknown) => ("unknown", "UNKNOWN"),
        None => ("unknown", "NOT CHECKED"),
    }
}

fn summary(run: &Run) -> String {
    let mut out = String::new();
    let results = run.results.as_ref();
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(t) = &run.test {
        rows.extend(t.rows());
    }
    let done = run.ops.iter().filter(|o| o.end.is_some()).count();
    rows.push(("ops".into(), format!("{} ({} without a completion)", run.ops.len(), run.ops.len() - done)));
    if let Some(s) = results.and_then(|r| r.run.as_ref()) {
        rows.push(("throughput".into(), format!("{:.0} ops/s", s.ops_per_s)));
        let l = &s.latency_ms;
        rows.push((
            "latency of ok ops".into(),
            format!("p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms", l.p50, l.p95, l.p99, l.max),
        ));
        rows.push(("lost writes".into(), s.lost_write_count.to_string()));
        rows.push((
            "final reads".into(),
            format!("{} keys read, {} without a successful read", s.final_reads_ok, s.final_reads_missing.len()),
        ));
    }
    if let Some(r) = results {
        rows.push(("check".into(), r.check.summary.clone()));
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

/// The system's failures beyond its history, each with the node's own
/// words: what fails the run before any history is read.
fn node_failures(run: &Run) -> String {
    if run.node_failures.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<h2 id="node-failures">Node failures</h2><ul class="node-failures">"#);
    for f in &run.node_failures {
        let _ = write!(out, "<li><pre>{}</pre></li>", esc(&f.to_string()));
    }
    out.push_str("</ul>");
    out
}

/// Renders `dir/report.html`; returns its path.
pub fn render(dir: &Path) -> Result<PathBuf, ReportError> {
    let run = load(dir)?;
    let (class, word) = verdict_of(&run);
    let failures: &[KeyFailure] = run.results.as_ref().map(|r| r.check.failures.as_slice()).unwrap_or_default();
    let first_error = failures.first().map(|f| f.op.invoke_index);
    let title = run
        .test
        .as_ref()
        .map(|t| format!("{} {}", t.name, t.timestamp))
        .unwrap_or_else(|| run.dir.display().to_string());
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Faultline: {t}</title><style>{STYLE}{cycles}</style></head><body>
<h1>Faultline run: {t}</h1>
<p><span id="verdict" class="verdict {class}">{word}</span> {jump}</p>
{node_failures}<h2>Summary</h2>{summary}
<h2>Faults</h2>{faults}
<h2>Latency over time</h2><p class="legend note"><span style="color:#2e7d32">● ok</span><span style="color:#c62828">● fail</span><span style="color:#b8860b">● info (top edge: never completed)</span>shaded: faults in force</p>{lat}
<h2>Throughput over time (completions per second)</h2>{thr}
<h2>Timeline of ops per process</h2>{tl}
"#,
        t = esc(&title),
        cycles = crate::txn::CYCLE_STYLE,
        jump = if failures.is_empty() {
            String::new()
        } else {
            r##"<a id="jump" href="#first-error">Jump to first error</a>"##.into()
        },
        node_failures = node_failures(&run),
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
    if let Some(t) = run.results.as_ref().and_then(|r| r.txn.as_ref()) {
        let _ = write!(html, "<h2>Transactions, checked for {}</h2><p>{}</p>", t.model.name(), esc(&t.summary()));
        html.push_str(&crate::txn::anomalies_html(t));
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
    for f in &run.findings {
        let _ = write!(out, r#"<tr><td colspan="2"></td><td class="finding">finding: {}</td></tr>"#, esc(f));
    }
    out.push_str("</table>");
    out
}

/// The system's findings in a run folder (a node that refused to start
/// after a crash, a power failure or corruption), from its nemesis events;
/// none when it has no events file.
pub fn findings(dir: &Path) -> Result<Vec<String>, run_dir::RecordError> {
    Ok(fault_windows(&nemesis_events(dir)?, 0, u64::MAX).findings)
}

/// A run folder's nemesis events (none when it has no events file), each
/// with its time.
pub fn nemesis_events(dir: &Path) -> Result<Vec<(u64, serde_json::Value)>, run_dir::RecordError> {
    read_nemesis(&dir.join("nemesis.jsonl")).map_err(|e| match e {
        ReportError::Input { path, detail } => run_dir::RecordError::Events { path, detail },
        other => run_dir::RecordError::Events { path: dir.join("nemesis.jsonl"), detail: other.to_string() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(60.0, 10), 10.0);
        assert_eq!(nice_step(7.0, 10), 1.0);
        assert_eq!(nice_step(0.3, 10), 0.05);
    }

    #[test]
    fn a_history_without_times_renders() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"index":0,"time":500,"process":0,"type":"invoke","f":"write","key":1,"value":1}"#,
            r#"{"index":1,"process":0,"type":"ok","f":"write","key":1,"value":1}"#,
            r#"{"index":2,"process":1,"type":"invoke","f":"read","key":1,"value":null}"#,
            r#"{"index":3,"process":1,"type":"ok","f":"read","key":1,"value":1}"#,
        ];
        std::fs::write(dir.path().join("history.jsonl"), lines.join("\n") + "\n").unwrap();
        let page = render(dir.path()).unwrap();
        assert!(std::fs::read_to_string(page).unwrap().contains("NOT CHECKED"));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    /// A nemesis event; `applied` gives the value the label and undo the
    /// nemesis writes.
    fn ev(t: u64, ty: &str, f: &str, v: Json) -> (u64, Json) {
        (t, serde_json::json!({"time": t, "type": ty, "f": f, "value": v}))
    }

    fn applied(label: &str, undo: &str, mut v: Json) -> Json {
        v["label"] = label.into();
        v["undo"] = undo.into();
        v
    }

    #[test]
    fn fault_windows_pair_with_their_undo_or_the_heal() {
        let killed = applied("kill n2", "restart", serde_json::json!({"nodes": ["n2"]}));
        let cut = applied("partition n1✕n2", "stop-partition", serde_json::json!({"grudge": {"n1": ["n2"]}}));
        let events = vec![
            ev(10, "invoke", "kill", serde_json::json!({"target": "one"})),
            ev(11, "info", "kill", killed.clone()),
            ev(20, "info", "restart", killed),
            ev(30, "info", "start-partition", cut),
            ev(40, "fail", "pause", Json::Null),
            ev(50, "info", "heal", Json::Null),
        ];
        let view = fault_windows(&events, 0, 100);
        let (w, failures) = (view.windows, view.failures);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].start, w[0].end, w[0].label.as_str(), w[0].f.as_str()), (11, 20, "kill n2", "kill"));
        assert_eq!((w[1].start, w[1].end, w[1].label.as_str()), (30, 50, "partition n1✕n2"));
        assert_eq!(failures.len(), 1);
    }

    #[test]
    fn faults_that_overlap_each_end_with_their_own_undo() {
        let clock = applied("clock bump -3000 ms n2", "reset-clock", serde_json::json!({"nodes": ["n2"]}));
        let lost = applied("lose-unsynced (torn) n1,n3", "restart", serde_json::json!({"nodes": ["n1", "n3"]}));
        let drops = applied("packet-loss 25% n2✕n1", "stop-packet-loss", serde_json::json!({"percent": 25}));
        let events = vec![
            ev(0, "info", "clock", clock.clone()),
            ev(1, "info", "lose-unsynced", lost.clone()),
            ev(5, "info", "restart", lost),
            ev(6, "info", "packet-loss", drops.clone()),
            ev(7, "info", "reset-clock", clock),
            ev(9, "info", "stop-packet-loss", drops),
        ];
        let w = fault_windows(&events, 0, 100).windows;
        let got: Vec<(u64, u64, &str)> = w.iter().map(|w| (w.start, w.end, w.label.as_str())).collect();
        assert_eq!(
            got,
            [(0, 7, "clock bump -3000 ms n2"), (1, 5, "lose-unsynced (torn) n1,n3"), (6, 9, "packet-loss 25% n2✕n1")]
        );
    }

    /// A node that refused its damaged or lost files, or its own files
    /// after a crash, is a finding, not a failure of the rig; the nemesis
    /// says after what.
    #[test]
    fn a_refusal_after_corruption_a_power_failure_or_a_crash_is_a_finding() {
        let label = "corrupt n2: flip-bits db/000011.log at 8+2";
        let corrupted = applied(label, "restart", serde_json::json!({"nodes": ["n2"]}));
        let mut refused = corrupted.clone();
        refused["refused"] = true.into();
        refused["after"] = "corruption".into();
        refused["why"] = "corruption in WAL".into();
        let events = vec![ev(1, "info", "corrupt", corrupted), ev(5, "info", "restart", refused)];
        let view = fault_windows(&events, 0, 100);
        assert_eq!(view.windows[0].label, label);
        assert!(view.failures.is_empty());
        assert_eq!(view.findings, [format!("node refused to start after corruption ({label}): corruption in WAL")]);
        // A refusal that does not say after what was a crash.
        let killed = applied("kill n3", "restart", serde_json::json!({"nodes": ["n3"]}));
        let mut refused = killed.clone();
        refused["refused"] = true.into();
        refused["why"] = "panicked".into();
        let events = vec![ev(1, "info", "kill", killed), ev(5, "info", "restart", refused)];
        let view = fault_windows(&events, 0, 100);
        assert_eq!(view.findings, ["node refused to start after a crash (kill n3): panicked"]);
    }
}
