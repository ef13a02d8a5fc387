//! A 3-node TLS cluster on loopback, attacked as an attacker would: with a
//! genuine peer key, with no credentials at all, with floods of
//! connections and with requests that never finish. Each test is one
//! finding of the hardening probe; each failed on the node before the
//! change it names.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{wait_for, Cluster};
use faultline_proto::{command::Op, Command, PutRequest, RaftMessage, SnapshotChunk};
use prost::Message as _;
use raft::prelude::{Entry, Message, MessageType};
use raftkv::client::tls::{ClientTls, SERVER_NAME};
use raftkv::client::ClientError;
use raftkv::storage::Storage;
use tokio::net::TcpStream;

/// Sends raw Raft messages to node `to` over the TLS folder of node `as_`:
/// a genuine peer key.
async fn send_as(c: &Cluster, as_: usize, to: usize, msgs: Vec<Vec<u8>>) {
    let tls = ClientTls::load_dir(&c.tls_dir(as_)).unwrap();
    let mut peer = c.raft_peer(to, Some(&tls)).await.unwrap();
    let stream = tokio_stream::iter(msgs.into_iter().map(|m| RaftMessage { message: m.into() }).collect::<Vec<_>>());
    let _ = peer.send(stream).await;
}

fn encode(m: Message) -> Vec<u8> {
    prost_011::Message::encode_to_vec(&m)
}

fn alive(c: &mut Cluster, i: usize) -> bool {
    c.procs[i].as_mut().is_some_and(|p| p.try_wait().unwrap().is_none())
}

/// Finding 1: one heartbeat with a term near `u64::MAX`, from a holder of
/// one peer key, made every node persist that term and die, for good.
/// Now it is refused and logged, and so is a jump of a million terms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_term_no_sane_peer_reaches_is_refused_and_the_cluster_serves_on() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let sender = (leader + 2) % 3;
    let term = c.status(victim).await.term;
    let heartbeat = |term: u64| Message {
        msg_type: MessageType::MsgHeartbeat as i32,
        from: sender as u64 + 1,
        to: victim as u64 + 1,
        term,
        ..Default::default()
    };
    let vote = Message {
        msg_type: MessageType::MsgRequestVote as i32,
        from: sender as u64 + 1,
        to: victim as u64 + 1,
        term: term + (1 << 21),
        ..Default::default()
    };
    send_as(&c, sender, victim, vec![encode(heartbeat(u64::MAX)), encode(vote)]).await;
    // From the leader's own key, a heartbeat whose commit is far past the
    // victim's log (raft-rs stops the process on one): taken as the log's end.
    let past_the_log = Message {
        msg_type: MessageType::MsgHeartbeat as i32,
        from: leader as u64 + 1,
        to: victim as u64 + 1,
        term,
        commit: 1_000_000_000,
        ..Default::default()
    };
    // And an append with a gap in its entries (raft-rs slices out of bounds
    // on one), and a snapshot whose data does not decode (storing it would
    // fail and stop the node).
    let gap = Message {
        msg_type: MessageType::MsgAppend as i32,
        from: leader as u64 + 1,
        to: victim as u64 + 1,
        term,
        index: 0,
        entries: vec![Entry { index: 5, term, ..Default::default() }],
        ..Default::default()
    };
    let garbage_snapshot = Message {
        msg_type: MessageType::MsgSnapshot as i32,
        from: leader as u64 + 1,
        to: victim as u64 + 1,
        term,
        snapshot: Some(raft::prelude::Snapshot {
            data: vec![0xff; 64],
            metadata: Some(raft::prelude::SnapshotMetadata { index: 1_000, term, ..Default::default() }),
        }),
        ..Default::default()
    };
    send_as(&c, leader, victim, vec![encode(past_the_log)]).await;
    let log = wait_for("the refusal in the victim's log", || {
        let log = c.log(victim);
        async move { log.contains("refusing a peer message").then_some(log) }
    })
    .await;
    assert!(log.contains("term 18446744073709551615 is past any value a sane peer reaches"), "{log}");
    let log = wait_for("the clamped commit in the victim's log", || {
        let log = c.log(victim);
        async move { log.contains("commit is past this node's log").then_some(log) }
    })
    .await;
    assert!(log.contains("carried=1000000000"), "{log}");
    // Refusals are logged once a second, so each is sent until it shows.
    for (msg, seen) in
        [(encode(gap), "malformed append"), (encode(garbage_snapshot), "snapshot data that does not decode")]
    {
        wait_for(seen, || {
            let log = c.log(victim);
            let (c, msg) = (&c, msg.clone());
            async move {
                if log.contains(seen) {
                    return Some(());
                }
                send_as(c, leader, victim, vec![msg]).await;
                None
            }
        })
        .await;
    }
    let mut client = c.client();
    client.put(b"after-term", b"1").await.unwrap();
    assert_eq!(client.get(b"after-term").await.unwrap(), Some(b"1".to_vec()));
    for i in 0..3 {
        assert!(alive(&mut c, i), "node {} died:\n{}", i + 1, c.diagnosis());
        assert!(c.status(i).await.term < 1_000, "node {} took the hostile term", i + 1);
    }
}

