//! Where a write's time goes inside the node (`raftkv serve
//! --stage-timings`): the Raft loop stamps each log entry at every step it
//! takes, on the leader and on the followers, and this module folds the
//! gaps into one histogram per stage. On SIGUSR1 the node logs their
//! percentiles, writes them to `stages.json` in its data dir
//! ([`raftkv_client::stages::StageReport`]) and starts afresh.
//!
//! Off by default. When off, every call returns at its first branch, so the
//! loop's hot path pays one bool test per step.
//!
//! The stages, in a write's order (the client's own round trip is what the
//! benchmark measures beyond `leader.in-node`):
//!
//! | stage | from → to |
//! |---|---|
//! | `leader.queued` | the server took the request → the loop proposed it |
//! | `leader.to-send` | proposed → the Ready carrying it sent the appends |
//! | `leader.persist` | the leader's own write and fsync of that Ready |
//! | `leader.ack` | appends sent → the first follower's ack stepped |
//! | `leader.to-commit` | appends sent → the entry seen committed |
//! | `leader.apply` | committed → applied and answered |
//! | `leader.in-node` | the server took the request → answered |
//! | `follower.queued` | the server took the append → the loop stepped it |
//! | `follower.persist` | the follower's write and fsync of the entries |
//! | `follower.to-ack` | stepped → the ack handed to the transport |

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use hdrhistogram::Histogram;
use raftkv_client::stages::{StageReport, StageTiming};

/// One stage of a write, as [`Stages`] times it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    LeaderQueued,
    LeaderToSend,
    LeaderPersist,
    LeaderAck,
    LeaderToCommit,
    LeaderApply,
    LeaderInNode,
    FollowerQueued,
    FollowerPersist,
    FollowerToAck,
}

impl Stage {
    const ALL: [Stage; 10] = [
        Stage::LeaderQueued,
        Stage::LeaderToSend,
        Stage::LeaderPersist,
        Stage::LeaderAck,
        Stage::LeaderToCommit,
        Stage::LeaderApply,
        Stage::LeaderInNode,
        Stage::FollowerQueued,
        Stage::FollowerPersist,
        Stage::FollowerToAck,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::LeaderQueued => "leader.queued",
            Stage::LeaderToSend => "leader.to-send",
            Stage::LeaderPersist => "leader.persist",
            Stage::LeaderAck => "leader.ack",
            Stage::LeaderToCommit => "leader.to-commit",
            Stage::LeaderApply => "leader.apply",
            Stage::LeaderInNode => "leader.in-node",
            Stage::FollowerQueued => "follower.queued",
            Stage::FollowerPersist => "follower.persist",
            Stage::FollowerToAck => "follower.to-ack",
        }
    }
}

/// A leader's stamps of one entry it proposed.
struct Proposed {
    received: Instant,
    proposed: Instant,
    sent: Option<Instant>,
    acked: bool,
    committed: Option<Instant>,
}

/// Entries stamped and not yet done are forgotten past this many, so a
/// leader that loses office, or entries that never commit, cannot grow the
/// maps without bound.
const MAX_PENDING: usize = 100_000;

/// The per-stage histograms and the entries in flight.
pub struct Stages {
    on: bool,
    hist: Vec<Histogram<u64>>,
    proposed: HashMap<u64, Proposed>,
    /// A follower's entries by index, and when their append was stepped.
    appended: HashMap<u64, Instant>,
}

impl Stages {
    /// Stages timed when `on`; else every call does nothing.
    pub fn new(on: bool) -> Stages {
        let hist = Stage::ALL
            .iter()
            .map(|_| Histogram::new_with_bounds(1, 60_000_000, 2).expect("static histogram bounds"))
            .collect();
        Stages { on, hist, proposed: HashMap::new(), appended: HashMap::new() }
    }

    pub fn on(&self) -> bool {
        self.on
    }

    fn record(&mut self, stage: Stage, from: Instant, to: Instant) {
        let micros = to.saturating_duration_since(from).as_micros().max(1) as u64;
        self.hist[stage as usize].saturating_record(micros);
    }

    /// The leader proposed a client's write as entry `index`.
    pub fn proposed(&mut self, index: u64, received: Instant) {
        if !self.on() {
            return;
        }
        let now = Instant::now();
        self.record(Stage::LeaderQueued, received, now);
        if self.proposed.len() >= MAX_PENDING {
            self.proposed.clear();
        }
        self.proposed.insert(index, Proposed { received, proposed: now, sent: None, acked: false, committed: None });
    }

    /// A Ready carrying entries `first..=last` sent its appends at `at`.
    pub fn sent(&mut self, first: u64, last: u64, at: Instant) {
        if !self.on() {
            return;
        }
        for index in first..=last {
            let Some(p) = self.proposed.get_mut(&index) else { continue };
            p.sent = Some(at);
            let from = p.proposed;
            self.record(Stage::LeaderToSend, from, at);
        }
    }

