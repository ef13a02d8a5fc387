//! `clock-isolate`: set the leader's clock back, cut it off, wait for a new
//! leader, reset it behind the cut: pause-isolate with a clock instead of
//! a pause.

use std::any::Any;

use cluster::Capability;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use super::{await_new_leader, leader_and_cut, Applied, Fault, Kind, Needs, Pending, NEW_LEADER_POLL, NEW_LEADER_WAIT};
use crate::control::{Control, ControlError};
use crate::partition::Grudge;

pub(super) struct ClockIsolateKind;
pub(super) static KIND: ClockIsolateKind = ClockIsolateKind;

impl Kind for ClockIsolateKind {
    fn name(&self) -> &'static str {
        "clock-isolate"
    }
    fn about(&self) -> &'static str {
        "set the leader's clock back 5-15 s (its timers stall), cut it off, wait for a new leader; reset the clock, \
         then heal (needs the clock shim; faultline test sets it up)"
    }
    fn needs(&self) -> Needs {
        Needs { capabilities: &[Capability::FakedClock, Capability::LeaderLookup], ..Needs::default() }
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(ClockIsolate { offset_ms: -rng.gen_range(5_000..=15_000) })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockIsolate {
    pub offset_ms: i64,
}

impl Fault for ClockIsolate {
    fn f(&self) -> &'static str {
        "clock-isolate"
    }
    fn value(&self) -> Value {
        json!({ "target": "leader", "offset_ms": self.offset_ms })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let (old, grudge) = leader_and_cut(control, rng, "skew").await?;
            let one = [old.clone()];
            control.set_clock(&one, self.offset_ms).await?;
            // Its timers stall, so check-quorum will not demote it; the
            // others, cut off from it, elect a leader and take writes.
            if let Err(e) = control.partition(&grudge).await {
                let _ = control.set_clock(&one, 0).await;
                return Err(e);
            }
            await_new_leader(control, &old, NEW_LEADER_WAIT, NEW_LEADER_POLL).await;
            Ok(Box::new(ClockIsolated { node: old, grudge, offset_ms: self.offset_ms }) as Box<dyn Applied>)
        })
    }
}

/// The old leader, its clock set back, and the cut that isolates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockIsolated {
    pub node: String,
    pub grudge: Grudge,
    pub offset_ms: i64,
}

impl Applied for ClockIsolated {
    fn done(&self) -> Value {
        json!({ "nodes": [self.node], "grudge": self.grudge, "offset_ms": self.offset_ms })
    }
    fn label(&self) -> String {
        format!("clock-isolate ({} ms) {}", self.offset_ms, self.grudge.label())
    }
    fn undo_f(&self) -> &'static str {
        "stop-partition"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        // The clock first: its timers catch up, check-quorum demotes it
        // while it is still cut off; then the network.
        Box::pin(async move {
            let clock = control.set_clock(std::slice::from_ref(&self.node), 0).await;
            let net = control.heal_network().await;
            clock.and(net).map(|()| Vec::new())
        })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
