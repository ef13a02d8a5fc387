//! `packet-loss`: drop a share of the packets at random along a partition
//! shape, then stop.

use std::any::Any;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use super::{grudge_of, Applied, Fault, Kind, Pending};
use crate::control::{Control, ControlError};
use crate::partition::{Grudge, Shape, ALL_SHAPES};

/// The shares of packets it drops, in percent.
const LOSS_PERCENTS: [u8; 3] = [10, 25, 50];

pub(super) struct PacketLossKind;
pub(super) static KIND: PacketLossKind = PacketLossKind;

impl Kind for PacketLossKind {
    fn name(&self) -> &'static str {
        "packet-loss"
    }
    fn about(&self) -> &'static str {
        "drop 10-50% of packets at random along a partition shape (one way or both ways), then stop"
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(DropPackets {
            shape: *ALL_SHAPES.choose(rng).expect("shapes exist"),
            percent: *LOSS_PERCENTS.choose(rng).expect("percents exist"),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropPackets {
    pub shape: Shape,
    pub percent: u8,
}

impl Fault for DropPackets {
    fn f(&self) -> &'static str {
        "packet-loss"
    }
    fn value(&self) -> Value {
        json!({ "shape": self.shape.name(), "percent": self.percent })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let grudge = grudge_of(self.shape, control, rng).await?;
            control.drop_packets(&grudge, Some(self.percent)).await?;
            Ok(Box::new(PacketsDropped { grudge, percent: self.percent }) as Box<dyn Applied>)
        })
    }
}

/// Packets dropped at random: for each node, whose packets, and how many
/// in a hundred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketsDropped {
    pub grudge: Grudge,
    pub percent: u8,
}

impl Applied for PacketsDropped {
    fn done(&self) -> Value {
        json!({ "grudge": self.grudge, "percent": self.percent })
    }
    fn label(&self) -> String {
        format!("packet-loss {}% {}", self.percent, self.grudge.label())
    }
    fn undo_f(&self) -> &'static str {
        "stop-packet-loss"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(async move { control.heal_network().await.map(|()| Vec::new()) })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
