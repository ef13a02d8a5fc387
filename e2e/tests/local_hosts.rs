//! The nemesis against real local test hosts and a real 3-node raftkv
//! cluster: hosts up and down, partitions, kills, pauses, leader isolation,
//! pause-isolate, an interrupted run, a node that dies whole, and bad
//! input.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::*;
use nemesis::faults::{Cut, FailpointSet, Fault, FaultKind, Partitioned, PauseIsolate, PausedIsolated, RELEAD_CYCLES};
use nemesis::lifecycle::ProcState;
use nemesis::partition::{Grudge, Shape};
use rand::SeedableRng;

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hosts_come_up_and_go_down() {
    let h = TestHosts::up();
    // Idempotent: a second `up` changes nothing and fails nothing.
    h.hosts.up().unwrap();
    assert!(h.hosts.are_up());
    assert!(ip(&["route", "show"]).contains(&format!("blackhole {SUBNET} metric 4000")));
    for i in 1..=3 {
        let ns = h.hosts.namespace(i);
        let addrs = ip(&["-n", &ns, "addr", "show", "dev", "eth0"]);
        assert!(addrs.contains(&format!("10.77.9.1{i}/24")), "{ns}: {addrs}");
        assert!(ip(&["-n", &ns, "link", "show", "lo"]).contains("UP"), "{ns}: loopback is down");
    }
    // The control side (the bridge address) is reachable from every host.
    let listener = TcpListener::bind("10.77.9.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for i in 1..=3 {
        assert!(tcp_from_namespace(&h.hosts.namespace(i), "10.77.9.1", port), "n{i} cannot reach the control side");
    }

    h.hosts.down().unwrap();
    h.hosts.down().unwrap();
    assert!(!h.hosts.are_up());
    assert!(!ip(&["netns", "list"]).contains("flt-n"));
    assert!(!ip(&["link", "show"]).contains("flt-"));
    // The blackhole stays, so the subnet never routes off the machine.
    assert!(ip(&["route", "show"]).contains(&format!("blackhole {SUBNET}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_blocks_tcp_between_isolated_hosts_and_heal_restores_it() {
    let h = TestHosts::up();
    h.start_cluster().await;
    assert!(h.tcp_ok("n1", "n2") && h.tcp_ok("n2", "n3"));

    let grudge = Grudge::complete(&[vec!["n1".into()], vec!["n2".into(), "n3".into()]]);
    h.control.partition(&grudge).await.unwrap();
    assert!(!h.tcp_ok("n1", "n2"), "n1 still reaches n2");
    assert!(!h.tcp_ok("n3", "n1"), "n3 still reaches n1");
    assert!(h.tcp_ok("n2", "n3"), "the majority side lost its link");
    // The control side still reaches the isolated node.
    let mut c = h.client_of(vec![], Duration::from_secs(2));
    c.status_of(&format!("{}:{PORT}", h.address("n1"))).await.expect("control side reaches n1");

    let report = h.control.heal().await;
    assert!(report.is_healed(), "{report}");
    assert!(h.tcp_ok("n1", "n2") && h.tcp_ok("n3", "n1"));
    for rules in h.control.rules().await {
        assert!(rules.unwrap().is_empty());
    }
    // Our chain is gone, not just emptied.
    let out = Command::new("ip").args(["netns", "exec", &h.namespace("n1"), "iptables", "-S"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("FAULTLINE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_restart_pause_and_resume_act_on_real_nodes() {
    let h = TestHosts::up();
    h.start_cluster().await;
    let mut client = h.client(Duration::from_secs(2));
    client.put(b"k", b"1").await.unwrap();

    h.control.kill(&["n2".into()]).await.unwrap();
    assert_eq!(h.state("n2").await, ProcState::Dead);
    client.put(b"k", b"2").await.expect("a majority still commits");

    h.control.start(&["n2".into()]).await.unwrap();
    assert_eq!(h.state("n2").await, ProcState::Running);
    let n2 = format!("{}:{PORT}", h.address("n2"));
    wait_for("n2 to catch up", || {
        let n2 = n2.clone();
        let mut c = h.client_of(vec![], Duration::from_millis(500));
        async move { matches!(c.status_of(&n2).await, Ok(s) if s.applied >= 3) }
    })
    .await;

    h.control.pause(&["n3".into()]).await.unwrap();
    assert_eq!(h.state("n3").await, ProcState::Paused);
    let n3 = format!("{}:{PORT}", h.address("n3"));
    let mut c = h.client_of(vec![], Duration::from_millis(500));
    assert!(c.status_of(&n3).await.is_err(), "a paused node answered");
    h.control.resume(&["n3".into()]).await.unwrap();
    assert_eq!(h.state("n3").await, ProcState::Running);
    wait_for("n3 to answer again", || {
        let n3 = n3.clone();
        let mut c = h.client_of(vec![], Duration::from_millis(500));
        async move { c.status_of(&n3).await.is_ok() }
    })
    .await;

    // Kill all; a heal restarts them, from disk.
    h.control.kill(&h.control.names()).await.unwrap();
    for n in h.control.names() {
        assert_eq!(h.state(&n).await, ProcState::Dead);
    }
    let report = h.control.heal().await;
    assert!(report.is_healed(), "{report}");
    h.control.wait_for_leader(DEADLINE).await.unwrap();
    let mut client = h.client(Duration::from_secs(2));
    wait_for("the value to survive a kill of every node", || {
        let mut client = h.client(Duration::from_secs(2));
        async move { client.get(b"k").await.ok().flatten().as_deref() == Some(b"2".as_slice()) }
    })
    .await;
    client.put(b"k", b"3").await.unwrap();

    // A deliberate stop is not undone by a heal.
    h.control.stop(&["n1".into()]).await.unwrap();
    assert_eq!(h.state("n1").await, ProcState::Stopped);
    assert!(h.control.heal().await.is_healed());
    assert_eq!(h.state("n1").await, ProcState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_the_leader_elects_a_new_leader_on_the_majority_side() {
    let h = TestHosts::up();
    let old = h.start_cluster().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let applied = Cut(Shape::IsolateLeader).apply(&h.control, &mut rng).await.unwrap();
    let value = applied.value().to_string();
    assert!(value.contains(&old), "the grudge {value} does not isolate the leader {old}");

    wait_for("a new leader on the majority side", || async { matches!(h.control.leader().await, Some(l) if l != old) })
        .await;
    let majority: Vec<String> =
        h.control.cluster.nodes.iter().filter(|n| n.name != old).map(|n| n.endpoint()).collect();
    let mut client = h.client_of(majority, Duration::from_secs(2));
    client.put(b"after", b"isolation").await.expect("the majority side commits");

    assert!(h.control.heal().await.is_healed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deaf_leader_loses_office_to_a_node_that_still_hears_it() {
    let h = TestHosts::up();
    let old = h.start_cluster().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let deaf = FaultKind::named("deaf-leader").unwrap().choose(&mut rng);
    let applied = deaf.apply(&h.control, &mut rng).await.unwrap();
    let Partitioned(grudge) = applied.downcast().expect("a partition");
    // Only the old leader drops packets, and it drops every other node's.
    assert_eq!(grudge.0.keys().collect::<Vec<_>>(), [&old], "{grudge}");
    assert_eq!(grudge.0[&old].len(), 2, "{grudge}");
    // Hearing no acknowledgement, it cannot keep office: check-quorum
    // deposes it, and the others, no longer sent heartbeats once TCP
    // stalls, elect one of their own.
    wait_for("a new leader among the nodes that still hear each other", || async {
        matches!(h.control.leader().await, Some(l) if l != old)
    })
    .await;
    for other in h.control.names().into_iter().filter(|n| *n != old) {
        assert!(!h.tcp_ok(&old, &other), "{old} still hears {other}");
    }
    applied.undo(&h.control).await.unwrap();
    assert!(h.control.heal().await.is_healed());
    for other in h.control.names().into_iter().filter(|n| *n != old) {
        assert!(h.tcp_ok(&old, &other), "the heal did not give {old} its hearing of {other} back");
    }
}

/// `clients` clients putting to one key each until aborted.
fn keep_writing(h: &TestHosts, clients: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let endpoints: Vec<String> = h.control.cluster.nodes.iter().map(|n| n.endpoint()).collect();
    (0..clients)
        .map(|c| {
            let mut client = h.client_of(endpoints.clone(), Duration::from_secs(2));
            tokio::spawn(async move {
                for i in 0u64.. {
                    let _ = client.put(format!("k{c}").as_bytes(), &i.to_be_bytes()).await;
                }
            })
        })
        .collect()
}

/// Every node runs, no rule is left, and a heal finds nothing to do.
async fn assert_every_node_back(h: &TestHosts) {
    for n in h.control.names() {
        assert_eq!(h.state(&n).await, ProcState::Running, "{n}");
    }
    assert!(h.control.rules().await.into_iter().all(|r| r.unwrap().is_empty()), "a rule was left");
    assert!(h.control.heal().await.is_healed());
}

/// `failpoint-cut` against live nodes under writes: a follower stalls at
/// `raft-before-persist`, then dies there (its log says both), the leader
/// is killed and cut off, the follower is back; the undo restarts the
/// leader, and every node runs with no rule left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failpoint_cut_crashes_a_follower_before_its_write_and_the_undo_brings_every_node_back() {
    let h = TestHosts::up();
    let leader = h.start_cluster().await;
    // Writes, so the follower has new entries to write.
    let writes = keep_writing(&h, 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let fault = FaultKind::named("failpoint-cut").unwrap().choose(&mut rng);
    let applied = fault.apply(&h.control, &mut rng).await.unwrap();
    let set: &FailpointSet = applied.downcast().expect("a failpoint");
    assert!(set.crashed && set.point == "raft-before-persist", "{set:?}");
    assert_eq!(set.killed.as_deref(), Some(leader.as_str()), "{set:?}");
    assert_ne!(set.node, leader);
    assert!(applied.label().starts_with(&format!("failpoint raft-before-persist 1*crash {}", set.node)));
    let log = h.control.node(&set.node).unwrap().fetch_log().await.unwrap();
    let stall = log.find(r#"failpoint="raft-before-persist" action=1*sleep(150)"#).expect("the stall was set");
    let crash = log.find(r#"failpoint="raft-before-persist" action=1*crash"#).expect("the crash was set");
    assert!(stall < crash && log.contains("failpoint: crash (abort)"), "{log}");
    assert_eq!(h.state(&leader).await, ProcState::Dead, "the leader was not killed");
    assert_eq!(h.state(&set.node).await, ProcState::Running, "the crashed follower is not back");

    let end = applied.undo(&h.control).await.unwrap();
    assert!(end.get("refused").is_none(), "{end}");
    writes.iter().for_each(|w| w.abort());
    assert_every_node_back(&h).await;
}

/// `failpoint-relead` against live nodes under writes: the other follower
/// is cut off, the leader and its partner start again, the first of them
/// to lead dies at `raft-leader-before-persist` (its log says so); when
/// the other led next the cycle is made again on the same two (three cycles in all);
/// the undo brings every node back with no rule left. The other led next
/// in 26 of 27 applications measured (the stall comes after the new
/// leader's first append has left, so its pile goes to a follower out of
/// probe), but an election is still a race: the fault gets three tries to
/// show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failpoint_relead_crashes_the_first_new_leader_and_the_other_leads_on_its_entries() {
    let h = TestHosts::up();
    h.start_cluster().await;
    // Writes from many clients, so each new leader has entries to pile up.
    let writes = keep_writing(&h, 8);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut led_next = false;
    for _ in 0..3 {
        let leader = h.control.wait_for_leader(Duration::from_secs(10)).await.unwrap();
        let fault = FaultKind::named("failpoint-relead").unwrap().choose(&mut rng);
        let applied = fault.apply(&h.control, &mut rng).await.unwrap();
        let set: &FailpointSet = applied.downcast().expect("a failpoint");
        assert!(set.crashed && set.point == "raft-leader-before-persist", "{set:?}");
        let first = set.cycles.first().expect("a cycle whose first leader died");
        let next = set.killed.clone().expect("the other restarted node");
        assert_ne!(set.node, next);
        let pair = [set.node.as_str(), next.as_str()];
        assert!(set.cycles.iter().all(|c| pair.contains(&c.died.as_str()) && pair.contains(&c.next.as_str())));
        let outsider = h.control.names().into_iter().find(|n| !pair.contains(&n.as_str())).unwrap();
        assert_ne!(outsider, leader, "the old leader was not one of the two restarted");
        let log = h.control.node(&set.node).unwrap().fetch_log().await.unwrap();
        assert!(log.contains("failpoint: crash (abort)"), "{log}");
        assert!(!h.tcp_ok(&outsider, &next), "the other follower was not cut off");
        let then = if first.next_led { "led" } else { "did not lead" };
        let label = applied.label();
        let opening =
            format!("failpoint raft-leader-before-persist 1*crash {}, then {} {then}", first.died, first.next);
        assert!(label.starts_with(&opening), "{label}");
        assert!(label.ends_with(&format!(", cut {}", set.cut.as_ref().unwrap().label())), "{label}");
        // The cycles go on while the other leads next: all of them, or up
        // to one in which it did not, or one in which no one died (which
        // the label says).
        let last = set.cycles.last().unwrap();
        let stopped = !last.next_led || label.contains("; then neither led and crashed");
        assert!(set.cycles.len() == RELEAD_CYCLES || stopped, "{label}");
        if set.next_led == Some(true) {
            assert_eq!(h.control.leader().await.as_deref(), Some(next.as_str()));
        }
        led_next |= set.cycles.iter().any(|c| c.next_led);
        let end = applied.undo(&h.control).await.unwrap();
        assert!(end.get("refused").is_none(), "{end}");
        assert_every_node_back(&h).await;
        if led_next {
            break;
        }
    }
    writes.iter().for_each(|w| w.abort());
    assert!(led_next, "in three tries the other node never led after the first died");
}

/// `failpoint-rejoin` against live nodes under writes: the leader is cut
/// off while it takes its clients' writes, the cut is healed once another
/// node leads, and the old leader dies right after writing the new
/// leader's entries over its own (its log says both). The undo restarts
/// it, and a correct node comes back on that log (raftkv checks it at
/// start). Whether the old leader took a write of its own while cut off
/// is the clients' timing, so the fault gets three tries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failpoint_rejoin_crashes_the_old_leader_after_it_overwrites_its_suffix_and_it_comes_back() {
    let h = TestHosts::up();
    h.start_cluster().await;
    let writes = keep_writing(&h, 8);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut crashed = false;
    for _ in 0..3 {
        let leader = h.control.wait_for_leader(Duration::from_secs(10)).await.unwrap();
        let fault = FaultKind::named("failpoint-rejoin").unwrap().choose(&mut rng);
        let applied = fault.apply(&h.control, &mut rng).await.unwrap();
        let set: &FailpointSet = applied.downcast().expect("a failpoint");
        assert_eq!((set.point, set.node.as_str()), ("raft-after-overwrite", leader.as_str()), "{set:?}");
        let elected = set.rejoin.as_ref().and_then(|r| r.elected.clone()).expect("another node led");
        assert_ne!(elected, leader);
        assert!(set.cut.is_none(), "the cut was not healed: {set:?}");
        let label = applied.label();
        let then = if set.crashed { "crashed rejoining" } else { "not reached" };
        assert_eq!(
            label,
            format!("failpoint raft-after-overwrite 1*crash {leader}, cut off until {elected} led, {then}")
        );
        if set.crashed {
            let log = h.control.node(&leader).unwrap().fetch_log().await.unwrap();
            let replaced = log.find("a new leader's entries replaced the end of the log").expect("an overwrite");
            assert!(log[replaced..].contains("failpoint: crash (abort)"), "{log}");
        }
        crashed |= set.crashed;
        let end = applied.undo(&h.control).await.unwrap();
        assert!(end.get("refused").is_none(), "{end}");
        assert_every_node_back(&h).await;
        if crashed {
            break;
        }
    }
    writes.iter().for_each(|w| w.abort());
    assert!(crashed, "in three tries the old leader never wrote over entries of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_isolate_resumes_the_old_leader_behind_a_cut_after_a_new_election() {
    let h = TestHosts::up();
    let old = h.start_cluster().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let applied = PauseIsolate.apply(&h.control, &mut rng).await.unwrap();
    assert!(matches!(applied.downcast(), Some(PausedIsolated { node, .. }) if *node == old), "{applied:?}");
    assert_eq!(h.state(&old).await, ProcState::Running, "the old leader was left paused");
    let new = h.control.leader().await.expect("a leader on the majority side");
    assert_ne!(new, old, "the fault ended before the others elected a new leader");
    for other in h.control.names().into_iter().filter(|n| *n != old) {
        assert!(!h.tcp_ok(&old, &other), "{old} still reaches {other}");
    }
    applied.undo(&h.control).await.unwrap();
    assert!(h.control.heal().await.is_healed());
    assert!(h.tcp_ok(&old, &new), "the heal did not reconnect {old} and {new}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_interrupted_by_sigint_leaves_no_rule_and_no_paused_node() {
    let h = TestHosts::up();
    h.start_cluster().await;
    for (faults, mark) in [("partition", "start-partition"), ("pause", "pause")] {
        let events = h.dir.path().join(format!("{faults}.jsonl"));
        let mut child = Command::new(testkit::bins::path("nemesis"))
            .args(["run", "--faults", faults, "--interval", "1s", "--duration", "120s", "--seed", "5"])
            .arg("--cluster")
            .arg(&h.cluster_path)
            .arg("--events")
            .arg(&events)
            .spawn()
            .unwrap();
        // Wait for the fault to be in force.
        let in_force = format!(r#""f":"{mark}","#);
        wait_for("the fault to be applied", || {
            let text = read(&events);
            let found = text.lines().any(|l| l.contains(&in_force) && l.contains(r#""type":"info""#));
            async move { found }
        })
        .await;
        let broken = if faults == "partition" {
            h.control.rules().await.into_iter().any(|r| !r.unwrap().is_empty())
        } else {
            h.control.states().await.into_iter().any(|s| s.unwrap() == ProcState::Paused)
        };
        assert!(broken, "{faults}: the fault is logged but not in force");

        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = std::time::Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(std::time::Instant::now() < deadline, "nemesis did not exit after SIGINT");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.code(), Some(130), "{faults}: exit status {status:?}");
        for (n, (rules, state)) in
            h.control.names().iter().zip(h.control.rules().await.into_iter().zip(h.control.states().await))
        {
            assert!(rules.unwrap().is_empty(), "{faults}: {n} still has rules");
            assert_eq!(state.unwrap(), ProcState::Running, "{faults}: {n}");
        }
        let log = read(&events);
        let last = log.lines().last().unwrap();
        assert!(last.contains(r#""f":"heal""#) && last.contains(r#""type":"info""#), "{last}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_node() {
    let h = TestHosts::up();
    // Nothing installed yet: the binary is missing on every host.
    let err = h.control.start(&["n2".into()]).await.unwrap_err().to_string();
    assert!(err.contains("n2") && err.contains("missing"), "{err}");

    let err = h.control.kill(&["n9".into()]).await.unwrap_err().to_string();
    assert!(err.contains("n9") && err.contains("n1, n2, n3"), "{err}");

    let err = h
        .control
        .install(std::path::Path::new("/nonexistent/raftkv"), std::path::Path::new("/nonexistent"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/raftkv"), "{err}");

    // A host whose namespace is gone.
    h.hosts.down().unwrap();
    let err = h.control.pause(&["n1".into()]).await.unwrap_err().to_string();
    assert!(err.contains("n1") && err.contains("flt-n1") && err.contains("does not exist"), "{err}");
    let report = h.control.heal().await;
    assert!(!report.is_healed());
    assert!(report.to_string().contains("n3"), "{report}");
}

/// A node that panics ends whole, so the nemesis sees it dead, not
/// running; and a heal brings it back. No peer message makes a node panic
/// any more (admission refuses what raft-rs would panic on), so the nodes
/// are asked for one with the hidden `--panic-after`: all three, 8 s after
/// each start, which leaves the heal 8 s to find them running again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_panics_is_seen_dead_and_a_heal_brings_it_back() {
    let h = TestHosts::up_with(|c| c.node_args.extend(["--panic-after".to_string(), "8s".to_string()]));
    h.start_cluster().await;
    for name in h.control.names() {
        let node = h.control.node(&name).unwrap();
        wait_for("the nemesis to see the node dead", || async { node.state().await.ok() == Some(ProcState::Dead) })
            .await;
    }
    let report = h.control.heal().await;
    assert!(report.is_healed(), "{report}");
    for name in h.control.names() {
        assert_eq!(h.state(&name).await, ProcState::Running, "{name}");
    }
}
