//! Fuzzing the history parsers on stable Rust: proptest feeds arbitrary
//! text, and valid histories with random edits (bytes deleted, inserted,
//! swapped), to the JSON Lines, EDN and Jepsen-log parsers, and whatever
//! parses on to pairing and the check. Nothing may panic: bad input is an
//! error naming what is wrong. A fixed budget of cases per run; failures
//! proptest finds are kept in `fuzz.proptest-regressions` beside this file
//! and replayed first.

use checker::check::CheckOptions;
use checker::edn;
use checker::history::{self, parse_jsonl, Event};
use checker::input::check_history;
use checker::jepsen_log;
use proptest::prelude::*;

const JSONL: &str = concat!(
    r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}"#,
    "\n",
    r#"{"index":1,"time":10,"process":1,"type":"invoke","f":"cas","key":1,"value":[1,2]}"#,
    "\n",
    r#"{"index":2,"time":20,"process":0,"type":"ok","f":"write","key":1,"value":1}"#,
    "\n",
    r#"{"index":3,"time":25,"process":"nemesis","type":"info","f":"kill","value":null}"#,
    "\n",
    r#"{"index":4,"time":30,"process":1,"type":"info","f":"cas","key":1,"value":[1,2],"error":"timeout"}"#,
    "\n",
    r#"{"index":5,"time":40,"process":2,"type":"invoke","f":"delete","key":1,"value":null}"#,
    "\n",
    r#"{"index":6,"time":50,"process":2,"type":"ok","f":"delete","key":1,"value":null}"#,
    "\n",
    r#"{"index":7,"time":60,"process":3,"type":"invoke","f":"read","key":1,"value":null}"#,
    "\n",
    r#"{"index":8,"time":70,"process":3,"type":"ok","f":"read","key":1,"value":2}"#,
    "\n",
);

const EDN: &str = "[{:process 0, :type :invoke, :f :write, :value [1 1]}\n \
                   {:process 0, :type :ok, :f :write, :value [1 1]}\n \
                   {:process 1 :type :invoke :f :cas :value [1 [1 2]]}\n \
                   {:process 1 :type :info :f :cas :value [1 [1 2]]}\n \
                   {:process :nemesis :type :info :f :start :value nil}\n \
                   {:process 2 :type :invoke :f :read :value [1 nil]}\n \
                   {:process 2 :type :ok :f :read :value [1 2]}]\n";

const JEPSEN_LOG: &str = "INFO  jepsen.util - 0\t:invoke\t:write\t3\n\
                          INFO  jepsen.util - 0\t:ok\t:write\t3\n\
                          INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]\n\
                          INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n\
                          INFO  jepsen.util - 2   :invoke :read   nil\n\
                          INFO  jepsen.util - 2   :ok     :read   3\n";

/// One random edit of a text.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Swap(usize, usize),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        "\\PC{0,8}",
        Just("\n".to_string()),
        Just("null".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("[[[[".to_string()),
        Just("\"".to_string()),
        Just(":".to_string()),
        Just("\u{0}".to_string()),
        Just("1e999".to_string()),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..16).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), text).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), 0usize..64).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

/// Applies edits at character boundaries.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Delete(a, n) => {
                let start = at(*a, chars.len());
                let end = (start + n).min(chars.len());
                chars.drain(start..end);
            }
            Edit::Insert(a, s) => {
                let i = at(*a, chars.len());
                chars.splice(i..i, s.chars());
            }
            Edit::Swap(a, b) if !chars.is_empty() => {
                let (i, j) = (a % chars.len(), b % chars.len());
                chars.swap(i, j);
            }
            Edit::Duplicate(a, n) => {
                let start = at(*a, chars.len());
                let end = (start + n).min(chars.len());
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(end..end, copy);
            }
            Edit::Swap(..) => {}
        }
    }
    chars.into_iter().collect()
}

/// Whatever parsed goes on through pairing and a bounded check.
fn pair_and_check(events: Vec<Event>, lines: Vec<usize>) {
    if let Ok(h) = history::pair_all(events.into_iter().zip(lines)) {
        let opts = CheckOptions { time_limit: Some(std::time::Duration::from_secs(2)), ..CheckOptions::default() };
        let _ = check_history(&h, None, &opts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn jsonl_never_panics_on_edited_histories(edits in proptest::collection::vec(edit(), 1..6)) {
        if let Ok((events, lines)) = parse_jsonl(&mutate(JSONL, &edits)) {
            pair_and_check(events, lines);
        }
    }

    #[test]
    fn edn_never_panics_on_edited_histories(edits in proptest::collection::vec(edit(), 1..6)) {
        if let Ok((events, lines)) = edn::parse(&mutate(EDN, &edits)) {
            pair_and_check(events, lines);
        }
    }

    #[test]
    fn jepsen_logs_never_panic_on_edits(edits in proptest::collection::vec(edit(), 1..6)) {
        if let Ok((events, lines)) = jepsen_log::parse(&mutate(JEPSEN_LOG, &edits)) {
            pair_and_check(events, lines);
        }
    }

    #[test]
    fn no_parser_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse_jsonl(&text);
        let _ = edn::parse(&text);
        let _ = jepsen_log::parse(&text);
    }
}

/// Brackets of every kind, nested up to 20,000 deep (recursion in the
/// EDN parser would overflow the stack long before), with a history line
/// around them or not: each reader refuses with an error, never aborts.
fn nested() -> impl Strategy<Value = String> {
    let open = prop_oneof![Just("["), Just("{"), Just("("), Just("#{"), Just("[1 "), Just("{:a ")];
    (proptest::collection::vec(open, 1..8), 0usize..20_000, any::<bool>(), any::<bool>()).prop_map(
        |(opens, depth, closed, as_log)| {
            let mut body: String = (0..depth).map(|i| opens[i % opens.len()]).collect();
            if closed {
                let closer = |open: &str| match open.as_bytes()[0] {
                    b'[' => ']',
                    b'(' => ')',
                    _ => '}',
                };
                body.extend((0..depth).rev().map(|i| closer(opens[i % opens.len()])));
            }
            if as_log {
                format!("INFO  jepsen.util - 0\t:invoke\t:write\t{body}\n")
            } else {
                format!("{{:process 0 :type :invoke :f :write :value {body}}}\n")
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn deep_nesting_never_aborts_a_reader(text in nested()) {
        if let Ok((events, lines)) = edn::parse(&text) {
            pair_and_check(events, lines);
        }
        if let Ok((events, lines)) = jepsen_log::parse(&text) {
            pair_and_check(events, lines);
        }
    }
}

/// The seeds themselves parse, so the edits start from valid input.
#[test]
fn the_seed_inputs_are_valid() {
    assert_eq!(parse_jsonl(JSONL).unwrap().0.len(), 9);
    assert_eq!(edn::parse(EDN).unwrap().0.len(), 7);
    assert_eq!(jepsen_log::parse(JEPSEN_LOG).unwrap().0.len(), 6);
}
