//! Hand-made histories with known verdicts, and bad input.

use checker::check::CheckOptions;
use checker::history::{parse_jsonl, EventType, OpType, Value};
use checker::input::check_events;
use checker::model::ModelName;
use checker::results::{Results, Validity};

/// Builds a JSON Lines history from `(process, type, f, key, value)` rows.
fn history(rows: &[(i64, &str, &str, i64, &str)]) -> String {
    rows.iter()
        .enumerate()
        .map(|(i, (p, t, f, k, v))| {
            format!(
                "{{\"index\":{i},\"time\":{},\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"key\":{k},\"value\":{v}}}\n",
                i * 10
            )
        })
        .collect()
}

fn verdict(text: &str, model: ModelName) -> Results {
    let (events, lines) = parse_jsonl(text).expect("parses");
    check_events(&events, &lines, model, &CheckOptions::default()).expect("pairs").1
}

fn register(rows: &[(i64, &str, &str, i64, &str)]) -> Results {
    verdict(&history(rows), ModelName::Register)
}

#[test]
fn stale_read_is_invalid_and_explained() {
    let r = register(&[
        (0, "invoke", "write", 7, "1"),
        (0, "ok", "write", 7, "1"),
        (0, "invoke", "write", 7, "2"),
        (0, "ok", "write", 7, "2"),
        (1, "invoke", "read", 7, "null"),
        (1, "ok", "read", 7, "1"),
    ]);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.invalid_keys, vec![checker::history::Value::Int(7)]);
    let f = &r.failures[0];
    // Proved without searching: real time alone orders the two writes
    // before the read.
    assert_eq!(
        f.explanation,
        "read of key 7 returned 1, but write 2 (events 2–3) overwrote 1 before it began, \
         after write 1 (events 0–1) wrote it, and nothing writes 1 again"
    );
    assert_eq!((f.op.f, f.op.invoke_index, f.op.complete_index), (OpType::Read, 4, Some(5)));
    assert!(f.linearized_prefix.is_empty());
}

#[test]
fn stale_read_that_needs_the_search_is_explained_by_its_states() {
    // 1 is written twice, so no single writer pins it: the search decides.
    let r = register(&[
        (0, "invoke", "write", 7, "1"),
        (0, "ok", "write", 7, "1"),
        (0, "invoke", "write", 7, "1"),
        (0, "ok", "write", 7, "1"),
        (0, "invoke", "write", 7, "2"),
        (0, "ok", "write", 7, "2"),
        (1, "invoke", "read", 7, "null"),
        (1, "ok", "read", 7, "1"),
    ]);
    assert_eq!(r.valid, Validity::Invalid);
    let f = &r.failures[0];
    assert_eq!(f.explanation, "read of key 7 returned 1, but every possible state held 2");
    assert_eq!((f.op.f, f.op.invoke_index, f.op.complete_index), (OpType::Read, 6, Some(7)));
    assert_eq!(f.linearized_prefix.len(), 3);
}

#[test]
fn lost_acknowledged_write_is_invalid() {
    let r = register(&[
        (0, "invoke", "write", 1, "5"),
        (0, "ok", "write", 1, "5"),
        (1, "invoke", "read", 1, "null"),
        (1, "ok", "read", 1, "null"),
    ]);
    assert_eq!(r.valid, Validity::Invalid);
    assert!(r.failures[0].explanation.contains("returned nil"), "{}", r.failures[0].explanation);
}

#[test]
fn concurrent_writes_may_linearize_in_either_order() {
    for last in ["1", "2"] {
        let r = register(&[
            (0, "invoke", "write", 1, "1"),
            (1, "invoke", "write", 1, "2"),
            (0, "ok", "write", 1, "1"),
            (1, "ok", "write", 1, "2"),
            (2, "invoke", "read", 1, "null"),
            (2, "ok", "read", 1, last),
        ]);
        assert_eq!(r.valid, Validity::Valid, "final read {last}");
    }
}

