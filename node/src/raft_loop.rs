//! The Raft loop: one OS thread that owns the `RawNode`, ticks it, feeds it
//! peer messages, proposals and reads, and handles each `Ready` in raft-rs's
//! documented order (see [`RaftLoop::on_ready`]).
//!
//! Everything else talks to it through [`Event`]s. Draining every queued
//! event before handling a Ready is what batches proposals: many client
//! writes share one Ready, one RocksDB batch and one fsync (group commit),
//! and concurrent reads share one ReadIndex round.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use faultline_proto::command::Op;
use faultline_proto::Command;
use prost::Message as _;
use raft::prelude::*;
use raft::{GetEntriesContext, StateRole, Storage as _};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::admission;
use crate::stages::Stages;
use crate::state_machine::{self, Outcome, Overlay};
use crate::storage::Storage;
use crate::throttle::Throttle;
use crate::transport::Transport;

/// Why a write could not be answered with its result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Nothing was proposed: this node is not the leader.
    #[error("not leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    /// The write may or may not be applied. Never guess: a proposal that was
    /// accepted by the leader can still commit after the leader loses
    /// office, and an entry can be overwritten after it.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Why a read could not be served. Reads change nothing, so a failed read is
/// always safe to report as failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("read unavailable: {0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Storage(String),
}

/// Why the loop stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("storage failure in the Raft loop: {0}")]
    Storage(#[from] crate::storage::StoreError),
    #[error(transparent)]
    Diverged(admission::Divergence),
}

/// A snapshot of the node's Raft state, for the Status RPC.
#[derive(Debug, Clone, Default)]
pub struct StatusInfo {
    pub id: u64,
    pub role: &'static str,
    pub term: u64,
    pub leader_id: u64,
    pub commit: u64,
    pub applied: u64,
    pub first_index: u64,
    pub last_index: u64,
}

pub type ProposeReply = oneshot::Sender<Result<Outcome, ProposeError>>;
pub type ReadReply = oneshot::Sender<Result<Option<Vec<u8>>, ReadError>>;

/// Input of the Raft loop.
pub enum Event {
    /// A message from a peer, and when the server took it.
    Raft(Box<Message>, Instant),
    /// A client write, and when the server took it. The loop assigns its
    /// request id.
    Propose {
        cmd: Command,
        reply: ProposeReply,
        received: Instant,
    },
    /// A linearizable read of one key.
    Read {
        key: Vec<u8>,
        reply: ReadReply,
    },
    Status {
        reply: oneshot::Sender<StatusInfo>,
    },
    /// The stage timings since the last report (`--stage-timings`).
    StageReport {
        reply: oneshot::Sender<raftkv_client::stages::StageReport>,
    },
    /// A send to this peer failed.
    Unreachable(u64),
    /// A snapshot send to this peer ended.
    SnapshotDone {
        to: u64,
        ok: bool,
    },
    /// Stop the loop.
    Shutdown,
}

/// Tunables of the loop.
#[derive(Clone, Debug)]
pub struct LoopConfig {
    pub tick_interval: Duration,
    pub read_index_retry: Duration,
    pub snapshot_threshold: u64,
    /// UNSAFE (`--read-consistency=local`): answer reads from this node's
    /// state machine at once, whatever its role.
    pub local_reads: bool,
    /// UNSAFE (`--unsafe-ack-before-commit`): answer puts, deletes and
    /// appends once they are in the leader's log.
    pub ack_before_commit: bool,
    /// Time each stage of every write (`--stage-timings`).
    pub stage_timings: bool,
}

struct ReadWaiter {
    key: Vec<u8>,
    reply: ReadReply,
}

struct ReadBatch {
    waiters: Vec<ReadWaiter>,
    issued: Instant,
}

/// Most events handled before the loop checks its tick and Ready again, so
/// a flood of client requests cannot starve heartbeats.
const MAX_EVENTS_PER_ROUND: usize = 4096;

