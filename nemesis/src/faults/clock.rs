//! `clock`: bump, strobe or drift the clocks of some nodes (through the
//! clock shim), then reset them. It runs in a lane of its own, beside the
//! other faults, so that a skewed clock can meet a partition or a kill.

use std::any::Any;

use cluster::Capability;
use rand::rngs::StdRng;
use serde_json::{json, Value};

use super::{Applied, Fault, Kind, Needs, Pending, Target};
use crate::clock::ClockFault;
use crate::control::{Control, ControlError};

pub(super) struct ClockKind;
pub(super) static KIND: ClockKind = ClockKind;

impl Kind for ClockKind {
    fn name(&self) -> &'static str {
        "clock"
    }
    fn about(&self) -> &'static str {
        "bump (1-10 s either way), strobe or drift (0.1x-5x) the clocks of one, the leader, a majority or all, \
         then reset; runs beside the other faults, not between them (needs the clock shim; faultline test sets \
         it up)"
    }
    fn needs(&self) -> Needs {
        Needs { capabilities: &[Capability::FakedClock], ..Needs::default() }
    }
    fn own_lane(&self) -> bool {
        true
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(MoveClocks {
            target: Target::draw(&[Target::One, Target::Leader, Target::Majority, Target::All], rng),
            fault: ClockFault::choose(rng),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveClocks {
    pub target: Target,
    pub fault: ClockFault,
}

impl Fault for MoveClocks {
    fn f(&self) -> &'static str {
        "clock"
    }
    fn value(&self) -> Value {
        let mut v = self.fault.value();
        v["target"] = json!(self.target.to_string());
        v
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let nodes = self.target.resolve(control, rng).await?;
            let offsets = self.fault.offsets();
            for (i, offset) in offsets.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(ClockFault::step()).await;
                }
                if let Err(e) = control.set_clock(&nodes, *offset).await {
                    // Never leave a clock half-moved.
                    let _ = control.set_clock(&nodes, 0).await;
                    return Err(e);
                }
            }
            let offset_ms = *offsets.last().unwrap_or(&0);
            Ok(Box::new(ClockMoved { nodes, fault: self.fault.clone(), offset_ms }) as Box<dyn Applied>)
        })
    }
}

/// Clocks moved; `offset_ms` is the offset left in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockMoved {
    pub nodes: Vec<String>,
    pub fault: ClockFault,
    pub offset_ms: i64,
}

impl Applied for ClockMoved {
    fn done(&self) -> Value {
        let mut v = self.fault.value();
        v["nodes"] = json!(self.nodes);
        v["offset_ms"] = json!(self.offset_ms);
        v
    }
    fn label(&self) -> String {
        let how = match &self.fault {
            ClockFault::Bump { .. } => format!("bump {:+} ms", self.offset_ms),
            ClockFault::Strobe { delta_ms, .. } => format!("strobe ±{delta_ms} ms"),
            ClockFault::Drift { rate_pct, .. } => format!("drift {rate_pct}%"),
        };
        format!("clock {how} {}", self.nodes.join(","))
    }
    fn undo_f(&self) -> &'static str {
        "reset-clock"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(async move { control.set_clock(&self.nodes, 0).await.map(|()| Vec::new()) })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