#[test]
fn info_write_may_show_up_later_or_never() {
    let shows_up = register(&[
        (0, "invoke", "write", 1, "1"),
        (0, "ok", "write", 1, "1"),
        (1, "invoke", "write", 1, "2"),
        (1, "info", "write", 1, "2"),
        (2, "invoke", "read", 1, "null"),
        (2, "ok", "read", 1, "1"),
        (3, "invoke", "read", 1, "null"),
        (3, "ok", "read", 1, "2"),
    ]);
    assert_eq!(shows_up.valid, Validity::Valid);
    let never = register(&[
        (0, "invoke", "write", 1, "1"),
        (0, "ok", "write", 1, "1"),
        (1, "invoke", "write", 1, "2"),
        (1, "info", "write", 1, "2"),
        (2, "invoke", "read", 1, "null"),
        (2, "ok", "read", 1, "1"),
    ]);
    assert_eq!(never.valid, Validity::Valid);
    // But once seen, it cannot un-happen.
    let flickers = register(&[
        (0, "invoke", "write", 1, "1"),
        (0, "ok", "write", 1, "1"),
        (1, "invoke", "write", 1, "2"),
        (1, "info", "write", 1, "2"),
        (2, "invoke", "read", 1, "null"),
        (2, "ok", "read", 1, "2"),
        (3, "invoke", "read", 1, "null"),
        (3, "ok", "read", 1, "1"),
    ]);
    assert_eq!(flickers.valid, Validity::Invalid);
}

#[test]
fn an_info_write_cannot_take_effect_before_its_invoke() {
    let r = register(&[
        (2, "invoke", "read", 1, "null"),
        (2, "ok", "read", 1, "9"),
        (1, "invoke", "write", 1, "9"),
        (1, "info", "write", 1, "9"),
    ]);
    assert_eq!(r.valid, Validity::Invalid);
}

#[test]
fn cas_chains() {
    let good = register(&[
        (0, "invoke", "cas", 1, "[null, 1]"),
        (0, "ok", "cas", 1, "[null, 1]"),
        (1, "invoke", "cas", 1, "[1, 2]"),
        (1, "info", "cas", 1, "[1, 2]"),
        (2, "invoke", "cas", 1, "[2, 3]"),
        (2, "ok", "cas", 1, "[2, 3]"),
        (3, "invoke", "read", 1, "null"),
        (3, "ok", "read", 1, "3"),
    ]);
    assert_eq!(good.valid, Validity::Valid, "the info cas must have happened");
    let broken = register(&[
        (0, "invoke", "cas", 1, "[null, 1]"),
        (0, "ok", "cas", 1, "[null, 1]"),
        (2, "invoke", "cas", 1, "[2, 3]"),
        (2, "ok", "cas", 1, "[2, 3]"),
    ]);
    assert_eq!(broken.valid, Validity::Invalid);
    assert!(
        broken.failures[0].explanation.starts_with("cas of key 1 expected 2"),
        "{}",
        broken.failures[0].explanation
    );
    // A failed cas did not happen and is not checked.
    let failed = register(&[
        (0, "invoke", "cas", 1, "[5, 6]"),
        (0, "fail", "cas", 1, "[5, 6]"),
        (1, "invoke", "read", 1, "null"),
        (1, "ok", "read", 1, "null"),
    ]);
    assert_eq!(failed.valid, Validity::Valid);
}

#[test]
fn the_first_op_failing_is_fine() {
    let r = register(&[
        (0, "invoke", "write", 1, "1"),
        (0, "fail", "write", 1, "1"),
        (1, "invoke", "read", 1, "null"),
        (1, "ok", "read", 1, "null"),
    ]);
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(r.op_counts[&OpType::Write][&EventType::Fail], 1);
}

#[test]
fn list_append_read_missing_an_acknowledged_append_is_invalid() {
    let text = history(&[
        (0, "invoke", "append", 1, "1"),
        (0, "ok", "append", 1, "1"),
        (0, "invoke", "append", 1, "2"),
        (0, "ok", "append", 1, "2"),
        (1, "invoke", "read", 1, "null"),
        (1, "ok", "read", 1, "[1]"),
    ]);
    let r = verdict(&text, ModelName::ListAppend);
    assert_eq!(r.valid, Validity::Invalid);
    assert!(r.failures[0].explanation.contains("returned [1]"), "{}", r.failures[0].explanation);
    let ok = history(&[
        (0, "invoke", "append", 1, "1"),
        (0, "ok", "append", 1, "1"),
        (2, "invoke", "append", 1, "3"),
        (1, "invoke", "read", 1, "null"),
        (1, "ok", "read", 1, "[1, 3]"),
        (2, "info", "append", 1, "3"),
    ]);
    assert_eq!(verdict(&ok, ModelName::ListAppend).valid, Validity::Valid);
}

