//! `pause-isolate`: pause the leader, cut it off, wait for a new leader,
//! resume it behind the cut: for a while it still believes it leads.

use std::any::Any;

use rand::rngs::StdRng;
use serde_json::{json, Value};

use super::{await_new_leader, leader_and_cut, Applied, Fault, Kind, Needs, Pending, NEW_LEADER_POLL, NEW_LEADER_WAIT};
use crate::control::{Control, ControlError};
use crate::partition::Grudge;

pub(super) struct PauseIsolateKind;
pub(super) static KIND: PauseIsolateKind = PauseIsolateKind;

impl Kind for PauseIsolateKind {
    fn name(&self) -> &'static str {
        "pause-isolate"
    }
    fn about(&self) -> &'static str {
        "pause the leader, cut it off, wait for a new leader, resume it behind the cut"
    }
    fn needs(&self) -> Needs {
        Needs { capabilities: &[cluster::Capability::LeaderLookup], ..Needs::default() }
    }
    fn choose(&self, _rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(PauseIsolate)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseIsolate;

impl Fault for PauseIsolate {
    fn f(&self) -> &'static str {
        "pause-isolate"
    }
    fn value(&self) -> Value {
        json!({ "target": "leader" })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let (old, grudge) = leader_and_cut(control, rng, "pause").await?;
            control.pause(std::slice::from_ref(&old)).await?;
            // Cut it off before the others time out. A paused process's
            // kernel still accepts TCP data, so the new term's vote
            // requests and heartbeats would otherwise wait in its socket
            // buffers and depose it the moment it resumed.
            let cut = control.partition(&grudge).await;
            if cut.is_ok() {
                // While it sleeps the others elect a leader and take
                // writes; resumed behind the cut, it has not heard of them.
                await_new_leader(control, &old, NEW_LEADER_WAIT, NEW_LEADER_POLL).await;
            }
            // Resume even when the cut failed: never leave a node paused.
            let resumed = control.resume(std::slice::from_ref(&old)).await;
            cut?;
            resumed?;
            Ok(Box::new(PausedIsolated { node: old, grudge }) as Box<dyn Applied>)
        })
    }
}

/// The old leader, resumed, and the cut that isolates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PausedIsolated {
    pub node: String,
    pub grudge: Grudge,
}

impl Applied for PausedIsolated {
    fn done(&self) -> Value {
        json!({ "nodes": [self.node], "grudge": self.grudge })
    }
    fn label(&self) -> String {
        format!("pause-isolate {}, cut {}", self.node, self.grudge.label())
    }
    fn undo_f(&self) -> &'static str {
        "stop-partition"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(async move { control.heal_network().await.map(|()| Vec::new()) })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
