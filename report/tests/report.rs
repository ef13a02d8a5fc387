//! report.html and index.html in a real browser: headless Chromium (the
//! Debian package that scripts/bootstrap installs) opens them from disk.
//! The tests assert that the page logged nothing to the console (no error,
//! no uncaught exception) and that the key elements are there, and save a
//! screenshot into the run folder.

use std::path::{Path, PathBuf};

use checker::check::CheckOptions;
use checker::gen::{self, GenOptions};
use checker::input::{check_history, load_history, write_json};
use clap::Parser;
use report::run_dir::{write_test, RunStatus, TestRecord};
use testkit::browser::{assert_clean, open, screenshot};

#[derive(Parser)]
struct Gen {
    #[command(flatten)]
    opts: GenOptions,
}

/// A run folder from a simulated history, checked, with a nemesis file
/// holding one partition and one kill inside the run.
fn fixture(dir: &Path, gen_args: &[&str]) -> PathBuf {
    fixture_checked(dir, gen_args, &CheckOptions::default())
}

fn fixture_checked(dir: &Path, gen_args: &[&str], check: &CheckOptions) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let opts = Gen::parse_from(std::iter::once("gen").chain(gen_args.iter().copied())).opts;
    let events = gen::generate(&opts);
    let mut text = String::new();
    for e in &events {
        text.push_str(&serde_json::to_string(e).unwrap());
        text.push('\n');
    }
    std::fs::write(dir.join("history.jsonl"), &text).unwrap();
    let (t0, t1) = (events.first().map(|e| e.time).unwrap_or(0), events.last().map(|e| e.time).unwrap_or(0));
    let at = |frac: f64| t0 + ((t1 - t0) as f64 * frac) as u64;
    let nemesis = [
        serde_json::json!({"index":0,"time":at(0.1),"process":"nemesis","type":"invoke","f":"start-partition","value":{"shape":"isolate-one"}}),
        serde_json::json!({"index":1,"time":at(0.1),"process":"nemesis","type":"info","f":"start-partition","value":{"grudge":{"n1":["n2","n3"]},"label":"partition n1✕n2+n3","undo":"stop-partition"}}),
        serde_json::json!({"index":2,"time":at(0.3),"process":"nemesis","type":"info","f":"stop-partition","value":{"grudge":{"n1":["n2","n3"]},"label":"partition n1✕n2+n3","undo":"stop-partition"}}),
        serde_json::json!({"index":3,"time":at(0.5),"process":"nemesis","type":"info","f":"kill","value":{"nodes":["n2"],"label":"kill n2","undo":"restart"}}),
        serde_json::json!({"index":4,"time":at(0.7),"process":"nemesis","type":"info","f":"restart","value":{"nodes":["n2"],"label":"kill n2","undo":"restart"}}),
    ];
    let lines: Vec<String> = nemesis.iter().map(|v| v.to_string()).collect();
    std::fs::write(dir.join("nemesis.jsonl"), lines.join("\n") + "\n").unwrap();
    let record = TestRecord {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        db: "raftkv".into(),
        timestamp: "20260101T000000Z".into(),
        status: RunStatus::Done,
        exit_code: None,
        time_limit: "30s".into(),
        faults: "partition,kill".into(),
        workload: "register".into(),
        concurrency: 8,
        rate: 100.0,
        interval: "8s".into(),
        seed: 3,
        cluster: "local test hosts".into(),
        node_args: String::new(),
        plan: "quick".into(),
        plan_run: 0,
        workload_args: String::new(),
        leave_running: false,
        git_commit: "test".into(),
        versions: vec![],
        db_arg: String::new(),
        lossy_fs: false,
        insecure: false,
        serializable_reads: false,
        schedule: None,
    };
    write_test(dir, &record).unwrap();
    let h = load_history(&dir.join("history.jsonl"), None).unwrap();
    let results = check_history(&h, None, check).unwrap();
    write_json(&dir.join("results.json"), &results).unwrap();
    report::render(dir).unwrap()
}

#[test]
fn the_console_check_catches_errors() {
    // The detector itself: a page that throws must not pass as clean.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(&page, "<html><body><script>console.error('boom'); nosuchfunction();</script></body></html>")
        .unwrap();
    let p = open(&page);
    assert!(p.console.iter().any(|l| l.contains("boom")), "{:?}", p.console);
    assert!(p.console.iter().any(|l| l.contains("nosuchfunction")), "{:?}", p.console);
}