/// A follower of term T must take a leader's messages for T from T's one
/// leader only: a peer key of a node that does not lead cannot append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_from_a_peer_that_does_not_lead_the_term_is_refused() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let impostor = (leader + 2) % 3;
    let s = c.status(victim).await;
    let forged = forged_append(impostor, victim, s.term, s.last_index, s.last_index + 1);
    send_as(&c, impostor, victim, vec![forged]).await;
    wait_for("the refusal in the victim's log", || {
        let seen = c.log(victim).contains(&format!("node {} acts as leader of term {}", impostor + 1, s.term));
        async move { seen.then_some(()) }
    })
    .await;
    assert_eq!(c.status(victim).await.last_index, s.last_index, "the forged entry reached the victim's log");
    c.client().put(b"after-impostor", b"1").await.unwrap();
    assert!(alive(&mut c, victim));
    c.kill(victim);
    let on_disk = Storage::open(&c.data_dir(victim).join("db")).unwrap().kv_get(b"forged").unwrap();
    assert_eq!(on_disk, None, "the forged write reached the state machine");
}

/// Finding 2: one forged append from the leader's own key wrote a key no
/// client wrote, and the node diverged silently. The leader's next entry
/// at the same index and term proves the divergence, and the node stops,
/// saying so (fail-stop) rather than serving a state no one agreed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_entry_under_the_leaders_key_is_caught_as_divergence_and_the_node_stops() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let s = c.status(victim).await;
    // Commit the forged entry on the victim at once, as the probe did.
    let forged = forged_append(leader, victim, s.term, s.last_index, s.last_index + 1);
    send_as(&c, leader, victim, vec![forged]).await;
    wait_for("the victim to apply the forged entry", || {
        let mut client = c.client_of(victim);
        let addr = c.addrs[victim].clone();
        async move { client.status_of(&addr).await.ok().filter(|st| st.applied > s.last_index).map(drop) }
    })
    .await;
    // The leader's own next entry lands on the same index and term.
    c.client().put(b"genuine", b"1").await.unwrap();
    let status = c.wait_exit(victim).await;
    assert_eq!(status.code(), Some(2), "{status}");
    let log = c.log(victim);
    assert!(log.contains("diverged from the leader's log"), "{log}");
    assert!(log.contains(&format!("index {} (term {})", s.last_index + 1, s.term)), "{log}");
    // The two others serve on.
    c.client().put(b"after-divergence", b"1").await.unwrap();
}

/// An append from node `from` to node `to` (0-based) at `term` that puts
/// `forged` at `prev + 1`, with the commit at `commit`.
fn forged_append(from: usize, to: usize, term: u64, prev: u64, commit: u64) -> Vec<u8> {
    let cmd = Command {
        op: Some(Op::Put(PutRequest { key: b"forged".to_vec().into(), value: b"x".to_vec().into() })),
        request_id: 1,
        ..Default::default()
    };
    encode(Message {
        msg_type: MessageType::MsgAppend as i32,
        from: from as u64 + 1,
        to: to as u64 + 1,
        term,
        index: prev,
        // The leader's no-op of this term (or a write of it) is the last entry.
        log_term: term,
        commit,
        entries: vec![Entry { index: prev + 1, term, data: cmd.encode_to_vec(), ..Default::default() }],
        ..Default::default()
    })
}

/// A data dir that holds a term no sane cluster reaches (saved before
/// admission existed) stops start-up with a message naming the value and
/// what to do, instead of a crash loop inside raft-rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_saved_term_stops_start_up_naming_the_value() {
    let mut c = Cluster::start(&[]);
    c.wait_leader().await;
    c.stop(2);
    {
        let mut storage = Storage::open(&c.data_dir(2).join("db")).unwrap();
        let mut hs = storage.hard_state().clone();
        hs.term = u64::MAX - 3;
        storage.persist(None, &[], Some(&hs), true).unwrap();
    }
    c.start_node(2);
    let status = c.wait_exit(2).await;
    assert_eq!(status.code(), Some(2));
    let log = c.log(2);
    assert!(
        log.contains(&format!("saved term of {}", u64::MAX - 3)) && log.contains("move the data dir aside"),
        "{log}"
    );
}

