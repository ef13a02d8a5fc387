//! JSON Lines to events: one line, a whole text (in parallel chunks, the
//! earliest bad line named), and a reader streamed in blocks while the
//! previous block is paired.

use std::borrow::Cow;

use serde::Deserialize;

use super::*;
use crate::limits::Budget;

#[derive(Deserialize)]
struct RawEvent<'a> {
    index: Option<u64>,
    time: Option<u64>,
    #[serde(borrow)]
    process: Option<RawProcess<'a>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    f: Option<Cow<'a, str>>,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Value,
    #[serde(default, borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProcess<'a> {
    Int(u64),
    #[serde(borrow)]
    Name(Cow<'a, str>),
}

/// Parses one JSON line (1-based `line` for errors) into an event.
pub fn parse_line(text: &str, line: usize) -> Result<Event, HistoryError> {
    let raw: RawEvent = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // serde_json names the offending field only in some messages.
        let field = ["index", "time", "process", "type", "f", "key", "value"]
            .into_iter()
            .find(|f| msg.contains(&format!("`{f}`")))
            .unwrap_or("(json)");
        HistoryError::new(line, field, format!("malformed event: {msg}"))
    })?;
    let process = match raw.process {
        Some(RawProcess::Int(p)) => Process::Client(p),
        Some(RawProcess::Name(n)) if n == "nemesis" => Process::Nemesis,
        Some(RawProcess::Name(n)) => {
            return Err(HistoryError::new(line, "process", format!("{n:?} is neither an integer nor \"nemesis\"")))
        }
        None => return Err(HistoryError::new(line, "process", "missing")),
    };
    let kind = raw.kind.ok_or_else(|| HistoryError::new(line, "type", "missing"))?;
    let kind = EventType::parse(&kind)
        .ok_or_else(|| HistoryError::new(line, "type", format!("{kind:?} is not one of invoke, ok, fail, info")))?;
    let f = raw.f.ok_or_else(|| HistoryError::new(line, "f", "missing"))?.into_owned();
    Ok(Event {
        index: raw.index.unwrap_or(line as u64 - 1),
        time: raw.time.unwrap_or(0),
        process,
        kind,
        f,
        key: raw.key,
        value: raw.value,
        error: raw.error.map(Cow::into_owned),
        node: raw.node.map(Cow::into_owned),
    })
}

/// Parses a whole JSON Lines text into events and their line numbers.
/// Blank lines are skipped. Lines are parsed in parallel; the first error
/// (by line number) is returned.
pub fn parse_jsonl(text: &str) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    parse_jsonl_from(text, 1)
}

/// [`parse_jsonl`] for a text whose first line is line `first_line`.
pub fn parse_jsonl_from(text: &str, first_line: usize) -> Result<(Vec<Event>, Vec<usize>), HistoryError> {
    let parsed = parse_jsonl_chunks(text, first_line, every_line, None)?;
    let n = parsed.iter().map(Vec::len).sum();
    let (mut events, mut lines) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (line, e) in parsed.into_iter().flatten() {
        lines.push(line);
        events.push(e);
    }
    Ok((events, lines))
}

/// Parses a JSON Lines text in parallel chunks cut at line boundaries:
/// (line number, event) per non-blank line, chunk by chunk, in order. The
/// first error (by line number) is returned. Lines `wanted` refuses are
/// passed over unparsed. When `budget` runs out, chunks stop where they
/// are (the caller then looks at the budget, not at what was parsed).
fn parse_jsonl_chunks(
    text: &str,
    first_line: usize,
    wanted: fn(&str) -> bool,
    budget: Option<&Budget>,
) -> Result<Vec<Vec<(usize, Event)>>, HistoryError> {
    use rayon::prelude::*;
    // Remember each chunk's first line number, so parallel parsing still
    // reports exact lines.
    let bytes = text.as_bytes();
    let target = (bytes.len() / (rayon::current_num_threads() * 8)).max(1 << 20);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + target).min(bytes.len());
        if end < bytes.len() {
            end = match memchr::memchr(b'\n', &bytes[end..]) {
                Some(i) => end + i + 1,
                None => bytes.len(),
            };
        }
        chunks.push((start, end));
        start = end;
    }
    let line_counts: Vec<usize> =
        chunks.par_iter().map(|&(s, e)| memchr::memchr_iter(b'\n', &bytes[s..e]).count()).collect();
    let mut first_lines = Vec::with_capacity(chunks.len());
    let mut acc = first_line;
    for c in &line_counts {
        first_lines.push(acc);
        acc += c;
    }
    let parsed: Vec<Result<Vec<(usize, Event)>, HistoryError>> = chunks
        .par_iter()
        .enumerate()
        .map(|(k, &(s, e))| {
            let first = first_lines[k];
            let mut out = Vec::with_capacity(line_counts[k] + 1);
            for (i, l) in text[s..e].split('\n').enumerate() {
                // Parsed lists take several times their text: look often.
                if i % 64 == 0 && budget.and_then(Budget::look).is_some() {
                    break;
                }
                let l = l.trim_end_matches('\r');
                if l.trim().is_empty() || !wanted(l) {
                    continue;
                }
                out.push((first + i, parse_line(l, first + i)?));
            }
            Ok(out)
        })
        .collect();
    // Rayon's own collect into a Result keeps an arbitrary error when
    // several chunks fail; going through the chunks in order keeps the
    // first, so the message names the earliest bad line.
    parsed.into_iter().collect()
}

