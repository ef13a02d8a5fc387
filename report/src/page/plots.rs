//! The latency and throughput plots (with the fault windows shaded) and
//! the timeline of ops per process.

use std::fmt::Write as _;

use super::*;

pub(super) fn latency_plot(run: &Run) -> String {
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

pub(super) fn throughput_plot(run: &Run) -> String {
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
pub(super) fn timeline(run: &Run, around: Option<u64>) -> String {
    if run.ops.is_empty() {
        return r#"<p id="timeline" class="note">No operations were recorded.</p>"#.into();
    }
    // A window of ops: around the first error's invoke, or from the start.
    let centre = around.and_then(|idx| run.ops.iter().position(|o| o.invoke_index >= idx)).unwrap_or(0);
    let from = centre.saturating_sub(MAX_TIMELINE_OPS / 2).min(run.ops.len().saturating_sub(MAX_TIMELINE_OPS));
    let window = &run.ops[from..(from + MAX_TIMELINE_OPS).min(run.ops.len())];
    let t_lo = window.iter().map(|o| o.start).min().unwrap_or(0);
    let t_hi = window.iter().map(|o| o.end.unwrap_or(o.start)).max().unwrap_or(1).max(t_lo + 1);
    let (procs, lane) = lanes(window.iter().map(|o| o.process));
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
            r#"<rect class="op {}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>p{} {}{} {} → {}{}</title></rect>"#,
            kind_class(o.kind, o.end.is_some()),
            (x1 - x0).max(1.5),
            lane_h - 4.0,
            o.process,
            esc(&o.f),
            // A transaction has no one key: its micro-ops name theirs.
            if o.key.is_empty() { String::new() } else { format!(" key {}", esc(&o.key)) },
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
