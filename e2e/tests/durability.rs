//! The faults that reach below the process: a power failure through the
//! lossyfs data dirs (lose-unsynced), random packet loss, and clocks moved
//! through the clock shim, on the real local test hosts. Root only.

mod common;

use std::time::Duration;

use common::{wait_for, TestHosts, DEADLINE};
use lossyfs::Loss;
use nemesis::faults::{
    ClockIsolate, Corrupt, Corrupted, DropPackets, Fault, FillDisk, MoveClocks, PacketsDropped, Target,
};
use nemesis::lifecycle::ProcState;
use nemesis::partition::Shape;
use rand::SeedableRng;

fn lossy(extra: &'static [&'static str]) -> impl FnOnce(&mut cluster::Cluster) {
    move |c| {
        c.lossy_fs = true;
        c.node_args.extend(extra.iter().map(|s| s.to_string()));
    }
}

/// No lossyfs daemon and no FUSE mount anywhere on the machine.
fn nothing_mounted() -> Result<(), String> {
    let procs = std::process::Command::new("pgrep").args(["-x", "lossyfs"]).output().unwrap();
    if !procs.stdout.is_empty() {
        return Err(format!("lossyfs still running: {}", String::from_utf8_lossy(&procs.stdout)));
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    match mounts.lines().find(|l| l.contains("lossyfs")) {
        Some(l) => Err(format!("mount left: {l}")),
        None => Ok(()),
    }
}

async fn value_of(h: &TestHosts, key: &[u8]) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut c = h.client(Duration::from_secs(2));
        match c.get(key).await {
            Ok(v) => return v,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "no read answered within {DEADLINE:?}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_failure_keeps_what_a_safe_node_synced_and_leaves_no_mount_behind() {
    let h = TestHosts::up_with(lossy(&[]));
    h.start_cluster().await;
    let mut client = h.client(Duration::from_secs(2));
    for i in 0..20u32 {
        client.put(format!("k{i}").as_bytes(), b"v").await.unwrap();
    }
    let all = h.control.names();
    for loss in [Loss::Tail, Loss::Torn] {
        let lost = h.control.lose(&all, loss, 7).await.expect("lose-unsynced");
        assert_eq!(lost.len(), 3);
        for n in &all {
            assert_eq!(h.state(n).await, ProcState::Dead, "{n} stays down until the heal");
        }
        // What the node never synced is gone (RocksDB's info LOG at least),
        // and the report names it.
        assert!(lost.iter().all(|(_, r)| r.files.iter().any(|f| f.bytes_lost > 0)), "{lost:?}");
        let report = h.control.heal().await;
        assert!(report.is_healed(), "{report}");
        h.control.wait_for_leader(DEADLINE).await.unwrap();
        for i in 0..20u32 {
            let v = value_of(&h, format!("k{i}").as_bytes()).await;
            assert_eq!(v.as_deref(), Some(b"v".as_slice()), "k{i} was acknowledged, so synced, and is gone ({loss})");
        }
    }
    h.control.stop(&all).await.unwrap();
    nothing_mounted().unwrap();
    h.control.wipe(&all).await.unwrap();
    for n in &all {
        let data = &h.control.node(n).unwrap().spec.data_dir;
        assert!(!data.exists(), "{} left after wipe", data.display());
        assert!(!data.with_extension("disk").exists(), "the backing dir of {n} left after wipe");
    }
}

/// A lossyfs daemon of a test's own, killed and its mount detached
/// however the test ends.
struct Unmounted {
    daemon: std::process::Child,
    mount: std::path::PathBuf,
}

impl Drop for Unmounted {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A file rewritten through a write-only handle (`O_WRONLY|O_TRUNC`, as
/// Go's `os.WriteFile` and so nats-server's Raft state do) is journaled
/// like any other write: the rewrite succeeds, and a power failure before
/// its fsync brings back the synced content.
#[test]
fn a_file_rewritten_write_only_is_lost_to_a_power_failure_until_synced() {
    common::require_root();
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let (backing, mount, socket) = (dir.path().join("b"), dir.path().join("m"), dir.path().join("s"));
    std::fs::create_dir_all(&backing).unwrap();
    std::fs::create_dir_all(&mount).unwrap();
    let lossyfs = testkit::bins::path("lossyfs");
    let daemon = std::process::Command::new(&lossyfs)
        .args(["mount", "--backing"])
        .arg(&backing)
        .arg("--mountpoint")
        .arg(&mount)
        .arg("--socket")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Unmounted { daemon, mount: mount.clone() };
    let mounted = || std::fs::read_to_string("/proc/mounts").unwrap().contains(mount.to_str().unwrap());
    let deadline = std::time::Instant::now() + DEADLINE;
    while !mounted() {
        assert!(std::time::Instant::now() < deadline, "lossyfs never mounted");
        std::thread::sleep(Duration::from_millis(20)); // poll interval
    }
    let f = mount.join("tav.idx");
    std::fs::write(&f, b"synced").unwrap();
    std::fs::File::open(&f).unwrap().sync_all().unwrap();
    std::fs::File::open(&mount).unwrap().sync_all().unwrap(); // its directory entry too
    std::fs::write(&f, b"never synced").expect("a write-only rewrite of an existing file");
    assert_eq!(std::fs::read(&f).unwrap(), b"never synced");
    let lose = std::process::Command::new(&lossyfs).arg("lose").arg("--socket").arg(&socket).output().unwrap();
    assert!(lose.status.success(), "{}", String::from_utf8_lossy(&lose.stderr));
    assert!(daemon.daemon.wait().unwrap().success());
    assert_eq!(std::fs::read(backing.join("tav.idx")).unwrap(), b"synced");
    nothing_mounted().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsynced_wal_survives_a_kill_but_not_a_power_failure() {
    let h = TestHosts::up_with(lossy(&["--unsafe-wal-no-sync"]));
    h.start_cluster().await;
    let mut client = h.client(Duration::from_secs(2));
    client.put(b"k", b"1").await.unwrap();
    let all = h.control.names();

    // A kill loses nothing: the page cache (here, lossyfs) keeps the writes.
    h.control.kill(&all).await.unwrap();
    assert!(h.control.heal().await.is_healed());
    h.control.wait_for_leader(DEADLINE).await.unwrap();
    assert_eq!(value_of(&h, b"k").await.as_deref(), Some(b"1".as_slice()), "a kill lost an acknowledged write");

    client.put(b"k", b"2").await.unwrap();
    let lost = h.control.lose(&all, Loss::Tail, 1).await.unwrap();
    assert!(lost.iter().all(|(_, r)| r.files.iter().any(|f| f.path.ends_with(".log") && f.bytes_lost > 0)));
    assert!(h.control.heal().await.is_healed());
    h.control.wait_for_leader(DEADLINE).await.unwrap();
    assert_ne!(
        value_of(&h, b"k").await.as_deref(),
        Some(b"2".as_slice()),
        "the acknowledged write was never synced, yet survived a power failure"
    );
    h.control.stop(&all).await.unwrap();
    nothing_mounted().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lose_unsynced_without_lossyfs_data_dirs_is_refused_naming_the_fix() {
    let h = TestHosts::up();
    h.start_cluster().await;
    let err = h.control.lose(&["n1".into()], Loss::Tail, 0).await.unwrap_err().to_string();
    assert!(err.contains("--lossy-fs"), "{err}");
    assert_eq!(h.state("n1").await, ProcState::Running, "a refused fault must not touch the node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_loss_drops_a_share_of_packets_and_heal_removes_the_rules() {
    let h = TestHosts::up();
    h.start_cluster().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let fault = DropPackets { shape: Shape::IsolateOne, percent: 50 };
    let applied = fault.apply(&h.control, &mut rng).await.unwrap();
    let PacketsDropped { grudge, percent } = applied.downcast().expect("packets dropped");
    assert_eq!(*percent, 50);
    let rules: Vec<String> = h.control.rules().await.into_iter().flat_map(|r| r.unwrap()).collect();
    let dropped: usize = grudge.0.values().map(|d| d.len()).sum();
    assert_eq!(rules.len(), dropped, "one rule per dropped source: {rules:?}");
    for r in &rules {
        assert!(r.contains("--mode random") && r.contains("--probability 0.5"), "{r}");
    }
    // Half the packets still pass: the cluster keeps serving, however slowly.
    let mut client = h.client(Duration::from_secs(5));
    wait_for("a write under 50% packet loss", || {
        let mut c = h.client(Duration::from_secs(5));
        async move { c.put(b"k", b"v").await.is_ok() }
    })
    .await;
    applied.undo(&h.control).await.unwrap();
    let left: Vec<String> = h.control.rules().await.into_iter().flat_map(|r| r.unwrap()).collect();
    assert!(left.is_empty(), "rules left after the undo: {left:?}");
    client.put(b"k", b"w").await.unwrap();
}

fn faked_clock(c: &mut cluster::Cluster) {
    c.faked_clock = true;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_clock_is_set_back_stops_ticking_and_loses_its_lead_until_healed() {
    let h = TestHosts::up_with(faked_clock);
    let old = h.start_cluster().await;
    let node = h.control.node(&old).unwrap();
    // The node runs under the clock shim, its clock read from its file.
    let pid = std::fs::read_to_string(&node.spec.pid_file).unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", pid.trim())).unwrap();
    assert!(String::from_utf8_lossy(&environ).contains("libclockshim.so"), "no clock shim preload");
    assert_eq!(node.clock().await.unwrap().as_deref(), Some("+0.000"));

    // Set back 15 s, its timers stall: no heartbeats, so the others elect.
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let fault = MoveClocks {
        target: Target::Node(old.clone()),
        fault: nemesis::clock::ClockFault::Bump { offset_ms: -15_000 },
    };
    let applied = fault.apply(&h.control, &mut rng).await.unwrap();
    assert_eq!(node.clock().await.unwrap().as_deref(), Some("-15.000"));
    let status = h.control.status().await;
    let row = status.iter().find(|s| s.name == old).unwrap();
    assert_eq!(row.clock.as_ref().unwrap().as_deref(), Some("-15.000"), "status shows the offset");
    wait_for("another node to lead", || async { h.control.leader().await.is_some_and(|l| l != old) }).await;

    // A heal resets every clock; a stopped node keeps no clock file.
    let report = h.control.heal().await;
    assert!(report.is_healed(), "{report}");
    assert_eq!(node.clock().await.unwrap().as_deref(), Some("+0.000"));
    assert_eq!(applied.undo_f(), "reset-clock");
    let all = h.control.names();
    h.control.stop(&all).await.unwrap();
    for n in &all {
        assert_eq!(h.control.node(n).unwrap().clock().await.unwrap(), None, "{n} kept a clock file");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_faults_without_the_clock_shim_are_refused_naming_the_fix() {
    let h = TestHosts::up();
    h.start_cluster().await;
    let err = h.control.set_clock(&["n1".into()], 1000).await.unwrap_err().to_string();
    assert!(err.contains("--faked-clock"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_and_loses_nothing_once_freed() {
    let h = TestHosts::up_with(lossy(&[]));
    h.start_cluster().await;
    let mut client = h.client(Duration::from_secs(2));
    client.put(b"k", b"before").await.unwrap();
    let all = h.control.names();
    let applied = FillDisk(Target::All).apply(&h.control, &mut rand::rngs::StdRng::seed_from_u64(1)).await.unwrap();
    let status = h.control.status().await;
    assert!(status.iter().all(|s| s.disk_full == Ok(true)), "status shows every disk full");
    // No write can be acknowledged while no node can persist it.
    let mut c = h.client(Duration::from_secs(1));
    assert!(c.put(b"k", b"during").await.is_err(), "a write was acknowledged on full disks");
    let value = applied.undo(&h.control).await.unwrap();
    assert_eq!(value["nodes"].as_array().unwrap().len(), 3);
    for n in &all {
        assert_eq!(h.state(n).await, ProcState::Running, "{n} is back once its disk is free");
    }
    h.control.wait_for_leader(DEADLINE).await.unwrap();
    let v = value_of(&h, b"k").await;
    assert!(matches!(v.as_deref(), Some(b"before") | Some(b"during")), "{v:?}");
    wait_for("a write after the disk is freed", || {
        let mut c = h.client(Duration::from_secs(2));
        async move { c.put(b"k", b"after").await.is_ok() }
    })
    .await;
    assert!(h.control.heal().await.is_healed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_node_either_serves_or_refuses_and_a_refusal_is_reported_not_broken() {
    let h = TestHosts::up();
    h.start_cluster().await;
    let mut client = h.client(Duration::from_secs(2));
    for i in 0..50u32 {
        client.put(format!("k{i}").as_bytes(), b"v").await.unwrap();
    }
    use nemesis::corrupt::Corruption;
    for (seed, how) in [(1, Corruption::TruncateTail), (2, Corruption::FlipBits), (3, Corruption::ZeroRange)] {
        let fault = Corrupt { target: Target::Node("n2".into()), how };
        let applied = fault.apply(&h.control, &mut rand::rngs::StdRng::seed_from_u64(seed)).await.unwrap();
        let Corrupted { damage, .. } = applied.downcast().expect("a corruption");
        assert_eq!(damage.how, how);
        let value = applied.undo(&h.control).await.unwrap();
        let refused = value["refused"] == serde_json::json!(true);
        if refused {
            assert_eq!(h.state("n2").await, ProcState::Stopped, "a refusing node is left stopped");
            assert!(!value["why"].as_str().unwrap().is_empty(), "its log says why");
            assert!(h.control.heal().await.is_healed(), "a refusal is not a rig failure");
        } else {
            assert_eq!(h.state("n2").await, ProcState::Running);
        }
        // The cluster as a whole keeps every acknowledged write.
        for i in 0..50u32 {
            assert_eq!(value_of(&h, format!("k{i}").as_bytes()).await.as_deref(), Some(b"v".as_slice()), "{damage}");
        }
        if refused {
            eprintln!("n2 refused after {damage}: {}", value["why"]);
            break;
        }
        eprintln!("n2 recovered from {damage}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_isolate_leaves_an_old_leader_that_still_leads_behind_the_cut_until_undone() {
    let h = TestHosts::up_with(faked_clock);
    let old = h.start_cluster().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let applied = ClockIsolate { offset_ms: -12_000 }.apply(&h.control, &mut rng).await.unwrap();
    let new = h.control.leader().await.expect("a leader");
    let status = h.control.status().await;
    let role_of = |n: &str| status.iter().find(|s| s.name == n).and_then(|s| s.role.clone());
    assert_ne!(new, old, "the others elected a new leader");
    // Its timers stalled, so check-quorum has not demoted it: two leaders.
    assert_eq!(role_of(&old).as_deref(), Some("leader"), "the old leader still believes it leads");
    assert_eq!(h.control.node(&old).unwrap().clock().await.unwrap().as_deref(), Some("-12.000"));

    let value = applied.undo(&h.control).await.unwrap();
    assert_eq!(value["offset_ms"], -12_000);
    assert_eq!(h.control.node(&old).unwrap().clock().await.unwrap().as_deref(), Some("+0.000"));
    let rules: Vec<String> = h.control.rules().await.into_iter().flat_map(|r| r.unwrap()).collect();
    assert!(rules.is_empty(), "{rules:?}");
    wait_for("one leader again", || async {
        let s = h.control.status().await;
        s.iter().filter(|n| n.role.as_deref() == Some("leader")).count() == 1
    })
    .await;
}
