//! `bounce`: a kill held for a moment, so that the nodes come back during
//! the election their death began (votes and terms must survive the
//! restart).

use std::time::Duration;

use cluster::Capability;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use super::kill::kill;
use super::{Applied, Fault, Kind, Needs, Pending, Target};
use crate::control::{Control, ControlError};

/// The longest a bounce keeps its nodes down: well inside an election
/// timeout, so they rejoin the election their death began.
pub const BOUNCE_HOLD: Duration = Duration::from_millis(300);

pub(super) struct BounceKind {
    name: &'static str,
    about: &'static str,
    targets: &'static [Target],
    needs: Needs,
}
pub(super) static KIND: BounceKind = BounceKind {
    name: "bounce",
    about: "SIGKILL the leader, one node or a majority and restart it within 300 ms, so that it comes back during \
            the election its death began (votes and terms must survive the restart)",
    targets: &[Target::Leader, Target::One, Target::Majority],
    needs: Needs { lossyfs: false, capabilities: &[] },
};
/// Only ever the leader: the restart that most often meets its own
/// election, with the log it must still hold.
pub(super) static KIND_LEADER: BounceKind = BounceKind {
    name: "bounce-leader",
    about: "SIGKILL the leader and restart it within 300 ms, while the others elect its successor",
    targets: &[Target::Leader],
    needs: Needs { lossyfs: false, capabilities: &[Capability::LeaderLookup] },
};

impl Kind for BounceKind {
    fn name(&self) -> &'static str {
        self.name
    }
    fn about(&self) -> &'static str {
        self.about
    }
    fn needs(&self) -> Needs {
        self.needs
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        // One target is no draw: the RNG is left as it was.
        if let [only] = self.targets {
            return Box::new(Bounce(only.clone()));
        }
        Box::new(Bounce(Target::draw(self.targets, rng)))
    }
}

/// A kill of `target` held for at most [`BOUNCE_HOLD`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounce(pub Target);

impl Fault for Bounce {
    fn f(&self) -> &'static str {
        "bounce"
    }
    fn value(&self) -> Value {
        json!({ "target": self.0.to_string() })
    }
    fn hold(&self, _drawn: Duration, rng: &mut StdRng) -> Duration {
        BOUNCE_HOLD.mul_f64(rng.gen_range(0.0..=1.0))
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(kill(&self.0, "bounce", control, rng))
    }
}