/// An append that completed before another began precedes it in every
/// read, whatever the search does with appends no read has ordered yet:
/// the search alone and the version-order decision both refuse a read
/// that swaps them, and accept the read in real-time order.
#[test]
fn a_read_cannot_swap_appends_that_real_time_ordered() {
    let rows = |read: &'static str| {
        history(&[
            (0, "invoke", "append", 1, "1"),
            (0, "ok", "append", 1, "1"),
            (1, "invoke", "append", 1, "2"),
            (0, "invoke", "read", 1, "null"),
            (0, "ok", "read", 1, read),
            (1, "ok", "append", 1, "2"),
        ])
    };
    for search_only in [false, true] {
        let opts = CheckOptions { search_only, ..CheckOptions::default() };
        let check = |text: &str| {
            let (events, lines) = parse_jsonl(text).unwrap();
            check_events(&events, &lines, ModelName::ListAppend, &opts).unwrap().1
        };
        let swapped = check(&rows("[2, 1]"));
        assert_eq!(swapped.valid, Validity::Invalid, "search_only={search_only}: {}", swapped.summary);
        assert_eq!(check(&rows("[1, 2]")).valid, Validity::Valid, "search_only={search_only}");
    }
}

#[test]
fn empty_history_is_valid_and_says_so() {
    let r = verdict("", ModelName::Register);
    assert_eq!(r.valid, Validity::Valid);
    assert!(r.summary.contains("no client operations"), "{}", r.summary);
}

#[test]
fn nemesis_events_are_kept_but_not_checked() {
    let text = "{\"index\":0,\"time\":1,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":[[1],[2,3]]}\n";
    let (events, lines) = parse_jsonl(text).unwrap();
    let (h, r) = check_events(&events, &lines, ModelName::Register, &CheckOptions::default()).unwrap();
    assert_eq!(h.nemesis.len(), 1);
    assert_eq!(r.valid, Validity::Valid);
}

fn pair_error(text: &str) -> String {
    match parse_jsonl(text) {
        Err(e) => e.to_string(),
        Ok((events, lines)) => match check_events(&events, &lines, ModelName::Register, &CheckOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error for {text:?}"),
        },
    }
}

/// Texts over a MiB are parsed in parallel chunks; with a bad line in
/// several of them, the error must still name the earliest.
#[test]
fn the_earliest_bad_line_is_named_when_several_chunks_fail() {
    let ok = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n";
    let per_mib = (1 << 20) / ok.len();
    let n = 8 * per_mib;
    // The earliest bad line sits at the end of the first chunk, the others
    // at the start of later ones, where another thread meets them first.
    let first = per_mib - per_mib / 10;
    let mut text = String::with_capacity(n * ok.len() + 64);
    for i in 1..=n {
        let bad = i == first || (i > per_mib && i % per_mib == 3);
        text.push_str(if bad { "{not json\n" } else { ok });
    }
    for _ in 0..20 {
        let e = parse_jsonl(&text).unwrap_err();
        assert_eq!(e.line, first, "{e}");
    }
}

#[test]
fn bad_input_names_the_line_and_the_field() {
    let ok = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n";
    assert_eq!(pair_error(&format!("{ok}{{not json\n")).split(':').next().unwrap(), "line 2");
    let e = pair_error("{\"process\":0,\"type\":\"okay\",\"f\":\"read\",\"key\":1,\"value\":null}\n");
    assert!(e.starts_with("line 1: field `type`") && e.contains("okay"), "{e}");
    let e = pair_error("{\"process\":0,\"type\":\"invoke\",\"f\":\"frob\",\"key\":1,\"value\":null}\n");
    assert!(e.starts_with("line 1: field `f`") && e.contains("frob"), "{e}");
    let e = pair_error("{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\n");
    assert!(e.starts_with("line 1: field `f`") && e.contains("checker txn"), "{e}");
    let e = pair_error("{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":null}\n");
    assert!(e.starts_with("line 1: field `process`") && e.contains("without an invoke"), "{e}");
    let e = pair_error(&format!("{ok}{ok}"));
    assert!(e.starts_with("line 2: field `process`") && e.contains("still outstanding"), "{e}");
    let e = pair_error(
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,\"value\":1}\n{\"process\":0,\"type\":\"info\",\"f\":\"write\",\"key\":1,\"value\":1}\n{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,\"value\":2}\n",
    );
    assert!(e.starts_with("line 3: field `process`") && e.contains("after its info on line 2"), "{e}");
    let e = pair_error("{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":1,\"value\":3}\n");
    assert!(e.starts_with("line 1: field `value`"), "{e}");
    let e = pair_error("{\"process\":true,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n");
    assert!(e.starts_with("line 1:"), "{e}");
}

