//! The explicit fault schedule (`schedule.json`): every fault a run dealt,
//! when, for how long, and the seeds it drew from. `nemesis run` writes one
//! as it goes, and `nemesis run --schedule FILE` replays one: the same
//! faults at the same offsets from the start, each drawn again from its
//! recorded seeds. A seed alone does not replay a run (which node leads,
//! how long a restart takes, differ between runs and shift every fault
//! after them); a schedule does, and a shrinker cuts it down step by step.
//!
//! A file is checked whole before any host is touched: it must parse,
//! every kind must exist and fit the system, and each fault drawn again
//! from its `choice_seed` must be the fault recorded (a schedule written by
//! another version of the catalogue is refused, not replayed as something
//! else).

use std::path::{Path, PathBuf};

use cluster::DbKind;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::faults::{Fault, FaultKind};

/// One fault of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The lane it ran in: 0, or 1 for the faults in a lane of their own
    /// (the clock's), which run beside the others.
    #[serde(default)]
    pub lane: usize,
    /// When it was applied, in milliseconds from the schedule's start.
    pub at_ms: u64,
    /// Its family, as `--faults` names it.
    pub kind: String,
    /// The fault as drawn (its invoke event's value), for people and for
    /// the check that a replay draws the same.
    pub fault: Value,
    /// Seeds the fault from its family ([`crate::faults::Kind::choose`]).
    pub choice_seed: u64,
    /// Seeds what the fault draws as it is applied (which node, which
    /// bytes) and the hold of a fault that has its own.
    pub apply_seed: u64,
    /// The hold drawn for it, in milliseconds.
    pub hold_ms: u64,
}

impl Step {
    /// The fault, drawn again from its seed.
    pub fn draw(&self) -> Result<Box<dyn Fault>, ScheduleError> {
        let kind = FaultKind::named(&self.kind).ok_or_else(|| ScheduleError::Step {
            at_ms: self.at_ms,
            why: format!("unknown fault {:?}; `nemesis faults` lists them", self.kind),
        })?;
        Ok(kind.choose(&mut StdRng::seed_from_u64(self.choice_seed)))
    }
}

/// `schedule.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// The seed of the run that dealt it; none for a hand-made or shrunk one.
    #[serde(default)]
    pub seed: Option<u64>,
    pub steps: Vec<Step>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("the fault applied at {at_ms} ms: {why}")]
    Step { at_ms: u64, why: String },
}

impl ScheduleFile {
    /// Reads and checks a schedule for `db`.
    pub fn load(path: &Path, db: &DbKind) -> Result<ScheduleFile, ScheduleError> {
        let file = |why: String| ScheduleError::File { path: path.to_path_buf(), why };
        let text = std::fs::read(path).map_err(|e| file(e.to_string()))?;
        let s: ScheduleFile = serde_json::from_slice(&text).map_err(|e| file(e.to_string()))?;
        s.check(db).map_err(|e| file(e.to_string()))?;
        Ok(s)
    }

    /// Every step fits `db` and draws the fault it recorded.
    pub fn check(&self, db: &DbKind) -> Result<(), ScheduleError> {
        for step in &self.steps {
            let fault = step.draw()?;
            let bad = |why: String| ScheduleError::Step { at_ms: step.at_ms, why };
            let kind = FaultKind::named(&step.kind).expect("drawn above");
            if let Some(why) = kind.unfit_for(db) {
                return Err(bad(format!("{}: {why}", step.kind)));
            }
            if step.lane != usize::from(kind.own_lane()) {
                return Err(bad(format!(
                    "{} runs in lane {}, not {}",
                    step.kind,
                    u8::from(kind.own_lane()),
                    step.lane
                )));
            }
            if fault.value() != step.fault {
                return Err(bad(format!(
                    "{} drawn from seed {} is {}, not the recorded {}: the schedule was written by another \
                     version of the fault catalogue",
                    step.kind,
                    step.choice_seed,
                    fault.value(),
                    step.fault
                )));
            }
        }
        Ok(())
    }

    /// The distinct kinds it uses, in order of first use.
    pub fn kinds(&self) -> Vec<FaultKind> {
        let mut out: Vec<FaultKind> = Vec::new();
        for k in self.steps.iter().filter_map(|s| FaultKind::named(&s.kind)) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }

    /// The steps of one lane, in order.
    pub fn lane(&self, lane: usize) -> Vec<Step> {
        let mut steps: Vec<Step> = self.steps.iter().filter(|s| s.lane == lane).cloned().collect();
        steps.sort_by_key(|s| s.at_ms);
        steps
    }

    /// Writes it whole, through a temporary file: a reader never sees half.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.new");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("a schedule serialises"))?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn step(kind: &str, choice_seed: u64) -> Step {
        let fault = FaultKind::named(kind).unwrap().choose(&mut StdRng::seed_from_u64(choice_seed));
        Step {
            lane: 0,
            at_ms: 1000,
            kind: kind.into(),
            fault: fault.value(),
            choice_seed,
            apply_seed: 7,
            hold_ms: 2000,
        }
    }

    #[test]
    fn a_schedule_round_trips_and_draws_its_faults_again() {
        let mut rng = StdRng::seed_from_u64(3);
        let steps = ["kill", "partition", "lose-unsynced", "failpoint"].map(|k| step(k, rng.gen()));
        let s = ScheduleFile { seed: Some(3), steps: steps.to_vec() };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedule.json");
        s.write(&path).unwrap();
        assert_eq!(ScheduleFile::load(&path, &DbKind::Raftkv).unwrap(), s);
        assert_eq!(s.kinds().len(), 4);
    }

    #[test]
    fn a_bad_schedule_is_refused_naming_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedule.json");
        let refuse = |s: &ScheduleFile, db: &DbKind| {
            s.write(&path).unwrap();
            ScheduleFile::load(&path, db).unwrap_err().to_string()
        };
        std::fs::write(&path, "{\"steps\": [").unwrap();
        let err = ScheduleFile::load(&path, &DbKind::Raftkv).unwrap_err().to_string();
        assert!(err.contains("schedule.json") && err.contains("EOF"), "{err}");

        let mut unknown = step("kill", 1);
        unknown.kind = "meteor".into();
        let err = refuse(&ScheduleFile { seed: None, steps: vec![unknown] }, &DbKind::Raftkv);
        assert!(err.contains("unknown fault \"meteor\""), "{err}");

        let err = refuse(&ScheduleFile { seed: None, steps: vec![step("corrupt", 1)] }, &DbKind::Etcd);
        assert!(err.contains("corrupt knows raftkv's RocksDB files"), "{err}");

        let mut changed = step("partition", 1);
        changed.choice_seed = 2;
        let s = ScheduleFile { seed: None, steps: vec![changed] };
        if s.check(&DbKind::Raftkv).is_err() {
            let err = refuse(&s, &DbKind::Raftkv);
            assert!(err.contains("another version of the fault catalogue"), "{err}");
        }
        let mut forged = step("kill", 1);
        forged.fault = serde_json::json!({ "target": "everyone" });
        let err = refuse(&ScheduleFile { seed: None, steps: vec![forged] }, &DbKind::Raftkv);
        assert!(err.contains("not the recorded {\"target\":\"everyone\"}"), "{err}");
    }
}
