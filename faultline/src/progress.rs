//! The live line while a run's clients and nemesis work: elapsed time
//! against the time limit, operations completed and their rate, faults so
//! far and the one in force, as cargo and indicatif users expect. It reads
//! the run's own growing files (`history.jsonl`, `nemesis.jsonl`), so it
//! needs nothing from the processes that write them. indicatif draws it on
//! stderr only when that is a terminal: a batch, a log file or CI sees
//! nothing of it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// The complete lines appended to a file since the last look.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail { path, offset: 0, partial: String::new() }
    }

    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return Vec::new() };
        let mut text = String::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_string(&mut text).is_err() {
            return Vec::new();
        }
        self.offset += text.len() as u64;
        self.partial.push_str(&text);
        let Some(end) = self.partial.rfind('\n') else { return Vec::new() };
        let rest = self.partial.split_off(end + 1);
        let lines = std::mem::replace(&mut self.partial, rest);
        lines.lines().map(String::from).collect()
    }
}

/// What the line says.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    ops: u64,
    faults: u64,
    /// The faults in force, as the nemesis labels them.
    current: Vec<String>,
}

impl Tally {
    /// A history event: a completion (ok, fail or info) is an operation.
    fn history(&mut self, line: &str) {
        /// The one field of a history event the line needs.
        #[derive(serde::Deserialize)]
        struct Typed<'a> {
            #[serde(rename = "type", borrow)]
            ty: &'a str,
        }
        if serde_json::from_str::<Typed>(line).is_ok_and(|e| e.ty != "invoke") {
            self.ops += 1;
        }
    }

    /// A nemesis event: a fault that took effect, or its undo (or the
    /// final heal) that ended one.
    fn nemesis(&mut self, line: &str) {
        use report::page::faults::NemesisInfo;
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else { return };
        let (Some(f), Some("info")) = (ev["f"].as_str(), ev["type"].as_str()) else { return };
        match NemesisInfo::of(f, &ev["value"]) {
            NemesisInfo::Applied { label } => {
                self.faults += 1;
                self.current.push(label.to_string());
            }
            NemesisInfo::Undone { label } => self.current.retain(|l| l != label),
            NemesisInfo::Healed => self.current.clear(),
            NemesisInfo::Other => {}
        }
    }

    fn message(&self, elapsed: Duration, limit: Duration) -> String {
        // Past the limit the faults are healed and the clients wait out
        // the recovery before their final reads: the rate is the run's.
        let over = elapsed > limit;
        let elapsed = elapsed.min(limit);
        let secs = elapsed.as_secs_f64().max(0.001);
        let now = match (over, self.current.last()) {
            (true, _) => " · healed; recovery wait, then final reads".to_string(),
            (false, Some(label)) => format!(", now {label}"),
            (false, None) => String::new(),
        };
        format!(
            "{}s/{}s · {} ops ({:.0}/s) · {} fault{}{now}",
            elapsed.as_secs(),
            limit.as_secs(),
            self.ops,
            self.ops as f64 / secs,
            self.faults,
            if self.faults == 1 { "" } else { "s" }
        )
    }
}

/// The line of one run.
pub struct Progress {
    bar: ProgressBar,
    history: Tail,
    nemesis: Tail,
    tally: Tally,
    started: Instant,
    limit: Duration,
}

impl Progress {
    /// Starts the line for the run in `dir` (hidden unless stderr is a
    /// terminal and `shown`).
    pub fn start(dir: &Path, limit: Duration, shown: bool) -> Progress {
        let bar = if shown { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Progress {
            bar,
            history: Tail::new(dir.join("history.jsonl")),
            nemesis: Tail::new(dir.join("nemesis.jsonl")),
            tally: Tally::default(),
            started: Instant::now(),
            limit,
        }
    }

    /// Reads what the run wrote since the last tick and redraws.
    pub fn tick(&mut self) {
        for l in self.history.new_lines() {
            self.tally.history(&l);
        }
        for l in self.nemesis.new_lines() {
            self.tally.nemesis(&l);
        }
        self.bar.set_message(self.tally.message(self.started.elapsed(), self.limit));
        self.bar.tick();
    }

    /// Prints a line above the bar, without tearing it.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_completions_and_follows_faults_until_undone_or_healed() {
        let mut t = Tally::default();
        for l in [
            r#"{"index":0,"type":"invoke","f":"write","key":3,"value":1}"#,
            r#"{"index":1,"type":"ok","f":"write","key":3,"value":1}"#,
            r#"{"index":2,"type":"invoke","f":"read","key":3,"value":null}"#,
            r#"{"index":3,"type":"info","f":"read","key":3,"value":null}"#,
        ] {
            t.history(l);
        }
        assert_eq!(t.ops, 2);
        let kill = r#"{"nodes":["n2"],"label":"kill n2","undo":"restart"}"#;
        t.nemesis(r#"{"f":"kill","type":"invoke","value":{"target":"one"}}"#);
        assert_eq!(t.faults, 0, "an invoke has not taken effect");
        t.nemesis(&format!(r#"{{"f":"kill","type":"info","value":{kill}}}"#));
        t.nemesis(r#"{"f":"pause","type":"info","value":{"nodes":["n1"],"label":"pause n1","undo":"resume"}}"#);
        assert_eq!((t.faults, t.current.len()), (2, 2));
        let m = t.message(Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(m, "10s/60s · 2 ops (0/s) · 2 faults, now pause n1");
        t.nemesis(&format!(r#"{{"f":"restart","type":"info","value":{kill}}}"#));
        assert_eq!(t.current, ["pause n1"]);
        t.nemesis(r#"{"f":"heal","type":"info","value":{"still_broken":[]}}"#);
        assert!(t.current.is_empty());
        assert!(!t.message(Duration::from_secs(1), Duration::from_secs(60)).contains("now"));
        let m = t.message(Duration::from_secs(70), Duration::from_secs(60));
        assert!(m.starts_with("60s/60s") && m.ends_with("recovery wait, then final reads"), "{m}");
    }

    #[test]
    fn a_tail_returns_only_whole_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut tail = Tail::new(path.clone());
        assert!(tail.new_lines().is_empty(), "no file yet");
        std::fs::write(&path, "a\nb\npart").unwrap();
        assert_eq!(tail.new_lines(), ["a", "b"]);
        std::fs::write(&path, "a\nb\npartial\nc\n").unwrap();
        assert_eq!(tail.new_lines(), ["partial", "c"]);
        assert!(tail.new_lines().is_empty());
    }
}
