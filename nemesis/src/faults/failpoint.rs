//! `failpoint` and `failpoint-cut`: a crash or a stall at one exact step of
//! a node (raftkv's failpoints), where a random kill almost never lands.
//!
//! - `failpoint`: one point, on the leader or a follower, set to crash
//!   once or to sleep; the node that crashes is restarted at the end.
//! - `failpoint-vote`: the leader is killed and cut off; whichever
//!   follower first grants the other its vote crashes right after it
//!   (`raft-after-vote`, set on both); then the
//!   candidate it voted for is cut off instead, and the old leader and the
//!   voter are started again. A voter that lost its vote in the crash
//!   grants another in the same term, and two leaders share it (etcd's
//!   robustness suite reaches the same class with a kill at
//!   `raftAfterSave`).
//! - `failpoint-cut`: a follower stalls 150 ms at `raft-before-persist`
//!   (the leader's appends pile up meanwhile), then crashes just before
//!   it writes them, while the other follower is cut
//!   off, so the leader's commits rest on that follower alone; 100 ms
//!   after it dies (time to answer what it acknowledged) the leader is
//!   killed too and cut off in place of the other
//!   follower, the crashed one is restarted, and the two followers elect
//!   a leader of their own. What
//!   the crashed follower acknowledged but never wrote is then gone from
//!   every node that can win: the shape of a follower that acks before it
//!   saves (etcd's `raftBeforeSave`). A correct node acknowledges nothing
//!   it has not written, so the leader could not have committed it. The
//!   steps after the write are `failpoint`'s.
//! - `failpoint-relead`: two nodes' lives of a few hundred milliseconds
//!   each, the second applying what the first proposed while its own
//!   proposals wait. The other follower is cut off; the leader and its
//!   partner are killed and started again, each set to stall as soon as
//!   it is elected and its first append has left (`raft-became-leader`),
//!   so that its clients' requests pile up while its follower answers and
//!   leave in one append, and to crash when it has sent them to the other
//!   and not yet written them (`raft-leader-before-persist`). The first to lead dies
//!   so, its proposals on the other node alone; it is started again
//!   unset, the other (its crash cleared) leads on the longer log, stalls,
//!   proposes its own pile, and its first commit applies the dead
//!   leader's entries. A node whose request ids start again at every
//!   start answers its own waiting proposals with the dead leader's
//!   outcomes (the class of a request id that repeats across restarts).
//!   The cycle is made three times on the same two nodes (each begun
//!   only if the one before ended with the other leading): each is
//!   another draw of which requests get which wrong answers.
//! - `failpoint-rejoin`: the leader set to crash right after a write that
//!   replaces the end of its log (`raft-after-overwrite`), then cut off.
//!   Until it steps down it appends its clients' requests, which no one
//!   else gets; the others elect a leader of their own, and the moment
//!   they have one the cut is healed, so the new leader's log past the cut
//!   is a few entries, shorter than the old leader's. The old leader's
//!   first write of the new leader's entries replaces its own, and it dies
//!   right after it. A node that kept the replaced suffix on disk past the
//!   new tail restarts on a log whose terms go down (raftkv refuses such
//!   a log at start), and had the leader's log been shorter it would have
//!   served it (the class of a conflicting suffix kept).

use std::any::Any;
use std::time::Duration;

use raftkv_client::failpoint::{Action, Effect};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::{Applied, Fault, Kind, Needs, Pending};
use crate::control::{Control, ControlError};
use crate::partition::Grudge;

/// The points a `failpoint` fault draws from: the Ready loop's steps, apply
/// and the server's answer.
const POINTS: [&str; 7] = [
    "raft-before-send",
    "raft-before-persist",
    "raft-after-persist",
    "raft-after-send",
    "raft-before-apply",
    "raft-after-apply",
    "server-before-reply",
];

/// Where `failpoint-cut` crashes its follower.
const CUT_POINT: &str = "raft-before-persist";

/// How long a crash set up at a step may take to be reached: under load,
/// the next Ready comes within milliseconds.
const REACH_WAIT: Duration = Duration::from_secs(3);

const NEEDS: Needs =
    Needs { lossyfs: false, capabilities: &[cluster::Capability::Failpoints, cluster::Capability::LeaderLookup] };

pub(super) struct FailpointKind;
pub(super) static KIND: FailpointKind = FailpointKind;

