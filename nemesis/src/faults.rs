//! The fault catalogue: what the nemesis can do, whom it hits, and how each
//! fault is undone.
//!
//! A [`Fault`] is chosen (from a seeded RNG, by the scheduler, or from the
//! command line); applying it yields an [`Applied`] that records exactly
//! what was done (the grudge, the nodes hit), which is what gets logged and
//! what the undo reverses.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use cluster::DbKind;
use lossyfs::journal::LOSSES;
use lossyfs::{Loss, LossReport};

use crate::clock::ClockFault;
use crate::control::{Control, ControlError};
use crate::corrupt::{Corruption, Damage, CORRUPTIONS};
use crate::partition::{Grudge, Shape, ALL_SHAPES};

/// A family of faults, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    Partition,
    /// Kill one, the leader, a majority or all, at random.
    Kill,
    /// Kill every node at once (what `--unsafe-no-fsync` cannot survive).
    KillAll,
    /// Kill a random majority at once.
    KillMajority,
    /// Kill the leader, one node or a majority and restart it at once, so
    /// that it comes back during the election its death began.
    Bounce,
    Pause,
    /// Pause the leader, cut it off from the others, wait until they elect
    /// a new one, then resume it: for a while it still believes it leads.
    PauseIsolate,
    /// A power failure: kill a majority or all, and lose what each never
    /// fsynced (through the lossyfs data dirs).
    LoseUnsynced,
    /// Drop a share of the packets along a partition shape.
    PacketLoss,
    /// Bump, strobe or drift the clocks of some nodes.
    Clock,
    /// Fill the disk under some nodes' data dirs.
    DiskFull,
    /// Damage a file of one stopped node.
    Corrupt,
    /// Set the leader's clock back, cut it off, wait for a new leader,
    /// reset it behind the cut: pause-isolate with a clock instead of a
    /// pause.
    ClockIsolate,
    /// Partition with the deaf-leader shape: the leader hears nobody while
    /// its packets still arrive.
    DeafLeader,
}

/// Every fault family: its name on the command line and what it does. The
/// one table of fault names (`nemesis faults` prints it).
pub const FAULT_KINDS: [(FaultKind, &str, &str); 14] = [
    (FaultKind::Partition, "partition", "cut the network along a random shape: one node or the leader off, halves, a bridge, a ring of majorities, one way, a leader that hears nobody"),
    (FaultKind::Kill, "kill", "SIGKILL one node, the leader, a majority or all, then restart them"),
    (FaultKind::KillAll, "kill-all", "SIGKILL every node at once, then restart them"),
    (FaultKind::KillMajority, "kill-majority", "SIGKILL a random majority at once, then restart it"),
    (
        FaultKind::Bounce,
        "bounce",
        "SIGKILL the leader, one node or a majority and restart it within 300 ms, so that it comes back during \
         the election its death began (votes and terms must survive the restart)",
    ),
    (FaultKind::Pause, "pause", "SIGSTOP one node, the leader, a majority or all, then SIGCONT"),
    (
        FaultKind::PauseIsolate,
        "pause-isolate",
        "pause the leader, cut it off, wait for a new leader, resume it behind the cut",
    ),
    (
        FaultKind::LoseUnsynced,
        "lose-unsynced",
        "power failure on a majority or all: SIGKILL, lose every write not fsynced (all of it, or a torn part), \
         restart (needs lossyfs data dirs; run-test sets them up)",
    ),
    (
        FaultKind::PacketLoss,
        "packet-loss",
        "drop 10-50% of packets at random along a partition shape (one way or both ways), then stop",
    ),
    (
        FaultKind::Clock,
        "clock",
        "bump (1-10 s either way), strobe or drift (0.1x-5x) the clocks of one, the leader, a majority or all, \
         then reset; runs beside the other faults, not between them (needs the clock shim; run-test sets it up)",
    ),
    (
        FaultKind::DiskFull,
        "disk-full",
        "fill the disk under one, the leader, a majority or all (ENOSPC for anything that needs new space), \
         then free it and restart whatever died (needs lossyfs data dirs; run-test sets them up)",
    ),
    (
        FaultKind::Corrupt,
        "corrupt",
        "SIGKILL one node or the leader, damage one of its files (truncate the newest log's tail, flip bits in a \
         block, zero a range), restart it; a node that refuses to start is a finding and stays down",
    ),
    (
        FaultKind::ClockIsolate,
        "clock-isolate",
        "set the leader's clock back 5-15 s (its timers stall), cut it off, wait for a new leader; reset the \
         clock, then heal (needs the clock shim; run-test sets it up)",
    ),
    (
        FaultKind::DeafLeader,
        "deaf-leader",
        "the leader drops every other node's packets while its own still arrive: followers take entries it \
         never learns are committed, and it steps down with those writes pending; then heal",
    ),
];

