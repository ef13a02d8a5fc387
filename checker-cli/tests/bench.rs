//! `checker bench`: each case runs in a child process and comes back as a
//! serde record with a verdict the generator guarantees.

use checker::bench::CaseResult;

#[test]
fn bench_runs_each_case_in_a_child_and_every_verdict_is_right() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_checker"))
        .args(["bench", "--max-ops", "3000", "--time-limit", "60s", "--out"])
        .arg(&out)
        .output()
        .expect("checker bench runs");
    let table = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{table}\n{}", String::from_utf8_lossy(&run.stderr));
    let results: Vec<CaseResult> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    // 20 processes, 3,000 ops, 2% info: both models, valid and stale.
    assert_eq!(results.len(), 4, "{table}");
    for r in &results {
        assert!(r.correct(), "{r:?}");
        assert!(r.peak_rss_mb > 0.0 && r.ops_checked > 0, "{r:?}");
        assert!(table.contains(&format!("| {} | {} |", r.case.processes, r.case.ops)), "{table}");
    }
    assert!(results.iter().any(|r| r.verdict == "invalid") && results.iter().any(|r| r.verdict == "valid"));
}