impl Kind for FailpointKind {
    fn name(&self) -> &'static str {
        "failpoint"
    }
    fn about(&self) -> &'static str {
        "crash the leader or a follower once at one step of its Ready loop, apply or answer, or stall it there \
         (raftkv's failpoints); restart it at the end"
    }
    fn needs(&self) -> Needs {
        NEEDS
    }
    fn choose(&self, rng: &mut StdRng) -> Box<dyn Fault> {
        let point = POINTS.choose(rng).expect("points");
        let effect = if rng.gen_bool(0.7) { Effect::Crash } else { Effect::Sleep(rng.gen_range(200..=1500)) };
        let role = if rng.gen_bool(0.5) { Role::Leader } else { Role::Follower };
        Box::new(SetFailpoint { point, action: Action::once(effect), role, shape: Shape::Plain })
    }
}

pub(super) struct FailpointCutKind;
pub(super) static KIND_CUT: FailpointCutKind = FailpointCutKind;

impl Kind for FailpointCutKind {
    fn name(&self) -> &'static str {
        "failpoint-cut"
    }
    fn about(&self) -> &'static str {
        "cut one follower off, crash the other just before it writes, kill the leader the moment it dies, \
         and let the followers elect without the leader; restart it at the end"
    }
    fn needs(&self) -> Needs {
        NEEDS
    }
    fn choose(&self, _rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(SetFailpoint {
            point: CUT_POINT,
            action: Action::once(Effect::Crash),
            role: Role::Follower,
            shape: Shape::Cut,
        })
    }
}

pub(super) struct FailpointVoteKind;
pub(super) static KIND_VOTE: FailpointVoteKind = FailpointVoteKind;

impl Kind for FailpointVoteKind {
    fn name(&self) -> &'static str {
        "failpoint-vote"
    }
    fn about(&self) -> &'static str {
        "kill the leader and cut it off, crash a follower right after it grants its vote, then cut off the \
         candidate it voted for and bring back the old leader and the voter: a voter that forgot its vote \
         elects a second leader in the same term; restart and heal at the end"
    }
    fn needs(&self) -> Needs {
        NEEDS
    }
    fn choose(&self, _rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(SetFailpoint {
            point: VOTE_POINT,
            action: Action::once(Effect::Crash),
            role: Role::Follower,
            shape: Shape::Vote,
        })
    }
}

pub(super) struct FailpointRejoinKind;
pub(super) static KIND_REJOIN: FailpointRejoinKind = FailpointRejoinKind;

impl Kind for FailpointRejoinKind {
    fn name(&self) -> &'static str {
        "failpoint-rejoin"
    }
    fn about(&self) -> &'static str {
        "cut the leader off while it takes requests, heal the moment the others have a leader of their own, \
         and crash the old leader right after it writes the new leader's entries over its own; restart it at \
         the end"
    }
    fn needs(&self) -> Needs {
        NEEDS
    }
    fn choose(&self, _rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(SetFailpoint {
            point: REJOIN_POINT,
            action: Action::once(Effect::Crash),
            role: Role::Leader,
            shape: Shape::Rejoin,
        })
    }
}

/// Where `failpoint-rejoin` crashes the old leader.
const REJOIN_POINT: &str = "raft-after-overwrite";

/// How often `failpoint-rejoin` looks for the others' new leader: the heal
/// must come while that leader's log past the cut is still shorter than
/// the old leader's.
const REJOIN_POLL: Duration = Duration::from_millis(10);

pub(super) struct FailpointReleadKind;
pub(super) static KIND_RELEAD: FailpointReleadKind = FailpointReleadKind;

impl Kind for FailpointReleadKind {
    fn name(&self) -> &'static str {
        "failpoint-relead"
    }
    fn about(&self) -> &'static str {
        "cut one follower off, kill the leader and the other follower and start them again, each set to \
         stall once elected and to crash before writing the requests it piled up; the first leader dies \
         with them on the other alone, which leads next and commits them while its own requests wait; \
         restart and heal at the end"
    }
    fn needs(&self) -> Needs {
        NEEDS
    }
    fn choose(&self, _rng: &mut StdRng) -> Box<dyn Fault> {
        Box::new(SetFailpoint {
            point: RELEAD_POINT,
            action: Action::once(Effect::Crash),
            role: Role::Leader,
            shape: Shape::Relead,
        })
    }
}

