//! Three real `raftkv` processes on loopback: replication, restarts, kills,
//! snapshots, linearizable reads, bad input and redirects.

mod common;

use common::{wait_for, Cluster};
use raftkv::client::tls::ClientTls;
use raftkv::client::{CasResult, ClientError, TxnOp};
use raftkv::storage::Storage;

/// Reads a key straight from a stopped node's RocksDB.
fn on_disk(c: &Cluster, i: usize, key: &str) -> Option<Vec<u8>> {
    Storage::open(&c.data_dir(i).join("db")).unwrap().kv_get(key.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn majority_commits_with_one_node_down() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let follower = (leader + 1) % 3;
    c.kill(follower);
    let mut client = c.client();
    for i in 0..20 {
        client.put(format!("k{i}").as_bytes(), format!("v{i}").as_bytes()).await.unwrap();
    }
    assert_eq!(client.get(b"k19").await.unwrap(), Some(b"v19".to_vec()));
    assert_eq!(client.cas(b"k0", Some(b"v0"), b"w0").await.unwrap(), CasResult::Swapped);
    assert_eq!(
        client.cas(b"k0", Some(b"v0"), b"x").await.unwrap(),
        CasResult::Mismatch { current: Some(b"w0".to_vec()) }
    );
    assert_eq!(client.cas(b"new", None, b"1").await.unwrap(), CasResult::Swapped);
    client.append(b"list", b"1 ").await.unwrap();
    client.append(b"list", b"2 ").await.unwrap();
    assert_eq!(client.get(b"list").await.unwrap(), Some(b"1 2 ".to_vec()));
    client.delete(b"k1").await.unwrap();
    assert_eq!(client.get(b"k1").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_catches_up_by_log_after_restart() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let follower = (leader + 1) % 3;
    c.kill(follower);
    let mut client = c.client();
    let mut last = 0;
    for i in 0..30 {
        last = client.put(format!("k{i}").as_bytes(), b"x").await.unwrap();
    }
    c.start_node(follower);
    c.wait_applied(follower, last).await;
    let s = c.status(follower).await;
    assert_eq!(s.first_index, 1, "caught up from the log, no compaction expected");
    c.stop(follower);
    assert_eq!(on_disk(&c, follower, "k29"), Some(b"x".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_catches_up_by_snapshot_after_compaction() {
    let mut c = Cluster::start(&["--snapshot-threshold", "20"]);
    let leader = c.wait_leader().await;
    let follower = (leader + 1) % 3;
    c.kill(follower);
    let mut client = c.client();
    let mut last = 0;
    for i in 0..120 {
        last = client.put(format!("k{i}").as_bytes(), format!("v{i}").as_bytes()).await.unwrap();
    }
    let leader_status = c.status(leader).await;
    assert!(leader_status.first_index > 50, "leader compacted its log: {leader_status:?}");
    c.start_node(follower);
    c.wait_applied(follower, last).await;
    let s = c.status(follower).await;
    assert!(s.first_index > 50, "follower installed a snapshot instead of replaying the log: {s:?}");
    c.stop(follower);
    for i in [0, 57, 119] {
        assert_eq!(on_disk(&c, follower, &format!("k{i}")), Some(format!("v{i}").into_bytes()), "k{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_is_replaced_and_no_acknowledged_write_is_lost() {
    let mut c = Cluster::start(&[]);
    let old = c.wait_leader().await;
    let mut client = c.client();
    for i in 0..50 {
        client.put(format!("k{i}").as_bytes(), format!("v{i}").as_bytes()).await.unwrap();
    }
    c.kill(old);
    let new = c.wait_leader().await;
    assert_ne!(new, old);
    let mut client = c.client();
    for i in 0..50 {
        assert_eq!(client.get(format!("k{i}").as_bytes()).await.unwrap(), Some(format!("v{i}").into_bytes()));
    }
    c.start_node(old);
    let mut only_old = c.client_of(old);
    // The old leader, back as a follower, redirects and sees the same data.
    assert_eq!(only_old.get(b"k49").await.unwrap(), Some(b"v49".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_restart_from_disk_with_state_intact() {
    let mut c = Cluster::start(&[]);
    c.wait_leader().await;
    let mut client = c.client();
    for i in 0..40 {
        client.put(format!("k{i}").as_bytes(), format!("v{i}").as_bytes()).await.unwrap();
    }
    client.append(b"list", b"a").await.unwrap();
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.start_node(i);
    }
    c.wait_leader().await;
    let mut client = c.client();
    for i in 0..40 {
        assert_eq!(client.get(format!("k{i}").as_bytes()).await.unwrap(), Some(format!("v{i}").into_bytes()));
    }
    // Nothing was applied twice: the append is still a single "a".
    assert_eq!(client.get(b"list").await.unwrap(), Some(b"a".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linearizable_read_after_leader_change_sees_latest_write() {
    let mut c = Cluster::start(&[]);
    let old = c.wait_leader().await;
    let mut client = c.client();
    client.put(b"k", b"1").await.unwrap();
    c.kill(old);
    c.wait_leader().await;
    client.put(b"k", b"2").await.unwrap();
    c.start_node(old);
    // Ask every node, the restarted old leader included: all must see 2.
    for i in 0..3 {
        let got = wait_for("a read to be served", || async {
            match c.client_of(i).get(b"k").await {
                Ok(v) => Some(v),
                Err(e) if e.is_definite() || matches!(e, ClientError::ReadUnavailable(_)) => None,
                Err(e) => panic!("read from node {}: {e}", i + 1),
            }
        })
        .await;
        assert_eq!(got, Some(b"2".to_vec()), "read through node {}", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_with_the_limit_named() {
    let c = Cluster::start(&["--max-key-size", "16", "--max-value-size", "64"]);
    c.wait_leader().await;
    let mut client = c.client();
    let cases: Vec<(&[u8], Vec<u8>, &str)> = vec![
        (b"", b"v".to_vec(), "key is empty"),
        (&[b'k'; 17], b"v".to_vec(), "--max-key-size"),
        (b"k", vec![b'v'; 65], "--max-value-size"),
    ];
    for (key, value, needle) in cases {
        match client.put(key, &value).await {
            Err(ClientError::InvalidArgument(msg)) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
            other => panic!("expected InvalidArgument for key {} bytes: {other:?}", key.len()),
        }
    }
    match client.get(b"").await {
        Err(ClientError::InvalidArgument(msg)) => assert!(msg.contains("empty")),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // Within the limits, everything still works.
    client.put(&[b'k'; 16], &[b'v'; 64]).await.unwrap();
}

/// A transaction's micro-ops run in order in one log entry: each read sees
/// the writes before it, and a transaction refused part-way (an append
/// past the value limit) changes nothing, on any replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_applies_in_order_and_all_or_nothing() {
    let mut c = Cluster::start(&["--max-value-size", "64"]);
    let leader = c.wait_leader().await;
    let mut client = c.client();
    let k = |s: &str| s.as_bytes().to_vec();
    let read = |s: &str| TxnOp::Read { key: k(s) };
    let append = |s: &str, v: &str| TxnOp::Append { key: k(s), value: k(v) };
    let put = |s: &str, v: &str| TxnOp::Put { key: k(s), value: k(v) };
    client.put(b"a", b"x").await.unwrap();
    let reads = client
        .txn(&[read("a"), append("l", "1,"), append("l", "2,"), read("l"), put("a", "y"), read("a"), read("none")])
        .await
        .unwrap();
    assert_eq!(reads, vec![Some(k("x")), Some(k("1,2,")), Some(k("y")), None]);
    assert_eq!(client.get(b"a").await.unwrap(), Some(k("y")));

    // The second append would pass 64 bytes: the put before it is undone.
    let long = "v".repeat(40);
    match client.txn(&[put("p", "1"), append("q", &long), append("q", &long)]).await {
        Err(ClientError::InvalidArgument(msg)) => {
            assert!(msg.contains("micro-op 2") && msg.contains("--max-value-size"), "{msg}")
        }
        other => panic!("expected the txn refused, got {other:?}"),
    }
    assert_eq!(client.get(b"p").await.unwrap(), None, "a refused transaction wrote its first micro-op");
    assert_eq!(client.get(b"q").await.unwrap(), None);

    // Bad input is refused before it is proposed, naming the micro-op.
    let many: Vec<TxnOp> = (0..65).map(|_| read("a")).collect();
    let refused = |r: Result<Vec<Option<Vec<u8>>>, ClientError>| match r {
        Err(ClientError::InvalidArgument(msg)) => msg,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    assert!(refused(client.txn(&many).await).contains("65 micro-ops is over the limit of 64"));
    assert!(refused(client.txn(&[]).await).contains("at least one micro-op"));
    assert!(refused(client.txn(&[read("a"), read("")]).await).contains("micro-op 1: key is empty"));

    // Every replica applied the same: once each has applied all the
    // leader has, all three stopped, each holds it.
    let applied = c.status(leader).await.applied;
    for i in 0..3 {
        c.wait_applied(i, applied).await;
    }
    for i in 0..3 {
        c.kill(i);
        assert_eq!(on_disk(&c, i, "l"), Some(k("1,2,")), "node {i}");
        assert_eq!(on_disk(&c, i, "p"), None, "node {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_redirects_clients_to_the_leader() {
    let c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let follower = (leader + 1) % 3;
    // A raw gRPC call to the follower gets NotLeader with the leader's address.
    let mut raw = c.raw_kv(follower).await;
    let err = raw.put(faultline_proto::PutRequest { key: "k".into(), value: "v".into() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let addr = err.metadata().get(raftkv::server::LEADER_ADDR_KEY).unwrap().to_str().unwrap();
    assert_eq!(addr, c.addrs[leader]);
    // The client library follows it.
    let mut client = c.client_of(follower);
    client.put(b"k", b"v").await.unwrap();
    assert_eq!(client.get(b"k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_and_foreign_data_dirs_stop_start_up_with_a_clear_message() {
    let c = Cluster::start(&[]);
    // A leader means every node has claimed its data dir.
    c.wait_leader().await;
    drop_all(c, |c| {
        // Node 1's data dir, claimed by node 1, is refused to node 2.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .args(["serve", "--insecure", "--id", "2", "--peers", &c.peers()])
            .arg("--data-dir")
            .arg(c.data_dir(0))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("belongs to node 1"), "{err}");
        // stderr is not a terminal here, as when it goes to a log file: no
        // ANSI colours, unless asked for.
        assert!(!err.contains('\x1b'), "{err:?}");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .args(["serve", "--insecure", "--id", "2", "--peers", &c.peers(), "--log-color", "always"])
            .arg("--data-dir")
            .arg(c.data_dir(0))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains('\x1b'), "--log-color always gave no colour");

        let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .args(["serve", "--insecure", "--id", "4", "--peers", &c.peers(), "--data-dir", "/nonexistent"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--id 4 is not among"));

        let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .args(["serve", "--insecure", "--id", "1", "--peers", "1=a:1,2=b:2", "--data-dir", "/nonexistent"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("exactly 3 peers"));

        // Plaintext is never the silent default: a node is told which.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .args(["serve", "--id", "1", "--peers", &c.peers(), "--data-dir", "/nonexistent"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--tls-dir <DIR>|--insecure"), "{err}");
        // A TLS folder without the node's key is named before anything starts.
        let partial = c.dir.path().join("partial-tls");
        std::fs::create_dir_all(&partial).unwrap();
        std::fs::copy(c.tls_dir(0).join("ca.pem"), partial.join("ca.pem")).unwrap();
        std::fs::copy(c.tls_dir(0).join("node.pem"), partial.join("node.pem")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .args(["serve", "--id", "1", "--peers", &c.peers(), "--data-dir", "/nonexistent", "--tls-dir"])
            .arg(&partial)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--tls-dir") && err.contains("node.key"), "{err}");
    });
}

/// Stops the cluster's processes first, so the data dirs are free, then runs `f`.
fn drop_all(mut c: Cluster, f: impl FnOnce(&Cluster)) {
    for i in 0..3 {
        c.kill(i);
    }
    f(&c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    c.client().put(b"k", b"v").await.unwrap();
    for i in 0..3 {
        c.stop(i);
    }
    // The leader answered only after applying, so its disk holds the write.
    assert_eq!(on_disk(&c, leader, "k"), Some(b"v".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_settings_are_reported_and_local_reads_skip_the_leader() {
    let mut c = Cluster::start(&["--read-consistency", "local", "--unsafe-no-fsync", "--unsafe-ack-before-commit"]);
    let leader = c.wait_leader().await;
    let follower = (leader + 1) % 3;
    let s = c.status(follower).await;
    assert_eq!(
        s.unsafe_settings,
        vec!["--read-consistency=local", "--unsafe-no-fsync", "--unsafe-ack-before-commit"],
        "the Status RPC must name every unsafe setting"
    );
    c.client().put(b"k", b"v").await.unwrap();
    // A follower answers a read itself: no NotLeader, no redirect.
    let mut raw = c.raw_kv(follower).await;
    let r = raw.get(faultline_proto::GetRequest { key: b"k".to_vec().into() }).await;
    assert!(r.is_ok(), "a follower with local reads must answer: {r:?}");

    // Without the write-ahead log, a kill of every node loses the data.
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.start_node(i);
    }
    c.wait_leader().await;
    assert_eq!(c.client().get(b"k").await.unwrap(), None, "--unsafe-no-fsync kept data across a kill of all nodes");
}

/// The WAL stays on, so a process crash loses nothing (the page cache
/// keeps what was never synced); only a power failure (the lose-unsynced
/// fault, tested on the local hosts) can take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsynced_wal_is_reported_and_survives_a_kill_of_every_node() {
    let mut c = Cluster::start(&["--unsafe-wal-no-sync"]);
    let leader = c.wait_leader().await;
    assert_eq!(c.status(leader).await.unsafe_settings, vec!["--unsafe-wal-no-sync"]);
    c.client().put(b"k", b"v").await.unwrap();
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.start_node(i);
    }
    c.wait_leader().await;
    assert_eq!(c.client().get(b"k").await.unwrap().as_deref(), Some(b"v".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_node_reports_no_unsafe_setting() {
    let c = Cluster::start(&[]);
    let l = c.wait_leader().await;
    assert!(c.status(l).await.unsafe_settings.is_empty());
}

/// A panic in any thread ends the node at once with exit code 2 and a log
/// line naming the thread, rather than leaving a half-working process
/// that a nemesis would count as running. No peer message reaches a
/// panic any more (admission refuses what raft-rs would panic on), so the
/// test asks for one with the hidden `--panic-after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_any_thread_ends_the_process() {
    let mut c = Cluster::start(&["--insecure"]);
    c.wait_leader().await;
    c.stop(1);
    c.extra_args.extend(["--panic-after".to_string(), "300ms".to_string()]);
    c.start_node(1);
    let status = c.wait_exit(1).await;
    assert_eq!(status.code(), Some(2), "node 2 exited with {status}");
    let log = c.log(1);
    assert!(log.contains("panic") && log.contains("the node stops"), "{log}");
}

/// A peer's snapshot stream is refused once its data passes
/// `--max-snapshot-size`, before it is all held in memory, and the node
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_past_the_size_limit_is_refused_and_the_node_serves_on() {
    use faultline_proto::SnapshotChunk;
    use prost_011::Message as _;
    use raft::prelude::{Message, MessageType};

    let c = Cluster::start(&["--max-snapshot-size", "1000"]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let head = Message {
        msg_type: MessageType::MsgSnapshot as i32,
        from: (leader + 1) as u64,
        to: (victim + 1) as u64,
        ..Default::default()
    };
    let chunk =
        |message: Vec<u8>, last: bool| SnapshotChunk { message: message.into(), data: vec![7u8; 600].into(), last };
    let chunks = vec![chunk(head.encode_to_vec(), false), chunk(vec![], false), chunk(vec![], true)];
    // Sent as the leader, with its certificate: a genuine peer.
    let as_leader = ClientTls::load_dir(&c.tls_dir(leader)).unwrap();
    let mut peer = c.raft_peer(victim, Some(&as_leader)).await.unwrap();
    let err = peer.snapshot(tokio_stream::iter(chunks)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("--max-snapshot-size (1000 bytes, over all streams)"), "{err}");
    let mut client = c.client();
    client.put(b"after", b"1").await.unwrap();
    assert_eq!(client.get(b"after").await.unwrap(), Some(b"1".to_vec()));
}

/// With mutual TLS, a message that claims to come from a peer is taken only
/// over that peer's certificate. Each forgery is refused and logged, and
/// the node keeps serving:
/// - plaintext to a TLS node does not even connect;
/// - TLS without a certificate (as a client connects) gets no Raft stream;
/// - a certificate from another CA does not get through the handshake;
/// - node 3's own certificate cannot speak for node 2: the forged
///   heartbeat (a high term, a commit far past the log) is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_peer_without_its_certificate_is_refused_logged_and_the_node_serves_on() {
    use faultline_proto::RaftMessage;
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let claimed = (victim + 1) % 3;
    let impostor = (victim + 2) % 3;
    let forged = forged_heartbeat(claimed, victim);
    let stream = || tokio_stream::iter(vec![RaftMessage { message: forged.clone().into() }]);

    // Plaintext.
    if let Ok(mut p) = c.raft_peer(victim, None).await {
        assert!(p.send(stream()).await.is_err(), "a plaintext stream reached a TLS node");
    }
    // TLS, no certificate.
    let as_client = c.client_tls().unwrap();
    let err = c.raft_peer(victim, Some(&as_client)).await.unwrap().send(stream()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
    // A certificate for the claimed peer's name from a CA of the forger's own.
    let rogue = certs::Authority::new("rogue").unwrap();
    let rogue_dir = c.dir.path().join("rogue");
    rogue.write_node_dir(raftkv::client::NodeId((claimed + 1) as u64), &rogue_dir).unwrap();
    // It trusts the real CA, so that only the node's check of it is tested.
    std::fs::copy(c.tls_dir(0).join("ca.pem"), rogue_dir.join("ca.pem")).unwrap();
    let as_rogue = ClientTls::load_dir(&rogue_dir).unwrap();
    if let Ok(mut p) = c.raft_peer(victim, Some(&as_rogue)).await {
        assert!(p.send(stream()).await.is_err(), "a certificate from another CA was taken");
    }
    // A real peer's certificate, another peer's name in `from`.
    let as_impostor = ClientTls::load_dir(&c.tls_dir(impostor)).unwrap();
    let mut p = c.raft_peer(victim, Some(&as_impostor)).await.unwrap();
    let _ = p.send(stream()).await;

    let log = wait_for("both refusals in the node's log", || {
        let log = c.log(victim);
        let both = log.contains("without a peer's certificate") && log.contains("claims another sender");
        async move { both.then_some(log) }
    })
    .await;
    assert!(log.contains(&format!("from={}", claimed + 1)), "{log}");
    // Still alive, still the same cluster, still serving.
    assert!(c.procs[victim].as_mut().unwrap().try_wait().unwrap().is_none(), "the node died:\n{log}");
    let mut client = c.client_of(victim);
    client.put(b"after-forgery", b"1").await.unwrap();
    assert_eq!(client.get(b"after-forgery").await.unwrap(), Some(b"1".to_vec()));
    assert!(c.status(victim).await.term < 1_000);
}

/// A heartbeat from node `from` to node `to` (0-based) with a high term
/// and a commit far past any log: it must never reach Raft from anyone but
/// a genuine peer.
fn forged_heartbeat(from: usize, to: usize) -> Vec<u8> {
    use prost_011::Message as _;
    use raft::prelude::{Message, MessageType};
    Message {
        msg_type: MessageType::MsgHeartbeat as i32,
        from: (from + 1) as u64,
        to: (to + 1) as u64,
        term: 1_000,
        commit: 1_000_000_000,
        ..Default::default()
    }
    .encode_to_vec()
}