#[test]
fn time_limit_gives_unknown_never_valid() {
    // A time limit already passed decides nothing, and says so.
    let opts = gen_opts(400, 12);
    let events = checker::gen::generate(&opts);
    let lines: Vec<usize> = (1..=events.len()).collect();
    let limits = CheckOptions { time_limit: Some(std::time::Duration::ZERO), ..Default::default() };
    let (_, r) = check_events(&events, &lines, ModelName::Register, &limits).unwrap();
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    assert_eq!(r.unknown_keys.len(), 1);
    let reason = r.keys[0].reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("time limit reached after linearizing 0 of "), "{reason}");
    assert_eq!(r.keys[0].linearized, Some(0));
}

fn gen_opts(ops: usize, processes: usize) -> checker::gen::GenOptions {
    checker::gen::GenOptions {
        ops,
        keys: 1,
        processes,
        info_rate: 0.3,
        read_rate: 0.5,
        cas_rate: 0.2,
        delete_rate: 0.0,
        stale_read: true,
        ambiguous_read: false,
        model: ModelName::Register,
        seed: 3,
    }
}

#[test]
fn a_delete_makes_the_key_absent_and_a_resurrected_value_is_invalid() {
    let deleted = [
        (0, "invoke", "write", 7, "1"),
        (0, "ok", "write", 7, "1"),
        (0, "invoke", "delete", 7, "null"),
        (0, "ok", "delete", 7, "null"),
    ];
    let read = |v: &'static str| [(1, "invoke", "read", 7, "null"), (1, "ok", "read", 7, v)];
    let absent: Vec<_> = deleted.iter().copied().chain(read("null")).collect();
    let r = register(&absent);
    assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    assert_eq!(r.op_counts[&OpType::Delete][&EventType::Ok], 1);
    // The deleted value comes back: the delete-path bug a register
    // workload without deletes can never show.
    let resurrected: Vec<_> = deleted.iter().copied().chain(read("1")).collect();
    let r = register(&resurrected);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(
        r.failures[0].explanation,
        "read of key 7 returned 1, but delete (events 2–3) overwrote 1 before it began, \
         after write 1 (events 0–1) wrote it, and nothing writes 1 again"
    );
    // A delete that crashed may or may not have happened: both reads pass.
    let mut maybe = absent.clone();
    maybe[3] = (0, "info", "delete", 7, "null");
    assert_eq!(register(&maybe).valid, Validity::Valid);
    let mut maybe = resurrected.clone();
    maybe[3] = (0, "info", "delete", 7, "null");
    assert_eq!(register(&maybe).valid, Validity::Valid);
}

#[test]
fn the_list_append_model_refuses_deletes_by_name() {
    let text = history(&[(0, "invoke", "delete", 7, "null"), (0, "ok", "delete", 7, "null")]);
    let (events, lines) = parse_jsonl(&text).unwrap();
    let err = check_events(&events, &lines, ModelName::ListAppend, &CheckOptions::default()).unwrap_err().to_string();
    assert!(err.contains("delete"), "{err}");
}

