//! `disk-full`: fill the disk under some nodes' data dirs (lossyfs refuses
//! new space), then free it and restart whatever died.

use std::any::Any;

use rand::rngs::StdRng;
use serde_json::{json, Value};

use super::{Applied, Fault, Kind, Needs, Pending, Target};
use crate::control::{Control, ControlError};

pub(super) struct DiskFullKind;
pub(super) static KIND: DiskFullKind = DiskFullKind;

impl Kind for DiskFullKind {
    fn name(&self) -> &'static str {
        "disk-full"
    }
    fn about(&self) -> &'static str {
        "fill the disk under one, the leader, a majority or all (ENOSPC for anything that needs new space), then \
         free it and restart whatever died (needs lossyfs data dirs; faultline test sets them up)"
    }
    fn needs(&self) -> Needs {
        Needs { lossyfs: true, ..Needs::default() }
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(FillDisk(Target::draw(&[Target::One, Target::Leader, Target::Majority, Target::All], rng)))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillDisk(pub Target);

impl Fault for FillDisk {
    fn f(&self) -> &'static str {
        "disk-full"
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
            if let Err(e) = control.fill(&nodes, true).await {
                let _ = control.fill(&nodes, false).await;
                return Err(e);
            }
            Ok(Box::new(DiskFilled(nodes)) as Box<dyn Applied>)
        })
    }
}

/// Disks filled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFilled(pub Vec<String>);

impl Applied for DiskFilled {
    fn done(&self) -> Value {
        json!({ "nodes": self.0 })
    }
    fn label(&self) -> String {
        format!("disk-full {}", self.0.join(","))
    }
    fn undo_f(&self) -> &'static str {
        "free-disk"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        // A node that stopped on a write it could not make comes back once
        // there is room.
        Box::pin(async move {
            control.fill(&self.0, false).await?;
            control.start(&self.0).await.map(|()| Vec::new())
        })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
