//! `checker check` as a command: several files in one run, a line per
//! file, a total line, and the worst exit code.

/// A Jepsen console log (tab-separated, as older Jepsen prints it) and a
/// JSON Lines history checked by one `checker check`: a line per file in
/// the order given, a total line, and the worst exit code.
#[test]
fn several_files_and_a_jepsen_log_in_one_check() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("etcd.log");
    std::fs::write(
        &log,
        "INFO  jepsen.core - Worker 0 starting\n\
         INFO  jepsen.util - 0\t:invoke\t:write\t3\n\
         INFO  jepsen.util - 0\t:ok\t:write\t3\n\
         INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]\n\
         INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n\
         INFO  jepsen.util - 2   :invoke :read   nil\n\
         INFO  jepsen.util - 2   :ok     :read   3\n",
    )
    .unwrap();
    let stale = dir.path().join("stale.jsonl");
    std::fs::write(
        &stale,
        concat!(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}"#,
            "\n",
            r#"{"index":1,"time":10,"process":0,"type":"ok","f":"write","key":1,"value":1}"#,
            "\n",
            r#"{"index":2,"time":20,"process":1,"type":"invoke","f":"read","key":1,"value":null}"#,
            "\n",
            r#"{"index":3,"time":30,"process":1,"type":"ok","f":"read","key":1,"value":2}"#,
            "\n",
        ),
    )
    .unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_checker")).arg("check").arg(&log).arg(&stale).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(lines[0].starts_with(&format!("{}: valid: 3 ops", log.display())), "{stdout}");
    assert!(lines[1].starts_with(&format!("{}: INVALID", stale.display())), "{stdout}");
    assert!(lines[2].starts_with("2 files: 1 valid, 1 invalid, 0 unknown, 0 unusable; checking took "), "{stdout}");
}

/// Numbers out of range are refused by name before anything runs: NaN
/// rates, memory limits that would wrap, weights whose sum would overflow.
#[test]
fn numbers_out_of_range_are_refused_naming_the_option() {
    let refused = |args: &[&str], want: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_checker")).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for w in want {
            assert!(err.contains(w), "{args:?}: {err}");
        }
    };
    refused(&["gen", "--info-rate", "NaN"], &["--info-rate", "\"NaN\" is not a fraction from 0 to 1"]);
    refused(&["gen", "--read-rate", "1.5"], &["--read-rate", "from 0 to 1"]);
    refused(&["check", "--memory-limit-mb", "18014398509481984", "x.jsonl"], &["--memory-limit-mb", "1..=1048576"]);
    let run = ["run", "--endpoints", "127.0.0.1:1", "--out", "/nonexistent"];
    refused(&[&run[..], &["--ops-per-key", "18446744073709551615"]].concat(), &["--ops-per-key", "1..=10000000"]);
    refused(&[&run[..], &["--reads", "4294967295"]].concat(), &["--reads", "0..=1000"]);
}

/// `checker run` on a cluster of a system described by commands takes its
/// client from the description, and one that names none is refused, with
/// what to do, before anything is recorded.
#[test]
fn a_system_described_by_commands_without_an_adapter_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<serde_json::Value> = (1..=3)
        .map(|i| {
            serde_json::json!({
                "id": i, "name": format!("n{i}"), "address": "127.0.0.1", "port": 7000 + i,
                "host": {"kind": "netns", "namespace": format!("x-n{i}")},
                "data_dir": format!("/x/n{i}/data"), "log_file": format!("/x/n{i}/log"),
                "pid_file": format!("/x/n{i}/pid"), "binary": format!("/x/n{i}/mykv"),
            })
        })
        .collect();
    let cluster = serde_json::json!({
        "name": "t", "nodes": nodes,
        "db": {"command": {"name": "mykv", "binary": "/x/mykv", "start": ["{binary}", "--id", "{id}"]}},
    });
    let file = dir.path().join("cluster.json");
    std::fs::write(&file, cluster.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_checker"))
        .args(["run", "--cluster"])
        .arg(&file)
        .args(["--duration", "1s", "--out"])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("its system mykv names no client adapter (db.adapter); give one with --adapter"),
        "{stderr}"
    );
    assert!(!dir.path().join("run").exists(), "a refused run left a folder");
}

