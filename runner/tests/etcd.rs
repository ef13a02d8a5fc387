//! The etcd client (`runner::etcd`) against a real etcd 3.4, Debian's
//! etcd-server (scripts/bootstrap installs it; without it these tests fail
//! rather than skip): every operation, and the error mapping in the cases
//! loopback can make happen.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use raftkv_client::{CasResult, ClientError};
use runner::etcd::EtcdStore;
use runner::store::Store;
use testkit::ports::free_port;
use testkit::servers::{installed, Processes};

/// etcd members on loopback, killed on drop.
struct Members {
    procs: Processes,
    clients: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Members {
    /// Starts `up` of `size` members of one cluster.
    fn start(size: usize, up: usize) -> Members {
        let etcd = installed("etcd");
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}")).collect();
        let mut procs = Vec::new();
        for (i, (c, p)) in ports.iter().enumerate().take(up) {
            let child = Command::new(&etcd)
                .args(["--name", &format!("m{i}"), "--data-dir"])
                .arg(dir.path().join(format!("m{i}")))
                .args(["--listen-client-urls", &format!("http://127.0.0.1:{c}")])
                .args(["--advertise-client-urls", &format!("http://127.0.0.1:{c}")])
                .args(["--listen-peer-urls", &format!("http://127.0.0.1:{p}")])
                .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{p}")])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new", "--log-level", "error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            procs.push(child);
        }
        let clients = ports.iter().map(|(c, _)| format!("127.0.0.1:{c}")).collect();
        Members { procs: Processes(procs), clients, _dir: dir }
    }
}

/// Polls until a write succeeds (the member has elected itself), at most 20 s.
async fn ready(s: &mut EtcdStore) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match s.put(b"ready", b"1").await {
            Ok(()) => return,
            Err(e) => assert!(Instant::now() < deadline, "etcd never served a write: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // poll interval
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_does_what_the_history_will_say() {
    let m = Members::start(1, 1);
    let mut s = EtcdStore::connect(&m.clients[0], Duration::from_secs(5), false).await.unwrap();
    ready(&mut s).await;
    assert_eq!(s.get(b"k").await.unwrap(), None);
    assert_eq!(s.cas(b"k", Some(b"1"), b"2").await.unwrap(), CasResult::Mismatch { current: None });
    assert_eq!(s.cas(b"k", None, b"1").await.unwrap(), CasResult::Swapped);
    assert_eq!(s.cas(b"k", None, b"9").await.unwrap(), CasResult::Mismatch { current: Some(b"1".to_vec()) });
    assert_eq!(s.cas(b"k", Some(b"1"), b"2").await.unwrap(), CasResult::Swapped);
    assert_eq!(s.get(b"k").await.unwrap(), Some(b"2".to_vec()));
    s.put(b"k", b"3").await.unwrap();
    s.delete(b"k").await.unwrap();
    assert_eq!(s.get(b"k").await.unwrap(), None);
    s.append(b"l", b"1,").await.unwrap();
    s.append(b"l", b"2,").await.unwrap();
    assert_eq!(s.get(b"l").await.unwrap(), Some(b"1,2,".to_vec()));
    // Serializable reads see the same data here, with one member.
    let mut ser = EtcdStore::connect(&m.clients[0], Duration::from_secs(5), true).await.unwrap();
    assert_eq!(ser.get(b"l").await.unwrap(), Some(b"1,2,".to_vec()));
}

/// One member of three, its peers gone, loses its leader: etcd then
/// refuses requests (the client asks it to, `require_leader`), so nothing
/// was applied, a definite failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_a_leader_refuses_and_that_is_definite() {
    let mut m = Members::start(3, 3);
    let mut s = EtcdStore::connect(&m.clients[0], Duration::from_secs(2), false).await.unwrap();
    ready(&mut s).await;
    for i in 1..3 {
        m.procs.kill(i);
    }
    // Until its election timeout passes it still thinks it has a leader,
    // and a write just times out.
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        let e = s.put(b"k", b"1").await.unwrap_err();
        if matches!(e, ClientError::Refused(_)) || Instant::now() >= deadline {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // poll interval
    };
    assert!(matches!(err, ClientError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("etcdserver: no leader"), "{err}");
    assert!(err.is_definite());
}

/// Nothing listening: the request was never sent, a definite failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_is_not_there_is_unreachable() {
    let port = free_port();
    let mut s = EtcdStore::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(3), false).await.unwrap();
    let err = s.put(b"k", b"1").await.unwrap_err();
    assert!(err.is_definite(), "{err:?}");
}