/// A certificate listed in `revoked.txt` is refused once the node reads
/// the list again (SIGHUP): at the handshake, and on a peer stream that
/// was open before. Refusals are logged at a bounded rate, and so is a
/// handshake with a certificate from another CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_peer_key_is_refused_after_sighup_and_refusals_are_logged_at_a_bounded_rate() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let leaked = (leader + 2) % 3;
    let heartbeat = || {
        encode(Message {
            msg_type: MessageType::MsgHeartbeatResponse as i32,
            from: leaked as u64 + 1,
            to: victim as u64 + 1,
            term: 1,
            ..Default::default()
        })
    };
    // A stream opened before the revocation, held open.
    let as_leaked = ClientTls::load_dir(&c.tls_dir(leaked)).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<RaftMessage>(8);
    let mut held = c.raft_peer(victim, Some(&as_leaked)).await.unwrap();
    let held = tokio::spawn(async move { held.send(tokio_stream::wrappers::ReceiverStream::new(rx)).await });
    tx.send(RaftMessage { message: heartbeat().into() }).await.unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
        .arg("fingerprint")
        .arg(c.tls_dir(leaked).join("node.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let fingerprint = String::from_utf8(out.stdout).unwrap();
    assert_eq!(fingerprint.trim().len(), 64, "{fingerprint}");
    std::fs::write(c.tls_dir(victim).join("revoked.txt"), format!("# leaked\n{fingerprint}")).unwrap();
    let pid = c.procs[victim].as_ref().unwrap().id();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
    wait_for("the list read again", || {
        let seen = c.log(victim).contains("revoked certificates read again");
        async move { seen.then_some(()) }
    })
    .await;
    // The held stream is cut at its next message.
    let _ = tx.send(RaftMessage { message: heartbeat().into() }).await;
    let cut = tokio::time::timeout(common::DEADLINE, held).await.expect("the held stream was not cut").unwrap();
    assert_eq!(cut.unwrap_err().code(), tonic::Code::PermissionDenied);
    // A new connection with the revoked certificate does not get through.
    let refused = match c.raft_peer(victim, Some(&as_leaked)).await {
        Ok(mut p) => p.send(tokio_stream::iter(vec![RaftMessage { message: heartbeat().into() }])).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a revoked certificate got a raft stream");
    // A certificate from another CA is refused in the handshake, logged.
    let rogue = certs::Authority::new("rogue").unwrap();
    let rogue_dir = c.dir.path().join("rogue");
    rogue.write_node_dir(raftkv::client::NodeId(leaked as u64 + 1), &rogue_dir).unwrap();
    std::fs::copy(c.tls_dir(0).join("ca.pem"), rogue_dir.join("ca.pem")).unwrap();
    let as_rogue = ClientTls::load_dir(&rogue_dir).unwrap();
    if let Ok(mut p) = c.raft_peer(victim, Some(&as_rogue)).await {
        assert!(p.send(tokio_stream::iter(vec![])).await.is_err());
    }
    // Five hundred refused calls without a certificate: a bounded number
    // of lines, with a count of the rest.
    let as_client = c.client_tls().unwrap();
    let mut anon = c.raft_peer(victim, Some(&as_client)).await.unwrap();
    for _ in 0..500 {
        let err = anon.send(tokio_stream::iter(vec![])).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
    }
    let log = wait_for("the handshake refusals logged", || {
        let log = c.log(victim);
        async move { (log.contains("revoked (revoked.txt)") && log.contains("handshake failed")).then_some(log) }
    })
    .await;
    let lines = log.lines().filter(|l| l.contains("without a peer's certificate")).count();
    assert!((1..=20).contains(&lines), "{lines} lines for 500 refusals:\n{log}");
    assert!(log.contains("suppressed"), "{log}");
    // The other peer, and clients, are still served.
    let mut client = c.client_of(victim);
    client.put(b"after-revocation", b"1").await.unwrap();
    assert!(alive(&mut c, victim));
}

/// A malformed revoked list stops start-up, naming the file and line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_revoked_list_stops_start_up_naming_its_line() {
    let mut c = Cluster::start(&[]);
    c.wait_leader().await;
    c.stop(0);
    std::fs::write(c.tls_dir(0).join("revoked.txt"), "# fine\nnot-hex\n").unwrap();
    c.start_node(0);
    let status = c.wait_exit(0).await;
    assert_eq!(status.code(), Some(2));
    assert!(c.log(0).contains("revoked.txt:2"), "{}", c.log(0));
}

/// Finding 3: about 1,100 silent connections used up the descriptors and
/// locked every client out, with one thread spinning. Now, under a limit
/// of 512 descriptors, 10,000 silent connections (and some that finish
/// TLS and then say nothing) leave a new client served within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_silent_connections_leave_a_client_served_within_a_second() {
    const FLOOD: usize = 10_000;
    let hard = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(hard as usize > FLOOD + 1_000, "this test needs {} descriptors; the limit is {hard}", FLOOD + 1_000);
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    // The leader restarted under a limit of 512 descriptors.
    c.stop(leader);
    let cmd = c.serve_cmd(leader);
    let raftkv = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let mut limited = std::process::Command::new("prlimit");
    limited.arg("--nofile=512:512").arg("--").arg(raftkv).args(args);
    limited.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    limited.stderr(
        std::fs::OpenOptions::new().append(true).open(c.dir.path().join(format!("n{}.log", leader + 1))).unwrap(),
    );
    drop(cmd);
    c.procs[leader] = Some(limited.spawn().unwrap());
    c.wait_leader().await;
    let target = leader;
    let addr = c.addrs[target].clone();

    // Some connections finish TLS, without a certificate, and then idle.
    let mut idle = Vec::new();
    let connector = tls_connector(&c);
    for _ in 0..50 {
        let tcp = TcpStream::connect(&addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from(SERVER_NAME).unwrap();
        if let Ok(s) = connector.connect(name, tcp).await {
            idle.push(s);
        }
    }
    let mut silent = Vec::with_capacity(FLOOD);
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..FLOOD {
        let addr = addr.clone();
        tries.spawn(async move { tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await });
        if tries.len() >= 256 {
            if let Some(Ok(Ok(Ok(s)))) = tries.join_next().await {
                silent.push(s);
            }
        }
    }
    while let Some(r) = tries.join_next().await {
        if let Ok(Ok(Ok(s))) = r {
            silent.push(s);
        }
    }
    assert!(silent.len() >= FLOOD / 2, "only {} of {FLOOD} connections opened", silent.len());

    // A new client of the limited node: its status, and a write and a read
    // through it (answered, or redirected to the leader, by that node).
    let started = Instant::now();
    let mut client = c.client_of(target);
    client.status_of(&addr).await.unwrap();
    client.put(b"in-the-flood", b"1").await.unwrap();
    assert_eq!(client.get(b"in-the-flood").await.unwrap(), Some(b"1".to_vec()));
    let took = started.elapsed();
    eprintln!(
        "flood: {} silent and {} idle TLS connections open; a new client served in {took:?}",
        silent.len(),
        idle.len()
    );
    assert!(took < Duration::from_secs(1), "a client waited {took:?} under the flood:\n{}", c.diagnosis());
    assert!(alive(&mut c, target), "{}", c.diagnosis());
    let log = c.log(target);
    let refusals =
        log.lines().filter(|l| l.contains("closing a new connection") || l.contains("refusing a connection")).count();
    assert!(refusals < 200, "{refusals} refusal lines: not throttled");
    drop((idle, silent));
}

/// A rustls connector that trusts the cluster's CA and presents nothing.
fn tls_connector(c: &Cluster) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls_pki_types::CertificateDer::from_pem_file(c.tls_dir(0).join("ca.pem")).unwrap();
    roots.add(ca).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// An HTTP/2 connection to node `i`, over TLS without a certificate: what
/// anyone who reaches the port can open.
async fn h2_to(c: &Cluster, i: usize) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(&c.addrs[i]).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(SERVER_NAME).unwrap();
    let tls = tls_connector(c).connect(name, tcp).await.unwrap();
    let (send, conn) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(conn);
    send
}

