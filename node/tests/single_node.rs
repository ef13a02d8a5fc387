//! A one-voter Raft group driven through the real Raft loop and RocksDB:
//! it campaigns, becomes leader, and a proposal is committed and applied.

use std::time::{Duration, Instant};

use faultline_proto::command::Op;
use faultline_proto::{Command, PutRequest};
use raft::prelude::*;
use raftkv::raft_loop::{self, Event, LoopConfig, RaftLoop};
use raftkv::state_machine::Outcome;
use raftkv::storage::Storage;
use raftkv::transport::Transport;
use tokio::sync::oneshot;

#[test]
fn single_node_campaigns_commits_and_applies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut storage = Storage::open(dir.path()).unwrap();
    storage.bootstrap(vec![1]).unwrap();
    let cfg = Config {
        id: 1,
        election_tick: 10,
        heartbeat_tick: 3,
        pre_vote: true,
        check_quorum: true,
        ..Default::default()
    };
    let mut raw = RawNode::new(&cfg, storage, &raftkv::logging::raft_logger()).unwrap();
    raw.campaign().unwrap();

    let (events, inbox) = raft_loop::inbox();
    let transport = Transport::start(1, &[(1, "127.0.0.1:1".into())], events.clone(), rt.handle().clone(), None);
    let loop_cfg = LoopConfig {
        tick_interval: Duration::from_millis(10),
        read_index_retry: Duration::from_millis(200),
        snapshot_threshold: 1000,
        local_reads: false,
        ack_before_commit: false,
        stage_timings: true,
    };
    let thread = std::thread::spawn(move || RaftLoop::new(raw, inbox, transport, loop_cfg).run());

    // Wait (with a deadline) until the node reports itself leader.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (reply, rx) = oneshot::channel();
        events.send(Event::Status { reply }).unwrap();
        let status = rx.blocking_recv().unwrap();
        if status.role == "leader" {
            assert_eq!(status.term, 1);
            break;
        }
        assert!(Instant::now() < deadline, "no leader within 10 s: {status:?}");
        std::thread::sleep(Duration::from_millis(10)); // poll interval, bounded by the deadline
    }

    let (reply, rx) = oneshot::channel();
    let cmd = Command { op: Some(Op::Put(PutRequest { key: "k".into(), value: "v".into() })), ..Default::default() };
    events.send(Event::Propose { cmd, reply, received: Instant::now() }).unwrap();
    let outcome = rx.blocking_recv().unwrap().expect("proposal applied");
    let Outcome::Written { index } = outcome else { panic!("unexpected outcome {outcome:?}") };
    assert!(index >= 2, "the leader's empty entry comes first, got index {index}");

    let (reply, rx) = oneshot::channel();
    events.send(Event::Read { key: b"k".to_vec(), reply }).unwrap();
    assert_eq!(rx.blocking_recv().unwrap().unwrap(), Some(b"v".to_vec()));

    let (reply, rx) = oneshot::channel();
    events.send(Event::Status { reply }).unwrap();
    let status = rx.blocking_recv().unwrap();
    assert!(status.applied >= index && status.commit >= index, "{status:?}");

    // The write was timed at every stage a lone leader takes (it has no
    // follower to send to or hear an ack from).
    let (reply, rx) = oneshot::channel();
    events.send(Event::StageReport { reply }).unwrap();
    let report = rx.blocking_recv().unwrap();
    let stages: Vec<&str> = report.stages.iter().map(|t| t.stage.as_str()).collect();
    assert_eq!(
        stages,
        ["leader.queued", "leader.to-send", "leader.persist", "leader.to-commit", "leader.apply", "leader.in-node"],
        "{report:?}"
    );
    assert!(report.stages.iter().all(|t| t.count == 1), "{report:?}");

    events.send(Event::Shutdown).unwrap();
    thread.join().unwrap().expect("the raft loop stops cleanly");
    // Restart from disk: the write is there, and applied is restored.
    let storage = Storage::open(dir.path()).unwrap();
    assert!(storage.applied() >= index);
    assert_eq!(storage.kv_get(b"k").unwrap(), Some(b"v".to_vec()));
}
