//! `checker run` end to end: against a real 3-node raftkv cluster, against
//! deliberately broken servers, killed mid-run, and given bad input.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checker::check::CheckOptions;
use checker::history::{EventType, OpType};
use checker::results::Validity;
use runner::txn::TxnOptions;
use runner::workload::{Workload, WorkloadOptions};
use runner::{RunError, RunOptions};
use testkit::mock_kv::{self, Behaviour};
use testkit::ports::free_port;

const DEADLINE: Duration = Duration::from_secs(30);

fn options(endpoints: Vec<String>, workload: Workload, out: &Path) -> RunOptions {
    RunOptions {
        endpoints,
        store: runner::store::StoreKind::Raftkv { tls: None },
        workload,
        mix: WorkloadOptions { active_keys: 4, ops_per_key: 60, ..Default::default() },
        txn: TxnOptions::default(),
        concurrency: 6,
        rate: 0.0,
        duration: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        recovery_wait: Duration::from_millis(100),
        final_read_deadline: Duration::from_secs(10),
        connect_deadline: Duration::from_secs(10),
        seed: 1,
        out: out.to_path_buf(),
        force: false,
        check: CheckOptions::default(),
        progress: false,
    }
}

async fn mock(behaviour: Behaviour) -> Vec<String> {
    let addr = mock_kv::spawn("127.0.0.1:0".parse().unwrap(), behaviour).await.unwrap();
    vec![addr.to_string()]
}

