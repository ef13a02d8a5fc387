//! The fault catalogue: what the nemesis can do, whom it hits, and how each
//! fault is undone. One module per fault family, each whole: its name and
//! what it does, its parameters and how they are drawn, how it is
//! injected and undone, its label in the report, what it needs (lossyfs,
//! the clock shim, a leader, raftkv's files) and so which systems it
//! applies to. [`REGISTRY`] lists them; adding a fault is a module and a
//! line there.
//!
//! A [`Kind`] (what `--faults` names) draws a [`Fault`] from the
//! schedule's RNG; applying it yields an [`Applied`] that records exactly
//! what was done (the grudge, the nodes hit), which is what gets logged and
//! what the undo reverses. Every applied fault's event carries its `label`
//! and the `undo` op that ends it, so a reader pairs the two without a
//! table of fault names.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use cluster::{Capability, DbKind};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use crate::control::{Control, ControlError};
use crate::partition::{Grudge, Shape};

mod bounce;
mod clock;
mod clock_isolate;
mod corrupt;
mod deaf_leader;
mod disk_full;
mod failpoint;
mod kill;
mod lose_unsynced;
mod packet_loss;
mod partition;
mod pause;
mod pause_isolate;

pub use bounce::BOUNCE_HOLD;
pub use clock::{ClockMoved, MoveClocks};
pub use clock_isolate::{ClockIsolate, ClockIsolated};
pub use corrupt::{Corrupt, Corrupted};
pub use disk_full::{DiskFilled, FillDisk};
pub use failpoint::{FailpointSet, Rejoin, ReleadCycle, SetFailpoint, RELEAD_CYCLES};
pub use kill::{Kill, Killed};
pub use lose_unsynced::{LoseUnsynced, Lost};
pub use packet_loss::{DropPackets, PacketsDropped};
pub use partition::{Cut, Partitioned};
pub use pause::{Pause, Paused};
pub use pause_isolate::{PauseIsolate, PausedIsolated};

/// Every fault family, in the order `nemesis faults` lists them.
pub static REGISTRY: [&dyn Kind; 21] = [
    &partition::KIND,
    &kill::KIND,
    &kill::KIND_ALL,
    &kill::KIND_MAJORITY,
    &bounce::KIND,
    &pause::KIND,
    &pause_isolate::KIND,
    &lose_unsynced::KIND,
    &lose_unsynced::KIND_ALL,
    &packet_loss::KIND,
    &clock::KIND,
    &disk_full::KIND,
    &corrupt::KIND,
    &clock_isolate::KIND,
    &deaf_leader::KIND,
    &bounce::KIND_LEADER,
    &failpoint::KIND,
    &failpoint::KIND_CUT,
    &failpoint::KIND_VOTE,
    &failpoint::KIND_RELEAD,
    &failpoint::KIND_REJOIN,
];

/// A future a fault returns; the nemesis drives one at a time.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What a fault needs beyond running nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Each node's data dir on lossyfs (a power failure drops what was
    /// never fsynced; a full disk refuses new space).
    pub lossyfs: bool,
    /// The capabilities the system under test must have (the clock shim
    /// moving its clocks, a leader it names, raftkv's files).
    pub capabilities: &'static [Capability],
}

/// A family of faults, as named on the command line.
pub trait Kind: Sync {
    fn name(&self) -> &'static str;
    /// What it does, in one line (`nemesis faults`).
    fn about(&self) -> &'static str;
    fn needs(&self) -> Needs {
        Needs::default()
    }
    /// Whether it runs in a schedule lane of its own, beside the others
    /// rather than between them (as the clock does in Jepsen's combined
    /// nemesis); every other fault waits for the one before it to end.
    fn own_lane(&self) -> bool {
        false
    }
    /// A random fault of this family.
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault>;
}

/// One fault, before it is applied.
pub trait Fault: fmt::Debug {
    /// The `f` of its events, after Jepsen's names.
    fn f(&self) -> &'static str;
    /// The value of its invoke event.
    fn value(&self) -> Value;
    /// How long to hold it: `drawn` (the schedule's jittered interval),
    /// unless the fault has its own.
    fn hold(&self, drawn: Duration, _rng: &mut StdRng) -> Duration {
        drawn
    }
    /// Applies it now.
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>>;
}

