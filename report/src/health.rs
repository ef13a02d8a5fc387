//! The system's failures beyond its history: a node that panicked, a node
//! that refused to come back after a fault that left its files whole, two
//! nodes that each became leader in the same term, a system that answered
//! a client that it broke an invariant of its own (gRPC INTERNAL), and a
//! cluster that served none of the final reads. Any of them fails a run
//! with a verdict of its own, whatever the checker found in the history: a
//! history is easy to keep valid by serving nothing. (Jepsen scans node
//! logs with its log-file-pattern checker; etcd's robustness suite fails on
//! any panic.)
//!
//! The one excuse is damage: a node whose files the nemesis corrupted is
//! right to refuse them, and to stop, so nothing it does afterwards counts.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::run_dir::{self, RecordError};

/// The run folder's logs that are the rig's, not a node's.
const RIG_LOGS: [&str; 3] = ["run-test.log", "nemesis.log", "checker.log"];

/// Log lines that mean a process died of a bug: Rust's panic, Go's panic
/// and its runtime's fatal errors.
const DEATH_MARKS: [&str; 3] = ["panicked at", "panic: ", "fatal error: "];

/// How a Raft node logs its election, in raft-rs and in etcd's raft alike
/// ("became leader at term 7"), followed by the term.
const LEADER_MARK: &str = "became leader at term ";

/// Log lines kept after a death mark, for the report.
const CONTEXT_LINES: usize = 4;

/// One failure of the system under test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NodeFailure {
    /// The node's log holds a panic.
    Panicked { node: String, log: String },
    /// The nemesis found the node gone while no fault was in force.
    Died { node: String, why: String },
    /// The node died when started again after `after` (a crash, a power
    /// failure: neither damages what was synced), or at the final heal.
    Refused { node: String, after: String, why: String },
    /// Two or more nodes each logged that they became leader in `term`:
    /// Raft's Election Safety (at most one leader per term) is broken, so
    /// each may have committed entries the other overwrote.
    TwoLeaders { term: u64, nodes: Vec<String> },
    /// No key had a successful final read, after the heal and the
    /// recovery wait.
    Unavailable { keys: i64 },
    /// The system answered `count` requests with its own word that it
    /// broke an invariant (gRPC INTERNAL from the server, which a correct
    /// node never sends); `first` holds the first few. A Jepsen analysis
    /// reports a database's internal errors as findings in the same way.
    Internal { count: u64, first: Vec<String> },
}

impl fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeFailure::Panicked { node, log } => write!(f, "{node} panicked: {log}"),
            NodeFailure::Died { node, why } => write!(f, "{node} died on its own, no fault in force: {why}"),
            NodeFailure::Refused { node, after, why } => {
                write!(f, "{node} refused to start after {after}: {why}")
            }
            NodeFailure::TwoLeaders { term, nodes } => write!(
                f,
                "{} each became leader in term {term}: Raft allows one leader per term (Election Safety)",
                nodes.join(" and ")
            ),
            NodeFailure::Unavailable { keys } => write!(
                f,
                "the cluster served none of the final reads ({keys} keys) after the heal and the recovery wait"
            ),
            NodeFailure::Internal { count, first } => write!(
                f,
                "the system answered {count} request{} with an internal error, its own word that it broke an \
                 invariant: {}",
                if *count == 1 { "" } else { "s" },
                first.join("; ")
            ),
        }
    }
}

/// The failures of the system in a run folder: from its nemesis events,
/// its node logs (`NAME.log`, fetched at the end) and its `results.json`.
pub fn node_failures(dir: &Path) -> Result<Vec<NodeFailure>, RecordError> {
    let events = crate::page::nemesis_events(dir)?;
    let damaged = damaged_nodes(&events);
    let mut out = deaths(&events, &damaged);
    out.extend(refusals(&events, &damaged));
    // A node that died or refused to start says why there already.
    let refused: BTreeSet<String> = out.iter().filter_map(NodeFailure::node).map(str::to_string).collect();
    let logs = node_logs(dir, &damaged)?;
    out.extend(panics(&logs).into_iter().filter(|p| p.node().is_some_and(|n| !refused.contains(n))));
    out.extend(two_leaders(&logs));
    let stats = run_dir::read_results(dir)?.and_then(|r| r.run);
    if let Some(s) = stats.as_ref().filter(|s| damaged.is_empty() && s.keys > 0 && s.final_reads_ok == 0) {
        out.push(NodeFailure::Unavailable { keys: s.keys });
    }
    // Not excused by damage: a node that found its files damaged refuses
    // them, and says so; it does not answer a client that it broke itself.
    if let Some(errors) = stats.map(|s| s.internal_errors).filter(|e| !e.is_empty()) {
        out.push(NodeFailure::Internal { count: errors.count, first: errors.first });
    }
    Ok(out)
}

