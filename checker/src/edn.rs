//! Jepsen's EDN histories: import (`--format edn`) and export
//! (`checker export --format edn`).
//!
//! Accepted input: Jepsen's `history.edn` (one map per line) and Knossos's
//! test data (a vector or list of maps, `;` comments). Keys used: `:process`
//! (an integer or `:nemesis`), `:type`, `:f`, `:value`, `:time`, `:index`,
//! `:error`. Values from independent keys are `[k v]` tuples; they are
//! recognised when every client op carries one (a cas then as
//! `[k [old new]]`). `nil` is absent.

use std::collections::BTreeMap;

use edn_format::{Keyword, Value as Edn};

use crate::history::{Event, EventType, HistoryError, Process, Value};

fn kw(name: &str) -> Edn {
    Edn::Keyword(Keyword::from_name(name))
}

/// What one pass over EDN text finds, tracking strings and comments.
struct Scan {
    /// Line (1-based) of each top-level op map: the maps themselves when
    /// the file is one map per line, or the maps inside the outer vector or
    /// list.
    map_lines: Vec<usize>,
    /// The line of the first `\u` escape that edn-format cannot take: in a
    /// string, one not followed by four hex digits; in a character literal,
    /// one followed by a multi-byte character, which edn-format slices
    /// through and panics on. Such input is refused before it is parsed.
    bad_escape: Option<usize>,
    /// The line where nesting first passed [`MAX_DEPTH`]. edn-format parses
    /// by recursion, so such input would overflow the stack (an abort, not
    /// an error); it is refused before it is parsed.
    too_deep: Option<usize>,
}

/// The deepest nesting of brackets accepted. A history's values nest a
/// few levels (a vector of op maps holding `[k [old new]]`); 8,000 levels
/// would abort the process inside edn-format.
pub const MAX_DEPTH: usize = 100;

/// Refuses text nested deeper than [`MAX_DEPTH`], naming the line (counted
/// from `first_line`) and `field`.
pub(crate) fn check_depth(text: &str, first_line: usize, field: &'static str) -> Result<(), HistoryError> {
    match scan(text).too_deep {
        Some(line) => Err(HistoryError::new(
            first_line + line - 1,
            field,
            format!("EDN nested more than {MAX_DEPTH} levels deep"),
        )),
        None => Ok(()),
    }
}

fn scan(text: &str) -> Scan {
    let mut out = Scan { map_lines: Vec::new(), bad_escape: None, too_deep: None };
    let (mut depth, mut line, mut in_str, mut escaped, mut comment) = (0usize, 1usize, false, false, false);
    let mut outer_is_collection = false;
    let mut seen_any = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
            comment = false;
            continue;
        }
        if comment {
            continue;
        }
        if c == '\\' && !escaped && chars.peek() == Some(&'u') && out.bad_escape.is_none() {
            let next: Vec<char> = chars.clone().skip(1).take(4).collect();
            let bad = if in_str {
                next.len() < 4 || !next.iter().all(char::is_ascii_hexdigit)
            } else {
                next.iter().any(|h| !h.is_ascii())
            };
            if bad {
                out.bad_escape = Some(line);
            }
        }
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            ';' => comment = true,
            '"' => in_str = true,
            '{' | '[' | '(' => {
                if !seen_any {
                    seen_any = true;
                    outer_is_collection = c != '{';
                }
                let op_depth = if outer_is_collection { 1 } else { 0 };
                if c == '{' && depth == op_depth {
                    out.map_lines.push(line);
                }
                depth += 1;
                if depth > MAX_DEPTH && out.too_deep.is_none() {
                    out.too_deep = Some(line);
                }
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out
}

pub(crate) fn to_value(v: &Edn, line: usize, field: &'static str) -> Result<Value, HistoryError> {
    Ok(match v {
        Edn::Nil => Value::Nil,
        Edn::Integer(i) => Value::Int(*i),
        Edn::String(s) => Value::Str(s.as_str().into()),
        Edn::Keyword(k) => Value::Str(k.name().into()),
        Edn::Vector(items) | Edn::List(items) => {
            Value::List(items.iter().map(|x| to_value(x, line, field)).collect::<Result<Vec<_>, _>>()?.into())
        }
        other => {
            return Err(HistoryError::new(
                line,
                field,
                format!("unsupported EDN value {}", edn_format::emit_str(other)),
            ))
        }
    })
}

/// The line of the first EDN syntax error in `text`: edn-format's
/// streaming parser does not say where it stopped. A history is one map
/// per line, so the first line that does not parse alone is the one; for a
/// form that spans lines, the whole-text parser's position (edn-format
/// names its fields the other way round: `col` counts lines).
fn error_line(text: &str) -> usize {
    let lone = text.lines().enumerate().find(|(_, l)| {
        let t = l.trim();
        t.starts_with('{') && t.ends_with('}') && edn_format::parse_str(t).is_err()
    });
    match lone {
        Some((i, _)) => i + 1,
        None => edn_format::parse_str(text).err().map_or(0, |e| e.col),
    }
}