/// Where `failpoint-relead` crashes the first of its two leaders: its
/// clients' entries sent, not written.
const RELEAD_POINT: &str = "raft-leader-before-persist";

/// Where and how long `failpoint-relead`'s leaders stall once elected,
/// while their clients' requests pile up. Under the election timeout of
/// the plans' 20 ms tick (200-400 ms), and a leader in its lease ignores
/// the pre-votes of a follower that timed out meanwhile.
const STALL_POINT: &str = "raft-became-leader";
const RELEAD_STALL: Effect = Effect::Sleep(200);

/// How many times `failpoint-relead` makes its two short lives. The
/// wrong answers of a node whose request ids repeat go to whichever
/// requests share ids with the dead leader's entries; only a
/// compare-and-set answered with another's outcome stays wrong for good,
/// so a cycle shows the bug only now and then (about one in three under
/// `deep`), and each further cycle is another draw for about 1.6 s.
pub const RELEAD_CYCLES: usize = 3;

/// How long `failpoint-cut`'s follower stalls at its point before the
/// write it dies before: long enough for a pile of the leader's appends
/// (every client's pending write), short of the election timeout of the
/// plans' 20 ms tick (200-400 ms), so the leader keeps office.
const CUT_PILE: Effect = Effect::Sleep(150);

/// When, after setting the stall, `failpoint-cut` sets the crash in its
/// place: well after a follower under load reached the stall (its next
/// write, milliseconds away), well before the stall ends.
const CUT_PILE_SET: Duration = Duration::from_millis(50);

/// How long `failpoint-cut` lets the leader run once its follower died:
/// enough to apply and answer what that follower acknowledged (a commit,
/// a synced apply: milliseconds), under the election timeout of the
/// plans' 20 ms tick (200-400 ms), after which a leader that hears from no
/// follower steps down. The follower's death is seen within 10 ms, so
/// with no wait the kill often came before the answers.
const CUT_LEADER_GRACE: Duration = Duration::from_millis(100);

/// Where `failpoint-vote` crashes its voter.
const VOTE_POINT: &str = "raft-after-vote";

/// How long `failpoint-vote` waits for the election its kill starts, and
/// for the voter to die in it.
const ELECTION_WAIT: Duration = Duration::from_secs(5);

/// Whom a failpoint is set on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

/// What happens around the failpoint: the point alone, or one of the
/// shapes that a bug class needs around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `failpoint`: the point alone.
    Plain,
    /// `failpoint-cut`.
    Cut,
    /// `failpoint-vote`.
    Vote,
    /// `failpoint-relead`.
    Relead,
    /// `failpoint-rejoin`.
    Rejoin,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetFailpoint {
    pub point: &'static str,
    pub action: Action,
    pub role: Role,
    pub shape: Shape,
}

