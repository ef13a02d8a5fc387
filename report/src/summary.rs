//! `summary.json` for a folder of runs (a nightly, a detect-unsafe sweep, a
//! mutation suite): every run's verdict, and per configuration (the same
//! run name less its `-sN` seed suffix, node args, faults, workload and time
//! limit, over several seeds) how many runs were caught invalid and how
//! fast. Built from the runs' typed records
//! ([`crate::run_dir`]), so the scripts that drive the runs never touch
//! JSON.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::run_dir::{self, RecordError, TestRecord, Verdict};

/// One run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRow {
    pub name: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_write_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_invalid_s: Option<f64>,
    /// The first failure's explanation, for an invalid run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The system's findings beside the verdict: a node that refused to
    /// start after a crash, a power failure or corruption.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// The run folder, relative to the summarised folder.
    pub dir: PathBuf,
}

/// The runs of one configuration, over seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Group {
    /// The runs' name less the seed suffix: `unsafe-local` for
    /// `unsafe-local-s3`, `mutant-follower-reads` for a mutant's runs.
    pub name: String,
    /// The system under test.
    #[serde(default = "crate::run_dir::raftkv")]
    pub db: String,
    pub node_args: String,
    pub faults: String,
    pub workload: String,
    pub time_limit: String,
    pub runs: usize,
    pub valid: usize,
    pub invalid: usize,
    pub unknown: usize,
    /// Runs whose system failed beyond its history: a panic, a node that
    /// would not come back, a cluster that served no final read.
    #[serde(default)]
    pub node_failed: usize,
    pub broken: usize,
    /// Runs in which a node refused to start (a finding), whatever their
    /// verdict: a mutant that crashes its node on restart shows here.
    #[serde(default)]
    pub refused: usize,
    /// Median time from the start of the workload to the first op that
    /// could not be linearized, over the invalid runs.
    pub median_time_to_invalid_s: Option<f64>,
    /// One invalid run's explanation and report.
    pub example: Option<String>,
    pub rows: Vec<RunRow>,
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub runs: usize,
    /// Every run valid: what a nightly of the safe node must show.
    pub all_valid: bool,
    pub lost_writes: u64,
    pub groups: Vec<Group>,
}

/// Every run folder (holding a test.json) under `root`, at any depth.
fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("test.json").is_file() {
            found.push(dir);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            // Not through links: `latest` points at a run already found.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    found.sort();
    found
}

/// The median of `xs`; none when empty.
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 })
}

