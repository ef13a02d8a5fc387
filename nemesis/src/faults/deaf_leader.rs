//! `deaf-leader`: the leader drops every other node's packets while its
//! own still arrive: a partition of the deaf-leader shape.

use rand::rngs::StdRng;

use super::partition::Cut;
use super::{Fault, Kind, Needs};
use crate::partition::Shape;

pub(super) struct DeafLeader;
pub(super) static KIND: DeafLeader = DeafLeader;

impl Kind for DeafLeader {
    fn name(&self) -> &'static str {
        "deaf-leader"
    }
    fn about(&self) -> &'static str {
        "the leader drops every other node's packets while its own still arrive: followers take entries it never \
         learns are committed, and it steps down with those writes pending; then heal"
    }
    fn needs(&self) -> Needs {
        Needs { capabilities: &[cluster::Capability::LeaderLookup], ..Needs::default() }
    }
    fn choose(&self, _rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(Cut(Shape::DeafLeader))
    }
}
