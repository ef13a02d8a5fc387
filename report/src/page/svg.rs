//! SVG primitives the plots share: a frame with axes and ticks, round
//! tick steps, time in seconds, and the class of an op's outcome.

use std::fmt::Write as _;

use super::*;

pub(super) fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// A plot frame: maps run time to x, and a value to y.
pub(super) struct Frame {
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) left: f64,
    pub(super) bottom: f64,
    pub(super) t_end: u64,
}

impl Frame {
    pub(super) fn x(&self, t: u64) -> f64 {
        self.left + (t as f64 / self.t_end as f64) * (self.width - self.left - 10.0)
    }
    pub(super) fn plot_height(&self) -> f64 {
        self.height - self.bottom - 10.0
    }
    /// Fault shading and labels, then the time axis.
    pub(super) fn background(&self, out: &mut String, faults: &[FaultWindow]) {
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
/// The processes in order, and each one's lane (row): the timeline and the
/// explanation view draw one lane per process.
pub(super) fn lanes(processes: impl Iterator<Item = u64>) -> (Vec<u64>, HashMap<u64, usize>) {
    let mut procs: Vec<u64> = processes.collect();
    procs.sort_unstable();
    procs.dedup();
    let lane = procs.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    (procs, lane)
}

pub(super) fn nice_step(range: f64, n: usize) -> f64 {
    let raw = (range / n as f64).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

pub(super) fn kind_class(k: EventType, completed: bool) -> &'static str {
    match (k, completed) {
        (EventType::Ok, _) => "ok",
        (EventType::Fail, _) => "fail",
        _ => "info",
    }
}