/// Summarises every run under `root`.
pub fn summarise(root: &Path) -> Result<Summary, RecordError> {
    let mut groups: Vec<Group> = Vec::new();
    for dir in run_dirs(root) {
        let test: TestRecord = run_dir::read_test(&dir)?;
        let results = run_dir::read_results(&dir)?;
        let run = results.as_ref().and_then(|r| r.run.as_ref());
        let verdict = test.verdict();
        let row = RunRow {
            name: test.name.clone(),
            seed: test.seed,
            verdict,
            exit_code: test.exit_code,
            lost_write_count: run.map(|r| r.lost_write_count as u64),
            time_to_invalid_s: run.and_then(|r| r.time_to_invalid_s).filter(|_| verdict == Verdict::Invalid),
            explanation: results.as_ref().and_then(|r| r.first_explanation()),
            findings: crate::page::findings(&dir)?,
            dir: dir.strip_prefix(root).unwrap_or(&dir).to_path_buf(),
        };
        let name = stem(&test.name);
        let same = |g: &&mut Group| {
            (
                g.name.as_str(),
                g.db.as_str(),
                g.node_args.as_str(),
                g.faults.as_str(),
                g.workload.as_str(),
                g.time_limit.as_str(),
            ) == (
                name,
                test.db.as_str(),
                test.node_args.as_str(),
                test.faults.as_str(),
                test.workload.as_str(),
                test.time_limit.as_str(),
            )
        };
        let g = match groups.iter_mut().find(|g| same(g)) {
            Some(g) => g,
            None => {
                groups.push(Group {
                    name: name.to_string(),
                    db: test.db.clone(),
                    node_args: test.node_args.clone(),
                    faults: test.faults.clone(),
                    workload: test.workload.clone(),
                    time_limit: test.time_limit.clone(),
                    runs: 0,
                    valid: 0,
                    invalid: 0,
                    unknown: 0,
                    node_failed: 0,
                    broken: 0,
                    refused: 0,
                    median_time_to_invalid_s: None,
                    example: None,
                    rows: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        g.runs += 1;
        match verdict {
            Verdict::Valid => g.valid += 1,
            Verdict::Invalid => g.invalid += 1,
            Verdict::Unknown => g.unknown += 1,
            Verdict::NodeFailed => g.node_failed += 1,
            Verdict::Broken | Verdict::Running => g.broken += 1,
        }
        if !row.findings.is_empty() {
            g.refused += 1;
        }
        if g.example.is_none() && verdict == Verdict::Invalid {
            g.example = row
                .explanation
                .as_ref()
                .map(|e| format!("{e} ({}#first-error)", row.dir.join("report.html").display()));
        }
        g.rows.push(row);
    }
    for g in &mut groups {
        g.rows.sort_by_key(|r| r.seed);
        g.median_time_to_invalid_s = median(g.rows.iter().filter_map(|r| r.time_to_invalid_s).collect());
    }
    let runs = groups.iter().map(|g| g.runs).sum();
    // No run at all is not a clean night: runs that broke before writing
    // their records leave nothing to summarise.
    let all_valid = runs > 0 && groups.iter().all(|g| g.valid == g.runs);
    let lost_writes = groups.iter().flat_map(|g| &g.rows).filter_map(|r| r.lost_write_count).sum();
    Ok(Summary { runs, all_valid, lost_writes, groups })
}

/// A run name less its seed suffix: `unsafe-local-s3` → `unsafe-local`.
fn stem(name: &str) -> &str {
    match name.rsplit_once("-s") {
        Some((head, seed)) if !seed.is_empty() && seed.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => name,
    }
}

impl Summary {
    /// Every run ended with `verdict` ([`Verdict::meets`]): all valid for
    /// the safe node, all invalid (or failed nodes) for a mutation suite.
    pub fn all(&self, verdict: Verdict) -> bool {
        self.runs > 0 && self.groups.iter().flat_map(|g| &g.rows).all(|r| r.verdict.meets(verdict))
    }
}

/// The summary as a table for people: one line per configuration, then one
/// example explanation per configuration caught.
pub fn table(s: &Summary) -> String {
    let mut out = String::from("| runs | system | node args | faults | workload | time limit | caught invalid | node failed | valid | unknown | broken | node refused to start | median time to invalid |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for g in &s.groups {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |\n",
            g.name,
            g.db,
            if g.node_args.is_empty() { "(none)" } else { &g.node_args },
            g.faults,
            g.workload,
            g.time_limit,
            g.invalid,
            g.runs,
            g.node_failed,
            g.valid,
            g.unknown,
            g.broken,
            g.refused,
            g.median_time_to_invalid_s.map_or("-".to_string(), |t| format!("{t:.1} s"))
        ));
    }
    for g in s.groups.iter().filter(|g| g.example.is_some()) {
        out.push_str(&format!("{}: {}\n", g.name, g.example.as_deref().unwrap_or_default()));
    }
    out.push_str(&format!(
        "{} runs; {}; {} lost writes\n",
        s.runs,
        if s.runs == 0 {
            "no run left a record"
        } else if s.all_valid {
            "all valid"
        } else {
            "not all valid"
        },
        s.lost_writes
    ));
    out
}

/// Writes ROOT/summary.json; returns the summary.
pub fn write(root: &Path) -> Result<Summary, RecordError> {
    let s = summarise(root)?;
    let path = root.join("summary.json");
    checker::input::write_json(&path, &s).map_err(|source| RecordError::Io { path, source })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_dir::{write_test, RunStatus, NODE_FAILED_EXIT};
    use checker::history::{EventType, OpType, Value};
    use checker::model::ModelName;
    use checker::results::{KeyFailure, OpView, Results, ResultsFile, RunStats, Validity};

    fn run(root: &Path, name: &str, node_args: &str, seed: u64, code: i32, tti: Option<f64>) {
        let dir = root.join(name).join("20260101T000000Z");
        std::fs::create_dir_all(&dir).unwrap();
        let record = TestRecord {
            name: name.into(),
            db: "raftkv".into(),
            timestamp: "20260101T000000Z".into(),
            status: if code == 3 { RunStatus::Broken } else { RunStatus::Done },
            exit_code: Some(code),
            time_limit: "30s".into(),
            faults: "partition".into(),
            workload: "register".into(),
            concurrency: 10,
            rate: 100.0,
            interval: "3s".into(),
            seed,
            cluster: "local test hosts".into(),
            node_args: node_args.into(),
            plan: String::new(),
            plan_run: 0,
            workload_args: String::new(),
            leave_running: false,
            git_commit: "x".into(),
            versions: Default::default(),
            db_arg: String::new(),
            lossy_fs: false,
            insecure: false,
            serializable_reads: false,
            schedule: None,
        };
        write_test(&dir, &record).unwrap();
        let op = OpView {
            process: 0,
            f: OpType::Read,
            kind: EventType::Ok,
            value: Value::Int(2),
            invoke_index: 0,
            complete_index: Some(1),
        };
        let failure = KeyFailure {
            key: Value::Int(1),
            explanation: "read of key 1 returned 2".into(),
            op: op.clone(),
            linearized_prefix: vec![],
            candidate_states: vec![Value::Nil],
            key_ops: vec![op],
        };
        let results = ResultsFile {
            check: Results {
                valid: if code == 1 { Validity::Invalid } else { Validity::Valid },
                model: ModelName::Register,
                summary: String::new(),
                events: 2,
                ops_checked: 1,
                keys_checked: 1,
                invalid_keys: vec![],
                unknown_keys: vec![],
                op_counts: Default::default(),
                check_time_ms: 0.0,
                keys: vec![],
                failures: if code == 1 { vec![failure] } else { vec![] },
            },
            run: Some(RunStats { time_to_invalid_s: tti, ..Default::default() }),
            txn: None,
        };
        checker::input::write_json(&dir.join("results.json"), &results).unwrap();
    }

    /// A folder whose runs all broke before writing their records is not a
    /// clean night.
    #[test]
    fn no_runs_is_neither_all_valid_nor_all_invalid() {
        let root = tempfile::tempdir().unwrap();
        let s = write(root.path()).unwrap();
        assert_eq!(s.runs, 0);
        assert!(!s.all_valid && !s.all(Verdict::Valid) && !s.all(Verdict::Invalid));
        assert!(table(&s).contains("no run left a record"), "{}", table(&s));
    }

    #[test]
    fn runs_group_by_configuration_with_counts_and_median() {
        let root = tempfile::tempdir().unwrap();
        run(root.path(), "unsafe-local-s1", "--read-consistency local", 1, 1, Some(4.0));
        run(root.path(), "unsafe-local-s2", "--read-consistency local", 2, 1, Some(6.0));
        run(root.path(), "unsafe-local-s3", "--read-consistency local", 3, 0, None);
        run(root.path(), "safe-s1", "", 1, 0, None);
        run(root.path(), "safe-s2", "", 2, 3, None);
        let s = write(root.path()).unwrap();
        assert_eq!(s.runs, 5);
        assert!(!s.all_valid);
        let local = s.groups.iter().find(|g| g.node_args == "--read-consistency local").unwrap();
        assert_eq!((local.runs, local.invalid, local.valid), (3, 2, 1));
        assert_eq!(local.median_time_to_invalid_s, Some(5.0));
        assert!(local.example.as_deref().unwrap().starts_with("read of key 1 returned 2 (unsafe-local-s1/"));
        let safe = s.groups.iter().find(|g| g.node_args.is_empty()).unwrap();
        assert_eq!((safe.valid, safe.broken), (1, 1));
        let back: Summary = serde_json::from_slice(&std::fs::read(root.path().join("summary.json")).unwrap()).unwrap();
        assert_eq!(back.runs, 5);
        assert!(table(&s)
            .contains("| unsafe-local | raftkv | --read-consistency local | partition | register | 30s | 2/3 |"));
        assert!(!s.all(Verdict::Valid) && !s.all(Verdict::Invalid));
        assert_eq!(
            (stem("mutant-follower-reads-s10"), stem("e2e"), stem("a-s")),
            ("mutant-follower-reads", "e2e", "a-s")
        );
    }

    /// A node that refused to start is counted beside the verdict, from
    /// the run's nemesis events; a bad events file is an error naming it.
    #[test]
    fn a_node_that_refused_to_start_is_counted_whatever_the_verdict() {
        let root = tempfile::tempdir().unwrap();
        run(root.path(), "mutant-x-s1", "", 1, 0, None);
        run(root.path(), "mutant-x-s2", "", 2, 1, Some(3.0));
        let events = [
            r#"{"time":1,"type":"info","f":"kill","value":{"nodes":["n3"],"label":"kill n3","undo":"restart"}}"#,
            r#"{"time":5,"type":"info","f":"restart","value":{"nodes":["n3"],"label":"kill n3","undo":"restart","refused":true,"why":"panicked"}}"#,
        ];
        let dir = root.path().join("mutant-x-s1/20260101T000000Z");
        std::fs::write(dir.join("nemesis.jsonl"), events.join("\n")).unwrap();
        let s = write(root.path()).unwrap();
        let g = &s.groups[0];
        assert_eq!((g.runs, g.valid, g.invalid, g.refused), (2, 1, 1, 1));
        assert!(g.rows[0].findings[0].ends_with(": panicked"), "{:?}", g.rows[0].findings);
        assert!(g.rows[1].findings.is_empty());
        assert!(table(&s).contains("| 1/2 | 0 | 1 | 0 | 0 | 1 |"), "{}", table(&s));

        // A node failure (exit 4) has its own column, and a mutation suite
        // counts it as caught.
        run(root.path(), "mutant-x-s3", "", 3, NODE_FAILED_EXIT, None);
        let s = write(root.path()).unwrap();
        let g = &s.groups[0];
        assert_eq!((g.runs, g.valid, g.invalid, g.node_failed), (3, 1, 1, 1));
        assert_eq!(g.rows[2].verdict, Verdict::NodeFailed);
        assert!(Verdict::NodeFailed.meets(Verdict::Invalid) && !Verdict::NodeFailed.meets(Verdict::Valid));
        assert!(table(&s).contains("| 1/3 | 1 | 1 | 0 | 0 | 1 |"), "{}", table(&s));

        std::fs::write(dir.join("nemesis.jsonl"), "not json\n").unwrap();
        let err = summarise(root.path()).unwrap_err().to_string();
        assert!(err.contains("nemesis.jsonl") && err.contains("line 1"), "{err}");
    }
}