/// Parses an EDN history into events and their line numbers.
pub fn parse(text: &str) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    let Scan { map_lines: lines, bad_escape, too_deep } = scan(text);
    if let Some(line) = bad_escape {
        return Err(HistoryError::new(line, "(edn)", "malformed EDN: \\u must be followed by four hex digits"));
    }
    if let Some(line) = too_deep {
        return Err(HistoryError::new(line, "(edn)", format!("EDN nested more than {MAX_DEPTH} levels deep")));
    }
    let mut maps = Vec::new();
    for item in edn_format::Parser::from_str(text, Default::default()) {
        let item = item.map_err(|e| HistoryError::new(error_line(text), "(edn)", format!("malformed EDN: {e}")))?;
        match item {
            Edn::Map(m) => maps.push(m),
            Edn::Vector(items) | Edn::List(items) => {
                for (i, x) in items.into_iter().enumerate() {
                    match x {
                        Edn::Map(m) => maps.push(m),
                        other => {
                            return Err(HistoryError::new(
                                lines.get(i).copied().unwrap_or(0),
                                "(edn)",
                                format!("expected an op map, found {}", edn_format::emit_str(&other)),
                            ))
                        }
                    }
                }
            }
            other => {
                return Err(HistoryError::new(
                    0,
                    "(edn)",
                    format!("expected an op map or a vector of them, found {}", edn_format::emit_str(&other)),
                ))
            }
        }
    }
    let line_of = |i: usize| lines.get(i).copied().unwrap_or(i + 1);
    let mut events = Vec::with_capacity(maps.len());
    for (i, m) in maps.iter().enumerate() {
        let line = line_of(i);
        let get = |k: &str| m.get(&kw(k));
        let process = match get("process") {
            Some(Edn::Integer(p)) if *p >= 0 => Process::Client(*p as u64),
            Some(Edn::Keyword(k)) if k.name() == "nemesis" => Process::Nemesis,
            Some(other) => {
                return Err(HistoryError::new(
                    line,
                    "process",
                    format!("{} is neither a process number nor :nemesis", edn_format::emit_str(other)),
                ))
            }
            None => return Err(HistoryError::new(line, "process", "missing")),
        };
        let kind = match get("type") {
            Some(Edn::Keyword(k)) => EventType::parse(k.name()),
            _ => None,
        }
        .ok_or_else(|| HistoryError::new(line, "type", "missing or not one of :invoke, :ok, :fail, :info"))?;
        let f = match get("f") {
            Some(Edn::Keyword(k)) => k.name().to_string(),
            Some(Edn::String(s)) => s.clone(),
            Some(Edn::Symbol(s)) => s.name().to_string(),
            _ => return Err(HistoryError::new(line, "f", "missing or not a keyword")),
        };
        let int = |k: &'static str| match get(k) {
            Some(Edn::Integer(n)) if *n >= 0 => Ok(Some(*n as u64)),
            None | Some(Edn::Nil) => Ok(None),
            Some(other) => Err(HistoryError::new(line, k, format!("{} is not a count", edn_format::emit_str(other)))),
        };
        events.push(Event {
            index: int("index")?.unwrap_or(i as u64),
            time: int("time")?.unwrap_or(0),
            process,
            kind,
            f,
            key: None,
            value: get("value").map(|v| to_value(v, line, "value")).transpose()?.unwrap_or_default(),
            error: get("error").map(|e| match e {
                Edn::String(s) => s.clone(),
                other => edn_format::emit_str(other),
            }),
            node: None,
        });
    }
    split_independent(&mut events);
    Ok((events, (0..maps.len()).map(line_of).collect()))
}

/// Moves `[k v]` tuples into `key` and `value` when every client op has one.
fn split_independent(events: &mut [Event]) {
    // A transaction's value is a list of micro-ops, never a [k v] tuple,
    // even when it holds two of them.
    let tuple = |e: &Event| match &e.value {
        Value::List(l) if l.len() == 2 && e.f != "txn" => {
            e.f != "cas" || matches!(&l[1], Value::List(c) if c.len() == 2)
        }
        _ => false,
    };
    let clients = || events.iter().filter(|e| e.process != Process::Nemesis);
    if clients().next().is_none() || !clients().all(tuple) {
        return;
    }
    for e in events.iter_mut().filter(|e| e.process != Process::Nemesis) {
        if let Value::List(l) = std::mem::take(&mut e.value) {
            let mut it = l.iter().cloned();
            e.key = it.next();
            e.value = it.next().unwrap_or_default();
        }
    }
}

fn to_edn(v: &Value) -> Edn {
    match v {
        Value::Nil => Edn::Nil,
        Value::Int(i) => Edn::Integer(*i),
        Value::Str(s) => Edn::String(s.to_string()),
        Value::List(l) => Edn::Vector(l.iter().map(to_edn).collect()),
    }
}

/// One event as a line of Jepsen's history.edn. Keyed ops become
/// independent `[k v]` tuples.
/// A transaction's micro-op, `["append", 9, 1]`, as Jepsen writes it:
/// `[:append 9 1]`.
fn micro_op(m: &Value) -> Edn {
    match m {
        Value::List(parts) => Edn::Vector(
            parts
                .iter()
                .enumerate()
                .map(|(i, p)| match (i, p) {
                    (0, Value::Str(f)) => kw(f),
                    _ => to_edn(p),
                })
                .collect(),
        ),
        other => to_edn(other),
    }
}

