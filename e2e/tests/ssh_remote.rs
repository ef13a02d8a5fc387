//! The SSH Remote, for real: sshd runs inside the local test hosts, with a
//! key generated for this run and a non-root login user with sudo (the
//! layout of Vagrant VMs), and the nemesis drives a real cluster through it.

mod common;

use std::time::Duration;

use cluster::{Cluster, HostSpec};
use common::*;
use nemesis::control::Control;
use nemesis::lifecycle::ProcState;
use nemesis::partition::Grudge;

const USER: &str = "fltssh";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nemesis_drives_a_cluster_through_ssh() {
    let h = TestHosts::up();
    let mut cluster = h.hosts.ssh_up(USER).expect("sshd in the hosts");
    cluster.node_args = h.control.cluster.node_args.clone();
    // The faults below the process go over SSH too.
    cluster.lossy_fs = true;
    cluster.faked_clock = true;
    // The description goes through a file, as `nemesis hosts up --ssh-user` writes it.
    let path = h.dir.path().join("ssh-cluster.json");
    cluster.save(&path).unwrap();
    let control = Control::new(Cluster::load(&path).unwrap()).unwrap();
    assert!(matches!(&control.cluster.nodes[0].host, HostSpec::Ssh { user, .. } if user == USER));

    // Wait until every sshd accepts connections.
    wait_for("sshd in every host", || async {
        let rules = control.rules().await;
        rules.iter().all(|r| r.is_ok())
    })
    .await;
    // The login user is not root; commands run through sudo.
    let who = control.node("n1").unwrap().remote.run("whoami", "id -un", Duration::from_secs(10)).await.unwrap();
    assert_eq!(who.trim(), "root", "sudo did not take effect");

    control.install(&testkit::bins::path("raftkv"), &testkit::bins::dir()).await.expect("install over ssh");
    control.start(&control.names()).await.expect("start over ssh");
    control.wait_for_leader(DEADLINE).await.unwrap();
    let mut client = control.cluster.client(Duration::from_secs(2)).unwrap();
    client.put(b"over", b"ssh").await.unwrap();

    control.kill(&["n1".into()]).await.unwrap();
    assert_eq!(control.node("n1").unwrap().state().await.unwrap(), ProcState::Dead);
    control.pause(&["n2".into()]).await.unwrap();
    assert_eq!(control.node("n2").unwrap().state().await.unwrap(), ProcState::Paused);
    let grudge = Grudge::complete(&[vec!["n3".into()], vec!["n1".into(), "n2".into()]]);
    control.partition(&grudge).await.unwrap();
    assert!(!h.tcp_ok("n3", "n1"));

    let report = control.heal().await;
    assert!(report.is_healed(), "{report}");
    assert!(h.tcp_ok("n3", "n1"));
    for s in control.states().await {
        assert_eq!(s.unwrap(), ProcState::Running);
    }
    control.wait_for_leader(DEADLINE).await.unwrap();
    let log = control.node("n1").unwrap().fetch_log().await.unwrap();
    assert!(!log.is_empty(), "the node log came back empty over ssh");

    // A power failure, a moved clock and a full disk, each healed.
    let lost = control.lose(&control.names(), lossyfs::Loss::Tail, 1).await.expect("lose-unsynced over ssh");
    assert_eq!(lost.len(), 3);
    control.set_clock(&["n2".into()], 3000).await.unwrap();
    assert_eq!(control.node("n2").unwrap().clock().await.unwrap().as_deref(), Some("+3.000"));
    let report = control.heal().await;
    assert!(report.is_healed(), "{report}");
    assert_eq!(control.node("n2").unwrap().clock().await.unwrap().as_deref(), Some("+0.000"));
    control.fill(&["n3".into()], true).await.unwrap();
    assert!(control.node("n3").unwrap().disk_full().await.unwrap(), "n3's disk is not full");
    assert!(control.heal().await.is_healed());
    assert!(!control.node("n3").unwrap().disk_full().await.unwrap(), "the heal did not free n3's disk");
    control.wait_for_leader(DEADLINE).await.unwrap();
    wait_for("the acknowledged write to survive the power failure", || {
        let mut c = control.cluster.client(Duration::from_secs(2)).unwrap();
        async move { c.get(b"over").await.ok().flatten().as_deref() == Some(b"ssh".as_slice()) }
    })
    .await;
    control.stop(&control.names()).await.unwrap();
    let procs = std::process::Command::new("pgrep").args(["-x", "lossyfs"]).output().unwrap();
    assert!(procs.stdout.is_empty(), "lossyfs left running after stop over ssh");

    // An unreachable host is a clear error that names the node.
    let mut bad = cluster.clone();
    if let HostSpec::Ssh { port, .. } = &mut bad.nodes[1].host {
        *port = Some(2222);
    }
    let bad = Control::new(bad).unwrap();
    let err = bad.node("n2").unwrap().state().await.unwrap_err().to_string();
    assert!(err.contains("n2") && err.contains("unreachable"), "{err}");

    h.hosts.down().unwrap();
    let users = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!users.contains(&format!("{USER}:")), "the test user was left behind");
}
