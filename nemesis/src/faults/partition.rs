//! `partition`: cut the network along a random shape, then heal it.

use std::any::Any;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use super::{grudge_of, Applied, Fault, Kind, Pending};
use crate::control::{Control, ControlError};
use crate::partition::{Grudge, Shape, ALL_SHAPES};

pub(super) struct Partition;
pub(super) static KIND: Partition = Partition;

impl Kind for Partition {
    fn name(&self) -> &'static str {
        "partition"
    }
    fn about(&self) -> &'static str {
        "cut the network along a random shape: one node or the leader off, halves, a bridge, a ring of majorities, \
         one way, a leader that hears nobody"
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(Cut(*ALL_SHAPES.choose(rng).expect("shapes exist")))
    }
}

/// A cut along a shape, its grudge drawn when applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut(pub Shape);

impl Fault for Cut {
    fn f(&self) -> &'static str {
        "start-partition"
    }
    fn value(&self) -> Value {
        json!({ "shape": self.0.name() })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let grudge = grudge_of(self.0, control, rng).await?;
            control.partition(&grudge).await?;
            Ok(Box::new(Partitioned(grudge)) as Box<dyn Applied>)
        })
    }
}

/// The network cut: for each node, whose packets it drops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partitioned(pub Grudge);

impl Applied for Partitioned {
    fn done(&self) -> Value {
        json!({ "grudge": self.0 })
    }
    fn label(&self) -> String {
        format!("partition {}", self.0.label())
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