/// `checker txn`: exit 0 for a valid history, 1 for an invalid one with
/// the anomaly explained, 3 for bad input naming the line.
#[test]
fn transaction_histories_are_judged_by_model_and_bad_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let checker = || std::process::Command::new(env!("CARGO_BIN_EXE_checker"));
    let valid = dir.path().join("valid.jsonl");
    let out = checker().args(["txn-gen", "--txns", "500", "--seed", "4"]).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&valid, &out.stdout).unwrap();
    let run = checker().arg("txn").arg(&valid).output().unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{text}");
    assert!(text.contains("VALID under strict-serializable: 500 transactions, no anomaly"), "{text}");

    // Write skew: two transactions each read the key the other appends to.
    let skew = dir.path().join("skew.jsonl");
    let lines = [
        r#"{"process":0,"type":"invoke","f":"txn","value":[["r",1,null],["append",2,1]]}"#,
        r#"{"process":1,"type":"invoke","f":"txn","value":[["r",2,null],["append",1,1]]}"#,
        r#"{"process":0,"type":"ok","f":"txn","value":[["r",1,[]],["append",2,1]]}"#,
        r#"{"process":1,"type":"ok","f":"txn","value":[["r",2,[]],["append",1,1]]}"#,
        r#"{"process":2,"type":"invoke","f":"txn","value":[["r",1,null],["r",2,null]]}"#,
        r#"{"process":2,"type":"ok","f":"txn","value":[["r",1,[1]],["r",2,[1]]]}"#,
    ];
    std::fs::write(&skew, lines.join("\n")).unwrap();
    let si = checker().arg("txn").arg(&skew).args(["--model", "snapshot-isolation"]).output().unwrap();
    assert_eq!(si.status.code(), Some(0), "{}", String::from_utf8_lossy(&si.stdout));
    let results = dir.path().join("results.json");
    let ser =
        checker().arg("txn").arg(&skew).args(["--model", "serializable", "--out"]).arg(&results).output().unwrap();
    let text = String::from_utf8_lossy(&ser.stdout);
    assert_eq!(ser.status.code(), Some(1), "{text}");
    assert!(
        text.contains("INVALID under serializable: G2-item")
            && text.contains("  G2-item: T0 (process 0) read key 1 = []"),
        "{text}"
    );
    let page = dir.path().join("txn.html");
    let drawn =
        checker().arg("txn").arg(&skew).args(["--model", "serializable", "--report"]).arg(&page).output().unwrap();
    assert_eq!(drawn.status.code(), Some(1));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h2>G2-item</h2>") && html.matches("<circle").count() == 2, "{html}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["anomalies"][0]["cycle"].as_array().unwrap().len(), 2, "{json}");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"incr\",1,1]]}\n").unwrap();
    let run = checker().arg("txn").arg(&bad).output().unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(3), "{text}");
    assert!(text.contains("line 1") && text.contains("unknown micro-op \"incr\""), "{text}");
}

/// The limits hold for the whole command, loading included, and a run
/// that reaches one says which, with exit code 2 (unknown) and no verdict.
/// A memory limit below what the process already holds stops it before it
/// checks anything; a history the search cannot finish is stopped by the
/// time limit and reports how far it got.
#[test]
fn a_limit_reached_gives_unknown_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let checker = || std::process::Command::new(env!("CARGO_BIN_EXE_checker"));
    let gen = |args: &[&str], name: &str| {
        let out = checker().arg("gen").args(args).output().unwrap();
        assert!(out.status.success());
        let path = dir.path().join(name);
        std::fs::write(&path, out.stdout).unwrap();
        path
    };
    let small = gen(&["--ops", "200"], "small.jsonl");
    let out = checker().args(["check", "--memory-limit-mb", "1"]).arg(&small).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("unknown: memory limit reached (") && stdout.contains("while loading"), "{stdout}");
    // A format parsed whole is held to the limits once parsed.
    let edn = dir.path().join("small.edn");
    std::fs::write(
        &edn,
        "{:type :invoke, :f :write, :value 1, :process 0}\n{:type :ok, :f :write, :value 1, :process 0}\n",
    )
    .unwrap();
    let out = checker().args(["check", "--memory-limit-mb", "1"]).arg(&edn).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("unknown: memory limit reached (") && stdout.contains("while loading"), "{stdout}");
    // Deletes make nil's writers many, so the search (not the version
    // order) takes the ambiguous read of a hundred clients: more than a
    // second's work on this machine, stopped at one.
    let hard_args = "--ops 20000 --processes 100 --info-rate 0.05 --cas-rate 0.25 --delete-rate 0.05 --ambiguous-read \
                     --seed 2";
    let hard = gen(&hard_args.split_whitespace().collect::<Vec<_>>(), "hard.jsonl");
    let out = checker().args(["check", "--time-limit", "1s"]).arg(&hard).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("undecided (limits reached): key 0"), "{stdout}");
    assert!(stdout.contains("key 0: undecided: time limit reached after linearizing "), "{stdout}");
}

/// An etcd robustness report folder is checked as one history: its
/// clients' `operations.json` together, in time order.
#[test]
fn an_etcd_robustness_report_folder_is_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let put = r#"{"ClientId": 1, "Input": {"Type": "txn", "Txn": {"Conditions": null, "OperationsOnSuccess": [{"Type": "put-operation", "Put": {"Key": "k", "Value": {"Value": "7"}, "LeaseID": 0}}], "OperationsOnFailure": null}}, "Call": 100, "Output": {"Txn": {"Failure": false, "Results": [{}]}, "Revision": 2}, "Return": 200}"#;
    let get = |v: &str| {
        format!(
            r#"{{"ClientId": 2, "Input": {{"Type": "range", "Range": {{"Start": "k", "End": "", "Revision": 0}}}}, "Call": 300, "Output": {{"Range": {{"KVs": {v}, "Count": 1}}, "Revision": 2}}, "Return": 400}}"#
        )
    };
    let write = |client: &str, text: &str| {
        std::fs::create_dir_all(dir.path().join(client)).unwrap();
        std::fs::write(dir.path().join(client).join("operations.json"), text).unwrap();
    };
    write("client-1", put);
    write("client-2", &get(r#"[{"Key": "k", "Value": {"Value": "7"}, "ModRevision": 2}]"#));
    let check =
        || std::process::Command::new(env!("CARGO_BIN_EXE_checker")).arg("check").arg(dir.path()).output().unwrap();
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("valid: 2 ops over 1 keys"), "{stdout}");
    // The read after the put returns nothing: a lost write.
    write("client-2", &get("[]"));
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("read of key \"k\" returned nil"), "{stdout}");
}
