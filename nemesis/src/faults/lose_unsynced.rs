//! `lose-unsynced`: a power failure on a majority or all: SIGKILL, lose
//! every write each node never fsynced (through its lossyfs data dir),
//! restart. `lose-unsynced-all` is Jepsen's coordinated power failure
//! (LazyFS's lose-unfsynced-writes on every node): all nodes at once, each
//! losing whole what it never synced, never a torn part.

use std::any::Any;

use lossyfs::journal::LOSSES;
use lossyfs::{Loss, LossReport};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::{Applied, Fault, Kind, Needs, Pending, Target};
use crate::control::{Control, ControlError};

pub(super) struct LoseUnsyncedKind {
    name: &'static str,
    about: &'static str,
    targets: &'static [Target],
    losses: &'static [Loss],
}
pub(super) static KIND: LoseUnsyncedKind = LoseUnsyncedKind {
    name: "lose-unsynced",
    about: "power failure on a majority or all: SIGKILL, lose every write not fsynced (all of it, or a torn part), \
            restart (needs lossyfs data dirs; faultline test sets them up)",
    targets: &[Target::Majority, Target::All],
    losses: &LOSSES,
};
pub(super) static KIND_ALL: LoseUnsyncedKind = LoseUnsyncedKind {
    name: "lose-unsynced-all",
    about: "power failure of every node at once: SIGKILL all, each loses whole every write it never fsynced \
            (never a torn part), restart",
    targets: &[Target::All],
    losses: &[Loss::Tail],
};

impl Kind for LoseUnsyncedKind {
    fn name(&self) -> &'static str {
        self.name
    }
    fn about(&self) -> &'static str {
        self.about
    }
    fn needs(&self) -> Needs {
        Needs { lossyfs: true, ..Needs::default() }
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        // A single choice is no draw: the RNG moves only for the tear's seed.
        let target = match self.targets {
            [only] => only.clone(),
            many => Target::draw(many, rng),
        };
        let loss = match self.losses {
            [only] => *only,
            many => *many.choose(rng).expect("losses exist"),
        };
        Box::new(LoseUnsynced { target, loss, seed: rng.gen() })
    }
}

/// A power failure on `target`; `seed` seeds each node's tear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoseUnsynced {
    pub target: Target,
    pub loss: Loss,
    pub seed: u64,
}

impl Fault for LoseUnsynced {
    fn f(&self) -> &'static str {
        "lose-unsynced"
    }
    fn value(&self) -> Value {
        json!({ "target": self.target.to_string(), "loss": self.loss, "seed": self.seed })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let nodes = self.target.resolve(control, rng).await?;
            let lost = control.lose(&nodes, self.loss, self.seed).await?;
            Ok(Box::new(Lost { loss: self.loss, lost }) as Box<dyn Applied>)
        })
    }
}

/// Nodes that lost power, each with what it lost; they stay down until
/// the undo restarts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    pub loss: Loss,
    pub lost: Vec<(String, LossReport)>,
}

impl Lost {
    fn nodes(&self) -> Vec<String> {
        self.lost.iter().map(|(n, _)| n.clone()).collect()
    }
}

impl Applied for Lost {
    fn done(&self) -> Value {
        let reports: serde_json::Map<String, Value> = self.lost.iter().map(|(n, r)| (n.clone(), json!(r))).collect();
        json!({ "nodes": self.nodes(), "loss": self.loss, "lost": reports })
    }
    fn label(&self) -> String {
        format!("lose-unsynced ({}) {}", self.loss, self.nodes().join(","))
    }
    fn undo_f(&self) -> &'static str {
        "restart"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(async move { control.restart_after_crash(&self.nodes()).await })
    }
    fn crash(&self) -> &'static str {
        "a power failure"
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
