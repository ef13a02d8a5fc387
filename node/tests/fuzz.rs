//! Fuzzing the node's decoding of what peers and clients send.
//!
//! - Peer messages, in process: arbitrary bytes, and valid Raft messages
//!   with bytes flipped, cut or appended, go through the decoding and the
//!   admission check a `RaftTransport` stream applies. Nothing panics, and
//!   only a message from a known peer (the one whose certificate the
//!   stream came with), addressed to this node, is let through.
//! - Both services, against live nodes over mutual TLS: a genuine peer's
//!   stream of garbage, and a seeded stream of hostile client requests
//!   (empty, oversized and binary keys and values, every request type).
//!   The node answers each with a status, stays up, and serves correctly
//!   afterwards.
//!
//! A fixed budget: 2,000 in-process cases and a few hundred live requests,
//! some seconds in release.

mod common;

use std::collections::BTreeMap;

use common::Cluster;
use faultline_proto::{AppendRequest, CasRequest, DeleteRequest, GetRequest, PutRequest, RaftMessage};
use proptest::prelude::*;
use prost_011::Message as _;
use raft::prelude::{Entry, Message, MessageType};
use raftkv::client::tls::ClientTls;
use raftkv::server::RaftService;
use rand::{Rng, SeedableRng};

fn service() -> RaftService {
    let (events, _inbox) = std::sync::mpsc::channel();
    RaftService {
        id: 1,
        peers: BTreeMap::from([(1, "a:1".into()), (2, "b:2".into()), (3, "c:3".into())]),
        events,
        max_snapshot_size: 1 << 20,
        snapshot_bytes: Default::default(),
        authenticate: true,
        revoked: Default::default(),
        refused: raftkv::throttle::Throttle::per_second(),
    }
}

fn valid(from: u64, to: u64, msg_type: i32, term: u64, commit: u64, entries: usize) -> Vec<u8> {
    Message {
        msg_type,
        from,
        to,
        term,
        commit,
        entries: (0..entries).map(|i| Entry { index: i as u64 + 1, term, ..Default::default() }).collect(),
        ..Default::default()
    }
    .encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_never_pass_unless_well_addressed(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        sender in proptest::option::of(1u64..5),
    ) {
        if let Some(m) = service().admit(&bytes, sender) {
            prop_assert!(m.from == 2 || m.from == 3);
            prop_assert_eq!(m.to, 1);
            if let Some(s) = sender {
                prop_assert_eq!(m.from, s);
            }
        }
    }

    #[test]
    fn damaged_valid_messages_never_panic(
        from in 0u64..5,
        to in 0u64..5,
        msg_type in 0i32..25,
        term in any::<u64>(),
        commit in any::<u64>(),
        entries in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<usize>()),
        tail in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut bytes = valid(from, to, msg_type, term, commit, entries);
        for (at, x) in edits {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] ^= x;
            }
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        bytes.extend(tail);
        let sender = Some(2);
        if let Some(m) = service().admit(&bytes, sender) {
            prop_assert_eq!((m.from, m.to), (2, 1));
        }
    }
}

/// A genuine peer's certificate on a stream of garbage, then a flood of
/// hostile client requests: every one is answered, and the node serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_nodes_survive_garbage_from_a_peer_and_hostile_client_requests() {
    let mut c = Cluster::start(&["--max-key-size", "64", "--max-value-size", "4096"]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);

    // Garbage over a real peer stream, as that peer.
    let as_leader = ClientTls::load_dir(&c.tls_dir(leader)).unwrap();
    let garbage: Vec<RaftMessage> = (0..300)
        .map(|i| {
            let mut bytes = if i % 2 == 0 {
                valid((leader + 1) as u64, (victim + 1) as u64, MessageType::MsgAppend as i32, 1, 0, 2)
            } else {
                (0..rng.gen_range(0..256)).map(|_| rng.gen()).collect()
            };
            // Damage every valid one so that it no longer decodes as sent.
            if i % 2 == 0 {
                let n = bytes.len();
                bytes[rng.gen_range(0..n)] ^= 0xff;
                bytes.truncate(rng.gen_range(0..n));
            }
            RaftMessage { message: bytes.into() }
        })
        .collect();
    let mut peer = c.raft_peer(victim, Some(&as_leader)).await.unwrap();
    let _ = peer.send(tokio_stream::iter(garbage)).await;

    // Hostile client requests, straight to the gRPC service.
    let mut raw = c.raw_kv(victim).await;
    let blob = |max: usize, rng: &mut rand::rngs::StdRng| -> Vec<u8> {
        let len = match rng.gen_range(0..4) {
            0 => 0,
            1 => rng.gen_range(1..8),
            2 => max,
            _ => max + rng.gen_range(1..64),
        };
        (0..len).map(|_| rng.gen()).collect()
    };
    let mut answered = 0;
    for _ in 0..200 {
        let key = blob(64, &mut rng);
        let value = blob(4096, &mut rng);
        let status = match rng.gen_range(0..5) {
            0 => raw.get(GetRequest { key: key.into() }).await.map(drop),
            1 => raw.put(PutRequest { key: key.into(), value: value.into() }).await.map(drop),
            2 => raw.delete(DeleteRequest { key: key.into() }).await.map(drop),
            3 => raw.append(AppendRequest { key: key.into(), value: value.into() }).await.map(drop),
            _ => raw
                .cas(CasRequest {
                    key: key.into(),
                    expect_absent: rng.gen(),
                    expected: blob(4096, &mut rng).into(),
                    new_value: value.into(),
                })
                .await
                .map(drop),
        };
        // Every request gets an answer: a result, or a status the
        // protocol names (never a dropped connection).
        if let Err(s) = &status {
            assert!(
                matches!(s.code(), tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition),
                "unexpected answer: {s:?}"
            );
        }
        answered += 1;
    }
    assert_eq!(answered, 200);

    assert!(c.procs[victim].as_mut().unwrap().try_wait().unwrap().is_none(), "the node died:\n{}", c.log(victim));
    let mut client = c.client();
    client.put(b"after-fuzz", b"ok").await.unwrap();
    assert_eq!(c.client_of(victim).get(b"after-fuzz").await.unwrap(), Some(b"ok".to_vec()));
}