/// The shares of packets a packet-loss fault drops, in percent.
const LOSS_PERCENTS: [u8; 3] = [10, 25, 50];

impl FaultKind {
    /// Clock faults run in a schedule lane of their own, so that a skewed
    /// clock can meet a partition or a kill, as in Jepsen's combined
    /// nemesis; every other fault waits for the one before it to end.
    pub fn own_lane(self) -> bool {
        self == FaultKind::Clock
    }

    /// Why a system cannot take this fault, if it cannot: the clock shim
    /// moves only clocks read through libc, which a Go program (etcd) does
    /// not use; `corrupt` knows only raftkv's RocksDB files; and a system
    /// described by commands names its leader only through its status
    /// command.
    pub fn unfit_for(self, db: &DbKind) -> Option<&'static str> {
        match (self, db) {
            (FaultKind::Clock | FaultKind::ClockIsolate, DbKind::Etcd) => Some(
                "clock faults cannot move etcd's clocks (a Go program reads them without libc); they are for raftkv",
            ),
            (FaultKind::Corrupt, DbKind::Etcd | DbKind::Command(_)) => {
                Some("corrupt knows raftkv's RocksDB files, not this system's")
            }
            (FaultKind::PauseIsolate | FaultKind::ClockIsolate | FaultKind::DeafLeader, DbKind::Command(c))
                if c.status.is_none() =>
            {
                Some(
                    "it is aimed at the leader, and a system described by commands names its leader only through a \
                     status command (db.status), which this one lacks",
                )
            }
            _ => None,
        }
    }

    /// Whether it needs each node's data dir on lossyfs: a power failure
    /// drops what was never fsynced, a full disk refuses new space.
    pub fn needs_lossyfs(self) -> bool {
        matches!(self, FaultKind::LoseUnsynced | FaultKind::DiskFull)
    }

    /// Whether it needs the nodes under the clock shim.
    pub fn needs_clock_shim(self) -> bool {
        matches!(self, FaultKind::Clock | FaultKind::ClockIsolate)
    }

    pub fn name(self) -> &'static str {
        FAULT_KINDS.iter().find(|(k, ..)| *k == self).map(|(_, name, _)| *name).expect("every kind is in the table")
    }

    /// Parses a comma-separated list of names from [`FAULT_KINDS`] (such as
    /// `partition,kill,pause`), or `none` (no faults at all).
    pub fn parse_list(s: &str) -> Result<Vec<FaultKind>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "none" {
                continue;
            }
            let Some((kind, ..)) = FAULT_KINDS.iter().find(|(_, name, _)| *name == part) else {
                let known: Vec<&str> = FAULT_KINDS.iter().map(|(_, name, _)| *name).collect();
                return Err(format!("unknown fault {part:?}; known: none, {}", known.join(", ")));
            };
            if !out.contains(kind) {
                out.push(*kind);
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
    /// The node names this target means now.
    pub async fn resolve<R: Rng>(&self, control: &Control, rng: &mut R) -> Result<Vec<String>, ControlError> {
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

/// One fault, before it is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Partition(Shape),
    Kill(Target),
    /// A kill held for at most [`BOUNCE_HOLD`].
    Bounce(Target),
    Pause(Target),
    PauseIsolate,
    /// A power failure on `target`; `seed` seeds each node's tear.
    LoseUnsynced {
        target: Target,
        loss: Loss,
        seed: u64,
    },
    PacketLoss {
        shape: Shape,
        percent: u8,
    },
    Clock {
        target: Target,
        fault: ClockFault,
    },
    DiskFull(Target),
    Corrupt {
        target: Target,
        how: Corruption,
    },
    ClockIsolate {
        offset_ms: i64,
    },
}

/// How long [`Fault::PauseIsolate`] and [`Fault::ClockIsolate`] wait for
/// the others to elect a new leader before they go on anyway.
const NEW_LEADER_WAIT: Duration = Duration::from_secs(10);

/// The longest a [`Fault::Bounce`] keeps its nodes down: well inside an
/// election timeout, so they rejoin the election their death began.
pub const BOUNCE_HOLD: Duration = Duration::from_millis(300);

impl Fault {
    /// How long to hold the fault: `drawn` (the schedule's jittered
    /// interval), except for a bounce, which comes back at once.
    pub fn hold<R: Rng>(&self, drawn: Duration, rng: &mut R) -> Duration {
        match self {
            Fault::Bounce(_) => BOUNCE_HOLD.mul_f64(rng.gen_range(0.0..=1.0)),
            _ => drawn,
        }
    }

    /// A random fault of `kind`.
    pub fn choose<R: Rng>(kind: FaultKind, rng: &mut R) -> Fault {
        match kind {
            FaultKind::Partition => Fault::Partition(*ALL_SHAPES.choose(rng).expect("shapes exist")),
            FaultKind::Kill => {
                Fault::Kill([Target::One, Target::Leader, Target::Majority, Target::All].choose(rng).unwrap().clone())
            }
            FaultKind::KillAll => Fault::Kill(Target::All),
            FaultKind::KillMajority => Fault::Kill(Target::Majority),
            FaultKind::Bounce => {
                Fault::Bounce([Target::Leader, Target::One, Target::Majority].choose(rng).unwrap().clone())
            }
            FaultKind::Pause => {
                Fault::Pause([Target::One, Target::Leader, Target::Majority].choose(rng).unwrap().clone())
            }
            FaultKind::PauseIsolate => Fault::PauseIsolate,
            FaultKind::DeafLeader => Fault::Partition(Shape::DeafLeader),
            FaultKind::LoseUnsynced => Fault::LoseUnsynced {
                target: [Target::Majority, Target::All].choose(rng).unwrap().clone(),
                loss: *LOSSES.choose(rng).unwrap(),
                seed: rng.gen(),
            },
            FaultKind::PacketLoss => Fault::PacketLoss {
                shape: *ALL_SHAPES.choose(rng).expect("shapes exist"),
                percent: *LOSS_PERCENTS.choose(rng).unwrap(),
            },
            FaultKind::Clock => Fault::Clock {
                target: [Target::One, Target::Leader, Target::Majority, Target::All].choose(rng).unwrap().clone(),
                fault: ClockFault::choose(rng),
            },
            FaultKind::ClockIsolate => Fault::ClockIsolate { offset_ms: -rng.gen_range(5_000..=15_000) },
            FaultKind::Corrupt => Fault::Corrupt {
                target: [Target::One, Target::Leader].choose(rng).unwrap().clone(),
                how: *CORRUPTIONS.choose(rng).unwrap(),
            },
            FaultKind::DiskFull => Fault::DiskFull(
                [Target::One, Target::Leader, Target::Majority, Target::All].choose(rng).unwrap().clone(),
            ),
        }
    }

    /// The `f` of its events, after Jepsen's names.
    pub fn f(&self) -> &'static str {
        match self {
            Fault::Partition(_) => "start-partition",
            Fault::Kill(_) => "kill",
            Fault::Bounce(_) => "bounce",
            Fault::Pause(_) => "pause",
            Fault::PauseIsolate => "pause-isolate",
            Fault::LoseUnsynced { .. } => "lose-unsynced",
            Fault::PacketLoss { .. } => "packet-loss",
            Fault::Clock { .. } => "clock",
            Fault::DiskFull(_) => "disk-full",
            Fault::Corrupt { .. } => "corrupt",
            Fault::ClockIsolate { .. } => "clock-isolate",
        }
    }

    /// The value of its invoke event.
    pub fn value(&self) -> Value {
        match self {
            Fault::Partition(s) => json!({ "shape": s.name() }),
            Fault::Kill(t) | Fault::Bounce(t) | Fault::Pause(t) | Fault::DiskFull(t) => {
                json!({ "target": t.to_string() })
            }
            Fault::PauseIsolate => json!({ "target": "leader" }),
            Fault::Corrupt { target, how } => json!({ "target": target.to_string(), "how": how }),
            Fault::ClockIsolate { offset_ms } => json!({ "target": "leader", "offset_ms": offset_ms }),
            Fault::LoseUnsynced { target, loss, seed } => {
                json!({ "target": target.to_string(), "loss": loss, "seed": seed })
            }
            Fault::PacketLoss { shape, percent } => json!({ "shape": shape.name(), "percent": percent }),
            Fault::Clock { target, fault } => {
                let mut v = fault.value();
                v["target"] = json!(target.to_string());
                v
            }
        }
    }

    /// Applies the fault now.
    pub async fn apply<R: Rng>(&self, control: &Control, rng: &mut R) -> Result<Applied, ControlError> {
        match self {
            Fault::Partition(shape) => {
                let grudge = grudge_of(*shape, control, rng).await?;
                control.partition(&grudge).await?;
                Ok(Applied::Partition(grudge))
            }
            Fault::PacketLoss { shape, percent } => {
                let grudge = grudge_of(*shape, control, rng).await?;
                control.drop_packets(&grudge, Some(*percent)).await?;
                Ok(Applied::PacketLoss { grudge, percent: *percent })
            }
            Fault::Clock { target, fault } => {
                let nodes = target.resolve(control, rng).await?;
                let offsets = fault.offsets();
                for (i, offset) in offsets.iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(ClockFault::step()).await;
                    }
                    if let Err(e) = control.set_clock(&nodes, *offset).await {
                        // Never leave a clock half-moved.
                        let _ = control.set_clock(&nodes, 0).await;
                        return Err(e);
                    }
                }
                Ok(Applied::Clock { nodes, fault: fault.clone(), offset_ms: *offsets.last().unwrap_or(&0) })
            }
            Fault::ClockIsolate { offset_ms } => {
                let (old, grudge) = leader_and_cut(control, rng, "skew").await?;
                let one = [old.clone()];
                control.set_clock(&one, *offset_ms).await?;
                // Its timers stall, so check-quorum will not demote it; the
                // others, cut off from it, elect a leader and take writes.
                if let Err(e) = control.partition(&grudge).await {
                    let _ = control.set_clock(&one, 0).await;
                    return Err(e);
                }
                await_new_leader(control, &old).await;
                Ok(Applied::ClockIsolated { node: old, grudge, offset_ms: *offset_ms })
            }
            Fault::Corrupt { target, how } => {
                let node = target.resolve(control, rng).await?.remove(0);
                let one = [node.clone()];
                control.kill(&one).await?;
                let n = control.node(&node)?;
                let damaged = match n.files().await {
                    Ok(files) => match crate::corrupt::plan(*how, &files, rng) {
                        Some(d) => n.corrupt(&d).await.map(|()| d).map_err(|e| ControlError::Nodes(vec![e])),
                        None => Err(ControlError::NothingToCorrupt(node.clone())),
                    },
                    Err(e) => Err(ControlError::Nodes(vec![e])),
                };
                match damaged {
                    Ok(damage) => Ok(Applied::Corrupted { node, damage }),
                    Err(e) => {
                        // Never leave the node down for a fault not applied.
                        let _ = control.start(&one).await;
                        Err(e)
                    }
                }
            }
            Fault::DiskFull(t) => {
                let nodes = t.resolve(control, rng).await?;
                if let Err(e) = control.fill(&nodes, true).await {
                    let _ = control.fill(&nodes, false).await;
                    return Err(e);
                }
                Ok(Applied::DiskFull(nodes))
            }
            Fault::LoseUnsynced { target, loss, seed } => {
                let nodes = target.resolve(control, rng).await?;
                let lost = control.lose(&nodes, *loss, *seed).await?;
                Ok(Applied::Lost { loss: *loss, lost })
            }
            Fault::Kill(t) | Fault::Bounce(t) => {
                let nodes = t.resolve(control, rng).await?;
                control.kill(&nodes).await?;
                Ok(Applied::Killed(nodes))
            }
            Fault::Pause(t) => {
                let nodes = t.resolve(control, rng).await?;
                control.pause(&nodes).await?;
                Ok(Applied::Paused(nodes))
            }
            Fault::PauseIsolate => {
                let (old, grudge) = leader_and_cut(control, rng, "pause").await?;
                control.pause(std::slice::from_ref(&old)).await?;
                // Cut it off before the others time out. A paused process's
                // kernel still accepts TCP data, so the new term's vote
                // requests and heartbeats would otherwise wait in its socket
                // buffers and depose it the moment it resumed.
                let cut = control.partition(&grudge).await;
                if cut.is_ok() {
                    // While it sleeps the others elect a leader and take
                    // writes; resumed behind the cut, it has not heard of them.
                    await_new_leader(control, &old).await;
                }
                // Resume even when the cut failed: never leave a node paused.
                let resumed = control.resume(std::slice::from_ref(&old)).await;
                cut?;
                resumed?;
                Ok(Applied::PausedIsolated { node: old, grudge })
            }
        }
    }
}