/// A fault in force, and how to end it.
pub trait Applied: fmt::Debug + Any {
    /// What was actually done (the value of its completion event, without
    /// the label and undo [`event_value`] adds).
    fn done(&self) -> Value;
    /// How the report names it: `partition n1✕n2+n3`, `kill n2`.
    fn label(&self) -> String;
    /// The `f` of the events that end it.
    fn undo_f(&self) -> &'static str;
    /// Ends it; returns the nodes restarted after a crash that refused to
    /// start, each with why (the system's finding, not the rig's failure:
    /// such a node is left stopped).
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>>;
    /// What a node that refuses to start afterwards came back from.
    fn crash(&self) -> &'static str {
        "a crash"
    }
    /// Whether it damaged the nodes' files. A node that refuses to start,
    /// or dies, after damage is right to (its checksums caught it); after
    /// any other fault it is the system's failure.
    fn damages(&self) -> bool {
        false
    }
    fn as_any(&self) -> &dyn Any;
}

impl dyn Applied {
    /// The value of its events: what was done, its label, and the op that
    /// ends it.
    pub fn value(&self) -> Value {
        let mut v = self.done();
        if let Value::Object(m) = &mut v {
            m.insert("label".into(), json!(self.label()));
            m.insert("undo".into(), json!(self.undo_f()));
            if self.damages() {
                m.insert("damages".into(), json!(true));
            }
        }
        v
    }

    /// Ends the fault; returns the value of the completion event: what was
    /// undone, and for nodes restarted after a kill, a power failure or
    /// damage, whether any refused to start, after what, and why.
    pub async fn undo(&self, control: &Control) -> Result<Value, ControlError> {
        let refused = self.end(control).await?;
        let mut v = self.value();
        if !refused.is_empty() {
            // Among several restarted nodes, say which refused.
            let several = v["nodes"].as_array().is_some_and(|n| n.len() > 1);
            let each: Vec<Value> = refused.iter().map(|(node, why)| json!({ "node": node, "why": why })).collect();
            v["refusals"] = json!(each);
            let why: Vec<String> = refused
                .iter()
                .map(|(node, why)| if several { format!("{node}: {why}") } else { why.clone() })
                .collect();
            v["refused"] = json!(true);
            v["after"] = json!(self.crash());
            v["why"] = json!(why.join("\n"));
        }
        Ok(v)
    }

    /// The applied fault as its own type, for a test that looks inside.
    pub fn downcast<T: Applied>(&self) -> Option<&T> {
        self.as_any().downcast_ref()
    }
}

/// A fault family, by handle: compared, hashed and shown by name.
#[derive(Clone, Copy)]
pub struct FaultKind(&'static dyn Kind);

impl PartialEq for FaultKind {
    fn eq(&self, other: &FaultKind) -> bool {
        self.name() == other.name()
    }
}

impl Eq for FaultKind {}

impl std::hash::Hash for FaultKind {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name().hash(h);
    }
}

impl fmt::Debug for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FaultKind {
    /// Every family, in the registry's order.
    pub fn all() -> impl Iterator<Item = FaultKind> {
        REGISTRY.iter().map(|k| FaultKind(*k))
    }

    /// The family named `name`.
    pub fn named(name: &str) -> Option<FaultKind> {
        FaultKind::all().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    pub fn about(self) -> &'static str {
        self.0.about()
    }

    pub fn own_lane(self) -> bool {
        self.0.own_lane()
    }

    /// A random fault of this family.
    pub fn choose(self, rng: &mut StdRng) -> Box<dyn Fault> {
        self.0.choose(rng)
    }