fn names(v: &Json) -> impl Iterator<Item = String> + '_ {
    v.as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_string))
}

/// The nodes some fault damaged.
fn damaged_nodes(events: &[(u64, Json)]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|(_, e)| e["value"]["damages"] == Json::Bool(true))
        .flat_map(|(_, e)| names(&e["value"]["nodes"]))
        .collect()
}

/// Nodes the nemesis found dead between faults.
fn deaths(events: &[(u64, Json)], damaged: &BTreeSet<String>) -> Vec<NodeFailure> {
    events
        .iter()
        .filter(|(_, e)| e["f"] == "died")
        .flat_map(|(_, e)| {
            let why = excerpt(e["value"]["why"].as_str().unwrap_or("(its log said nothing)"));
            names(&e["value"]["nodes"]).map(move |node| NodeFailure::Died { node, why: why.clone() })
        })
        .filter(|f| f.node().is_some_and(|n| !damaged.contains(n)))
        .collect()
}

/// Nodes that refused to start after a fault's restart, or at the heal.
fn refusals(events: &[(u64, Json)], damaged: &BTreeSet<String>) -> Vec<NodeFailure> {
    let mut out = Vec::new();
    for (_, e) in events {
        let v = &e["value"];
        // The heal lists its refusals as `refused`; a fault's restart, as
        // `refusals` beside `refused: true`.
        let (list, after) = match e["f"].as_str() {
            Some("heal") => (&v["refused"], "the final heal"),
            _ => (&v["refusals"], v["after"].as_str().unwrap_or("a crash")),
        };
        for r in list.as_array().into_iter().flatten() {
            let node = r["node"].as_str().unwrap_or("?").to_string();
            if !damaged.contains(&node) {
                let why = excerpt(r["why"].as_str().unwrap_or("(its log said nothing)"));
                out.push(NodeFailure::Refused { node, after: after.to_string(), why });
            }
        }
    }
    out
}