#[test]
fn a_valid_run_shows_its_verdict_and_fault_shading() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("valid");
    let page = fixture(&run, &["--ops", "2000", "--processes", "8", "--keys", "4", "--seed", "3"]);
    let p = open(&page);
    assert_clean(&p, "valid report");
    assert!(p.dom.contains(r#"id="verdict" class="verdict valid">VALID"#), "no valid verdict");
    for id in ["latency-plot", "throughput-plot", "timeline"] {
        assert!(p.dom.contains(&format!(r#"id="{id}""#)), "missing #{id}");
    }
    assert!(p.dom.contains(r#"class="fault-window fault-start-partition""#), "no partition shading");
    assert!(p.dom.contains(r#"class="fault-window fault-kill""#), "no kill shading");
    assert!(p.dom.contains("partition n1✕n2+n3"), "no fault label");
    assert!(!p.dom.contains("first-error"));
    screenshot(&page, &run.join("report.png"));
}

#[test]
fn an_invalid_run_proved_without_search_names_the_ops_that_rule_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("invalid");
    let page = fixture(&run, &["--ops", "600", "--processes", "6", "--stale-read", "--seed", "2"]);
    let p = open(&page);
    assert_clean(&p, "invalid report");
    assert!(p.dom.contains(r#"class="verdict invalid">INVALID"#));
    assert!(p.dom.contains(r#"<section class="explanation" id="first-error">"#), "no explanation view");
    assert!(p.dom.contains("Key 0: not linearizable"));
    assert!(p.dom.contains("overwrote") && p.dom.contains("and nothing writes"), "no proof sentence");
    assert!(p.dom.contains(r#"class="kop culprit"#), "the culprit op is not marked");
    screenshot(&page, &run.join("report.png"));
}

#[test]
fn an_invalid_run_explains_the_key_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("invalid");
    // The search alone, so the page shows its prefix and states.
    let search_only = CheckOptions { search_only: true, ..CheckOptions::default() };
    let page =
        fixture_checked(&run, &["--ops", "600", "--processes", "6", "--stale-read", "--seed", "2"], &search_only);
    let p = open(&page);
    assert_clean(&p, "invalid report");
    assert!(p.dom.contains(r#"class="verdict invalid">INVALID"#));
    assert!(p.dom.contains(r##"href="#first-error">Jump to first error"##));
    assert!(p.dom.contains(r#"<section class="explanation" id="first-error">"#), "no explanation view");
    assert!(p.dom.contains("Key 0: not linearizable"));
    assert!(p.dom.contains("but every possible state held"), "no plain-sentence explanation");
    assert!(p.dom.contains(r#"class="kop culprit"#), "the culprit op is not marked");
    assert!(p.dom.contains(r#"class="kop linearized"#), "the linearized prefix is not shown");
    assert!(p.dom.contains("Possible states at that point"));
    screenshot(&page, &run.join("report.png"));
}

#[test]
fn edge_cases_render_without_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 3] = [
        ("empty", ""),
        (
            "first-op-fails",
            concat!(
                r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":1,"value":1}"#,
                "\n",
                r#"{"index":1,"time":20,"process":0,"type":"fail","f":"write","key":1,"value":1,"error":"no leader"}"#,
                "\n",
                r#"{"index":2,"time":30,"process":0,"type":"invoke","f":"read","key":1,"value":null}"#,
                "\n",
                r#"{"index":3,"time":40,"process":0,"type":"ok","f":"read","key":1,"value":null}"#,
                "\n"
            ),
        ),
        (
            "all-info",
            concat!(
                r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":1,"value":1}"#,
                "\n",
                r#"{"index":1,"time":20,"process":1,"type":"invoke","f":"write","key":1,"value":2}"#,
                "\n",
                r#"{"index":2,"time":30,"process":0,"type":"info","f":"write","key":1,"value":1,"error":"timed out"}"#,
                "\n"
            ),
        ),
    ];
    for (name, history) in cases {
        let run = dir.path().join(name);
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("history.jsonl"), history).unwrap();
        let h = load_history(&run.join("history.jsonl"), None).unwrap();
        write_json(&run.join("results.json"), &check_history(&h, None, &CheckOptions::default()).unwrap()).unwrap();
        let page = report::render(&run).unwrap();
        let p = open(&page);
        assert_clean(&p, name);
        assert!(p.dom.contains(r#"id="verdict""#), "{name}: no verdict");
    }
}

#[test]
fn the_index_lists_every_run_with_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let empty = report::index::render(root).unwrap();
    let p = open(&empty);
    assert_clean(&p, "empty index");
    assert!(p.dom.contains(r#"id="no-runs""#));

    fixture(&root.join("register-partition/20260101T000000Z"), &["--ops", "200", "--seed", "1"]);
    fixture(&root.join("register-kill/20260102T000000Z"), &["--ops", "300", "--stale-read", "--seed", "2"]);
    let page = report::index::render(root).unwrap();
    let p = open(&page);
    assert_clean(&p, "index");
    assert_eq!(p.dom.matches(r#"<tr class="run">"#).count(), 2, "{}", p.dom);
    assert!(p.dom.contains(r#"class="verdict valid">valid"#));
    assert!(p.dom.contains(r#"class="verdict invalid">INVALID"#));
    assert!(p.dom.contains(r#"href="register-kill/20260102T000000Z/report.html""#));
    screenshot(&page, &root.join("index.png"));
}