impl Fault for SetFailpoint {
    fn f(&self) -> &'static str {
        match self.shape {
            Shape::Plain => "failpoint",
            Shape::Cut => "failpoint-cut",
            Shape::Vote => "failpoint-vote",
            Shape::Relead => "failpoint-relead",
            Shape::Rejoin => "failpoint-rejoin",
        }
    }
    fn value(&self) -> Value {
        let role = match self.role {
            Role::Leader => "leader",
            Role::Follower => "follower",
        };
        json!({ "point": self.point, "action": self.action.to_string(), "target": role })
    }
    fn apply<'a>(
        &'a self,
        control: &'a Control,
        rng: &'a mut StdRng,
    ) -> Pending<'a, Result<Box<dyn Applied>, ControlError>> {
        Box::pin(async move {
            let leader = control.leader().await.ok_or_else(|| {
                ControlError::NoLeader("no node reports itself leader, so there is no one to aim a failpoint at".into())
            })?;
            let mut followers: Vec<String> = control.names().into_iter().filter(|n| *n != leader).collect();
            followers.shuffle(rng);
            let node = match self.role {
                Role::Leader => leader.clone(),
                Role::Follower => followers[0].clone(),
            };
            let mut set = FailpointSet {
                point: self.point,
                action: self.action,
                node: node.clone(),
                crashed: false,
                cut: None,
                killed: None,
                next_led: None,
                cycles: Vec::new(),
                rejoin: None,
            };
            match self.shape {
                Shape::Vote => {
                    vote(control, &mut set, &leader, &followers).await?;
                    return Ok(Box::new(set) as Box<dyn Applied>);
                }
                Shape::Relead => {
                    relead(control, &mut set, &leader, &followers).await?;
                    return Ok(Box::new(set) as Box<dyn Applied>);
                }
                Shape::Rejoin => {
                    rejoin(control, &mut set).await?;
                    return Ok(Box::new(set) as Box<dyn Applied>);
                }
                Shape::Plain | Shape::Cut => {}
            }
            if self.shape == Shape::Plain {
                control.set_failpoint(&node, self.point, Some(&self.action)).await?;
                return Ok(Box::new(set) as Box<dyn Applied>);
            }
            // The other follower cut off: the leader's commits need the
            // target's acks.
            let grudge = Grudge::isolating(&followers[1], &control.names());
            control.partition(&grudge).await?;
            set.cut = Some(grudge);
            // First a stall at the same point, so the leader's appends pile
            // up in the follower's inbox meanwhile and its next write, the
            // one it dies before, holds all of them; the crash is set while
            // it sleeps (it sleeps outside the point's lock). A crash at
            // the first write would take the one to five entries of a
            // single append, often no list append among them.
            control.set_failpoint(&node, self.point, Some(&Action::once(CUT_PILE))).await?;
            tokio::time::sleep(CUT_PILE_SET).await;
            control.set_failpoint(&node, self.point, Some(&self.action)).await?;
            set.crashed = control.await_death(&node, REACH_WAIT).await?;
            if set.crashed {
                // Not at once: first the leader commits what the dead
                // follower acknowledged and answers its clients, or a loss
                // of those entries is a loss of writes no client was told
                // of, which no history can show. It cannot send them on:
                // the other follower is cut off.
                tokio::time::sleep(CUT_LEADER_GRACE).await;
                control.kill(std::slice::from_ref(&leader)).await?;
                set.killed = Some(leader.clone());
                // The cut moves to the dead leader. Its kernel still holds
                // what it had sent the cut-off follower and retransmits it
                // after the process is gone; healed, that follower would
                // take the leader's entries from a dead node's sockets.
                let grudge = Grudge::isolating(&leader, &control.names());
                control.partition(&grudge).await?;
                set.cut = Some(grudge);
                control.start(std::slice::from_ref(&node)).await?;
            }
            Ok(Box::new(set) as Box<dyn Applied>)
        })
    }
}

/// `failpoint-vote`: the crash set on both followers, the leader killed
/// and cut off; the first follower to grant the other its vote (the
/// voter, `set.node`) crashed right after it; then the candidate it voted
/// for cut off, and the old leader and the voter started again. A voter
/// that forgot its vote grants a second one in the same term, and two
/// leaders share it. Set on one follower alone it came to nothing half
/// the time: the other timed out first and was the voter.
async fn vote(
    control: &Control,
    set: &mut FailpointSet,
    leader: &str,
    followers: &[String],
) -> Result<(), ControlError> {
    let cut_off = |node: &str| Grudge::isolating(node, &control.names());
    for f in followers {
        control.set_failpoint(f, set.point, Some(&set.action)).await?;
    }
    control.kill(&[leader.to_string()]).await?;
    set.killed = Some(leader.to_string());
    // Dead, it still retransmits what its kernel held: cut it off.
    let grudge = cut_off(leader);
    control.partition(&grudge).await?;
    set.cut = Some(grudge);
    let voter = first_death(control, followers, ELECTION_WAIT).await?;
    // The other keeps no crash: it may grant a vote later in this fault.
    for f in followers.iter().filter(|f| Some(*f) != voter.as_ref()) {
        control.set_failpoint(f, set.point, None).await?;
    }
    let Some(voter) = voter else {
        // No vote was granted (one led on the other's pre-vote alone, or
        // no one campaigned): nothing to forget.
        return Ok(());
    };
    set.crashed = true;
    set.node = voter.clone();
    let candidate = followers.iter().find(|f| **f != voter).expect("two followers");
    let grudge = cut_off(candidate);
    control.partition(&grudge).await?;
    set.cut = Some(grudge);
    control.start(&[leader.to_string(), voter]).await?;
    Ok(())
}

