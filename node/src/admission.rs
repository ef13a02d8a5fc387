//! What a sane peer can send: the checks a peer message passes, against
//! this node's own Raft state, before raft-rs sees it.
//!
//! `server.rs` already drops what no genuine peer sent (undecodable bytes,
//! a `from` that its certificate does not speak for). These checks are for
//! what a genuine peer key can still send, whether the peer is faulty or
//! its key has leaked:
//! - a number no sane peer reaches (a term, an index or a commit near
//!   `u64::MAX`): raft-rs persists such a term and then wraps it, so one
//!   message would brick the cluster for good;
//! - a term far past this node's own: with pre-vote on, terms grow by one
//!   an election, so a jump of a million is never an election;
//! - a second leader of one term: Raft elects at most one leader a term, so
//!   a leader's message from anyone but the leader this node knows for its
//!   term is a forgery;
//! - an acknowledgement, to a leader, of entries past its own log: the
//!   follower holds entries this leader never sent;
//! - an append whose entries do not number on from the index it follows,
//!   or whose terms fall or pass its own (raft-rs slices out of bounds on
//!   a gap), and a snapshot whose data does not decode (storing it would
//!   fail and stop the node).
//!
//! And one it corrects rather than refuses: a heartbeat's commit past this
//! node's log ([`clamp_commit`]).
//!
//! [`divergence`] is the other half: a leader's entry that contradicts
//! what this node already holds at the same index and term proves that
//! two different entries were accepted for one slot. Raft's log matching
//! cannot repair that, so the node must stop rather than serve on.
//!
//! What this cannot catch: an entry forged under the leader's own key for
//! an index the leader has already filled and had acknowledged. Raft
//! compares only terms, so telling those apart would need a hash chain
//! over the log, which raftkv does not keep. A leaked peer key is revoked
//! (see [`crate::revocation`]), not survived.

use raft::eraftpb::{Entry, Message, MessageType};

/// Values at or past this cannot come from a sane peer: a term or index
/// that high would take longer than the age of the universe to reach, and
/// it leaves raft-rs room to add without overflowing.
pub const SANE_LIMIT: u64 = 1 << 62;
/// The largest term jump a sane peer can cause: a million elections.
pub const MAX_TERM_JUMP: u64 = 1 << 20;

/// The part of this node's Raft state the checks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub id: u64,
    pub term: u64,
    /// The leader this node knows for `term`; 0 when none.
    pub leader_id: u64,
    pub is_leader: bool,
    /// The last index of this node's log.
    pub last_index: u64,
}

/// Why a peer message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{field} {value} is past any value a sane peer reaches (limit {SANE_LIMIT})")]
    NearOverflow { field: &'static str, value: u64 },
    #[error("term {theirs} is more than {MAX_TERM_JUMP} past this node's term {ours}")]
    TermJump { theirs: u64, ours: u64 },
    #[error("node {from} acts as leader of term {term}, whose leader is node {leader}")]
    SecondLeader { from: u64, term: u64, leader: u64 },
    #[error("node {from} acknowledges index {index}, past this leader's last index {last}")]
    AckBeyondLog { from: u64, index: u64, last: u64 },
    #[error("malformed append: {0}")]
    MalformedAppend(String),
    #[error("snapshot data that does not decode: {0}")]
    BadSnapshot(String),
}

/// Checks one peer message against this node's state.
pub fn check(m: &Message, view: &View) -> Result<(), Refusal> {
    // Every message of the Raft loop passes here: the fields are walked in
    // place, with no allocation.
    let scalars = [
        ("term", m.term),
        ("log_term", m.log_term),
        ("index", m.index),
        ("commit", m.commit),
        ("commit_term", m.commit_term),
        ("reject_hint", m.reject_hint),
    ];
    let entries = m.entries.iter().flat_map(|e| [("entry index", e.index), ("entry term", e.term)]);
    let snapshot = m
        .snapshot
        .as_ref()
        .and_then(|s| s.metadata.as_ref())
        .into_iter()
        .flat_map(|meta| [("snapshot index", meta.index), ("snapshot term", meta.term)]);
    if let Some((field, value)) = scalars.into_iter().chain(entries).chain(snapshot).find(|(_, v)| *v >= SANE_LIMIT) {
        return Err(Refusal::NearOverflow { field, value });
    }
    if m.term > view.term.saturating_add(MAX_TERM_JUMP) {
        return Err(Refusal::TermJump { theirs: m.term, ours: view.term });
    }
    let from_a_leader =
        matches!(m.get_msg_type(), MessageType::MsgAppend | MessageType::MsgHeartbeat | MessageType::MsgSnapshot);
    if from_a_leader && m.term == view.term {
        let leader = if view.is_leader { view.id } else { view.leader_id };
        if leader != 0 && leader != m.from {
            return Err(Refusal::SecondLeader { from: m.from, term: m.term, leader });
        }
    }
    if m.get_msg_type() == MessageType::MsgAppend {
        well_formed(m)?;
    }
    if m.get_msg_type() == MessageType::MsgSnapshot {
        let data = m.snapshot.as_ref().map_or(&[][..], |s| &s.data[..]);
        prost::Message::decode(data)
            .map(|_: faultline_proto::SnapshotData| ())
            .map_err(|e| Refusal::BadSnapshot(e.to_string()))?;
    }
    // A follower acknowledges only what this leader sent it. An ack past
    // the leader's log means the follower holds entries someone else put
    // there; taken, it would stop the leader from ever sending its own
    // entries for those indexes, and the divergence would stay hidden.
    let acks = m.get_msg_type() == MessageType::MsgAppendResponse && !m.reject;
    if acks && view.is_leader && m.term == view.term && m.index > view.last_index {
        return Err(Refusal::AckBeyondLog { from: m.from, index: m.index, last: view.last_index });
    }
    Ok(())
}