/// A gRPC call to `path` whose message declares `declared` bytes, of which
/// `first` bytes are sent now; the body stays open. Returns the response
/// future and the body's sender.
async fn open_call(
    send: &mut h2::client::SendRequest<Bytes>,
    path: &str,
    declared: u32,
    first: usize,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let req = http::Request::post(format!("https://{SERVER_NAME}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut body) = ready.send_request(req, false).unwrap();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&declared.to_be_bytes());
    frame.extend(std::iter::repeat_n(0x0a, first));
    body.reserve_capacity(frame.len());
    body.send_data(frame.into(), false).unwrap();
    (response, body)
}

/// The gRPC status of an answer: from its headers (a trailers-only
/// answer) or its trailers.
async fn grpc_status(response: h2::client::ResponseFuture) -> Option<String> {
    let resp = response.await.ok()?;
    if let Some(s) = resp.headers().get("grpc-status") {
        return Some(s.to_str().ok()?.to_string());
    }
    let mut body = resp.into_body();
    while body.data().await.is_some() {}
    let trailers = body.trailers().await.ok()??;
    Some(trailers.get("grpc-status")?.to_str().ok()?.to_string())
}

fn peak_rss_mb(c: &Cluster, i: usize) -> u64 {
    let pid = c.procs[i].as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb / 1024
}

/// Finding 4: each client call could carry 64 MiB without credentials, and
/// twelve unfinished ones took a node to 786 MB. A request larger than any
/// legal operation is now refused as soon as its length is read, and one
/// that never finishes is cut at the server's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_unfinished_client_calls_are_cut_and_memory_stays_bounded() {
    let mut c = Cluster::start(&["--request-timeout", "1s"]);
    let victim = c.wait_leader().await;
    let mut send = h2_to(&c, victim).await;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..12 {
        // Declares 60 MiB and sends 4 MiB of it, then waits.
        let (response, mut body) = open_call(&mut send, "/raftkv.Kv/Put", 60 << 20, 0).await;
        let chunk = Bytes::from(vec![0x0a; 1 << 20]);
        for _ in 0..4 {
            body.reserve_capacity(chunk.len());
            if body.send_data(chunk.clone(), false).is_err() {
                break;
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(10), grpc_status(response)).await;
        // RESOURCE_EXHAUSTED (8) or OUT_OF_RANGE (11): the length alone
        // is past the limit.
        if let Ok(Some(s)) = &status {
            assert!(s == "8" || s == "11", "grpc-status {s}");
            refused += 1;
        }
        held.push(body);
    }
    assert_eq!(refused, 12, "an oversize call was not refused");
    // A call that declares a legal size and never finishes.
    let started = Instant::now();
    let (response, body) = open_call(&mut send, "/raftkv.Kv/Put", 1000, 10).await;
    let status = tokio::time::timeout(Duration::from_secs(10), grpc_status(response)).await.expect("no answer");
    assert_eq!(status.as_deref(), Some("4"), "an unfinished call was not cut at the deadline (DEADLINE_EXCEEDED)");
    assert!(started.elapsed() < Duration::from_secs(5), "cut after {:?}", started.elapsed());
    drop((held, body));
    let rss = peak_rss_mb(&c, victim);
    eprintln!("twelve 60 MiB calls refused, one unfinished call cut: peak RSS {rss} MB");
    assert!(rss < 256, "peak RSS {rss} MB");
    let mut client = c.client();
    client.put(b"after-oversize", b"1").await.unwrap();
    assert!(alive(&mut c, victim));
}

/// Finding 5: the snapshot limit held per stream, so six held streams
/// from one peer took a node to 993 MB. All streams now share one budget
/// (`--max-snapshot-size`, 64 MiB by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_snapshot_streams_share_one_budget() {
    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let as_leader = ClientTls::load_dir(&c.tls_dir(leader)).unwrap();
    let head = encode(Message {
        msg_type: MessageType::MsgSnapshot as i32,
        from: leader as u64 + 1,
        to: victim as u64 + 1,
        ..Default::default()
    });
    let mb = Bytes::from(vec![7u8; 1 << 20]);
    let mut calls = tokio::task::JoinSet::new();
    let mut holds = Vec::new();
    for _ in 0..6 {
        let mut peer = c.raft_peer(victim, Some(&as_leader)).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel::<SnapshotChunk>(4);
        let (head, mb) = (head.clone(), mb.clone());
        holds.push(tokio::spawn(async move {
            // 60 MiB, never the last chunk; then held open.
            for k in 0..60 {
                let message = if k == 0 { head.clone().into() } else { Bytes::new() };
                if tx.send(SnapshotChunk { message, data: mb.clone(), last: false }).await.is_err() {
                    return;
                }
            }
            tx.closed().await;
        }));
        calls.spawn(async move { peer.snapshot(tokio_stream::wrappers::ReceiverStream::new(rx)).await });
    }
    let mut refused = 0;
    let deadline = Instant::now() + common::DEADLINE;
    while refused < 4 && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), calls.join_next()).await {
            Ok(Some(Ok(Err(s)))) if s.code() == tonic::Code::ResourceExhausted => {
                assert!(s.message().contains("over all streams"), "{s}");
                refused += 1;
            }
            Ok(Some(other)) => panic!("a snapshot stream ended otherwise: {other:?}"),
            Ok(None) | Err(_) => {}
        }
    }
    assert!(refused >= 4, "only {refused} of six 60 MiB streams were refused under a 64 MiB budget");
    let rss = peak_rss_mb(&c, victim);
    eprintln!("six held 60 MiB snapshot streams: {refused} refused, peak RSS {rss} MB");
    assert!(rss < 256, "peak RSS {rss} MB");
    calls.abort_all();
    for h in holds {
        h.abort();
    }
    c.client().put(b"after-snapshots", b"1").await.unwrap();
    assert!(alive(&mut c, victim));
}

