//! `kill`, `kill-all`, `kill-majority`: SIGKILL nodes, then restart them.
//! A node that cannot come back from a SIGKILL (its own files, as it left
//! them, refused) is a finding, like one after a power failure.

use std::any::Any;

use rand::rngs::StdRng;
use serde_json::{json, Value};

use super::{Applied, Fault, Kind, Pending, Target};
use crate::control::{Control, ControlError};

pub(super) struct KillKind {
    name: &'static str,
    about: &'static str,
    targets: &'static [Target],
}
pub(super) static KIND: KillKind = KillKind {
    name: "kill",
    about: "SIGKILL one node, the leader, a majority or all, then restart them",
    targets: &[Target::One, Target::Leader, Target::Majority, Target::All],
};
pub(super) static KIND_ALL: KillKind =
    KillKind { name: "kill-all", about: "SIGKILL every node at once, then restart them", targets: &[Target::All] };
pub(super) static KIND_MAJORITY: KillKind = KillKind {
    name: "kill-majority",
    about: "SIGKILL a random majority at once, then restart it",
    targets: &[Target::Majority],
};

impl Kind for KillKind {
    fn name(&self) -> &'static str {
        self.name
    }
    fn about(&self) -> &'static str {
        self.about
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        // One target is no draw: the RNG is left as it was.
        if let [only] = self.targets {
            return Box::new(Kill(only.clone()));
        }
        Box::new(Kill(Target::draw(self.targets, rng)))
    }
}

/// A kill of `target`, held for the schedule's interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill(pub Target);

impl Fault for Kill {
    fn f(&self) -> &'static str {
        "kill"
    }
    fn value(&self) -> Value {
        json!({ "target": self.0.to_string() })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(kill(&self.0, "kill", control, rng))
    }
}

/// Kills `target`'s nodes; `f` is the fault that did (kill or bounce).
pub(super) async fn kill(
    target: &Target,
    f: &'static str,
    control: &Control,
    rng: &mut StdRng,
) -> Result<Box<dyn Applied>, ControlError> {
    let nodes = target.resolve(control, rng).await?;
    control.kill(&nodes).await?;
    Ok(Box::new(Killed { f, nodes }))
}

/// Nodes killed, and the fault that killed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Killed {
    pub f: &'static str,
    pub nodes: Vec<String>,
}

impl Applied for Killed {
    fn done(&self) -> Value {
        json!({ "nodes": self.nodes })
    }
    fn label(&self) -> String {
        format!("{} {}", self.f, self.nodes.join(","))
    }
    fn undo_f(&self) -> &'static str {
        "restart"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(control.restart_after_crash(&self.nodes))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