/// `failpoint-rejoin`: the leader (`set.node`) set to crash after a write
/// that replaces the end of its log and cut off; healed as soon as another
/// node leads (polled every 10 ms, so the new leader's log past the cut is
/// what it took in a few tens of milliseconds); then the wait for the old
/// leader's death. The failpoint is set first: as a leader it never
/// overwrites, and its first write over its own entries may come the
/// moment the cut is gone.
async fn rejoin(control: &Control, set: &mut FailpointSet) -> Result<(), ControlError> {
    let old = set.node.clone();
    control.set_failpoint(&old, set.point, Some(&set.action)).await?;
    let grudge = Grudge::isolating(&old, &control.names());
    control.partition(&grudge).await?;
    set.cut = Some(grudge);
    let elected = super::await_new_leader(control, &old, ELECTION_WAIT, REJOIN_POLL).await;
    set.rejoin = Some(Rejoin { elected: elected.clone() });
    if elected.is_none() {
        return Ok(());
    }
    control.heal_network().await?;
    set.cut = None;
    set.crashed = control.await_death(&old, REACH_WAIT).await?;
    Ok(())
}

/// `failpoint-relead`: the other follower cut off; then [`RELEAD_CYCLES`]
/// cycles of [`relead_cycle`] on the leader and its partner, each begun
/// only if the one before it ended with the other node leading.
async fn relead(
    control: &Control,
    set: &mut FailpointSet,
    leader: &str,
    followers: &[String],
) -> Result<(), ControlError> {
    let (pair, outsider) = ([leader.to_string(), followers[0].clone()], &followers[1]);
    let grudge = Grudge::isolating(outsider, &control.names());
    control.partition(&grudge).await?;
    set.cut = Some(grudge);
    set.killed = Some(pair[1].clone());
    for _ in 0..RELEAD_CYCLES {
        relead_cycle(control, set, &pair).await?;
        if set.next_led != Some(true) {
            break;
        }
    }
    Ok(())
}

/// One cycle of `failpoint-relead`: the pair killed, started again and set
/// to stall once elected and to crash before writing what they piled up;
/// the first to lead and die (`set.node`, so the node aimed at is
/// whichever leads first) started again unset, and the other
/// (`set.killed`), its crash cleared, left to lead on the longer log.
async fn relead_cycle(control: &Control, set: &mut FailpointSet, pair: &[String; 2]) -> Result<(), ControlError> {
    set.next_led = Some(false);
    control.kill(pair).await?;
    control.start(pair).await?;
    for node in pair {
        // It must serve to be set: a node that does not has refused to
        // start, which the end's restart reports. Its first election comes
        // an election timeout after its start, later than this.
        if !control.await_serving(node, REACH_WAIT).await? {
            return Ok(());
        }
        control.set_failpoint(node, STALL_POINT, Some(&Action::once(RELEAD_STALL))).await?;
        control.set_failpoint(node, set.point, Some(&set.action)).await?;
    }
    let Some(first) = first_death(control, pair, ELECTION_WAIT).await? else {
        return Ok(());
    };
    let next = pair.iter().find(|n| **n != first).expect("two nodes").clone();
    set.crashed = true;
    (set.node, set.killed) = (first.clone(), Some(next.clone()));
    control.set_failpoint(&next, set.point, None).await?;
    control.start(std::slice::from_ref(&first)).await?;
    // The first to lead now: it loses office only an election timeout
    // after its own, so a poll cannot miss it.
    let led = control.wait_for_leader(ELECTION_WAIT).await.ok();
    let next_led = led.as_deref() == Some(next.as_str());
    set.next_led = Some(next_led);
    set.cycles.push(ReleadCycle { died: first, next, next_led });
    Ok(())
}

/// The first of `nodes` whose process is gone within `within`, polling
/// every 10 ms.
async fn first_death(control: &Control, nodes: &[String], within: Duration) -> Result<Option<String>, ControlError> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        for n in nodes {
            if control.await_death(n, Duration::ZERO).await? {
                return Ok(Some(n.clone()));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(None)
}

/// A failpoint in force, and what came of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailpointSet {
    pub point: &'static str,
    pub action: Action,
    pub node: String,
    /// `failpoint-cut`: the node crashed at the point within the wait.
    pub crashed: bool,
    /// `failpoint-cut`: the cut in force: the other follower's, or, once
    /// the node crashed, the dead leader's.
    pub cut: Option<Grudge>,
    /// `failpoint-cut`: the leader killed once the node crashed;
    /// `failpoint-relead`: the other node killed and started with it.
    pub killed: Option<String>,
    /// `failpoint-relead` (none for the others): whether, once the node
    /// crashed, the other led next, on the dead leader's entries (in the
    /// last cycle begun).
    pub next_led: Option<bool>,
    /// `failpoint-relead`: each cycle whose first leader died, in order.
    pub cycles: Vec<ReleadCycle>,
    /// `failpoint-rejoin`: how its cut ended.
    pub rejoin: Option<Rejoin>,
}