pub struct RaftLoop {
    raw: RawNode<Storage>,
    inbox: Receiver<Event>,
    transport: Transport,
    cfg: LoopConfig,
    /// Writes proposed by this node and not yet answered, by request id.
    proposals: HashMap<u64, ProposeReply>,
    next_request_id: u64,
    /// Reads waiting for the next ReadIndex round.
    read_queue: Vec<ReadWaiter>,
    /// ReadIndex rounds in flight, by context.
    reads_inflight: HashMap<u64, ReadBatch>,
    next_read_ctx: u64,
    /// Reads whose ReadIndex is known, waiting for applied >= index.
    reads_ready: Vec<(u64, Vec<ReadWaiter>)>,
    role: StateRole,
    leader: u64,
    /// Peer messages refused by [`admission`], and heartbeats whose commit
    /// it lowered, for throttled logs.
    refused: Throttle,
    clamped: Throttle,
    /// Set when a leader's entry proved this node's log diverged.
    diverged: Option<admission::Divergence>,
    stages: Stages,
}

impl RaftLoop {
    pub fn new(raw: RawNode<Storage>, inbox: Receiver<Event>, transport: Transport, cfg: LoopConfig) -> RaftLoop {
        // Request ids must never repeat across restarts of this node, or an
        // old log entry could answer a new request: start from a random
        // point of the 64-bit space.
        let next_request_id = rand::random::<u64>() >> 1;
        RaftLoop {
            raw,
            inbox,
            transport,
            stages: Stages::new(cfg.stage_timings),
            cfg,
            proposals: HashMap::new(),
            next_request_id,
            read_queue: Vec::new(),
            reads_inflight: HashMap::new(),
            next_read_ctx: 1,
            reads_ready: Vec::new(),
            role: StateRole::Follower,
            leader: 0,
            refused: Throttle::per_second(),
            clamped: Throttle::per_second(),
            diverged: None,
        }
    }