/// The mixed workload's histories: a key that appends is a list, any other
/// a register, each checked against its own model, and the model is
/// inferred from a history that has both. A key that is both is refused,
/// naming it.
#[test]
fn a_mixed_history_checks_each_key_against_its_own_model() {
    let rows = [
        (0, "invoke", "write", 0, "1"),
        (0, "ok", "write", 0, "1"),
        (1, "invoke", "append", 1, "1"),
        (1, "ok", "append", 1, "1"),
        (0, "invoke", "read", 0, "null"),
        (0, "ok", "read", 0, "1"),
        (1, "invoke", "read", 1, "null"),
        (1, "ok", "read", 1, "[1]"),
    ];
    let text = history(&rows);
    let (events, lines) = parse_jsonl(&text).unwrap();
    let h = checker::history::pair_all(events.iter().cloned().zip(lines.iter().copied())).unwrap();
    assert_eq!(checker::input::infer_model(&h), ModelName::Mixed);
    let r = verdict(&text, ModelName::Mixed);
    assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    assert!(r.summary.contains("checked against the register and list-append models"), "{}", r.summary);
    // A lost append on the list key, and a stale read on the register.
    let mut bad = rows;
    bad[7].4 = "[]";
    let r = verdict(&history(&bad), ModelName::Mixed);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.invalid_keys, [Value::Int(1)]);
    let mut bad = rows;
    bad[5].4 = "null";
    let r = verdict(&history(&bad), ModelName::Mixed);
    assert_eq!(r.invalid_keys, [Value::Int(0)]);
    // Key 1 appended to and written.
    let mut both = rows.to_vec();
    both.extend([(2, "invoke", "write", 1, "5"), (2, "ok", "write", 1, "5")]);
    let (events, lines) = parse_jsonl(&history(&both)).unwrap();
    let err = check_events(&events, &lines, ModelName::Mixed, &CheckOptions::default()).unwrap_err().to_string();
    assert!(err.contains("key 1 is a list (appended to, or read as a list) and also takes a write"), "{err}");
    // A list key nobody appended to reads as the empty list: still a list.
    let unappended = [(0, "invoke", "read", 3, "null"), (0, "ok", "read", 3, "[]")];
    let r = verdict(&history(&[&rows[..], &unappended[..]].concat()), ModelName::Mixed);
    assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    // With no model named, a list read alone (no append yet) makes a list
    // key: beside a write, the history is mixed; alone, it is list-append.
    let pair = |rows: &[(i64, &str, &str, i64, &str)]| {
        let (events, lines) = parse_jsonl(&history(rows)).unwrap();
        checker::history::pair_all(events.into_iter().zip(lines)).unwrap()
    };
    assert_eq!(checker::input::infer_model(&pair(&[&rows[..2], &unappended[..]].concat())), ModelName::Mixed);
    assert_eq!(checker::input::infer_model(&pair(&unappended)), ModelName::ListAppend);
}

/// Explanations cite events by index, so an index that repeats or goes
/// back is refused, naming its line and the line it clashes with.
#[test]
fn an_index_that_does_not_increase_is_refused_naming_the_line() {
    for (second, word) in [(0, "repeats"), (7, "goes back")] {
        let text = format!(
            "{{\"index\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}}\n\
             {{\"index\":9,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":null}}\n\
             {{\"index\":{},\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}}\n",
            if second == 0 { 9 } else { second }
        );
        let err = pair_error(&text);
        assert!(err.contains("line 3") && err.contains("does not increase: line 2 has index 9"), "{word}: {err}");
    }
}

/// A history file's list reads share their key's longest read, so a key
/// read thousands of times costs its length once: every ok read of the
/// generated key is a prefix of one buffer, and the verdicts are as from
/// separate copies.
#[test]
fn list_reads_loaded_from_a_file_share_their_keys_longest_read() {
    use checker::history::{Action, Seq};
    for stale_read in [false, true] {
        let o = checker::gen::GenOptions {
            ops: 2000,
            keys: 1,
            processes: 20,
            info_rate: 0.05,
            read_rate: 0.5,
            cas_rate: 0.0,
            delete_rate: 0.0,
            stale_read,
            ambiguous_read: false,
            model: ModelName::ListAppend,
            seed: 4,
        };
        let events = checker::gen::generate(&o);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let text: String = events.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
        std::fs::write(&path, text).unwrap();
        let h = checker::input::load_history(&path, None).unwrap();
        let lists: Vec<&Seq> = h.ops[0]
            .iter()
            .filter_map(|op| match &op.action {
                Action::Read(Value::List(l)) => Some(l),
                _ => None,
            })
            .collect();
        let longest = *lists.iter().max_by_key(|l| l.len()).unwrap();
        let shared = lists.iter().filter(|l| Seq::same(&longest.prefix(l.len()), l)).count();
        // The stale read (a read's list less its last element) is a
        // prefix too: it is stale by when it ran, not by what it holds.
        assert_eq!(shared, lists.len(), "{} reads", lists.len());
        assert!(lists.len() > 900);
        let r = checker::check::check(&checker::list_append::ListAppend, &h, &CheckOptions::default());
        assert_eq!(r.valid, if stale_read { Validity::Invalid } else { Validity::Valid }, "{}", r.summary);
    }
}
