//! Elle's own published examples (its test suite's list-append cases and
//! its `si-without-g-single` history), written again here as our own
//! tests, each with the answer Elle gives.

use checker::history::parse_jsonl;
use checker::txn::{check, pair_txns, Model, TxnHistory, TxnResults};

/// One transaction in Elle's test shorthand: `rx12` reads key x as
/// [1 2], `rx` reads it empty, `ax3` appends 3 to x. At an invocation
/// (`invoked`) every read is null.
fn mops(short: &str, invoked: bool) -> String {
    let mut out = Vec::new();
    let mut chars = short.chars().peekable();
    while let Some(f) = chars.next() {
        let key = chars.next().expect("a key after the micro-op");
        let mut digits = Vec::new();
        while let Some(d) = chars.peek().filter(|c| c.is_ascii_digit()) {
            digits.push(d.to_string());
            chars.next();
        }
        out.push(match f {
            'r' if invoked => format!("[\"r\",\"{key}\",null]"),
            'r' => format!("[\"r\",\"{key}\",[{}]]", digits.join(",")),
            'a' => format!("[\"append\",\"{key}\",{}]", digits.join("")),
            other => panic!("{other} is not r or a"),
        });
    }
    format!("[{}]", out.join(","))
}

/// A history of transactions run one after another on one process each:
/// (shorthand, "ok" or "fail").
fn history(txns: &[(&str, &str)]) -> TxnHistory {
    let mut lines = Vec::new();
    for (p, (short, kind)) in txns.iter().enumerate() {
        let (invoked, done) = (mops(short, true), mops(short, false));
        lines.push(format!(r#"{{"process":{p},"type":"invoke","f":"txn","value":{invoked}}}"#));
        lines.push(format!(r#"{{"process":{p},"type":"{kind}","f":"txn","value":{done}}}"#));
    }
    let (events, lines_of) = parse_jsonl(&lines.join("\n")).unwrap();
    pair_txns(&events, &lines_of).unwrap()
}

fn found(r: &TxnResults, class: &str) -> usize {
    r.counts.get(class).copied().unwrap_or(0)
}

/// Elle's `g1a-cases-test`: two reads of an element whose append failed.
#[test]
fn aborted_reads() {
    let h = history(&[("ax1", "fail"), ("rx1ax2", "ok"), ("rx12ry3", "ok")]);
    let r = check(&h, Model::ReadCommitted).unwrap();
    assert_eq!(found(&r, "G1a"), 2, "{}", r.summary());
}

/// Elle's `g1b-cases-test`: `rx1` sees the first of two appends one
/// transaction made; `rx12` and a transaction reading its own
/// intermediate state do not count.
#[test]
fn intermediate_reads() {
    let h = history(&[("ax1ax2", "ok"), ("rx1", "ok"), ("rx12", "ok"), ("ax3rx123ax4", "ok")]);
    let r = check(&h, Model::ReadCommitted).unwrap();
    assert_eq!(found(&r, "G1b"), 1, "{}", r.summary());
    let g1b = r.anomalies.iter().find(|a| a.class.name() == "G1b").unwrap();
    assert!(g1b.explanation.starts_with("T2 (process 1) read key \"x\" = [1]"), "{}", g1b.explanation);
}

/// Elle's `internal-cases-test`: a transaction's reads against its own
/// earlier micro-ops.
#[test]
fn internal_consistency() {
    let good = history(&[("ry56ax3rx123ax4rx1234", "ok")]);
    assert_eq!(found(&check(&good, Model::ReadCommitted).unwrap(), "internal"), 0);
    for bad in ["rxrx2", "rx12ax3rx12", "rx12ax3rx023", "rx12ax3rx1234"] {
        let r = check(&history(&[(bad, "ok")]), Model::ReadCommitted).unwrap();
        assert_eq!(found(&r, "internal"), 1, "{bad}: {}", r.summary());
    }
}

/// Elle's `histories/si-without-g-single.edn`, checked by its
/// `intermediate-sequential-extension-test`: four transactions whose only
/// anomaly is G2-item, so the history is valid under snapshot isolation
/// and not under serializability. The reads of nil are of absent keys.
#[test]
fn si_without_g_single() {
    let text = [
        r#"{"index":10,"process":2,"type":"invoke","f":"txn","value":[["append",9,2]]}"#,
        r#"{"index":11,"process":2,"type":"ok","f":"txn","value":[["append",9,2]]}"#,
        r#"{"index":20,"process":4,"type":"invoke","f":"txn","value":[["append",8,1],["r",9,null]]}"#,
        r#"{"index":21,"process":4,"type":"ok","f":"txn","value":[["append",8,1],["r",9,null]]}"#,
        r#"{"index":30,"process":7,"type":"invoke","f":"txn","value":[["r",6,null],["r",8,null],["append",9,5]]}"#,
        r#"{"index":31,"process":7,"type":"ok","f":"txn","value":[["r",6,null],["r",8,null],["append",9,5]]}"#,
        r#"{"index":40,"process":9,"type":"invoke","f":"txn","value":[["append",6,2],["r",9,null]]}"#,
        r#"{"index":41,"process":9,"type":"ok","f":"txn","value":[["append",6,2],["r",9,[2]]]}"#,
    ]
    .join("\n");
    let (events, lines) = parse_jsonl(&text).unwrap();
    let h = pair_txns(&events, &lines).unwrap();
    // Elle checks this history without real time (its times are all 0).
    let si = check(&h, Model::SnapshotIsolation).unwrap();
    assert!(si.valid, "{}", si.summary());
    let ser = check(&h, Model::Serializable).unwrap();
    assert_eq!(ser.prohibited, vec!["G2-item"], "{}", ser.summary());
    assert_eq!(
        ser.counts
            .keys()
            .map(String::as_str)
            .filter(|c| !c.ends_with("-realtime") && !c.ends_with("-process"))
            .collect::<Vec<_>>(),
        vec!["G2-item"]
    );
}