    /// Runs until [`Event::Shutdown`] or until every sender is gone; or
    /// until a storage write fails, which it returns. A failed disk write
    /// leaves this node's state unknown, so the only safe move is to stop
    /// (as etcd and TiKV do); the caller ends the process. Likewise for a
    /// log proven to have diverged from the leader's (fail-stop).
    pub fn run(mut self) -> Result<(), LoopError> {
        let mut next_tick = Instant::now() + self.cfg.tick_interval;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(wait) {
                Ok(Event::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(ev) => {
                    if !self.handle(ev) {
                        break;
                    }
                    let mut n = 1;
                    while n < MAX_EVENTS_PER_ROUND {
                        match self.inbox.try_recv() {
                            Ok(Event::Shutdown) => {
                                return self.shutdown();
                            }
                            Ok(ev) => {
                                if !self.handle(ev) {
                                    return self.shutdown();
                                }
                            }
                            Err(_) => break,
                        }
                        n += 1;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_tick {
                self.raw.tick();
                next_tick += self.cfg.tick_interval;
                if next_tick < Instant::now() {
                    // Far behind (the process was paused): don't burst ticks.
                    next_tick = Instant::now() + self.cfg.tick_interval;
                }
                self.on_tick();
            }
            self.issue_reads();
            if let Err(e) = self.on_ready() {
                error!("storage failure in the Raft loop, stopping the node: {e}");
                self.fail_pending("node stopping after a storage failure");
                return Err(e.into());
            }
        }
        self.shutdown()
    }

    /// Fails what is pending; a proven divergence is the loop's error.
    fn shutdown(&mut self) -> Result<(), LoopError> {
        if let Some(d) = self.diverged.take() {
            self.fail_pending("node stopping: its log diverged from the leader's");
            return Err(LoopError::Diverged(d));
        }
        self.fail_pending("node shutting down");
        info!("raft loop stopped");
        Ok(())
    }

    /// Handles one event. Returns false when the loop must stop.
    fn handle(&mut self, ev: Event) -> bool {
        match ev {
            Event::Raft(m, received) => return self.step(*m, received),
            Event::Propose { mut cmd, reply, received } => self.propose(&mut cmd, reply, received),
            Event::Read { key, reply } => {
                if self.cfg.local_reads {
                    let value = self.raw.store().kv_get(&key).map_err(|e| ReadError::Storage(e.to_string()));
                    let _ = reply.send(value);
                } else if !self.is_leader() {
                    let _ = reply.send(Err(ReadError::NotLeader { leader: self.known_leader() }));
                } else {
                    self.read_queue.push(ReadWaiter { key, reply });
                }
            }
            Event::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Event::StageReport { reply } => {
                let _ = reply.send(self.stages.report(self.raw.raft.id));
            }
            Event::Unreachable(id) => self.raw.report_unreachable(id),
            Event::SnapshotDone { to, ok } => {
                let status = if ok { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                self.raw.report_snapshot(to, status);
            }
            Event::Shutdown => return false,
        }
        true
    }

    /// Feeds one peer message to Raft, after [`admission`]'s checks. A
    /// proven divergence stops the loop (returns false) with the proof kept
    /// for [`run`](Self::run) to return.
    fn step(&mut self, mut m: Message, received: Instant) -> bool {
        let view = admission::View {
            id: self.raw.raft.id,
            term: self.raw.raft.term,
            leader_id: self.raw.raft.leader_id,
            is_leader: self.is_leader(),
            last_index: self.raw.raft.raft_log.last_index(),
        };
        if let Err(refusal) = admission::check(&m, &view) {
            if self.refused.admit() {
                warn!(from = m.from, kind = ?m.get_msg_type(), suppressed = self.refused.take_suppressed(), "refusing a peer message: {refusal}");
            }
            return true;
        }
        if let Some(carried) = admission::clamp_commit(&mut m, &view) {
            if self.clamped.admit() {
                warn!(
                    from = m.from,
                    carried,
                    last_index = view.last_index,
                    suppressed = self.clamped.take_suppressed(),
                    "a heartbeat's commit is past this node's log; taking it as the last index"
                );
            }
        }
        let log = &self.raw.raft.raft_log;
        let (first, last) = (log.first_index(), log.last_index());
        let held = |i: u64| {
            if i < first || i > last {
                return None;
            }
            log.entries(i, 0, GetEntriesContext::empty(false)).ok()?.into_iter().next()
        };
        if let Some(d) = admission::divergence(&m, held) {
            error!("{d}");
            self.diverged = Some(d);
            return false;
        }
        if self.stages.on() {
            match m.get_msg_type() {
                MessageType::MsgAppend => self.stages.appended(m.entries.iter().map(|e| e.index), received),
                MessageType::MsgAppendResponse if !m.reject => self.stages.acked(m.index),
                _ => {}
            }
        }
        if let Err(e) = self.raw.step(m) {
            warn!("dropping peer message: {e}");
        }
        true
    }

    /// Raft's own view, which may run ahead of the last Ready's soft state.
    fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    fn known_leader(&self) -> Option<u64> {
        let l = self.raw.raft.leader_id;
        (l != 0).then_some(l)
    }

    fn propose(&mut self, cmd: &mut Command, reply: ProposeReply, received: Instant) {
        if !self.is_leader() {
            let _ = reply.send(Err(ProposeError::NotLeader { leader: self.known_leader() }));
            return;
        }
        self.next_request_id = self.next_request_id.wrapping_add(1);
        cmd.request_id = self.next_request_id;
        match self.raw.propose(vec![], cmd.encode_to_vec()) {
            Ok(()) if self.cfg.ack_before_commit && !matches!(cmd.op, Some(Op::Cas(_) | Op::Txn(_))) => {
                // UNSAFE: in the leader's log, not yet on a majority.
                let _ = reply.send(Ok(Outcome::Written { index: self.raw.raft.raft_log.last_index() }));
            }
            Ok(()) => {
                self.proposals.insert(cmd.request_id, reply);
                self.stages.proposed(self.raw.raft.raft_log.last_index(), received);
            }
            Err(e) => {
                let _ = reply.send(Err(ProposeError::Unknown(format!("proposal dropped: {e}"))));
            }
        }
    }

    fn status(&self) -> StatusInfo {
        let store = self.raw.store();
        StatusInfo {
            id: self.raw.raft.id,
            role: role_name(self.raw.raft.state),
            term: self.raw.raft.term,
            leader_id: self.raw.raft.leader_id,
            commit: self.raw.raft.raft_log.committed,
            applied: store.applied(),
            first_index: store.first(),
            last_index: store.last(),
        }
    }

    fn on_tick(&mut self) {
        // Re-send ReadIndex rounds that got no answer: raft-rs drops them
        // silently when the leader has not yet committed in its term.
        let now = Instant::now();
        let stale: Vec<u64> = self
            .reads_inflight
            .iter()
            .filter(|(_, b)| now.duration_since(b.issued) >= self.cfg.read_index_retry)
            .map(|(ctx, _)| *ctx)
            .collect();
        for ctx in stale {
            if let Some(batch) = self.reads_inflight.remove(&ctx) {
                self.read_queue.extend(batch.waiters.into_iter().filter(|w| !w.reply.is_closed()));
            }
        }
        // Clients that gave up no longer need an answer.
        self.proposals.retain(|_, r| !r.is_closed());
    }

    fn issue_reads(&mut self) {
        if self.read_queue.is_empty() || !self.is_leader() {
            return;
        }
        let ctx = self.next_read_ctx;
        self.next_read_ctx += 1;
        let waiters = std::mem::take(&mut self.read_queue);
        self.reads_inflight.insert(ctx, ReadBatch { waiters, issued: Instant::now() });
        self.raw.read_index(ctx.to_be_bytes().to_vec());
    }

    /// Handles one Ready, in raft-rs's documented order.
    fn on_ready(&mut self) -> Result<(), crate::storage::StoreError> {
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut rd = self.raw.ready();

        let mut elected = false;
        if let Some(ss) = rd.ss() {
            elected = ss.raft_state == StateRole::Leader && self.role != StateRole::Leader;
            self.on_soft_state(ss.raft_state, ss.leader_id);
        }

        // 1. Messages a leader can send before its own fsync (replication in
        //    parallel with the local write).
        crate::failpoint!("raft-before-send");
        let new = rd.entries().first().zip(rd.entries().last()).map(|(f, l)| (f.index, l.index));
        self.send(rd.take_messages());
        if let Some((first, last)) = new {
            self.stages.sent(first, last, Instant::now());
        }
        if elected {
            // Just after its first append has left: a stall here piles up
            // the new leader's client requests while the followers' acks
            // arrive, so the pile leaves in one append to followers already
            // out of probe (a stall before the send would hold a follower in
            // probe, and the pile would stay on the leader alone).
            crate::failpoint!("raft-became-leader");
        }

        // 2. A snapshot from the leader replaces the state machine and log.
        if !rd.snapshot().is_empty() {
            let snap = rd.snapshot().clone();
            info!(index = snap.get_metadata().index, term = snap.get_metadata().term, "installing snapshot");
            crate::failpoint!("raft-before-snapshot-install");
            self.raw.mut_store().persist(Some(&snap), &[], None, true)?;
            crate::failpoint!("raft-after-snapshot-install");
        }

        // 3. Apply what is committed.
        self.apply(rd.take_committed_entries())?;

        // 4. ReadIndex answers.
        for rs in rd.take_read_states() {
            let ctx = rs.request_ctx.as_slice().try_into().map(u64::from_be_bytes).unwrap_or(0);
            if let Some(batch) = self.reads_inflight.remove(&ctx) {
                self.reads_ready.push((rs.index, batch.waiters));
            }
        }

        // 5. New entries and hard state, in one batch, synced when Raft says so.
        let sync = rd.must_sync();
        if !rd.entries().is_empty() {
            crate::failpoint!("raft-before-persist");
        }
        if self.role == StateRole::Leader && rd.entries().iter().any(|e| !e.data.is_empty()) {
            // Clients' entries already sent to the followers and not yet
            // written here: a crash leaves them on the followers alone.
            crate::failpoint!("raft-leader-before-persist");
        }
        // Entries that begin at or before the log's end replace some of it:
        // a follower's answer to a new leader whose log conflicts with its
        // own (raft-rs appends only from the first conflicting entry on).
        let old_last = self.raw.store().last();
        let overwrote = new.filter(|(first, _)| *first <= old_last);
        let persisting = Instant::now();
        self.raw.mut_store().persist(None, rd.entries(), rd.hs(), sync)?;
        if let Some((_, last)) = new {
            self.stages.persisted(last, persisting, Instant::now());
        }
        crate::failpoint!("raft-after-persist");
        if let Some((first, last)) = overwrote {
            info!(first, last, old_last, "a new leader's entries replaced the end of the log");
            crate::failpoint!("raft-after-overwrite");
        }

        // 6. Only now may votes and append acknowledgements leave.
        let persisted = rd.take_persisted_messages();
        let voted = persisted.iter().any(|m| m.get_msg_type() == MessageType::MsgRequestVoteResponse && !m.reject);
        self.send(persisted);
        if let Some((first, last)) = new {
            self.stages.follower_acked(first, last);
        }
        crate::failpoint!("raft-after-send");
        if voted {
            crate::failpoint!("raft-after-vote");
        }

        // 7. Advance, then handle what the LightReady carries.
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().set_commit(commit)?;
        }
        self.send(light.take_messages());
        self.apply(light.take_committed_entries())?;
        self.raw.advance_apply();

        self.serve_reads();
        self.maybe_compact()?;
        Ok(())
    }

    fn on_soft_state(&mut self, role: StateRole, leader: u64) {
        let was_leader = self.role == StateRole::Leader;
        if leader != self.leader {
            info!(term = self.raw.raft.term, leader, previous = self.leader, "leader changed");
        }
        if role != self.role {
            info!(term = self.raw.raft.term, role = role_name(role), "role changed");
        }
        self.role = role;
        self.leader = leader;
        if was_leader && role != StateRole::Leader {
            self.fail_pending("leader changed before the write was applied");
        }
    }

    /// Answers every waiting client honestly when this node stops being able
    /// to: writes may still commit elsewhere, so their outcome is unknown;
    /// reads simply fail.
    fn fail_pending(&mut self, why: &str) {
        for (_, reply) in self.proposals.drain() {
            let _ = reply.send(Err(ProposeError::Unknown(why.to_string())));
        }
        let reads = self
            .read_queue
            .drain(..)
            .chain(self.reads_inflight.drain().flat_map(|(_, b)| b.waiters))
            .chain(self.reads_ready.drain(..).flat_map(|(_, w)| w));
        for w in reads {
            let _ = w.reply.send(Err(ReadError::Unavailable(why.to_string())));
        }
    }

    fn send(&mut self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        for id in self.transport.send(msgs) {
            self.raw.report_unreachable(id);
        }
    }

    /// Applies committed entries: state-machine changes and the new applied
    /// index go to disk in one batch, then the proposers get their answers.
    fn apply(&mut self, entries: Vec<Entry>) -> Result<(), crate::storage::StoreError> {
        let Some(last) = entries.last().map(|e| e.index) else {
            return Ok(());
        };
        let store = self.raw.store();
        if last <= store.applied() {
            return Ok(());
        }
        crate::failpoint!("raft-before-apply");
        if self.stages.on() {
            let now = Instant::now();
            for e in &entries {
                self.stages.committed(e.index, now);
            }
        }
        let mut overlay = Overlay::default();
        let mut answers = Vec::new();
        for e in &entries {
            if e.index <= store.applied() || e.data.is_empty() || e.get_entry_type() != EntryType::EntryNormal {
                continue;
            }
            let cmd = match Command::decode(&e.data[..]) {
                Ok(c) => c,
                Err(err) => {
                    // Every node applies the same log, so skipping an entry
                    // that no node can decode keeps replicas identical.
                    error!(index = e.index, "skipping undecodable log entry: {err}");
                    continue;
                }
            };
            let outcome = state_machine::apply(store, &mut overlay, &cmd, e.index)?;
            answers.push((cmd.request_id, e.index, outcome));
        }
        self.raw.mut_store().commit_applied(overlay, last)?;
        crate::failpoint!("raft-after-apply");
        for (id, index, outcome) in answers {
            if let Some(reply) = self.proposals.remove(&id) {
                let _ = reply.send(Ok(outcome));
                self.stages.answered(index);
            }
        }
        Ok(())
    }

    fn serve_reads(&mut self) {
        if self.reads_ready.is_empty() {
            return;
        }
        let applied = self.raw.store().applied();
        let (now, later): (Vec<_>, Vec<_>) = self.reads_ready.drain(..).partition(|(index, _)| *index <= applied);
        self.reads_ready = later;
        for (_, waiters) in now {
            for w in waiters {
                let value = self.raw.store().kv_get(&w.key).map_err(|e| ReadError::Storage(e.to_string()));
                let _ = w.reply.send(value);
            }
        }
    }

    fn maybe_compact(&mut self) -> Result<(), crate::storage::StoreError> {
        let store = self.raw.store();
        let applied = store.applied();
        let first = store.first_index().unwrap_or(1);
        if applied + 1 < first + self.cfg.snapshot_threshold {
            return Ok(());
        }
        // Keep the newest half, so followers that lag a little still catch
        // up from the log; the rest need a snapshot.
        let upto = applied - self.cfg.snapshot_threshold / 2;
        if upto >= first {
            crate::failpoint!("raft-before-snapshot-save");
            self.raw.mut_store().compact(upto)?;
        }
        Ok(())
    }
}

pub fn role_name(role: StateRole) -> &'static str {
    match role {
        StateRole::Leader => "leader",
        StateRole::Follower => "follower",
        StateRole::Candidate => "candidate",
        StateRole::PreCandidate => "pre-candidate",
    }
}

/// Builds the loop's inbox; the sender side is cloned for every producer.
pub fn inbox() -> (Sender<Event>, Receiver<Event>) {
    std::sync::mpsc::channel()
}

/// The loop's bookkeeping on a one-node cluster, driven by hand: no
/// threads, no network, a real RocksDB store in a temporary folder.
#[cfg(test)]
mod tests {
    use super::*;
    use faultline_proto::{command, PutRequest};

    struct Fixture {
        lp: RaftLoop,
        _dir: tempfile::TempDir,
        _rt: tokio::runtime::Runtime,
    }

    /// A one-node cluster that has elected itself and committed in its
    /// term, so ReadIndex rounds are answered.
    fn leader() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = Storage::open(dir.path()).unwrap();
        storage.bootstrap(vec![1]).unwrap();
        let cfg = Config { id: 1, election_tick: 10, heartbeat_tick: 1, ..Default::default() };
        let raw = RawNode::new(&cfg, storage, &crate::logging::raft_logger()).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (events, inbox) = inbox();
        let transport = Transport::start(1, &[(1, "127.0.0.1:1".into())], events, rt.handle().clone(), None);
        let cfg = LoopConfig {
            tick_interval: Duration::from_millis(10),
            read_index_retry: Duration::from_millis(50),
            snapshot_threshold: 1_000_000,
            local_reads: false,
            ack_before_commit: false,
            stage_timings: false,
        };
        let mut lp = RaftLoop::new(raw, inbox, transport, cfg);
        lp.raw.campaign().unwrap();
        settle(&mut lp);
        assert!(lp.is_leader());
        assert_eq!(lp.raw.store().applied(), lp.raw.raft.raft_log.last_index(), "the term's first entry is applied");
        Fixture { lp, _dir: dir, _rt: rt }
    }

    /// Handles Readies until there are none.
    fn settle(lp: &mut RaftLoop) {
        for _ in 0..100 {
            lp.issue_reads();
            if !lp.raw.has_ready() {
                return;
            }
            lp.on_ready().unwrap();
        }
        panic!("the loop never settled");
    }

    fn put(lp: &mut RaftLoop, key: &[u8], value: &[u8]) -> oneshot::Receiver<Result<Outcome, ProposeError>> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command {
            op: Some(command::Op::Put(PutRequest { key: key.to_vec().into(), value: value.to_vec().into() })),
            ..Default::default()
        };
        assert!(lp.handle(Event::Propose { cmd, reply, received: Instant::now() }));
        rx
    }

