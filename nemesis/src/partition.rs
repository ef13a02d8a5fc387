//! Network partitions: the grudge, the shapes that build one, and the
//! iptables rules that enforce it.
//!
//! A [`Grudge`] says, for each node, which nodes' packets it drops. It is
//! enforced on each host with DROP rules on INPUT, in a chain of our own
//! (`FAULTLINE`) jumped to from INPUT, so that a heal removes exactly our
//! rules and nothing else. Only node addresses are dropped: the control
//! side (checker, nemesis) keeps reaching every node, as in Jepsen.
//!
//! Over TCP a one-way drop severs the pair in both directions (the
//! handshake and the acks are lost too); the asymmetric shapes are still
//! worth having, because what a node sees first differs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

/// Our iptables chain on every host.
pub const CHAIN: &str = "FAULTLINE";

/// For each node, the nodes whose packets it drops. Nodes absent from the
/// map drop nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Grudge(pub BTreeMap<String, BTreeSet<String>>);

impl Grudge {
    /// Every node drops every node outside its own component.
    pub fn complete(components: &[Vec<String>]) -> Grudge {
        let mut g = Grudge::default();
        for (i, comp) in components.iter().enumerate() {
            for node in comp {
                let others: BTreeSet<String> = components
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, c)| c.iter().cloned())
                    .collect();
                if !others.is_empty() {
                    g.0.insert(node.clone(), others);
                }
            }
        }
        g
    }

    pub fn drops(&self, node: &str) -> impl Iterator<Item = &String> {
        self.0.get(node).into_iter().flatten()
    }

    /// True when `a` and `b` can still exchange TCP traffic: neither drops
    /// the other.
    pub fn connected(&self, a: &str, b: &str) -> bool {
        !self.drops(a).any(|x| x == b) && !self.drops(b).any(|x| x == a)
    }
}

impl Grudge {
    /// `node` cut off from every other of `nodes`, both ways.
    pub fn isolating(node: &str, nodes: &[String]) -> Grudge {
        let rest: Vec<String> = nodes.iter().filter(|n| *n != node).cloned().collect();
        Grudge::complete(&[vec![node.to_string()], rest])
    }

    /// The grudge as the report labels it: `n1✕n2+n3 n2✕n1`.
    pub fn label(&self) -> String {
        let parts: Vec<String> =
            self.0.iter().map(|(n, d)| format!("{n}✕{}", d.iter().cloned().collect::<Vec<_>>().join("+"))).collect();
        parts.join(" ")
    }
}

impl fmt::Display for Grudge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no drops");
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(n, d)| format!("{n} drops {}", d.iter().cloned().collect::<Vec<_>>().join("+")))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// The partition shapes of Jepsen's nemesis catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One random node cut off from the others.
    IsolateOne,
    /// The current leader cut off from the others.
    IsolateLeader,
    /// The nodes shuffled and split into two halves (the smaller first).
    Halves,
    /// Two halves that cannot talk, and one node in the middle that talks
    /// to both.
    Bridge,
    /// Each node sees a majority, and no two nodes see the same majority.
    MajoritiesRing,
    /// One node drops the packets of one other; the reverse way is open.
    OneWay,
    /// The current leader drops every other node's packets, while its own
    /// still arrive. Its appends keep reaching the followers (until TCP,
    /// hearing no acks, stops sending) and their acks never come back: the
    /// followers hold entries the leader never learns are committed. The
    /// leader steps down with those writes pending, and the next leader
    /// commits them, the case where "failed" is the wrong answer.
    DeafLeader,
}

pub const ALL_SHAPES: [Shape; 7] = [
    Shape::IsolateOne,
    Shape::IsolateLeader,
    Shape::Halves,
    Shape::Bridge,
    Shape::MajoritiesRing,
    Shape::OneWay,
    Shape::DeafLeader,
];

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::IsolateOne => "isolate-one",
            Shape::IsolateLeader => "isolate-leader",
            Shape::Halves => "halves",
            Shape::Bridge => "bridge",
            Shape::MajoritiesRing => "majorities-ring",
            Shape::OneWay => "one-way",
            Shape::DeafLeader => "deaf-leader",
        }
    }

    /// Whether the shape is built around the current leader.
    pub fn needs_leader(self) -> bool {
        matches!(self, Shape::IsolateLeader | Shape::DeafLeader)
    }

    /// Builds the grudge over `nodes`. `leader` is needed only by the
    /// shapes built around it ([`Shape::needs_leader`]), which fail without
    /// one.
    pub fn grudge<R: Rng>(self, nodes: &[String], leader: Option<&str>, rng: &mut R) -> Result<Grudge, String> {
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        let rest = |x: &str| nodes.iter().filter(|n| *n != x).cloned().collect::<Vec<_>>();
        Ok(match self {
            Shape::IsolateOne => Grudge::isolating(&shuffled[0], nodes),
            Shape::IsolateLeader => {
                Grudge::isolating(leader.ok_or("no leader is known, so there is no leader to isolate")?, nodes)
            }
            Shape::DeafLeader => {
                let l = leader.ok_or("no leader is known, so there is no leader to deafen")?;
                let mut g = Grudge::default();
                g.0.insert(l.to_string(), rest(l).into_iter().collect());
                g
            }
            Shape::Halves => {
                let (a, b) = shuffled.split_at(shuffled.len() / 2);
                Grudge::complete(&[a.to_vec(), b.to_vec()])
            }
            Shape::Bridge => {
                let mid = shuffled.len() / 2;
                let (left, right) = (&shuffled[..mid], &shuffled[mid + 1..]);
                let mut g = Grudge::complete(&[left.to_vec(), right.to_vec()]);
                g.0.remove(&shuffled[mid]);
                g
            }
            Shape::MajoritiesRing => {
                // Node i sees itself and the next n/2 nodes of the ring.
                let n = shuffled.len();
                let mut g = Grudge::default();
                for i in 0..n {
                    let sees: BTreeSet<&String> = (0..=n / 2).map(|k| &shuffled[(i + k) % n]).collect();
                    let drops: BTreeSet<String> = shuffled.iter().filter(|x| !sees.contains(x)).cloned().collect();
                    if !drops.is_empty() {
                        g.0.insert(shuffled[i].clone(), drops);
                    }
                }
                g
            }
            Shape::OneWay => {
                let mut g = Grudge::default();
                g.0.insert(shuffled[0].clone(), BTreeSet::from([shuffled[1].clone()]));
                g
            }
        })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_SHAPES.iter().copied().find(|sh| sh.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL_SHAPES.iter().map(|s| s.name()).collect();
            format!("unknown partition shape {s:?}; known: {}", names.join(", "))
        })
    }
}