/// The leader now, and the cut that isolates it, for the faults that
/// strand an old leader (`what` names what is done to it, for the error).
async fn leader_and_cut<R: Rng>(control: &Control, rng: &mut R, what: &str) -> Result<(String, Grudge), ControlError> {
    let old = control.leader().await.ok_or_else(|| {
        ControlError::NoLeader(format!("no node reports itself leader, so there is no leader to {what}"))
    })?;
    let grudge = Shape::IsolateLeader.grudge(&control.names(), Some(&old), rng).map_err(ControlError::NoLeader)?;
    Ok((old, grudge))
}

/// Waits (up to [`NEW_LEADER_WAIT`]) until a node other than `old` leads;
/// the fault goes on either way.
async fn await_new_leader(control: &Control, old: &str) {
    let deadline = tokio::time::Instant::now() + NEW_LEADER_WAIT;
    while control.leader().await.is_none_or(|l| l == old) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The grudge of `shape` over the cluster now (the leader is looked up
/// only when the shape needs it).
async fn grudge_of<R: Rng>(shape: Shape, control: &Control, rng: &mut R) -> Result<Grudge, ControlError> {
    let leader = if shape.needs_leader() { control.leader().await } else { None };
    shape.grudge(&control.names(), leader.as_deref(), rng).map_err(ControlError::NoLeader)
}

/// A fault in force, and how to end it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    Partition(Grudge),
    /// Packets dropped at random: for each node, whose packets, and how
    /// many in a hundred.
    PacketLoss {
        grudge: Grudge,
        percent: u8,
    },
    /// Nodes that lost power, each with what it lost; they stay down until
    /// the undo restarts them.
    Lost {
        loss: Loss,
        lost: Vec<(String, LossReport)>,
    },
    /// Disks filled.
    DiskFull(Vec<String>),
    /// The old leader, its clock set back, and the cut that isolates it.
    ClockIsolated {
        node: String,
        grudge: Grudge,
        offset_ms: i64,
    },
    /// A stopped node's file damaged.
    Corrupted {
        node: String,
        damage: Damage,
    },
    /// Clocks moved; `offset_ms` is the offset left in force.
    Clock {
        nodes: Vec<String>,
        fault: ClockFault,
        offset_ms: i64,
    },
    Killed(Vec<String>),
    Paused(Vec<String>),
    /// The old leader, resumed, and the cut that isolates it.
    PausedIsolated {
        node: String,
        grudge: Grudge,
    },
}

impl Applied {
    /// The value of the completion event: what was actually done.
    pub fn value(&self) -> Value {
        match self {
            Applied::Partition(g) => json!({ "grudge": g }),
            Applied::Killed(n) | Applied::Paused(n) | Applied::DiskFull(n) => json!({ "nodes": n }),
            Applied::Corrupted { node, damage } => json!({ "nodes": [node], "damage": damage }),
            Applied::PausedIsolated { node, grudge } => json!({ "nodes": [node], "grudge": grudge }),
            Applied::ClockIsolated { node, grudge, offset_ms } => {
                json!({ "nodes": [node], "grudge": grudge, "offset_ms": offset_ms })
            }
            Applied::PacketLoss { grudge, percent } => json!({ "grudge": grudge, "percent": percent }),
            Applied::Lost { loss, lost } => {
                let nodes: Vec<&String> = lost.iter().map(|(n, _)| n).collect();
                let reports: serde_json::Map<String, Value> = lost.iter().map(|(n, r)| (n.clone(), json!(r))).collect();
                json!({ "nodes": nodes, "loss": loss, "lost": reports })
            }
            Applied::Clock { nodes, fault, offset_ms } => {
                let mut v = fault.value();
                v["nodes"] = json!(nodes);
                v["offset_ms"] = json!(offset_ms);
                v
            }
        }
    }

    /// The `f` of the events that end it.
    pub fn undo_f(&self) -> &'static str {
        match self {
            Applied::Partition(_) | Applied::PausedIsolated { .. } | Applied::ClockIsolated { .. } => "stop-partition",
            Applied::Killed(_) | Applied::Lost { .. } | Applied::Corrupted { .. } => "restart",
            Applied::Paused(_) => "resume",
            Applied::PacketLoss { .. } => "stop-packet-loss",
            Applied::Clock { .. } => "reset-clock",
            Applied::DiskFull(_) => "free-disk",
        }
    }

    /// Ends the fault; returns the value of the completion event: what was
    /// undone, and for nodes restarted after a kill, a power failure or
    /// damage, whether any refused to start: the system's finding, not the
    /// rig's failure, so such a node is left stopped.
    pub async fn undo(&self, control: &Control) -> Result<Value, ControlError> {
        let refused = self.end(control).await?;
        let mut v = self.value();
        if !refused.is_empty() {
            // Among several restarted nodes, say which refused.
            let several = match self {
                Applied::Lost { lost, .. } => lost.len() > 1,
                Applied::Killed(n) => n.len() > 1,
                _ => false,
            };
            let why: Vec<String> =
                refused.into_iter().map(|(node, why)| if several { format!("{node}: {why}") } else { why }).collect();
            v["refused"] = json!(true);
            v["why"] = json!(why.join("\n"));
        }
        Ok(v)
    }

    /// Ends the fault; returns the nodes restarted after a kill, a power
    /// failure or damage that refused to start, each with why.
    async fn end(&self, control: &Control) -> Result<Vec<(String, String)>, ControlError> {
        let ended = match self {
            Applied::Partition(_) | Applied::PausedIsolated { .. } | Applied::PacketLoss { .. } => {
                control.heal_network().await
            }
            // A node that cannot come back from a SIGKILL (its own files,
            // as it left them, refused) is a finding, like one after a
            // power failure.
            Applied::Killed(n) => return control.restart_after_crash(n).await,
            Applied::Clock { nodes, .. } => control.set_clock(nodes, 0).await,
            // A node that stopped on a write it could not make comes back
            // once there is room.
            Applied::DiskFull(n) => {
                control.fill(n, false).await?;
                control.start(n).await
            }
            Applied::Corrupted { node, .. } => return control.restart_after_crash(std::slice::from_ref(node)).await,
            Applied::Lost { lost, .. } => {
                let nodes: Vec<String> = lost.iter().map(|(n, _)| n.clone()).collect();
                return control.restart_after_crash(&nodes).await;
            }
            // The clock first: its timers catch up, check-quorum demotes it
            // while it is still cut off; then the network.
            Applied::ClockIsolated { node, .. } => {
                let clock = control.set_clock(std::slice::from_ref(node), 0).await;
                let net = control.heal_network().await;
                clock.and(net)
            }
            Applied::Paused(n) => control.resume(n).await,
        };
        ended.map(|()| Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one place that says which faults a system cannot take: every
    /// fault fits raftkv; etcd refuses the clock faults and corrupt, with
    /// the reason.
    #[test]
    fn each_system_takes_the_faults_it_can() {
        for (kind, name, _) in FAULT_KINDS {
            assert_eq!(kind.unfit_for(&DbKind::Raftkv), None, "{name}");
            let unfit = matches!(kind, FaultKind::Clock | FaultKind::ClockIsolate | FaultKind::Corrupt);
            assert_eq!(kind.unfit_for(&DbKind::Etcd).is_some(), unfit, "{name}");
        }
        assert!(FaultKind::Clock.unfit_for(&DbKind::Etcd).unwrap().contains("cannot move etcd's clocks"));
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
        for (kind, name, _) in FAULT_KINDS {
            let leader_aimed =
                matches!(kind, FaultKind::PauseIsolate | FaultKind::ClockIsolate | FaultKind::DeafLeader);
            let with = kind.unfit_for(&commands(Some(vec!["mykv-status".into()])));
            assert_eq!(with.is_some(), kind == FaultKind::Corrupt, "{name}");
            let without = kind.unfit_for(&commands(None));
            assert_eq!(without.is_some(), kind == FaultKind::Corrupt || leader_aimed, "{name}");
        }
        assert!(FaultKind::PauseIsolate.unfit_for(&commands(None)).unwrap().contains("db.status"));
    }

    #[test]
    fn fault_lists() {
        assert_eq!(FaultKind::parse_list("partition,kill").unwrap(), vec![FaultKind::Partition, FaultKind::Kill]);
        assert!(FaultKind::parse_list("none").unwrap().is_empty());
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let kinds = FaultKind::parse_list("kill-all,kill-majority,pause-isolate").unwrap();
        assert_eq!(Fault::choose(kinds[2], &mut rng), Fault::PauseIsolate);
        assert_eq!(Fault::choose(kinds[0], &mut rng), Fault::Kill(Target::All));
        assert_eq!(Fault::choose(kinds[1], &mut rng), Fault::Kill(Target::Majority));
        // A bounce is a kill held for a moment, whatever the interval.
        let bounce = Fault::choose(FaultKind::Bounce, &mut rng);
        assert!(matches!(bounce, Fault::Bounce(Target::Leader | Target::One | Target::Majority)), "{bounce:?}");
        assert_eq!(bounce.f(), "bounce");
        for _ in 0..100 {
            assert!(bounce.hold(Duration::from_secs(8), &mut rng) <= BOUNCE_HOLD);
        }
        assert_eq!(Fault::Kill(Target::One).hold(Duration::from_secs(8), &mut rng), Duration::from_secs(8));
        let err = FaultKind::parse_list("partition,meteor").unwrap_err();
        assert!(err.contains("meteor") && err.contains("clock"), "{err}");
    }

    #[test]
    fn power_failures_hit_a_majority_or_all_and_packet_loss_a_share() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(2);
        let kinds = FaultKind::parse_list("lose-unsynced,packet-loss").unwrap();
        let (mut losses, mut percents) = (std::collections::HashSet::new(), std::collections::HashSet::new());
        for _ in 0..50 {
            match Fault::choose(kinds[0], &mut rng) {
                Fault::LoseUnsynced { target, loss, .. } => {
                    assert!(matches!(target, Target::Majority | Target::All), "{target}");
                    losses.insert(loss);
                }
                f => panic!("{f:?}"),
            }
            match Fault::choose(kinds[1], &mut rng) {
                f @ Fault::PacketLoss { percent, .. } => {
                    assert!((1..100).contains(&percent), "{f:?}");
                    percents.insert(percent);
                    assert_eq!(f.f(), "packet-loss");
                }
                f => panic!("{f:?}"),
            }
        }
        assert_eq!(losses.len(), 2, "both tail and torn losses are drawn");
        assert!(percents.len() > 1);
    }

    #[test]
    fn every_kind_has_a_row_in_the_table() {
        let all: Vec<&str> = FAULT_KINDS.iter().map(|(_, n, _)| *n).collect();
        assert_eq!(FaultKind::parse_list(&all.join(",")).unwrap().len(), FAULT_KINDS.len());
        assert!(all.contains(&"lose-unsynced") && all.contains(&"packet-loss") && all.contains(&"clock"));
        let lanes: Vec<&str> = FAULT_KINDS.iter().filter(|(k, ..)| k.own_lane()).map(|(_, n, _)| *n).collect();
        assert_eq!(lanes, ["clock"]);
    }

    #[test]
    fn same_seed_same_choices() {
        use rand::SeedableRng;
        let kinds = [FaultKind::Partition, FaultKind::Kill, FaultKind::Pause];
        let pick = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            (0..20).map(|i| Fault::choose(kinds[i % 3], &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(pick(9), pick(9));
        assert_ne!(pick(9), pick(10));
    }
}