/// Three raftkv processes on loopback, killed on drop.
struct Nodes {
    procs: Vec<Child>,
    addrs: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Nodes {
    fn start() -> Nodes {
        let dir = tempfile::tempdir().unwrap();
        let addrs: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let peers = addrs.iter().enumerate().map(|(i, a)| format!("{}={a}", i + 1)).collect::<Vec<_>>().join(",");
        let procs = (0..3)
            .map(|i| {
                Command::new(testkit::bins::path("raftkv"))
                    .args(["serve", "--insecure", "--id", &(i + 1).to_string(), "--peers", &peers])
                    .arg("--data-dir")
                    .arg(dir.path().join(format!("n{}", i + 1)))
                    .args(["--tick-interval", "50ms", "--log-level", "warn"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        Nodes { procs, addrs, _dir: dir }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_cluster_without_faults_is_valid_with_every_op_type() {
    let nodes = Nodes::start();
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(nodes.addrs.clone(), Workload::Register, dir.path());
    o.duration = Duration::from_secs(3);
    let out = runner::run(o).await.unwrap();
    assert_eq!(out.results.valid, Validity::Valid, "{}", out.results.summary);
    let count = |f: OpType, t: EventType| out.stats.counts.get(&f).and_then(|c| c.get(&t)).copied().unwrap_or(0);
    for f in [OpType::Read, OpType::Write, OpType::Cas] {
        let ok = count(f, EventType::Ok);
        assert!(ok >= 20, "only {ok} ok {f} ops: {:?}", out.stats.counts);
    }
    // Cas mismatches happen, and are recorded as fail.
    assert!(count(OpType::Cas, EventType::Fail) > 0, "{:?}", out.stats.counts);
    assert!(out.stats.final_reads_missing.is_empty());
    // Real replicated writes take real time: the percentiles are measured,
    // ordered, and below the per-op timeout.
    let l = &out.stats.latency_ms;
    assert!(l.p50 > 0.01 && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max && l.max < 1000.0, "{l:?}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true);
    assert!(results["run"]["ops"].as_u64().unwrap() > 100);

    // A fresh cluster: the register run's values are not lists.
    drop(nodes);
    let nodes = Nodes::start();
    let dir = tempfile::tempdir().unwrap();
    let out = runner::run(options(nodes.addrs.clone(), Workload::ListAppend, dir.path())).await.unwrap();
    assert_eq!(out.results.valid, Validity::Valid, "{}", out.results.summary);
    assert_eq!(out.stats.lost_write_count, 0);
    assert!(out.stats.counts[&OpType::Append][&EventType::Ok] > 20);

    // Both kinds of key in one run: every call of the API, each key
    // checked against its own model.
    drop(nodes);
    let nodes = Nodes::start();
    let dir = tempfile::tempdir().unwrap();
    let out = runner::run(options(nodes.addrs.clone(), Workload::Mixed, dir.path())).await.unwrap();
    assert_eq!(out.results.valid, Validity::Valid, "{}", out.results.summary);
    assert!(out.results.summary.contains("register and list-append models"), "{}", out.results.summary);
    for f in [OpType::Read, OpType::Write, OpType::Cas, OpType::Delete, OpType::Append] {
        assert!(out.stats.counts.get(&f).is_some_and(|c| c.get(&EventType::Ok).copied().unwrap_or(0) > 0), "no ok {f}");
    }
    assert_eq!(out.stats.lost_write_count, 0);
}

/// Transactions through raftkv's Txn: atomic and in log order, so the
/// history is strict serializable; every acknowledged append is read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_cluster_s_transactions_are_strict_serializable() {
    let nodes = Nodes::start();
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(nodes.addrs.clone(), Workload::TxnAppend, dir.path());
    o.mix.active_keys = 3;
    o.duration = Duration::from_secs(3);
    let out = runner::run(o).await.unwrap();
    assert_eq!(out.results.valid, Validity::Valid, "{}", out.results.summary);
    let t = out.txn.as_ref().expect("a txn run has an isolation check");
    assert!(t.ok > 100 && t.summary().starts_with("VALID under strict-serializable"), "{}", t.summary());
    assert!(out.stats.counts[&OpType::Txn][&EventType::Ok] > 100, "{:?}", out.stats.counts);
    assert!(out.stats.final_reads_missing.is_empty() && out.stats.final_reads_ok > 3, "{:?}", out.stats);
    assert_eq!(out.stats.lost_write_count, 0);
    // results.json holds the verdict and the whole isolation check, which
    // `checker txn` gives alike from the history.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true);
    assert_eq!(results["txn"]["model"], "strict-serializable");
    assert_eq!(results["txn"]["txns"].as_u64(), Some(t.txns as u64));

    // rw-register: Put micro-ops of unique values, reads of single values.
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(nodes.addrs.clone(), Workload::TxnRwRegister, dir.path());
    o.mix.active_keys = 3;
    let out = runner::run(o).await.unwrap();
    assert_eq!(out.results.valid, Validity::Valid, "{}", out.results.summary);
    let t = out.txn.as_ref().unwrap();
    assert!(t.ok > 50, "{}", t.summary());
    assert!(out.stats.final_reads_missing.is_empty(), "{:?}", out.stats);
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    assert!(history.contains(r#"["w","#) && !history.contains(r#"["append","#), "not a rw-register history");
}

/// A transaction whose read of one key is stale (the mock's broken key)
/// is caught and named as an anomaly, with the transactions involved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_inside_transactions_is_an_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(mock(Behaviour::StaleReads).await, Workload::TxnAppend, dir.path());
    o.mix.active_keys = 3;
    let out = runner::run(o).await.unwrap();
    assert_eq!(out.results.valid, Validity::Invalid, "{}", out.results.summary);
    let t = out.txn.unwrap();
    assert!(!t.prohibited.is_empty() && !t.anomalies.is_empty(), "{}", t.summary());
    assert!(out.stats.time_to_invalid_s.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_are_invalid_and_the_explanation_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = runner::run(options(mock(Behaviour::StaleReads).await, Workload::Register, dir.path())).await.unwrap();
    assert_eq!(out.results.valid, Validity::Invalid, "{}", out.results.summary);
    let f = &out.results.failures[0];
    assert_eq!(f.key.to_string(), "2", "{}", f.explanation);
    assert!(f.explanation.contains("key 2"), "{}", f.explanation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_then_dropped_write_is_invalid_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = runner::run(options(mock(Behaviour::LostWrite).await, Workload::Register, dir.path())).await.unwrap();
    assert_eq!(out.results.valid, Validity::Invalid, "{}", out.results.summary);
    assert!(out.results.failures.iter().all(|f| f.key.to_string() == "2"));

    // In list-append the dropped append also shows as a lost write.
    let dir = tempfile::tempdir().unwrap();
    let out = runner::run(options(mock(Behaviour::LostWrite).await, Workload::ListAppend, dir.path())).await.unwrap();
    assert_eq!(out.results.valid, Validity::Invalid, "{}", out.results.summary);
    assert_eq!(out.stats.lost_writes.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert!(out.stats.lost_write_count >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_checker_leaves_a_history_that_checks() {
    let endpoints = mock(Behaviour::Correct).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(testkit::bins::path("checker"))
        .args(["run", "--endpoints", &endpoints[0], "--rate", "0", "--duration", "60s", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let history = dir.path().join("history.jsonl");
    let deadline = Instant::now() + DEADLINE;
    while std::fs::read(&history).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0) < 2000 {
        assert!(Instant::now() < deadline, "the history did not grow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let status = Command::new(testkit::bins::path("checker")).arg("check").arg(&history).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_is_recorded() {
    // Nothing listens on this port.
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(vec![format!("127.0.0.1:{}", free_port())], Workload::Register, dir.path());
    o.connect_deadline = Duration::from_millis(500);
    let err = runner::run(o).await.err().expect("an unreachable cluster is an error");
    assert!(matches!(err, RunError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert!(!dir.path().join("history.jsonl").exists(), "something was recorded");

    // An existing history is never overwritten without --force.
    std::fs::write(dir.path().join("history.jsonl"), "{}\n").unwrap();
    let err = runner::run(options(mock(Behaviour::Correct).await, Workload::Register, dir.path())).await.err().unwrap();
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap(), "{}\n");

    let out = Command::new(testkit::bins::path("checker"))
        .args(["run", "--endpoints", "nohost", "--out", "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOST:PORT"));
}

/// A system with no Rust client, through an external adapter: the example
/// Python adapter drives raftkv through its command line, and the run
/// comes out valid with every op type answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_adapter_drives_a_real_cluster_validly() {
    let nodes = Nodes::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let through_adapter = |workload, out: &Path| {
        let mut o = options(nodes.addrs.clone(), workload, out);
        o.store = runner::store::StoreKind::Adapter {
            program: vec![
                "python3".into(),
                repo.join("adapters/raftkv-cli.py").to_string_lossy().into_owned(),
                testkit::bins::path("raftkv").to_string_lossy().into_owned(),
            ],
        };
        o.duration = Duration::from_secs(4);
        o.concurrency = 3;
        o.rate = 60.0;
        o.timeout = Duration::from_secs(5);
        o
    };
    let out = runner::run(through_adapter(Workload::Register, dir.path())).await.unwrap();
    assert_eq!(out.results.valid, Validity::Valid, "{}", out.results.summary);
    let count = |f: OpType, t: EventType| out.stats.counts.get(&f).and_then(|c| c.get(&t)).copied().unwrap_or(0);
    for f in [OpType::Read, OpType::Write] {
        assert!(count(f, EventType::Ok) >= 5, "too few ok {f} ops: {:?}", out.stats.counts);
    }
    assert!(out.stats.final_reads_missing.is_empty());

    // Transactions too, through `raftkv txn`.
    let dir = tempfile::tempdir().unwrap();
    let out = runner::run(through_adapter(Workload::TxnAppend, dir.path())).await.unwrap();
    assert_eq!(out.results.valid, Validity::Valid, "{}", out.results.summary);
    let t = out.txn.unwrap();
    assert!(t.ok >= 5, "{}", t.summary());
    assert!(out.stats.final_reads_missing.is_empty() && out.stats.lost_write_count == 0);
}

/// An adapter that breaks the protocol: a line that is no answer, or no
/// answer at all within the timeout, is an unknown outcome (never a
/// definite one), and the adapter is restarted for the next op. One that
/// cannot be started never received the op: definite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_breaks_the_protocol_gives_unknown_outcomes() {
    use raftkv_client::ClientError;
    use runner::adapter::AdapterStore;
    use runner::store::Store;

    let eps = vec!["127.0.0.1:1".to_string()];
    let bash = |script: &str| vec!["bash".to_string(), "-c".to_string(), script.to_string()];
    let mut garbage = AdapterStore::new(bash("while read -r l; do echo nope; done"), &eps[0], &eps, DEADLINE);
    let e = garbage.put(b"k", b"1").await.unwrap_err();
    assert!(matches!(e, ClientError::Unknown(_)) && e.to_string().contains("\"nope\""), "{e:?}");
    let mut silent = AdapterStore::new(bash("sleep 30"), &eps[0], &eps, Duration::from_millis(300));
    assert!(matches!(silent.put(b"k", b"1").await.unwrap_err(), ClientError::Timeout(_)));
    // The environment names the endpoint; an answer with the request's id
    // is taken (the restarted adapter counts ids on from the runner's).
    let echo = r#"while read -r l; do id=${l#*\"id\":}; id=${id%%,*}; echo "{\"id\":$id,\"type\":\"ok\",\"value\":\"$FAULTLINE_ENDPOINT\"}"; done"#;
    let mut ok = AdapterStore::new(bash(echo), &eps[0], &eps, DEADLINE);
    assert_eq!(ok.get(b"k").await.unwrap(), Some(b"127.0.0.1:1".to_vec()));
    assert_eq!(ok.get(b"k").await.unwrap(), Some(b"127.0.0.1:1".to_vec()));
    let mut missing = AdapterStore::new(vec!["/nonexistent/adapter".into()], &eps[0], &eps, DEADLINE);
    let e = missing.put(b"k", b"1").await.unwrap_err();
    assert!(e.is_definite(), "{e:?}");
}
