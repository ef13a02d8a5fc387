//! The page of a transaction check (`checker txn --report FILE`): the
//! verdict against the model, and each anomaly with its explanation and,
//! for a cycle, a drawing of it: the transactions on a circle, each edge an
//! arrow labelled with its kind (ww, wr, rw, realtime, process).

use std::fmt::Write as _;
use std::path::Path;

use checker::txn::anomaly::{Anomaly, CycleStep};
use checker::txn::TxnResults;

use crate::page::esc;

const SIZE: f64 = 360.0;

/// Draws one cycle as an SVG.
pub fn cycle_svg(cycle: &[CycleStep]) -> String {
    let n = cycle.len().max(1);
    let (cx, cy, r) = (SIZE / 2.0, SIZE / 2.0, SIZE / 2.0 - 50.0);
    let at = |i: usize| {
        let a = std::f64::consts::TAU * i as f64 / n as f64 - std::f64::consts::FRAC_PI_2;
        (cx + r * a.cos(), cy + r * a.sin())
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="cycle" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>"#
    );
    for (i, step) in cycle.iter().enumerate() {
        let ((x0, y0), (x1, y1)) = (at(i), at((i + 1) % n));
        // Each edge bends to its right, so that two edges between the same
        // pair (a cycle of two) do not lie on each other, and stops short
        // of the circles the transactions are drawn in.
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let (px, py) = (-uy * 40.0, ux * 40.0);
        let (qx, qy) = ((x0 + x1) / 2.0 + px, (y0 + y1) / 2.0 + py);
        let (sx, sy) = (x0 + ux * 24.0 + px * 0.3, y0 + uy * 24.0 + py * 0.3);
        let (ex, ey) = (x1 - ux * 24.0 + px * 0.3, y1 - uy * 24.0 + py * 0.3);
        let _ = write!(
            svg,
            r#"<g class="edge edge-{kind}"><path d="M {sx:.1} {sy:.1} Q {qx:.1} {qy:.1} {ex:.1} {ey:.1}" fill="none" marker-end="url(#arrow)"/><text x="{:.1}" y="{:.1}">{kind}</text><title>{why}</title></g>"#,
            (x0 + x1) / 2.0 + px * 0.6,
            (y0 + y1) / 2.0 + py * 0.6 + 4.0,
            kind = esc(&step.kind),
            why = esc(&step.why),
        );
    }
    for (i, step) in cycle.iter().enumerate() {
        let (x, y) = at(i);
        let _ = write!(
            svg,
            r#"<g class="txn"><circle cx="{x:.1}" cy="{y:.1}" r="22"/><text x="{x:.1}" y="{:.1}">T{}</text></g>"#,
            y + 4.0,
            step.from
        );
    }
    svg.push_str("</svg>");
    svg
}

fn anomaly_html(a: &Anomaly, out: &mut String) {
    let _ = write!(out, r#"<section class="anomaly"><h2>{}</h2><p>{}</p>"#, esc(a.class.name()), esc(&a.explanation));
    if !a.cycle.is_empty() {
        out.push_str(&cycle_svg(&a.cycle));
        out.push_str("<ol>");
        for s in &a.cycle {
            let _ = write!(out, "<li><b>T{} → T{}</b> ({}): {}</li>", s.from, s.to, esc(&s.kind), esc(&s.why));
        }
        out.push_str("</ol>");
    }
    out.push_str("</section>");
}

/// The anomalies the model rules out, each explained and drawn; then,
/// briefly, those it allows. For a run's report.
pub fn anomalies_html(r: &TxnResults) -> String {
    let mut out = String::new();
    let (ruled_out, allowed): (Vec<&Anomaly>, Vec<&Anomaly>) =
        r.anomalies.iter().partition(|a| r.model.prohibits(a.class));
    for a in ruled_out {
        anomaly_html(a, &mut out);
    }
    if !allowed.is_empty() {
        let names: std::collections::BTreeSet<&str> = allowed.iter().map(|a| a.class.name()).collect();
        let _ = write!(
            out,
            r#"<p class="note">Also found, and allowed by {}: {}.</p>"#,
            r.model.name(),
            esc(&names.into_iter().collect::<Vec<_>>().join(", "))
        );
    }
    out
}

/// The style of the drawings, for any page that shows them.
pub const CYCLE_STYLE: &str =
    "svg.cycle path{stroke:#555;stroke-width:1.5}svg.cycle .edge-rw path{stroke:#b3261e;stroke-dasharray:5 3}\
svg.cycle .edge-wr path{stroke:#1f5fbf}svg.cycle text{font-size:12px;text-anchor:middle}\
svg.cycle circle{fill:#f4f4f4;stroke:#222}";

/// The whole page, as HTML.
pub fn page(history: &str, r: &TxnResults) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}{CYCLE_STYLE}</style></head><body><h1>{title}</h1><p class="verdict {class}">{summary}</p><p>{} transactions: {} ok, {} unknown, {} failed; checked in {:.0} ms.</p>"#,
        r.txns,
        r.ok,
        r.info,
        r.fail,
        r.check_time_ms,
        title = esc(history),
        class = if r.valid { "valid" } else { "invalid" },
        summary = esc(&r.summary()),
    );
    for a in &r.anomalies {
        anomaly_html(a, &mut out);
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes the page to `path`.
pub fn write(path: &Path, history: &str, r: &TxnResults) -> std::io::Result<()> {
    std::fs::write(path, page(history, r))
}

const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}\
.verdict.valid{color:#176b2c}.verdict.invalid{color:#b3261e;font-weight:bold}\
.anomaly{border-top:1px solid #ccc;margin-top:1.5em}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_drawn_with_every_transaction_and_edge_labelled() {
        let step = |from: u64, to: u64, kind: &'static str| CycleStep {
            from,
            to,
            kind: kind.to_string(),
            why: format!("T{from} <{kind}> T{to}"),
        };
        let svg = cycle_svg(&[step(3, 7, "rw"), step(7, 3, "wr")]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">T3</text>") && svg.contains(">T7</text>"));
        assert!(svg.contains(r#"class="edge edge-rw""#) && svg.contains(r#"class="edge edge-wr""#));
        assert!(svg.contains("<title>T3 &lt;rw&gt; T7</title>"), "{svg}");
    }
}