    /// Why a system cannot take this fault, if it cannot: the first
    /// capability it needs that the system says it lacks.
    pub fn unfit_for(self, db: &DbKind) -> Option<&'static str> {
        self.0.needs().capabilities.iter().find_map(|c| db.lacks(*c))
    }

    /// Whether it needs each node's data dir on lossyfs.
    pub fn needs_lossyfs(self) -> bool {
        self.0.needs().lossyfs
    }

    /// Whether it needs the nodes under the clock shim.
    pub fn needs_clock_shim(self) -> bool {
        self.0.needs().capabilities.contains(&Capability::FakedClock)
    }

    /// Parses a comma-separated list of names from [`REGISTRY`] (such as
    /// `partition,kill,pause`), or `none` (no faults at all).
    pub fn parse_list(s: &str) -> Result<Vec<FaultKind>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "none" {
                continue;
            }
            let Some(kind) = FaultKind::named(part) else {
                let known: Vec<&str> = FaultKind::all().map(FaultKind::name).collect();
                return Err(format!("unknown fault {part:?}; known: none, {}", known.join(", ")));
            };
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
        Ok(out)
    }
}

/// Whom a process fault hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One node chosen at random.
    One,
    /// The current leader, found through the Status RPC.
    Leader,
    /// A random majority.
    Majority,
    /// Every node at once.
    All,
    /// A node named on the command line.
    Node(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::One => f.write_str("one"),
            Target::Leader => f.write_str("leader"),
            Target::Majority => f.write_str("majority"),
            Target::All => f.write_str("all"),
            Target::Node(n) => f.write_str(n),
        }
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "one" => Target::One,
            "leader" => Target::Leader,
            "majority" => Target::Majority,
            "all" => Target::All,
            "" => return Err("empty target; use one, leader, majority, all or a node name".into()),
            name => Target::Node(name.to_string()),
        })
    }
}

impl Target {
    /// One of `among`, drawn.
    fn draw(among: &[Target], rng: &mut StdRng) -> Target {
        among.choose(rng).expect("a target to draw").clone()
    }

    /// The node names this target means now.
    pub async fn resolve(&self, control: &Control, rng: &mut StdRng) -> Result<Vec<String>, ControlError> {
        let mut names = control.names();
        names.shuffle(rng);
        Ok(match self {
            Target::One => vec![names[0].clone()],
            Target::Leader => vec![control.leader().await.ok_or_else(|| {
                ControlError::NoLeader("no node reports itself leader, so there is no leader to hit".into())
            })?],
            Target::Majority => names[..names.len() / 2 + 1].to_vec(),
            Target::All => control.names(),
            Target::Node(n) => vec![control.node(n)?.name().to_string()],
        })
    }
}

/// How long the faults that strand an old leader wait for the others to
/// elect a new one before they go on anyway, and how often they look.
const NEW_LEADER_WAIT: Duration = Duration::from_secs(10);
const NEW_LEADER_POLL: Duration = Duration::from_millis(100);

/// The leader now, and the cut that isolates it, for the faults that
/// strand an old leader (`what` names what is done to it, for the error).
async fn leader_and_cut(control: &Control, rng: &mut StdRng, what: &str) -> Result<(String, Grudge), ControlError> {
    let old = control.leader().await.ok_or_else(|| {
        ControlError::NoLeader(format!("no node reports itself leader, so there is no leader to {what}"))
    })?;
    let grudge = Shape::IsolateLeader.grudge(&control.names(), Some(&old), rng).map_err(ControlError::NoLeader)?;
    Ok((old, grudge))
}

/// Waits (up to `within`, looking every `poll`) until a node other than
/// `old` leads, and names it; the caller goes on either way.
async fn await_new_leader(control: &Control, old: &str, within: Duration, poll: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let new = control.leader().await.filter(|l| l != old);
        if new.is_some() || tokio::time::Instant::now() >= deadline {
            return new;
        }
        tokio::time::sleep(poll).await;
    }
}

