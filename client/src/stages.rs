//! A node's stage timings (`raftkv serve --stage-timings`): what the node
//! writes to `stages.json` in its data dir on SIGUSR1, and what
//! `faultline bench-node --stages` reads back.

use serde::{Deserialize, Serialize};

/// The file, in a node's data dir, that SIGUSR1 (re)writes.
pub const STAGE_REPORT_FILE: &str = "stages.json";

/// One stage's percentiles since the last report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTiming {
    /// Such as `leader.persist` (the node's docs list them).
    pub stage: String,
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Every stage that saw a write since the node's last report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageReport {
    pub node: u64,
    pub stages: Vec<StageTiming>,
}