/// The host-side steps, as shell functions.
const PARTITION_SH: &str = include_str!("partition.sh");

/// `partition.sh` with our chain set, ending with `step` and its quoted
/// arguments.
fn script(step: &str, args: &[String]) -> String {
    format!("chain={}\n{PARTITION_SH}\n{step} {}\n", crate::remote::quote(CHAIN), crate::remote::quote_words(args))
}

/// The script that makes a host drop packets from `sources` (addresses),
/// all of them or `percent` in a hundred at random, replacing whatever our
/// chain held before.
pub fn block_script(sources: &[String], percent: Option<u8>) -> String {
    let mut args = vec![percent.map(|p| format!("{:.2}", f64::from(p.min(100)) / 100.0)).unwrap_or_default()];
    args.extend(sources.iter().cloned());
    script("step_block", &args)
}

/// The script that removes our chain and its jump; other rules stay.
pub fn heal_script() -> String {
    script("step_heal", &[])
}

/// The script that lists our active rules, one `-A …` line each.
pub fn list_script() -> String {
    script("step_list", &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn nodes() -> Vec<String> {
        vec!["n1".into(), "n2".into(), "n3".into()]
    }

    #[test]
    fn shapes_on_three_nodes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let g = Shape::IsolateLeader.grudge(&nodes(), Some("n2"), &mut rng).unwrap();
        assert!(!g.connected("n2", "n1") && !g.connected("n2", "n3") && g.connected("n1", "n3"));
        assert!(Shape::IsolateLeader.grudge(&nodes(), None, &mut rng).is_err());

        // The deaf leader hears nobody; everybody hears it.
        let g = Shape::DeafLeader.grudge(&nodes(), Some("n2"), &mut rng).unwrap();
        assert_eq!(g.0.len(), 1, "{g}");
        assert_eq!(g.0["n2"], BTreeSet::from(["n1".to_string(), "n3".to_string()]));
        assert!(Shape::DeafLeader.grudge(&nodes(), None, &mut rng).is_err());
        assert!(Shape::DeafLeader.needs_leader() && !Shape::Halves.needs_leader());

        for _ in 0..20 {
            let g = Shape::IsolateOne.grudge(&nodes(), None, &mut rng).unwrap();
            let cut = nodes().iter().filter(|n| g.0.get(*n).map(|d| d.len()) == Some(2)).count();
            assert_eq!(cut, 1, "{g}");

            let g = Shape::Bridge.grudge(&nodes(), None, &mut rng).unwrap();
            let links = [("n1", "n2"), ("n2", "n3"), ("n1", "n3")].iter().filter(|(a, b)| g.connected(a, b)).count();
            assert_eq!(links, 2, "bridge keeps two of three links: {g}");

            let g = Shape::OneWay.grudge(&nodes(), None, &mut rng).unwrap();
            assert_eq!(g.0.len(), 1);
            assert_eq!(g.0.values().next().unwrap().len(), 1);

            let g = Shape::MajoritiesRing.grudge(&nodes(), None, &mut rng).unwrap();
            assert_eq!(g.0.len(), 3, "every node drops one other: {g}");
            let dropped: BTreeSet<&String> = g.0.values().flatten().collect();
            assert_eq!(dropped.len(), 3, "no two nodes drop the same node: {g}");
        }
    }

    #[test]
    fn same_seed_same_grudge() {
        let a = Shape::Halves.grudge(&nodes(), None, &mut rand::rngs::StdRng::seed_from_u64(3)).unwrap();
        let b = Shape::Halves.grudge(&nodes(), None, &mut rand::rngs::StdRng::seed_from_u64(3)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_shape_names_the_known_ones() {
        let err = "triangle".parse::<Shape>().unwrap_err();
        assert!(err.contains("triangle") && err.contains("majorities-ring"), "{err}");
    }
}
