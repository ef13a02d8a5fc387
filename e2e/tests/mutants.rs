//! The mutation suite (`faultline mutants`): every planted bug still applies
//! to the node as it is now, so a refactor cannot quietly retire one; and
//! two cheap mutants go the whole way (scratch worktree, its own build,
//! a run under the quick plan, and one under the txn plan its patch names)
//! and are caught. The second needs root, as every run does (CI is root;
//! without it the test fails rather than skips).

use std::path::{Path, PathBuf};
use std::process::Command;

use report::run_dir::Verdict;
use report::summary::Summary;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `faultline mutants`, from the repository's root (where mutants/ is).
fn mutants() -> Command {
    let mut cmd = Command::new(testkit::bins::path("faultline"));
    cmd.arg("mutants").current_dir(repo());
    cmd
}

#[test]
fn every_mutant_still_applies_to_the_node() {
    let out = mutants().arg("--check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let patches = std::fs::read_dir(repo().join("mutants")).unwrap().count();
    assert!(patches >= 12, "only {patches} mutants");
    assert_eq!(text.lines().filter(|l| l.ends_with(" applies")).count(), patches, "{text}");
}

#[test]
fn a_cheap_mutant_is_built_apart_run_and_caught() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "faultline mutants runs tests, which need root");
    let out_dir = tempfile::tempdir().unwrap();
    let bins = testkit::bins::dir();
    let main_raftkv = std::fs::read(bins.join("raftkv")).expect("the workspace's raftkv is built");
    let out = mutants()
        .args(["--only", "delete-leaves-tombstone", "--plan", "quick", "--seeds", "1", "--time-limit", "15s"])
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the mutant was not caught:\n{text}");
    let summary: Summary =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.groups.len(), 1, "{text}");
    let g = &summary.groups[0];
    assert_eq!((g.name.as_str(), g.runs, g.invalid), ("mutant-delete-leaves-tombstone", 1, 1), "{text}");
    assert!(summary.all(Verdict::Invalid));
    let example = g.example.as_deref().unwrap_or_default();
    assert!(example.contains("read of key"), "{example}");
    // A transaction mutant runs under the txn plan its patch names, and
    // is caught as a cycle of transactions.
    let txn_dir = tempfile::tempdir().unwrap();
    let out = mutants()
        .args(["--only", "txn-not-atomic", "--seeds", "1", "--time-limit", "15s", "--out"])
        .arg(txn_dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the transaction mutant was not caught:\n{text}");
    assert!(text.contains("plan: txn"), "{text}");
    let summary: Summary =
        serde_json::from_slice(&std::fs::read(txn_dir.path().join("summary.json")).unwrap()).unwrap();
    let g = &summary.groups[0];
    assert_eq!((g.name.as_str(), g.runs, g.invalid), ("mutant-txn-not-atomic", 1, 1), "{text}");
    let example = g.example.as_deref().unwrap_or_default();
    assert!(example.contains("T") && example.contains("process"), "no transaction named: {example}");
    // The main binaries are untouched, and no patch is left applied anywhere.
    assert_eq!(std::fs::read(bins.join("raftkv")).unwrap(), main_raftkv, "the main raftkv changed");
    let status =
        Command::new("git").arg("-C").arg(repo()).args(["status", "--porcelain", "--", "node"]).output().unwrap();
    assert!(status.stdout.is_empty(), "{}", String::from_utf8_lossy(&status.stdout));
    let worktrees = Command::new("git").arg("-C").arg(repo()).args(["worktree", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&worktrees.stdout).contains("target/mutants/work"),
        "the scratch worktree was left"
    );
}