pub fn emit(e: &Event) -> String {
    let mut m = BTreeMap::new();
    m.insert(kw("index"), Edn::Integer(e.index as i64));
    m.insert(kw("time"), Edn::Integer(e.time as i64));
    m.insert(
        kw("process"),
        match e.process {
            Process::Client(p) => Edn::Integer(p as i64),
            Process::Nemesis => kw("nemesis"),
        },
    );
    m.insert(kw("type"), kw(e.kind.as_str()));
    // Knossos's register has no delete: a delete is its write of nil.
    let (f, v) = if e.f == "delete" { ("write", &Value::Nil) } else { (e.f.as_str(), &e.value) };
    m.insert(kw("f"), kw(f));
    let value = match (&e.key, v) {
        (Some(k), _) if e.process != Process::Nemesis => Edn::Vector(vec![to_edn(k), to_edn(v)]),
        // A transaction's micro-ops are named by keywords: [:append 9 1].
        (_, Value::List(mops)) if e.f == "txn" => Edn::Vector(mops.iter().map(micro_op).collect()),
        _ => to_edn(v),
    };
    m.insert(kw("value"), value);
    if let Some(err) = &e.error {
        m.insert(kw("error"), Edn::String(err.clone()));
    }
    edn_format::emit_str(&Edn::Map(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knossos_vector_with_comments_and_cas() {
        let text = "; a comment\n[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :value 1}\n {:process 1 :type :invoke :f :cas :value [1 2]} ; trailing\n {:process 1 :type :ok :f :cas :value [1 2]}\n {:process 2 :type :invoke :f :read :value nil}\n {:process 2 :type :ok :f :read :value 2}]\n";
        let (events, lines) = parse(text).unwrap();
        assert_eq!(events.len(), 6);
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(events[2].value, Value::List(vec![Value::Int(1), Value::Int(2)].into()));
        assert_eq!(events[2].key, None);
        assert_eq!(events[5].value, Value::Int(2));
    }

    #[test]
    fn jepsen_lines_with_independent_keys_round_trip() {
        let text = "{:type :invoke, :f :cas, :value [3 [nil 4]], :time 10, :process 0, :index 0}\n{:type :ok, :f :cas, :value [3 [nil 4]], :time 20, :process 0, :index 1}\n{:type :info, :f :start-partition, :value nil, :process :nemesis, :index 2}\n";
        let (events, _) = parse(text).unwrap();
        assert_eq!(events[0].key, Some(Value::Int(3)));
        assert_eq!(events[0].value, Value::List(vec![Value::Nil, Value::Int(4)].into()));
        assert_eq!(events[2].process, Process::Nemesis);
        let again: String = events.iter().map(|e| emit(e) + "\n").collect();
        let (back, _) = parse(&again).unwrap();
        assert_eq!(back, events);
    }

    #[test]
    fn a_delete_is_exported_as_knossos_write_of_nil() {
        let text = "{:type :invoke, :f :write, :value [3 5], :process 0, :index 0}\n";
        let (mut events, _) = parse(text).unwrap();
        events[0].f = "delete".into();
        assert!(emit(&events[0]).contains(":f :write"), "{}", emit(&events[0]));
        assert!(emit(&events[0]).contains(":value [3 nil]"), "{}", emit(&events[0]));
    }

    #[test]
    fn deep_nesting_is_refused_naming_its_line_not_aborted() {
        for open in ["[", "{", "(", "#{"] {
            let text = format!("{{:process 0 :type :invoke :f :read :value nil}}\n{}", open.repeat(8_000));
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, 2, "{err}");
            assert!(err.to_string().contains("nested more than 100 levels"), "{err}");
        }
        // A whole MiB of them, the largest input the goal names.
        assert!(parse(&"[{(".repeat(1 << 18)).is_err());
        assert!(crate::history::parse_jsonl(&"[".repeat(1 << 20)).is_err());
        // Brackets inside strings and comments do not count.
        let quoted =
            format!("{{:process 0 :type :invoke :f :write :value \"{}\"}} ; {}", "[".repeat(500), "(".repeat(500));
        assert!(parse(&quoted).is_ok());
    }

    #[test]
    fn malformed_edn_names_its_line() {
        let text =
            "{:type :invoke, :f :read, :value nil, :process 0}\n{:type :ok, :f :read, :value [1 2, :process 0}\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("line 2"), "{e}");
    }

    #[test]
    fn a_bad_unicode_escape_is_refused_with_its_line() {
        for text in ["{:f :read}\n\\u00⭶", "{:f :read}\n\"\\u12\"", "{:f :read}\n\\u[𑊟"] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with("line 2") && e.contains("four hex digits"), "{text:?}: {e}");
        }
        // An escaped backslash before a u is no escape; a comment is not parsed.
        assert!(scan("\"C:\\\\users\" ; \\u0").bad_escape.is_none());
        assert!(scan("\"\\u00e9\"").bad_escape.is_none());
    }
}
