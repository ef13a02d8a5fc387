//! Jepsen's console log as a history (`--format jepsen-log`): the lines
//! that `jepsen.util` prints for every op, as in Jepsen's etcd logs and
//! Porcupine's `test_data/jepsen`:
//!
//! ```text
//! INFO  jepsen.util - 3   :invoke :cas    [3 0]
//! INFO  jepsen.util - 3   :info   :cas    :timed-out
//! ```
//!
//! The fields after `jepsen.util - ` are separated by tabs (older logs) or
//! padded with spaces (as above): process (an integer or `:nemesis`),
//! type, f and an EDN value. Every other log line is skipped; a `jepsen.util` line that does not have those four fields is
//! an error. An info completion's keyword (`:timed-out`) becomes its
//! `error`: its value is the invoke's, as Jepsen means it.

use edn_format::Value as Edn;

use crate::history::{Event, EventType, HistoryError, Process, Value};

const MARKER: &str = "jepsen.util - ";

/// Parses a Jepsen log into events and their line numbers (1-based).
pub fn parse(text: &str) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let Some(at) = raw.find(MARKER) else { continue };
        let Some([process, kind, f, value]) = fields(&raw[at + MARKER.len()..]) else {
            return Err(HistoryError::new(
                line,
                "(jepsen-log)",
                "expected PROCESS :TYPE :F VALUE after \"jepsen.util - \"",
            ));
        };
        let process = match process {
            ":nemesis" => Process::Nemesis,
            p => Process::Client(p.parse().map_err(|_| {
                HistoryError::new(line, "process", format!("{p:?} is neither a process number nor :nemesis"))
            })?),
        };
        let kind = kind.strip_prefix(':').and_then(EventType::parse).ok_or_else(|| {
            HistoryError::new(line, "type", format!("{kind:?} is not one of :invoke, :ok, :fail, :info"))
        })?;
        let f = f
            .strip_prefix(':')
            .filter(|f| !f.is_empty())
            .ok_or_else(|| HistoryError::new(line, "f", format!("{f:?} is not a keyword")))?;
        crate::edn::check_depth(value, line, "value")?;
        let edn = edn_format::parse_str(value)
            .map_err(|e| HistoryError::new(line, "value", format!("{value:?} is not an EDN value: {e}")))?;
        let (value, error) = match (&edn, kind) {
            (Edn::Keyword(k), EventType::Info | EventType::Fail) => (Value::Nil, Some(k.name().to_string())),
            _ => (crate::edn::to_value(&edn, line, "value")?, None),
        };
        events.push(Event {
            index: events.len() as u64,
            time: 0,
            process,
            kind,
            f: f.to_string(),
            key: None,
            value,
            error,
            node: None,
        });
        lines.push(line);
    }
    Ok((events, lines))
}

/// Splits `P :type :f value` into its four fields, each without surrounding
/// whitespace. Jepsen separates them with tabs in some versions and pads
/// them with spaces in others; the value is the rest of the line (a cas
/// value holds a space).
fn fields(rest: &str) -> Option<[&str; 4]> {
    let mut out = [""; 4];
    let mut rest = rest.trim();
    for field in out.iter_mut().take(3) {
        let end = rest.find(char::is_whitespace)?;
        *field = &rest[..end];
        rest = rest[end..].trim_start();
    }
    out[3] = rest;
    (!rest.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_nemesis_and_timeouts() {
        let text = "2015-04-21 INFO  jepsen.core - Worker 0 starting\n\
                    INFO  jepsen.util - 0\t:invoke\t:cas\t[3 0]\n\
                    INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
                    INFO  jepsen.util - 0\t:info\t:cas\t:timed-out\n\
                    INFO  jepsen.util - 5\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 5\t:ok\t:read\t3\n";
        let (events, lines) = parse(text).unwrap();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        assert_eq!(events[0].value, Value::List(vec![Value::Int(3), Value::Int(0)].into()));
        assert_eq!(events[1].process, Process::Nemesis);
        assert_eq!(events[2].kind, EventType::Info);
        assert_eq!(events[2].error.as_deref(), Some("timed-out"));
        assert_eq!(events[4].value, Value::Int(3));
    }

    #[test]
    fn space_padded_columns() {
        let text = "INFO  jepsen.util - 4   :invoke :cas    [1 2]\n\
                    INFO  jepsen.util - 4   :fail   :cas    [1 2]\n\
                    INFO  jepsen.util - 17  :invoke :read   nil\n\
                    INFO  jepsen.util - 17  :fail   :read   :timed-out\n";
        let (events, _) = parse(text).unwrap();
        assert_eq!(events[0].value, Value::List(vec![Value::Int(1), Value::Int(2)].into()));
        assert_eq!(events[1].kind, EventType::Fail);
        assert_eq!(events[2].process, Process::Client(17));
        assert_eq!(events[3].error.as_deref(), Some("timed-out"));
    }

    #[test]
    fn a_deeply_nested_value_is_refused_not_aborted() {
        let text = format!("INFO jepsen.util - 0\t:invoke\t:write\t{}\n", "[".repeat(8_000));
        let err = parse(&text).unwrap_err();
        assert_eq!((err.line, err.field), (1, "value"), "{err}");
        assert!(err.to_string().contains("nested more than"), "{err}");
    }

    #[test]
    fn malformed_lines_name_line_and_field() {
        let bad = |text: &str| parse(text).unwrap_err();
        let e = bad("x\nINFO  jepsen.util - 0 :invoke :read\n");
        assert_eq!((e.line, e.field), (2, "(jepsen-log)"));
        let e = bad("INFO  jepsen.util - p\t:invoke\t:read\tnil\n");
        assert_eq!((e.line, e.field), (1, "process"));
        let e = bad("INFO  jepsen.util - 0\t:done\t:read\tnil\n");
        assert_eq!((e.line, e.field), (1, "type"));
        let e = bad("INFO  jepsen.util - 0\t:invoke\tread\tnil\n");
        assert_eq!((e.line, e.field), (1, "f"));
        let e = bad("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2\n");
        assert_eq!((e.line, e.field), (1, "value"));
    }
}