/// How `failpoint-rejoin`'s cut ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejoin {
    /// The node the others elected while the old leader was cut off (the
    /// cut was then healed), if any within the wait.
    pub elected: Option<String>,
}

/// One cycle of `failpoint-relead` that got as far as its first leader's
/// crash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReleadCycle {
    /// The first to lead, dead at the point with its pile sent, not written.
    pub died: String,
    /// The other, left to lead on the dead leader's entries.
    pub next: String,
    /// Whether `next` led next.
    pub next_led: bool,
}

impl Applied for FailpointSet {
    fn done(&self) -> Value {
        let mut nodes = vec![self.node.clone()];
        nodes.extend(self.killed.iter().cloned());
        let mut done = json!({ "nodes": nodes, "point": self.point, "action": self.action.to_string(),
                               "crashed": self.crashed, "killed": self.killed, "grudge": self.cut });
        if let Some(led) = self.next_led {
            done["next_led"] = json!(led);
            done["cycles"] = json!(self.cycles);
        }
        if let Some(r) = &self.rejoin {
            done["elected"] = json!(r.elected);
        }
        done
    }
    fn label(&self) -> String {
        let mut label = format!("failpoint {} {}", self.point, self.action);
        if !self.cycles.is_empty() {
            let cycles: Vec<String> = self
                .cycles
                .iter()
                .map(|c| format!(" {}, then {} {}", c.died, c.next, if c.next_led { "led" } else { "did not lead" }))
                .collect();
            label.push_str(&cycles.join(";"));
            if self.next_led == Some(false) && self.cycles.last().is_some_and(|c| c.next_led) {
                // A later cycle began and neither node led and crashed.
                label.push_str("; then neither led and crashed");
            }
        } else {
            label.push_str(&format!(" {}", self.node));
            match (self.next_led, &self.killed) {
                (Some(_), Some(p)) => label.push_str(&format!(" or {p}: neither led and crashed")),
                (None, Some(l)) if self.crashed => label.push_str(&format!(", leader {l} killed")),
                // `failpoint-vote` whose followers granted no vote.
                (None, Some(l)) => label.push_str(&format!(", leader {l} killed, not reached")),
                _ => {}
            }
            match self.rejoin.as_ref().map(|r| r.elected.as_deref()) {
                Some(Some(l)) if self.crashed => label.push_str(&format!(", cut off until {l} led, crashed rejoining")),
                Some(Some(l)) => label.push_str(&format!(", cut off until {l} led, not reached")),
                Some(None) => label.push_str(", cut off, no other led (not reached)"),
                None => {}
            }
        }
        if let Some(g) = &self.cut {
            label.push_str(&format!(", cut {}", g.label()));
        }
        label
    }
    fn undo_f(&self) -> &'static str {
        "clear-failpoint"
    }
    fn end<'a>(&'a self, control: &'a Control) -> Pending<'a, Result<Vec<(String, String)>, ControlError>> {
        Box::pin(async move {
            if self.cut.is_some() {
                control.heal_network().await?;
            }
            // A node that crashed at the point comes back without it (a
            // failpoint lives in the process); one that never reached it
            // has it cleared.
            let mut refused = Vec::new();
            let mut dead = Vec::new();
            for node in std::iter::once(&self.node).chain(self.killed.iter()) {
                if control.await_death(node, Duration::ZERO).await? {
                    dead.push(node.clone());
                } else if self.next_led.is_some() {
                    // `failpoint-relead` set both points on both nodes.
                    control.set_failpoint(node, self.point, None).await?;
                    control.set_failpoint(node, STALL_POINT, None).await?;
                } else if *node == self.node && !self.crashed {
                    control.set_failpoint(node, self.point, None).await?;
                }
            }
            if !dead.is_empty() {
                refused = control.restart_after_crash(&dead).await?;
            }
            Ok(refused)
        })
    }
    fn crash(&self) -> &'static str {
        "a crash at a failpoint"
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