/// What every append from a sane leader is: entries numbered on from the
/// index it follows, their terms never falling and never past the
/// message's own term (raft-rs slices out of bounds on a gap).
fn well_formed(m: &Message) -> Result<(), Refusal> {
    let bad = |why: String| Err(Refusal::MalformedAppend(why));
    if m.log_term > m.term {
        return bad(format!("it follows an entry of term {}, past its own term {}", m.log_term, m.term));
    }
    let mut term = m.log_term;
    for (i, e) in m.entries.iter().enumerate() {
        let expected = m.index + 1 + i as u64;
        if e.index != expected {
            return bad(format!("entry {i} has index {}, where {expected} follows index {}", e.index, m.index));
        }
        if e.term < term || e.term > m.term {
            return bad(format!("entry {} has term {}, outside [{term}, {}]", e.index, e.term, m.term));
        }
        term = e.term;
    }
    Ok(())
}

/// Lowers a heartbeat's commit to this node's last index, returning the
/// commit it carried when it was past it. raft-rs stops the process on a
/// commit past the log, and a genuine leader can send one: it remembers
/// what this node acknowledged, and a power failure may have taken that
/// from the node since. A lower commit is always safe to take (it only
/// says less), and the leader's next append repairs the log.
pub fn clamp_commit(m: &mut Message, view: &View) -> Option<u64> {
    if m.get_msg_type() != MessageType::MsgHeartbeat || m.commit <= view.last_index {
        return None;
    }
    let carried = m.commit;
    m.commit = view.last_index;
    Some(carried)
}

/// Proof that this node's log and a leader's disagree on an entry both
/// hold at the same index and term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "diverged from the leader's log: node {leader} sent an entry at index {index} (term {term}) \
     that differs from the one this node holds at the same index and term; two entries were \
     accepted for one slot, so this node's state cannot be trusted (a leaked peer key, or a \
     bug). It stops; wipe its data dir so that it rejoins from a snapshot, and revoke the key \
     if one leaked"
)]
pub struct Divergence {
    pub leader: u64,
    pub index: u64,
    pub term: u64,
}