/// The node logs of the run folder (`NAME.log`, not the rig's), by node
/// name, but for the damaged nodes'.
fn node_logs(dir: &Path, damaged: &BTreeSet<String>) -> Result<Vec<(String, String)>, RecordError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => return Err(RecordError::Io { path: dir.into(), source }),
    };
    let mut logs: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !RIG_LOGS.contains(&n)))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for path in logs {
        let node = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        if damaged.contains(&node) {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| RecordError::Io { path: path.clone(), source })?;
        out.push((node, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(out)
}

/// Panics in the node logs.
fn panics(logs: &[(String, String)]) -> Vec<NodeFailure> {
    let mut out = Vec::new();
    for (node, text) in logs {
        let lines: Vec<&str> = text.lines().collect();
        if let Some(i) = lines.iter().position(|l| is_death(l)) {
            let log = lines[i..lines.len().min(i + CONTEXT_LINES)].join("\n");
            out.push(NodeFailure::Panicked { node: node.clone(), log });
        }
    }
    out
}

/// Terms in which more than one node logged that it became leader. A node
/// that leads the same term twice in its log (it was restarted) is one
/// leader.
fn two_leaders(logs: &[(String, String)]) -> Vec<NodeFailure> {
    let mut leaders: std::collections::BTreeMap<u64, BTreeSet<&str>> = Default::default();
    for (node, text) in logs {
        for line in text.lines() {
            let Some(at) = line.find(LEADER_MARK) else { continue };
            let rest = &line[at + LEADER_MARK.len()..];
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if let Ok(term) = rest[..digits].parse::<u64>() {
                leaders.entry(term).or_default().insert(node);
            }
        }
    }
    leaders
        .into_iter()
        .filter(|(_, nodes)| nodes.len() > 1)
        .map(|(term, nodes)| NodeFailure::TwoLeaders { term, nodes: nodes.into_iter().map(str::to_string).collect() })
        .collect()
}

/// Whether a log line marks a death: Rust's mark may follow a thread
/// name; Go's start their line.
fn is_death(line: &str) -> bool {
    DEATH_MARKS.iter().any(|m| if *m == "panicked at" { line.contains(m) } else { line.starts_with(m) })
}

/// What a person needs of a dead node's last log lines: from its panic (a
/// backtrace's frames say less than its message), else the last few.
pub fn excerpt(tail: &str) -> String {
    let lines: Vec<&str> = tail.lines().collect();
    match lines.iter().rposition(|l| is_death(l)) {
        Some(i) => lines[i..lines.len().min(i + CONTEXT_LINES)].join("\n"),
        None => lines[lines.len().saturating_sub(CONTEXT_LINES)..].join("\n"),
    }
}

impl NodeFailure {
    /// The node it names; none for the cluster's.
    pub fn node(&self) -> Option<&str> {
        match self {
            NodeFailure::Panicked { node, .. } | NodeFailure::Died { node, .. } | NodeFailure::Refused { node, .. } => {
                Some(node)
            }
            NodeFailure::TwoLeaders { .. } | NodeFailure::Unavailable { .. } | NodeFailure::Internal { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn event(f: &str, value: Json) -> String {
        serde_json::json!({ "time": 1, "type": "info", "f": f, "value": value }).to_string()
    }

    #[test]
    fn a_panic_or_a_refusal_after_a_kill_fails_the_run_but_damage_excuses_both() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let events = [
            event("kill", serde_json::json!({ "nodes": ["n1"], "label": "kill n1", "undo": "start" })),
            event(
                "start",
                serde_json::json!({ "nodes": ["n1"], "label": "kill n1", "undo": "start", "refused": true,
                    "refusals": [{ "node": "n1", "why": "a\nb\nc\nd\nthread 'main' panicked at x.rs:\napplied(9) is out of range\n  0: frame" }],
                    "after": "a crash", "why": "(all of them)" }),
            ),
            event("corrupt", serde_json::json!({ "nodes": ["n3"], "damages": true, "label": "corrupt n3" })),
            event(
                "restart",
                serde_json::json!({ "nodes": ["n3"], "damages": true, "refused": true,
                    "refusals": [{ "node": "n3", "why": "checksum mismatch" }], "after": "corruption" }),
            ),
            event("heal", serde_json::json!({ "still_broken": [], "refused": [{ "node": "n2", "why": "gone" }] })),
            event("died", serde_json::json!({ "nodes": ["n5"], "why": "x\nERROR the Raft loop stopped: diverged" })),
            event("died", serde_json::json!({ "nodes": ["n3"], "why": "damaged, and right to stop" })),
        ];
        write(d, "nemesis.jsonl", &(events.join("\n") + "\n"));
        write(d, "n1.log", "started\nthread 'raft' panicked at src/raft_log.rs:9:\napplied(9) is out of range\n");
        write(d, "n2.log", "fine\n");
        write(d, "n4.log", "thread 'raft' panicked at src/raft_log.rs:9:\nout of range\n");
        write(d, "n5.log", "thread 'raft' panicked at src/raft_log.rs:9:\nits death's own line\n");
        write(d, "n3.log", "thread 'main' panicked at corrupt\n");
        write(d, "run-test.log", "panicked at (the rig's own log)\n");
        let failures = node_failures(d).unwrap();
        assert_eq!(
            failures,
            [
                NodeFailure::Died { node: "n5".into(), why: "x\nERROR the Raft loop stopped: diverged".into() },
                NodeFailure::Refused {
                    node: "n1".into(),
                    after: "a crash".into(),
                    why: "thread 'main' panicked at x.rs:\napplied(9) is out of range\n  0: frame".into()
                },
                NodeFailure::Refused { node: "n2".into(), after: "the final heal".into(), why: "gone".into() },
                // n1's panic is its refusal's; n3's files were damaged.
                NodeFailure::Panicked {
                    node: "n4".into(),
                    log: "thread 'raft' panicked at src/raft_log.rs:9:\nout of range".into()
                },
            ]
        );
    }

    fn results(dir: &Path, keys: i64, final_reads_ok: u64) {
        results_with(dir, checker::results::RunStats { keys, final_reads_ok, ..Default::default() });
    }

    fn results_with(dir: &Path, stats: checker::results::RunStats) {
        use checker::model::ModelName;
        use checker::results::{Results, ResultsFile, Validity};
        let results = ResultsFile {
            check: Results {
                valid: Validity::Valid,
                model: ModelName::Register,
                summary: String::new(),
                events: 0,
                ops_checked: 0,
                keys_checked: 0,
                invalid_keys: vec![],
                unknown_keys: vec![],
                op_counts: Default::default(),
                check_time_ms: 0.0,
                keys: vec![],
                failures: vec![],
            },
            run: Some(stats),
            txn: None,
        };
        checker::input::write_json(&dir.join("results.json"), &results).unwrap();
    }

    #[test]
    fn a_cluster_that_serves_no_final_read_fails_the_run_unless_damage_explains_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        results(d, 11, 0);
        assert_eq!(node_failures(d).unwrap(), [NodeFailure::Unavailable { keys: 11 }]);
        results(d, 11, 1);
        assert_eq!(node_failures(d).unwrap(), []);
        results(d, 11, 0);
        let corrupt = event("corrupt", serde_json::json!({ "nodes": ["n1"], "damages": true }));
        write(d, "nemesis.jsonl", &(corrupt + "\n"));
        assert_eq!(node_failures(d).unwrap(), []);
    }

    #[test]
    fn an_internal_error_answered_to_a_client_fails_the_run_even_beside_damage() {
        use checker::results::{InternalErrors, RunStats};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut errors = InternalErrors::default();
        for i in 0..5 {
            errors.add(format!("cas of key {i}: internal error: n3:7001: cas at index {i} applied as another command"));
        }
        results_with(d, RunStats { keys: 4, final_reads_ok: 4, internal_errors: errors.clone(), ..Default::default() });
        let corrupt = event("corrupt", serde_json::json!({ "nodes": ["n1"], "damages": true }));
        write(d, "nemesis.jsonl", &(corrupt + "\n"));
        let failures = node_failures(d).unwrap();
        assert_eq!(failures, [NodeFailure::Internal { count: 5, first: errors.first.clone() }]);
        assert_eq!(errors.first.len(), InternalErrors::KEPT);
        let said = failures[0].to_string();
        assert!(said.starts_with("the system answered 5 requests with an internal error"), "{said}");
        assert!(said.contains("cas of key 0: internal error: n3:7001: cas at index 0 applied as another command; "));
        results(d, 4, 4);
        assert_eq!(node_failures(d).unwrap(), []);
    }

    #[test]
    fn two_leaders_in_one_term_fail_the_run_but_one_leader_twice_or_a_damaged_node_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let raft_rs = |term: u64, id: u64| {
            format!("2026-12-03T08:51:15Z  INFO raft: became leader at term {term} term={term} raft_id={id}\n")
        };
        write(d, "n1.log", &(raft_rs(2, 1) + &raft_rs(5, 1)));
        write(d, "n2.log", &(raft_rs(3, 2) + "restarted\n" + &raft_rs(3, 2) + &raft_rs(5, 2)));
        // etcd's raft logs the same words, inside its JSON.
        write(d, "n3.log", "{\"level\":\"info\",\"msg\":\"8e9e05c52164694d became leader at term 2\"}\n");
        // A node the nemesis corrupted is excused whatever it does.
        write(d, "n4.log", &raft_rs(5, 4));
        let damage = serde_json::json!({ "damages": true, "nodes": ["n4"] });
        write(d, "nemesis.jsonl", &(event("corrupt", damage) + "\n"));
        let failures = node_failures(d).unwrap();
        assert_eq!(
            failures,
            [
                NodeFailure::TwoLeaders { term: 2, nodes: vec!["n1".into(), "n3".into()] },
                NodeFailure::TwoLeaders { term: 5, nodes: vec!["n1".into(), "n2".into()] },
            ]
        );
        assert_eq!(
            failures[1].to_string(),
            "n1 and n2 each became leader in term 5: Raft allows one leader per term (Election Safety)"
        );
    }

    #[test]
    fn a_go_panic_counts_and_a_quiet_run_has_no_failure() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "etcd1.log", "{\"level\":\"info\"}\npanic: runtime error: index out of range\n\ngoroutine 1\n");
        write(d, "etcd2.log", "{\"msg\":\"panic: not at the start of the line\"}\n");
        let failures = node_failures(d).unwrap();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].to_string().starts_with("etcd1 panicked: panic: runtime error"), "{}", failures[0]);
    }
}