/// Reads a JSON Lines history from `reader` in blocks, parsing each block
/// in parallel and pairing as it goes. Memory stays near the size of the
/// paired ops, whatever the size of the file.
pub fn load_jsonl(reader: impl std::io::Read) -> Result<History, LoadError> {
    load_jsonl_sharing(reader, LongestReads::default(), None)
}

/// Whether the first MiB of a JSON Lines history holds a line that may
/// be a list read: when it does not, the history is read once, without
/// the first pass that lets list reads share ([`longest_reads_jsonl`]),
/// since a register history has nothing to share.
pub fn may_have_list_reads(reader: impl std::io::Read) -> std::io::Result<bool> {
    const SNIFF: u64 = 1 << 20;
    let mut buf = Vec::with_capacity(SNIFF as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(reader, SNIFF), &mut buf)?;
    Ok(buf.split(|&b| b == b'\n').any(|l| may_be_list_read(&String::from_utf8_lossy(l))))
}

/// Whether a line may be a list read (a cheap test; the parse decides).
fn may_be_list_read(l: &str) -> bool {
    l.contains('[') && l.contains("read")
}

/// Each key's longest list read in a JSON Lines history (a first pass for
/// [`load_jsonl_sharing`]); the events are parsed and nothing is kept.
/// Only lines that may be list reads are parsed: this pass costs a scan of
/// the file, and a parse of the lists it shares.
pub fn longest_reads_jsonl(reader: impl std::io::Read, budget: Option<&Budget>) -> Result<LongestReads, LoadError> {
    let mut lists = LongestReads::default();
    stream_jsonl(reader, may_be_list_read, budget, &mut |e: Event, _| {
        lists.add(&e);
        Ok(())
    })?;
    Ok(lists)
}

/// [`load_jsonl`], with list reads that are prefixes of their key's
/// longest read (`lists`, from [`longest_reads_jsonl`]) sharing it.
/// Between blocks it stops when `budget` runs out.
pub fn load_jsonl_sharing(
    reader: impl std::io::Read,
    lists: LongestReads,
    budget: Option<&Budget>,
) -> Result<History, LoadError> {
    let mut pairer = Pairer::sharing(lists);
    stream_jsonl(reader, every_line, budget, &mut |e, line| pairer.feed(e, line))?;
    Ok(pairer.finish())
}

fn every_line(_: &str) -> bool {
    true
}

/// Bytes read and parsed at a time.
const BLOCK: usize = 16 << 20;

/// Hands every event of `reader` on a line `wanted` takes to `each`, in
/// order.
fn stream_jsonl(
    mut reader: impl std::io::Read,
    wanted: fn(&str) -> bool,
    budget: Option<&Budget>,
    each: &mut (impl FnMut(Event, usize) -> Result<(), HistoryError> + Send),
) -> Result<(), LoadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + (1 << 16));
    let mut first_line = 1;
    let mut eof = false;
    // The events of the block parsed last, not yet paired.
    let mut parsed: Vec<Vec<(usize, Event)>> = Vec::new();
    let mut read_bytes = 0usize;
    while !eof {
        if let Some(abort) = budget.and_then(Budget::look_now) {
            return Err(LoadError::Limit { abort, read_bytes });
        }
        // Read up to BLOCK more bytes straight into the buffer, after the
        // unfinished line left from the previous block; then cut at the
        // last newline.
        let start = buf.len();
        buf.resize(start + BLOCK, 0);
        let mut filled = start;
        while filled < buf.len() {
            let n = reader.read(&mut buf[filled..]).map_err(LoadError::Io)?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
            read_bytes += n;
        }
        buf.truncate(filled);
        let cut = if eof { buf.len() } else { memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1) };
        if cut == 0 && !eof {
            continue;
        }
        let rest = buf.split_off(cut);
        let text = std::str::from_utf8(&buf).map_err(|e| {
            let line = first_line + memchr::memchr_iter(b'\n', &buf[..e.valid_up_to()]).count();
            LoadError::History(HistoryError::new(line, "(json)", "not valid UTF-8"))
        })?;
        // Pairing is sequential; it runs on one thread while the block
        // after it is parsed on the others. The earlier block's error, if
        // any, is the one reported.
        let earlier = std::mem::take(&mut parsed);
        let (next, paired) =
            rayon::join(|| parse_jsonl_chunks(text, first_line, wanted, budget), || pair_chunks(each, earlier));
        paired.map_err(LoadError::History)?;
        parsed = next.map_err(LoadError::History)?;
        first_line += memchr::memchr_iter(b'\n', &buf).count();
        buf = rest;
    }
    // The last block's parse may have stopped short, or outgrown a limit.
    if let Some(abort) = budget.and_then(Budget::look_now) {
        return Err(LoadError::Limit { abort, read_bytes });
    }
    pair_chunks(each, parsed).map_err(LoadError::History)
}

fn pair_chunks(
    each: &mut impl FnMut(Event, usize) -> Result<(), HistoryError>,
    chunks: Vec<Vec<(usize, Event)>>,
) -> Result<(), HistoryError> {
    for (line, e) in chunks.into_iter().flatten() {
        each(e, line)?;
    }
    Ok(())
}

/// Why a history could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    History(HistoryError),
    /// A limit ran out while loading, after this many bytes.
    #[error("{} while loading, after {} MB", abort.reason(), read_bytes >> 20)]
    Limit { abort: crate::limits::Abort, read_bytes: usize },
}
