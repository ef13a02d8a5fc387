//! `corrupt`: SIGKILL one node or the leader, damage one of its storage
//! files (raftkv's RocksDB files, NATS's message blocks: truncate the
//! newest log's tail, flip bits in a block, zero a range), restart it; a node that refuses to start is a finding and
//! stays down.

use std::any::Any;

use cluster::Capability;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use super::{Applied, Fault, Kind, Needs, Pending, Target};
use crate::control::{Control, ControlError};
use crate::corrupt::{Corruption, Damage, Layout, CORRUPTIONS};

pub(super) struct CorruptKind;
pub(super) static KIND: CorruptKind = CorruptKind;

impl Kind for CorruptKind {
    fn name(&self) -> &'static str {
        "corrupt"
    }
    fn about(&self) -> &'static str {
        "SIGKILL one node or the leader, damage one of its files (truncate the newest log's tail, flip bits in a \
         block, zero a range), restart it; a node that refuses to start is a finding and stays down"
    }
    fn needs(&self) -> Needs {
        Needs { capabilities: &[Capability::KnownFiles], ..Needs::default() }
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(Corrupt {
            target: Target::draw(&[Target::One, Target::Leader], rng),
            how: *CORRUPTIONS.choose(rng).expect("corruptions exist"),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corrupt {
    pub target: Target,
    pub how: Corruption,
}

impl Fault for Corrupt {
    fn f(&self) -> &'static str {
        "corrupt"
    }
    fn value(&self) -> Value {
        json!({ "target": self.target.to_string(), "how": self.how })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let node = self.target.resolve(control, rng).await?.remove(0);
            let one = [node.clone()];
            control.kill(&one).await?;
            let n = control.node(&node)?;
            let damaged = match n.files().await {
                Ok(files) => match crate::corrupt::plan(self.how, Layout::of(&control.cluster.db), &files, rng) {
                    Some(d) => n.corrupt(&d).await.map(|()| d).map_err(|e| ControlError::Nodes(vec![e])),
                    None => Err(ControlError::NothingToCorrupt(node.clone())),
                },
                Err(e) => Err(ControlError::Nodes(vec![e])),
            };
            match damaged {
                Ok(damage) => Ok(Box::new(Corrupted { node, damage }) as Box<dyn Applied>),
                Err(e) => {
                    // Never leave the node down for a fault not applied.
                    let _ = control.start(&one).await;
                    Err(e)
                }
            }
        })
    }
}

/// A stopped node's file damaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corrupted {
    pub node: String,
    pub damage: Damage,
}

impl Applied for Corrupted {
    fn done(&self) -> Value {
        json!({ "nodes": [self.node], "damage": self.damage })
    }
    fn label(&self) -> String {
        format!("corrupt {}: {}", self.node, self.damage)
    }
    fn undo_f(&self) -> &'static str {
        "restart"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(control.restart_after_crash(std::slice::from_ref(&self.node)))
    }
    fn crash(&self) -> &'static str {
        "corruption"
    }
    fn damages(&self) -> bool {
        true
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