/// The grudge of `shape` over the cluster now (the leader is looked up
/// only when the shape needs it).
async fn grudge_of(shape: Shape, control: &Control, rng: &mut StdRng) -> Result<Grudge, ControlError> {
    let leader = if shape.needs_leader() { control.leader().await } else { None };
    shape.grudge(&control.names(), leader.as_deref(), rng).map_err(ControlError::NoLeader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn kind(name: &str) -> FaultKind {
        FaultKind::named(name).unwrap()
    }

    /// Which faults a system cannot take, with the reason: every fault fits
    /// raftkv; etcd refuses the clock faults, corrupt and the failpoints;
    /// NATS all but corrupt.
    #[test]
    fn each_system_takes_the_faults_it_can() {
        for k in FaultKind::all() {
            assert_eq!(k.unfit_for(&DbKind::Raftkv), None, "{k:?}");
            let unfit = [
                "clock",
                "clock-isolate",
                "corrupt",
                "failpoint",
                "failpoint-cut",
                "failpoint-vote",
                "failpoint-relead",
                "failpoint-rejoin",
            ]
            .contains(&k.name());
            assert_eq!(k.unfit_for(&DbKind::Etcd).is_some(), unfit, "{k:?}");
            // NATS: corrupt knows its message blocks.
            let unfit = unfit && k.name() != "corrupt";
            assert_eq!(k.unfit_for(&DbKind::Nats).is_some(), unfit, "{k:?}");
        }
        assert!(kind("clock").unfit_for(&DbKind::Etcd).unwrap().contains("cannot move a Go program's clocks"));
        // A system described by commands takes the clock shim, but not
        // corrupt, and the leader-aimed faults only with a status command.
        let commands = |status: Option<Vec<String>>| {
            DbKind::Command(cluster::CommandDb {
                name: "mykv".into(),
                binary: "mykv".into(),
                start: vec!["mykv".into()],
                install: None,
                stop: None,
                status,
                adapter: None,
            })
        };
        for k in FaultKind::all() {
            let leader_aimed = ["pause-isolate", "clock-isolate", "deaf-leader", "bounce-leader"].contains(&k.name());
            let raftkv_only =
                ["corrupt", "failpoint", "failpoint-cut", "failpoint-vote", "failpoint-relead", "failpoint-rejoin"]
                    .contains(&k.name());
            let with = k.unfit_for(&commands(Some(vec!["mykv-status".into()])));
            assert_eq!(with.is_some(), raftkv_only, "{k:?}");
            let without = k.unfit_for(&commands(None));
            assert_eq!(without.is_some(), raftkv_only || leader_aimed, "{k:?}");
        }
        assert!(kind("pause-isolate").unfit_for(&commands(None)).unwrap().contains("db.status"));
    }

    #[test]
    fn fault_lists() {
        assert_eq!(FaultKind::parse_list("partition,kill").unwrap(), vec![kind("partition"), kind("kill")]);
        assert!(FaultKind::parse_list("none").unwrap().is_empty());
        let mut rng = StdRng::seed_from_u64(1);
        let kinds = FaultKind::parse_list("kill-all,kill-majority,pause-isolate").unwrap();
        assert_eq!(kinds[2].choose(&mut rng).f(), "pause-isolate");
        assert_eq!(kinds[0].choose(&mut rng).value(), json!({"target": "all"}));
        assert_eq!(kinds[1].choose(&mut rng).value(), json!({"target": "majority"}));
        // A bounce is a kill held for a moment, whatever the interval.
        let bounce = kind("bounce").choose(&mut rng);
        assert!(["leader", "one", "majority"].contains(&bounce.value()["target"].as_str().unwrap()), "{bounce:?}");
        assert_eq!(bounce.f(), "bounce");
        let leader = kind("bounce-leader").choose(&mut rng);
        assert_eq!((leader.f(), leader.value()), ("bounce", json!({"target": "leader"})));
        for _ in 0..100 {
            assert!(bounce.hold(Duration::from_secs(8), &mut rng) <= BOUNCE_HOLD);
        }
        assert_eq!(Kill(Target::One).hold(Duration::from_secs(8), &mut rng), Duration::from_secs(8));
        let err = FaultKind::parse_list("partition,meteor").unwrap_err();
        assert!(err.contains("meteor") && err.contains("clock"), "{err}");
    }

    #[test]
    fn power_failures_hit_a_majority_or_all_and_packet_loss_a_share() {
        let mut rng = StdRng::seed_from_u64(2);
        let (mut losses, mut percents) = (std::collections::HashSet::new(), std::collections::HashSet::new());
        for _ in 0..50 {
            let v = kind("lose-unsynced").choose(&mut rng).value();
            assert!(["majority", "all"].contains(&v["target"].as_str().unwrap()), "{v}");
            losses.insert(v["loss"].to_string());
            let f = kind("packet-loss").choose(&mut rng);
            let percent = f.value()["percent"].as_u64().unwrap();
            assert!((1..100).contains(&percent), "{f:?}");
            percents.insert(percent);
            assert_eq!(f.f(), "packet-loss");
        }
        assert_eq!(losses.len(), 2, "both tail and torn losses are drawn");
        assert!(percents.len() > 1);
    }

    #[test]
    fn every_kind_is_registered_once_and_only_the_clock_has_a_lane_of_its_own() {
        let all: Vec<&str> = FaultKind::all().map(FaultKind::name).collect();
        assert_eq!(FaultKind::parse_list(&all.join(",")).unwrap().len(), REGISTRY.len());
        assert!(all.contains(&"lose-unsynced") && all.contains(&"packet-loss") && all.contains(&"clock"));
        let lanes: Vec<&str> = FaultKind::all().filter(|k| k.own_lane()).map(FaultKind::name).collect();
        assert_eq!(lanes, ["clock"]);
        let needs: Vec<&str> = FaultKind::all().filter(|k| k.needs_lossyfs()).map(FaultKind::name).collect();
        assert_eq!(needs, ["lose-unsynced", "lose-unsynced-all", "disk-full"]);
        let shim: Vec<&str> = FaultKind::all().filter(|k| k.needs_clock_shim()).map(FaultKind::name).collect();
        assert_eq!(shim, ["clock", "clock-isolate"]);
    }

    /// The coordinated power failure hits every node and never tears;
    /// its fault is a `lose-unsynced`, so a schedule replays it as one.
    #[test]
    fn a_coordinated_power_failure_takes_every_node_whole() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10 {
            let f = kind("lose-unsynced-all").choose(&mut rng);
            assert_eq!(f.f(), "lose-unsynced");
            assert_eq!(
                (&f.value()["target"], &f.value()["loss"]),
                (&serde_json::json!("all"), &serde_json::json!("tail"))
            );
        }
    }

    #[test]
    fn same_seed_same_choices() {
        let kinds = [kind("partition"), kind("kill"), kind("pause")];
        let pick = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20)
                .map(|i| {
                    let f = kinds[i % 3].choose(&mut rng);
                    (f.f(), f.value())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(9), pick(9));
        assert_ne!(pick(9), pick(10));
    }

    #[test]
    fn labels_name_what_was_done() {
        let grudge = crate::partition::Grudge(
            [("n1".to_string(), ["n2".to_string(), "n3".to_string()].into()), ("n2".into(), ["n1".into()].into())]
                .into(),
        );
        assert_eq!(Partitioned(grudge.clone()).label(), "partition n1✕n2+n3 n2✕n1");
        assert_eq!(PacketsDropped { grudge, percent: 25 }.label(), "packet-loss 25% n1✕n2+n3 n2✕n1");
        let damage = crate::corrupt::Damage {
            file: "db/000011.log".into(),
            how: crate::corrupt::Corruption::FlipBits,
            offset: 8,
            len: 2,
            flips: Vec::new(),
        };
        assert_eq!(Corrupted { node: "n2".into(), damage }.label(), "corrupt n2: flip-bits db/000011.log at 8+2");
    }

    #[test]
    fn an_applied_fault_says_its_label_and_its_undo() {
        let applied: Box<dyn Applied> = Box::new(Killed { f: "kill", nodes: vec!["n2".into()] });
        let v = applied.value();
        assert_eq!((v["label"].as_str(), v["undo"].as_str()), (Some("kill n2"), Some("restart")));
        assert_eq!(applied.downcast::<Killed>().unwrap().nodes, ["n2"]);
    }
}