    /// This node wrote and synced entries up to `last` from `from` to `to`:
    /// the leader's own entries or a follower's appended ones.
    pub fn persisted(&mut self, last: u64, from: Instant, to: Instant) {
        if !self.on() {
            return;
        }
        if self.proposed.contains_key(&last) {
            self.record(Stage::LeaderPersist, from, to);
        } else if self.appended.contains_key(&last) {
            self.record(Stage::FollowerPersist, from, to);
        }
    }

    /// A follower acknowledged everything up to `index`.
    pub fn acked(&mut self, index: u64) {
        if !self.on() {
            return;
        }
        let now = Instant::now();
        let Some(p) = self.proposed.get_mut(&index) else { return };
        if p.acked {
            return;
        }
        p.acked = true;
        if let Some(sent) = p.sent {
            self.record(Stage::LeaderAck, sent, now);
        }
    }

    /// Entry `index` is committed, as this node learnt at `at`.
    pub fn committed(&mut self, index: u64, at: Instant) {
        if !self.on() {
            return;
        }
        let Some(p) = self.proposed.get_mut(&index) else { return };
        p.committed = Some(at);
        if let Some(sent) = p.sent {
            self.record(Stage::LeaderToCommit, sent, at);
        }
    }

    /// Entry `index` is applied and its client answered.
    pub fn answered(&mut self, index: u64) {
        if !self.on() {
            return;
        }
        let now = Instant::now();
        let Some(p) = self.proposed.remove(&index) else { return };
        if let Some(c) = p.committed {
            self.record(Stage::LeaderApply, c, now);
        }
        self.record(Stage::LeaderInNode, p.received, now);
    }

    /// A follower stepped an append of `indexes` that its server took at
    /// `received`.
    pub fn appended(&mut self, indexes: impl Iterator<Item = u64>, received: Instant) {
        if !self.on() {
            return;
        }
        let now = Instant::now();
        let mut any = false;
        if self.appended.len() >= MAX_PENDING {
            self.appended.clear();
        }
        for index in indexes {
            any = true;
            self.appended.insert(index, now);
        }
        if any {
            self.record(Stage::FollowerQueued, received, now);
        }
    }

    /// A follower handed the ack of entries up to `last` to the transport.
    pub fn follower_acked(&mut self, first: u64, last: u64) {
        if !self.on() {
            return;
        }
        let now = Instant::now();
        let mut stepped = None;
        for index in first..=last {
            if let Some(at) = self.appended.remove(&index) {
                stepped = Some(at);
            }
        }
        if let Some(s) = stepped {
            self.record(Stage::FollowerToAck, s, now);
        }
    }

    /// The percentiles of every stage seen since the last report; the
    /// histograms start afresh.
    pub fn report(&mut self, node: u64) -> StageReport {
        let mut stages = Vec::new();
        for stage in Stage::ALL {
            let h = &mut self.hist[stage as usize];
            if h.is_empty() {
                continue;
            }
            stages.push(StageTiming {
                stage: stage.name().to_string(),
                count: h.len(),
                p50_us: h.value_at_quantile(0.5),
                p99_us: h.value_at_quantile(0.99),
            });
            h.reset();
        }
        StageReport { node, stages }
    }
}

/// `stage p50/p99 (count)`, stage after stage: a report as one log line.
pub fn summary(report: &StageReport) -> String {
    let mut line = String::new();
    for t in &report.stages {
        if !line.is_empty() {
            line.push_str(", ");
        }
        let _ = write!(line, "{} {}/{} ({})", t.stage, t.p50_us, t.p99_us, t.count);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_nothing() {
        let mut s = Stages::new(false);
        s.proposed(1, Instant::now());
        assert!(s.proposed.is_empty() && s.report(1).stages.is_empty());
    }

    #[test]
    fn a_leader_write_and_a_follower_append_fill_their_stages() {
        let mut s = Stages::new(true);
        let t0 = Instant::now();
        s.proposed(7, t0);
        let t1 = Instant::now();
        s.sent(7, 7, t1);
        s.persisted(7, t1, Instant::now());
        s.acked(7);
        s.committed(7, Instant::now());
        s.answered(7);
        s.appended([9u64].into_iter(), Instant::now());
        s.persisted(9, Instant::now(), Instant::now());
        s.follower_acked(9, 9);
        let report = s.report(1);
        let seen: Vec<&str> = report.stages.iter().map(|t| t.stage.as_str()).collect();
        let all: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(seen, all);
        assert!(report.stages.iter().all(|t| t.count == 1 && t.p50_us <= t.p99_us));
        assert!(s.proposed.is_empty() && s.appended.is_empty(), "finished entries are forgotten");
        assert!(s.report(1).stages.is_empty(), "a report starts the histograms afresh");
        assert!(summary(&report).starts_with("leader.queued "));
    }
}