/// Compares an append's entries with the ones this node holds: `held`
/// gives this node's entry at an index, if it has one.
pub fn divergence(m: &Message, mut held: impl FnMut(u64) -> Option<Entry>) -> Option<Divergence> {
    if m.get_msg_type() != MessageType::MsgAppend {
        return None;
    }
    m.entries.iter().find_map(|e| {
        let mine = held(e.index)?;
        (mine.term == e.term && (mine.data != e.data || mine.entry_type != e.entry_type)).then_some(Divergence {
            leader: m.from,
            index: e.index,
            term: e.term,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View { id: 1, term: 5, leader_id: 2, is_leader: false, last_index: 10 }
    }

    fn msg(t: MessageType, from: u64, term: u64) -> Message {
        Message { msg_type: t as i32, from, to: 1, term, ..Default::default() }
    }

    #[test]
    fn ordinary_traffic_passes() {
        assert_eq!(check(&msg(MessageType::MsgAppend, 2, 5), &view()), Ok(()));
        assert_eq!(check(&msg(MessageType::MsgHeartbeat, 3, 6), &view()), Ok(()));
        assert_eq!(check(&msg(MessageType::MsgRequestVote, 3, 5), &view()), Ok(()));
        assert_eq!(check(&msg(MessageType::MsgAppendResponse, 3, 5 + MAX_TERM_JUMP), &view()), Ok(()));
        // No leader known yet for the term: the first one to speak is taken.
        let leaderless = View { leader_id: 0, ..view() };
        assert_eq!(check(&msg(MessageType::MsgAppend, 3, 5), &leaderless), Ok(()));
    }

    #[test]
    fn a_number_near_overflow_is_refused_naming_its_field() {
        let m = msg(MessageType::MsgHeartbeat, 2, u64::MAX);
        assert_eq!(check(&m, &view()), Err(Refusal::NearOverflow { field: "term", value: u64::MAX }));
        let mut m = msg(MessageType::MsgAppend, 2, 5);
        m.commit = SANE_LIMIT;
        assert_eq!(check(&m, &view()), Err(Refusal::NearOverflow { field: "commit", value: SANE_LIMIT }));
        let mut m = msg(MessageType::MsgAppend, 2, 5);
        m.entries = vec![Entry { index: 9, term: u64::MAX - 1, ..Default::default() }];
        assert!(matches!(check(&m, &view()), Err(Refusal::NearOverflow { field: "entry term", .. })));
    }

    #[test]
    fn a_term_far_past_ours_is_refused() {
        let m = msg(MessageType::MsgRequestVote, 3, 6 + MAX_TERM_JUMP);
        assert_eq!(check(&m, &view()), Err(Refusal::TermJump { theirs: 6 + MAX_TERM_JUMP, ours: 5 }));
    }

    #[test]
    fn a_second_leader_of_a_term_is_refused() {
        let m = msg(MessageType::MsgAppend, 3, 5);
        assert_eq!(check(&m, &view()), Err(Refusal::SecondLeader { from: 3, term: 5, leader: 2 }));
        // This node leads the term itself.
        let leading = View { is_leader: true, leader_id: 1, ..view() };
        let m = msg(MessageType::MsgHeartbeat, 2, 5);
        assert_eq!(check(&m, &leading), Err(Refusal::SecondLeader { from: 2, term: 5, leader: 1 }));
    }

    #[test]
    fn a_leader_refuses_an_ack_past_its_own_log() {
        let leading = View { is_leader: true, leader_id: 1, ..view() };
        let mut ack = msg(MessageType::MsgAppendResponse, 3, 5);
        ack.index = 10;
        assert_eq!(check(&ack, &leading), Ok(()));
        ack.index = 11;
        assert_eq!(check(&ack, &leading), Err(Refusal::AckBeyondLog { from: 3, index: 11, last: 10 }));
        // A rejection's hint may name a longer log: that is legal.
        ack.reject = true;
        ack.reject_hint = 40;
        assert_eq!(check(&ack, &leading), Ok(()));
    }

    #[test]
    fn an_append_with_a_gap_or_a_term_out_of_order_is_refused() {
        let mut m = msg(MessageType::MsgAppend, 2, 5);
        m.index = 10;
        m.log_term = 4;
        let e = |index: u64, term: u64| Entry { index, term, ..Default::default() };
        m.entries = vec![e(11, 4), e(12, 5)];
        assert_eq!(check(&m, &view()), Ok(()));
        m.entries = vec![e(15, 5)];
        assert!(matches!(check(&m, &view()), Err(Refusal::MalformedAppend(w)) if w.contains("has index 15, where 11")));
        m.entries = vec![e(11, 5), e(12, 4)];
        assert!(matches!(check(&m, &view()), Err(Refusal::MalformedAppend(_))));
        m.entries = vec![e(11, 6)];
        assert!(matches!(check(&m, &view()), Err(Refusal::MalformedAppend(_))));
    }

    #[test]
    fn a_snapshot_whose_data_does_not_decode_is_refused() {
        let mut m = msg(MessageType::MsgSnapshot, 2, 5);
        m.snapshot = Some(raft::eraftpb::Snapshot { data: vec![0xff; 7], ..Default::default() });
        assert!(matches!(check(&m, &view()), Err(Refusal::BadSnapshot(_))));
        m.snapshot = Some(raft::eraftpb::Snapshot::default());
        assert_eq!(check(&m, &view()), Ok(()));
    }

    #[test]
    fn a_heartbeats_commit_past_the_log_is_lowered_to_it() {
        let mut hb = msg(MessageType::MsgHeartbeat, 2, 5);
        hb.commit = 10;
        assert_eq!(clamp_commit(&mut hb, &view()), None);
        hb.commit = 1_000_000_000;
        assert_eq!(clamp_commit(&mut hb, &view()), Some(1_000_000_000));
        assert_eq!(hb.commit, 10);
        let mut append = msg(MessageType::MsgAppend, 2, 5);
        append.commit = 99;
        assert_eq!(clamp_commit(&mut append, &view()), None, "raft-rs bounds an append's commit itself");
    }

    #[test]
    fn an_entry_that_differs_at_the_same_index_and_term_is_a_divergence() {
        let held = |i: u64| (i <= 10).then(|| Entry { index: i, term: 5, data: vec![i as u8], ..Default::default() });
        let mut m = msg(MessageType::MsgAppend, 2, 5);
        m.entries = vec![
            Entry { index: 10, term: 5, data: vec![10], ..Default::default() },
            Entry { index: 11, term: 5, data: vec![0], ..Default::default() },
        ];
        assert_eq!(divergence(&m, held), None);
        m.entries[0].data = vec![99];
        assert_eq!(divergence(&m, held), Some(Divergence { leader: 2, index: 10, term: 5 }));
        // A different term at the same index is an ordinary conflict, which
        // Raft resolves by truncation.
        m.entries[0].term = 6;
        assert_eq!(divergence(&m, held), None);
    }
}
