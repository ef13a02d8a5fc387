//! `pause`: SIGSTOP nodes, then SIGCONT them.

use std::any::Any;

use rand::rngs::StdRng;
use serde_json::{json, Value};

use super::{Applied, Fault, Kind, Pending, Target};
use crate::control::{Control, ControlError};

pub(super) struct PauseKind;
pub(super) static KIND: PauseKind = PauseKind;

impl Kind for PauseKind {
    fn name(&self) -> &'static str {
        "pause"
    }
    fn about(&self) -> &'static str {
        "SIGSTOP one node, the leader, a majority or all, then SIGCONT"
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(Pause(Target::draw(&[Target::One, Target::Leader, Target::Majority], rng)))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause(pub Target);

impl Fault for Pause {
    fn f(&self) -> &'static str {
        "pause"
    }
    fn value(&self) -> Value {
        json!({ "target": self.0.to_string() })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let nodes = self.0.resolve(control, rng).await?;
            control.pause(&nodes).await?;
            Ok(Box::new(Paused(nodes)) as Box<dyn Applied>)
        })
    }
}

/// Nodes stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paused(pub Vec<String>);

impl Applied for Paused {
    fn done(&self) -> Value {
        json!({ "nodes": self.0 })
    }
    fn label(&self) -> String {
        format!("pause {}", self.0.join(","))
    }
    fn undo_f(&self) -> &'static str {
        "resume"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(async move { control.resume(&self.0).await.map(|()| Vec::new()) })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