    fn read(lp: &mut RaftLoop, key: &[u8]) -> oneshot::Receiver<Result<Option<Vec<u8>>, ReadError>> {
        let (reply, rx) = oneshot::channel();
        assert!(lp.handle(Event::Read { key: key.to_vec(), reply }));
        rx
    }

    #[test]
    fn a_write_is_answered_once_applied_and_a_read_then_sees_it() {
        let mut f = leader();
        let mut w = put(&mut f.lp, b"k", b"v1");
        assert!(w.try_recv().is_err(), "no answer before the entry is applied");
        settle(&mut f.lp);
        let index = f.lp.raw.store().applied();
        assert_eq!(w.try_recv().unwrap(), Ok(Outcome::Written { index }));
        assert!(f.lp.proposals.is_empty());
        let mut r = read(&mut f.lp, b"k");
        settle(&mut f.lp);
        assert_eq!(r.try_recv().unwrap(), Ok(Some(b"v1".to_vec())));
        assert!(f.lp.reads_inflight.is_empty() && f.lp.reads_ready.is_empty());
    }

    #[test]
    fn losing_leadership_answers_writes_unknown_and_reads_unavailable() {
        let mut f = leader();
        let mut w = put(&mut f.lp, b"k", b"v1");
        let mut inflight = read(&mut f.lp, b"k");
        f.lp.issue_reads();
        let mut queued = read(&mut f.lp, b"k");
        assert_eq!((f.lp.proposals.len(), f.lp.reads_inflight.len(), f.lp.read_queue.len()), (1, 1, 1));
        f.lp.role = StateRole::Leader;
        f.lp.on_soft_state(StateRole::Follower, 2);
        let why = "leader changed before the write was applied".to_string();
        // The write may still commit under the next leader: never "failed".
        assert_eq!(w.try_recv().unwrap(), Err(ProposeError::Unknown(why.clone())));
        assert_eq!(inflight.try_recv().unwrap(), Err(ReadError::Unavailable(why.clone())));
        assert_eq!(queued.try_recv().unwrap(), Err(ReadError::Unavailable(why)));
        assert!(f.lp.proposals.is_empty() && f.lp.reads_inflight.is_empty() && f.lp.read_queue.is_empty());
    }

