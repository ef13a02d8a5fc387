//! The explanation view of an invalid key, in the manner of Porcupine's:
//! the key's ops on a time axis, the linearizable prefix, the op that
//! could not be linearized, and the possible states.

use std::fmt::Write as _;

use checker::results::OpView;

use super::*;

/// Porcupine-style view of one invalid key.
pub(super) fn explanation(run: &Run, f: &KeyFailure, first: bool) -> String {
    let key = f.key.to_string();
    let id = if first { "first-error".to_string() } else { format!("key-{}", esc(&key)) };
    let bad_idx = f.op.invoke_index;
    let prefix: Vec<u64> = f.linearized_prefix.iter().map(|o| o.invoke_index).collect();
    let time_of = |idx: Option<u64>| idx.and_then(|i| run.index_time.get(&i).copied());
    // Show the end of the prefix, the culprit, and what overlaps them: the
    // whole key can hold hundreds of ops.
    let recent: std::collections::HashSet<u64> = prefix.iter().rev().take(EXPLAIN_PREFIX_OPS).copied().collect();
    let span_of = |o: &OpView| {
        let s = time_of(Some(o.invoke_index)).unwrap_or(0);
        (s, time_of(o.complete_index).unwrap_or(u64::MAX))
    };
    let core: Vec<(u64, u64)> = f
        .key_ops
        .iter()
        .filter(|o| recent.contains(&o.invoke_index) || o.invoke_index == bad_idx)
        .map(span_of)
        .collect();
    let lo = core.iter().map(|s| s.0).min().unwrap_or(0);
    let hi = core.iter().map(|s| s.1).filter(|t| *t != u64::MAX).max().unwrap_or(u64::MAX);
    let ops: Vec<&OpView> = f
        .key_ops
        .iter()
        .filter(|o| {
            let (s, e) = span_of(o);
            e >= lo && s <= hi
        })
        .collect();
    let t_lo = ops.iter().filter_map(|o| time_of(Some(o.invoke_index))).min().unwrap_or(0);
    let t_hi = ops
        .iter()
        .filter_map(|o| time_of(o.complete_index).or(time_of(Some(o.invoke_index))))
        .max()
        .unwrap_or(1)
        .max(t_lo + 1);
    let (procs, lane) = lanes(ops.iter().map(|o| o.process));
    let (left, width, lane_h) = (60.0, 1000.0, 22.0);
    let height = procs.len() as f64 * lane_h + 26.0;
    let x = |t: u64| left + (t.saturating_sub(t_lo)) as f64 / (t_hi - t_lo) as f64 * (width - left - 10.0);
    let mut svg = String::new();
    let _ = write!(svg, r#"<svg class="plot key-ops" viewBox="0 0 {width} {height:.0}">"#);
    for (i, p) in procs.iter().enumerate() {
        let _ = write!(svg, r#"<text class="tick" x="2" y="{:.1}">p{p}</text>"#, i as f64 * lane_h + 15.0);
    }
    for o in &ops {
        let inv = o.invoke_index;
        let start = time_of(Some(inv)).unwrap_or(t_lo);
        let end = time_of(o.complete_index).unwrap_or(t_hi);
        let p = o.process;
        let y = lane.get(&p).copied().unwrap_or(0) as f64 * lane_h + 2.0;
        let pos = prefix.iter().position(|i| *i == inv);
        let role = if inv == bad_idx {
            "culprit"
        } else if pos.is_some() {
            "linearized"
        } else {
            "rest"
        };
        let order = pos.map(|p| format!("#{} ", p + 1)).unwrap_or_default();
        let label = format!("{order}{} {}", o.f.as_str(), o.value);
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
            o.kind.as_str(),
            x1 - x0,
            lane_h - 6.0,
            x0 + 2.0,
            y + 12.0,
            esc(&shown),
            esc(&label),
            never_or(o.complete_index),
        );
    }
    svg.push_str("</svg>");
    let states: Vec<String> =
        f.candidate_states.iter().map(|s| format!("<code>{}</code>", esc(&s.to_string()))).collect();
    let prefix_list: Vec<String> = f
        .linearized_prefix
        .iter()
        .map(|o| format!("<li>p{} {} {}</li>", o.process, esc(o.f.as_str()), esc(&o.value.to_string())))
        .collect();
    format!(
        r#"<section class="explanation" id="{id}"><h3>Key {key_e}: not linearizable</h3>
<p class="why">{why}</p>
<p>The op that could not be linearized: <b>p{p} {f} {v}</b> (events {i}–{c}), outlined in red. Ops in the longest linearizable prefix are green and numbered in linearization order (the last {recent} are shown, with every op that overlaps them; grey ops were not linearized).</p>
{svg}
<p>Possible states at that point: {states}</p>
<details><summary>Longest linearizable prefix ({n} ops)</summary><ol>{prefix}</ol></details></section>"#,
        key_e = esc(&key),
        why = esc(&f.explanation),
        p = f.op.process,
        f = esc(f.op.f.as_str()),
        v = esc(&f.op.value.to_string()),
        i = f.op.invoke_index,
        c = never_or(f.op.complete_index),
        states = if states.is_empty() { "none".into() } else { states.join(", ") },
        n = prefix_list.len(),
        recent = EXPLAIN_PREFIX_OPS,
        prefix = prefix_list.join(""),
    )
}

/// An event index, or "never" for an op that never completed.
fn never_or(index: Option<u64>) -> String {
    index.map_or_else(|| "never".into(), |c| c.to_string())
}