/// Finding 6: `append` ignored `--max-value-size`; a key grew to 80 MiB
/// and every read of it then failed, for good. An append that would pass
/// the limit is refused, on every replica alike, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_past_the_value_limit_is_refused_and_changes_nothing() {
    let mut c = Cluster::start(&["--max-value-size", "1000"]);
    c.wait_leader().await;
    let mut client = c.client();
    client.append(b"grows", &[b'a'; 600]).await.unwrap();
    match client.append(b"grows", &[b'b'; 600]).await {
        Err(ClientError::InvalidArgument(m)) => {
            assert!(m.contains("1200 bytes") && m.contains("--max-value-size"), "{m}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(client.get(b"grows").await.unwrap(), Some(vec![b'a'; 600]));
    client.append(b"grows", &[b'c'; 400]).await.unwrap();
    assert_eq!(client.get(b"grows").await.unwrap().map(|v| v.len()), Some(1000));
    // Each replica applied the same refusal.
    let leader = c.wait_leader().await;
    let applied = c.status(leader).await.applied;
    for i in 0..3 {
        c.wait_applied(i, applied).await;
    }
    for i in 0..3 {
        c.kill(i);
        let v = Storage::open(&c.data_dir(i).join("db")).unwrap().kv_get(b"grows").unwrap();
        assert_eq!(v.map(|v| v.len()), Some(1000), "node {}", i + 1);
    }
}

/// Failpoints are set at run time only over a connection with a cluster
/// member's certificate, never by a client; one set to crash stops its
/// node at that step, and the node's log says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failpoint_is_set_only_by_a_member_and_crashes_its_node_at_its_step() {
    use raftkv::client::failpoint::{self, Action};
    use std::os::unix::process::ExitStatusExt as _;

    let mut c = Cluster::start(&[]);
    let leader = c.wait_leader().await;
    let victim = (leader + 1) % 3;
    let addr = c.addrs[victim].clone();
    let crash: Action = "1*crash".parse().unwrap();
    let as_client = c.client_tls().unwrap();
    let err = failpoint::set(&addr, Some(&as_client), "raft-before-persist", Some(&crash)).await.unwrap_err();
    assert!(err.to_string().contains("a cluster member's certificate"), "{err}");
    let member = ClientTls::load_dir(&c.tls_dir(victim)).unwrap();
    let err = failpoint::set(&addr, Some(&member), "raft-after-lunch", Some(&crash)).await.unwrap_err();
    assert!(err.to_string().contains("the points are raft-became-leader, raft-before-send, "), "{err}");
    assert!(alive(&mut c, victim), "a refused request changes nothing");

    let active = failpoint::set(&addr, Some(&member), "raft-before-persist", Some(&crash)).await.unwrap();
    assert_eq!(active, ["raft-before-persist=1*return(crash)"]);
    // The next write reaches the follower's persist step; the leader and
    // the other follower commit it.
    c.client().put(b"through-a-crash", b"1").await.unwrap();
    let status = c.wait_exit(victim).await;
    assert_eq!(status.signal(), Some(6), "aborted (SIGABRT), not {status}");
    assert!(c.log(victim).contains("failpoint: crash"), "{}", c.log(victim));
    // Restarted, it has no failpoint left and catches up.
    c.start_node(victim);
    let applied = c.status(leader).await.applied;
    c.wait_applied(victim, applied).await;
}