    #[test]
    fn a_read_index_round_that_gets_no_answer_is_sent_again() {
        let mut f = leader();
        let mut w = put(&mut f.lp, b"k", b"v1");
        settle(&mut f.lp);
        assert!(w.try_recv().unwrap().is_ok());
        // A round raft-rs dropped (as it does before a new leader commits in
        // its term): its context never comes back in a read state.
        let (reply, mut lost) = oneshot::channel();
        let (gone, gone_rx) = oneshot::channel();
        drop(gone_rx);
        let waiters = vec![ReadWaiter { key: b"k".to_vec(), reply }, ReadWaiter { key: b"k".to_vec(), reply: gone }];
        let issued = Instant::now();
        f.lp.reads_inflight.insert(999, ReadBatch { waiters, issued });
        f.lp.on_tick();
        assert_eq!(f.lp.reads_inflight.len(), 1, "a round younger than the retry interval is left alone");
        f.lp.reads_inflight.get_mut(&999).unwrap().issued = issued - f.lp.cfg.read_index_retry;
        f.lp.on_tick();
        assert!(f.lp.reads_inflight.is_empty());
        assert_eq!(f.lp.read_queue.len(), 1, "the waiter whose client gave up is dropped");
        settle(&mut f.lp);
        assert_eq!(lost.try_recv().unwrap(), Ok(Some(b"v1".to_vec())));
    }

    #[test]
    fn a_follower_refuses_writes_and_reads_naming_the_leader_it_knows() {
        let mut f = leader();
        f.lp.raw.raft.become_follower(f.lp.raw.raft.term + 1, 3);
        let mut w = put(&mut f.lp, b"k", b"v");
        let mut r = read(&mut f.lp, b"k");
        assert_eq!(w.try_recv().unwrap(), Err(ProposeError::NotLeader { leader: Some(3) }));
        assert_eq!(r.try_recv().unwrap(), Err(ReadError::NotLeader { leader: Some(3) }));
        assert!(f.lp.proposals.is_empty());
    }
}
