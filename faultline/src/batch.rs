//! A batch of runs into one folder: the nightly matrix, the unsafe-settings
//! sweep and the mutation suite are each a list of scenarios, run one after
//! another on one host set, then summarised (`summary.json`,
//! `summary.txt`, `index.html`) from the runs' own records.
//!
//! A batch can be split across machines: `--shard I/N` keeps a
//! deterministic slice of its runs ([`Shard`]), and [`merge`] gathers the
//! result folders of the slices into one summary and index.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use report::run_dir::Verdict;

use crate::run::{self, Bins, Run, BROKEN};
use crate::scenario::{Scenario, ScenarioError, TestOptions};

/// Which slice of a batch's runs this machine runs: the runs whose place
/// in the batch (from 0) is `index - 1` modulo `count`. Every machine given
/// the same options lists the same runs, so the slices never overlap and
/// together cover the batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    pub fn keeps(&self, place: usize) -> bool {
        place % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s}: give I/N, this machine's slice I of N (1 <= I <= N), such as 1/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.parse::<usize>().map_err(|_| bad())?, n.parse::<usize>().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The options every batch takes: where it runs, which slice, where its
/// folder goes, and whether only to list its runs.
#[derive(Clone, Debug, clap::Args)]
pub struct BatchArgs {
    /// Run every run on the machines of a cluster file (the local test
    /// hosts by default), so two batches on two host sets can run side by
    /// side.
    #[arg(long)]
    pub cluster: Option<PathBuf>,
    /// Run only slice I of N of the batch's runs (`faultline summary`
    /// merges the slices' folders).
    #[arg(long, default_value = "1/1")]
    pub shard: Shard,
    /// The batch's folder; results/KIND-TIMESTAMP by default.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// List the runs (after every check) and start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Builds every run's scenario before anything runs (a bad value stops
/// the batch before a host is touched), then keeps the shard's slice.
pub fn build(options: &[TestOptions], shard: Shard) -> Result<Vec<Scenario>, ScenarioError> {
    let mut kept = Vec::new();
    for (place, o) in options.iter().enumerate() {
        let scenario = Scenario::build(o)?;
        if shard.keeps(place) {
            kept.push(scenario);
        }
    }
    Ok(kept)
}

/// Prints the runs a batch would make, one line each (`--dry-run`).
pub fn show(prefix: &str, runs: &[Scenario]) {
    for s in runs {
        println!("{prefix}: would run {}", s.summary());
    }
    println!("{prefix}: {} run{}", runs.len(), if runs.len() == 1 { "" } else { "s" });
}

/// A batch's folder and how its runs went.
pub struct Batch {
    pub out: PathBuf,
    /// What its lines start with: `matrix`, `detect`, `mutants`.
    prefix: &'static str,
    /// A run broke before it could record itself (it is missing from the
    /// summary, but its failure must still count).
    unrecorded_failure: bool,
}

impl Batch {
    /// Makes `out`, or `RESULTS/KIND-TIMESTAMP`. A folder of that name
    /// already there is refused: two batches started in the same second
    /// (on two host sets) would otherwise share one folder and one
    /// summary.
    pub fn create(prefix: &'static str, kind: &str, out: Option<PathBuf>) -> Result<Batch, String> {
        let out = out.unwrap_or_else(|| run::results_root().join(format!("{kind}-{}", run::timestamp())));
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        match std::fs::create_dir(&out) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let empty = std::fs::read_dir(&out).map(|mut d| d.next().is_none()).unwrap_or(false);
                if !empty {
                    return Err(format!(
                        "{} already holds runs (another batch started this second, or give --out a new folder)",
                        out.display()
                    ));
                }
            }
            Err(e) => return Err(format!("cannot create {}: {e}", out.display())),
        }
        Ok(Batch { out, prefix, unrecorded_failure: false })
    }

    /// Runs one scenario to its end: its exit code. What the run says goes
    /// to its folder's log; the batch prints a line as it starts and ends.
    pub async fn run(&mut self, scenario: Scenario, bins: &Bins) -> u8 {
        let name = scenario.name.clone();
        println!("{}: {}", self.prefix, scenario.summary());
        let run = match Run::start(scenario, bins.clone(), &self.out, false) {
            Ok(r) => r,
            Err(e) => {
                println!("{}: {name}: exit {BROKEN}: {e}", self.prefix);
                self.unrecorded_failure = true;
                return BROKEN;
            }
        };
        let log = run.dir().join("run-test.log");
        let code = run::run(run).await;
        println!("{}: {name}: exit {code} ({})", self.prefix, log.display());
        code
    }

    /// Writes `summary.json`, `summary.txt` and `index.html` and prints the
    /// table: 0 when every run ended `expect` (and every run recorded
    /// itself), 1 otherwise, 3 when the summary could not be written.
    pub fn summarise(&self, expect: Verdict) -> u8 {
        let code = summarise(&self.out, expect);
        println!("{}: {}", self.prefix, self.out.join("summary.json").display());
        if code == 0 && self.unrecorded_failure {
            1
        } else {
            code
        }
    }
}

/// Runs `scenarios` one after another in the batch (stopping early on
/// SIGINT or SIGTERM): whether every one ran.
pub async fn run_all(batch: &mut Batch, scenarios: Vec<Scenario>, bins: &Bins) -> bool {
    for s in scenarios {
        if crate::interrupt::raised() {
            break;
        }
        batch.run(s, bins).await;
    }
    if crate::interrupt::raised() {
        println!("{}: interrupted; the runs so far are summarised", batch.prefix);
        return false;
    }
    true
}

/// What a batch is and how it ends.
pub struct Spec {
    /// What its lines start with: `matrix`, `detect`.
    pub prefix: &'static str,
    /// Its default folder's name: results/KIND-TIMESTAMP.
    pub kind: &'static str,
    pub args: BatchArgs,
    /// Run on copies of the binaries in the batch's folder, so that a
    /// rebuild meanwhile changes no run.
    pub freeze_bins: bool,
    /// The verdict every run must end with for exit 0; none: 0 whatever
    /// they end with (a measurement).
    pub expect: Option<Verdict>,
}

/// A whole batch: its runs built (every one checked) and sliced, then
/// listed (`dry_run`) or run and summarised. Exits as [`Batch::summarise`],
/// or 3 when the batch itself failed or was interrupted.
pub async fn drive(spec: Spec, options: &[TestOptions]) -> u8 {
    drive_in(spec, options).await.0
}

/// As [`drive`], with the batch's folder once it was made.
pub async fn drive_in(spec: Spec, options: &[TestOptions]) -> (u8, Option<PathBuf>) {
    let p = spec.prefix;
    let scenarios = match build(options, spec.args.shard) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{p}: {e}");
            return (BROKEN, None);
        }
    };
    if spec.args.dry_run {
        show(p, &scenarios);
        return (0, None);
    }
    let bins = match run::require_root().and_then(|()| Bins::find()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{p}: {e}");
            return (BROKEN, None);
        }
    };
    let mut batch = match Batch::create(p, spec.kind, spec.args.out) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{p}: {e}");
            return (BROKEN, None);
        }
    };
    let bins = if spec.freeze_bins {
        match bins.copy_to(&batch.out.join("bin"), None) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{p}: {e}");
                return (BROKEN, Some(batch.out));
            }
        }
    } else {
        bins
    };
    let complete = run_all(&mut batch, scenarios, &bins).await;
    let code = batch.summarise(spec.expect.unwrap_or(Verdict::Valid));
    let code = match (complete, spec.expect) {
        (false, _) => BROKEN,
        (true, None) if code != BROKEN => 0,
        _ => code,
    };
    (code, Some(batch.out))
}

/// Summarises every run under `dir` into its `summary.json`,
/// `summary.txt` and `index.html`, printing the table: 0 when every run
/// ended `expect`, 1 otherwise, 3 when it could not be written.
pub fn summarise(dir: &Path, expect: Verdict) -> u8 {
    let summary = match report::summary::write(dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("summary: {}: {e}", dir.display());
            return BROKEN;
        }
    };
    let table = report::summary::table(&summary);
    print!("{table}");
    if let Err(e) = std::fs::write(dir.join("summary.txt"), &table) {
        eprintln!("summary: {}/summary.txt: {e}", dir.display());
        return BROKEN;
    }
    if let Err(e) = report::index::render(dir) {
        eprintln!("summary: {}/index.html: {e}", dir.display());
        return BROKEN;
    }
    u8::from(!summary.all(expect))
}

/// Gathers result folders (a batch's slices, from many machines) under
/// `out`, one subfolder each named after its source, and summarises them
/// as one. Files are hard-linked where they can be, else copied; the
/// sources are left as they were.
pub fn merge(dirs: &[PathBuf], out: &Path, expect: Verdict) -> u8 {
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("summary: cannot create {}: {e}", out.display());
        return BROKEN;
    }
    for (i, dir) in dirs.iter().enumerate() {
        if !dir.is_dir() {
            eprintln!("summary: {}: no such folder", dir.display());
            return BROKEN;
        }
        let base = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
        // Numbered, so that two machines' folders of one name both stay.
        let to = out.join(format!("{}-{}", i + 1, base.unwrap_or_else(|| "runs".into())));
        if let Err(e) = mirror(dir, &to, Files::Link) {
            eprintln!("summary: cannot gather {} into {}: {e}", dir.display(), to.display());
            return BROKEN;
        }
    }
    summarise(out, expect)
}

/// How [`mirror`] puts each file at its new place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Files {
    /// Hard-linked, or copied across file systems: for files nobody will
    /// rewrite in place.
    Link,
    /// Copied: for files that will be rewritten at either place.
    Copy,
}

/// `from`'s tree at `to`: folders made, files linked or copied as `files`
/// says, symbolic links kept as links.
pub fn mirror(from: &Path, to: &Path, files: Files) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            mirror(&src, &dst, files)?;
        } else if kind.is_symlink() {
            let _ = std::fs::remove_file(&dst);
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if files == Files::Copy || std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::run_dir::RunStatus;

    #[test]
    fn shards_cover_the_batch_once() {
        for count in 1..=5 {
            let mut seen = vec![0; 23];
            for index in 1..=count {
                let shard: Shard = format!("{index}/{count}").parse().unwrap();
                for (place, n) in seen.iter_mut().enumerate() {
                    *n += usize::from(shard.keeps(place));
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{count}: {seen:?}");
        }
        for bad in ["0/2", "3/2", "1/0", "1", "a/b", "1/2/3"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.starts_with(bad) && e.contains("I/N"), "{e}");
        }
    }

    #[test]
    fn a_mirror_links_or_copies_every_file_as_asked() {
        use std::os::unix::fs::MetadataExt;
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("a/b")).unwrap();
        std::fs::write(from.path().join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("b/f", from.path().join("a/l")).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        for (files, same) in [(Files::Link, true), (Files::Copy, false)] {
            let to = tempfile::tempdir().unwrap();
            mirror(from.path(), to.path(), files).unwrap();
            assert_eq!(ino(&to.path().join("a/b/f")) == ino(&from.path().join("a/b/f")), same, "{files:?}");
            assert_eq!(std::fs::read_link(to.path().join("a/l")).unwrap(), Path::new("b/f"));
        }
    }

    /// A run folder as a finished run leaves it (its record only).
    fn fake_run(root: &Path, name: &str, seed: u64, code: u8) {
        let o = TestOptions {
            plan: "quick".into(),
            db: "raftkv".into(),
            seed: Some(seed.to_string()),
            name: Some(name.into()),
            ..TestOptions::default()
        };
        let mut record = Scenario::build(&o).unwrap().record("20261203T000000Z", "abc");
        record.status = RunStatus::Done;
        record.exit_code = Some(i32::from(code));
        let dir = root.join(name).join("20261203T000000Z");
        std::fs::create_dir_all(&dir).unwrap();
        report::run_dir::write_test(&dir, &record).unwrap();
    }

    #[test]
    fn slices_merged_summarise_as_the_whole_batch() {
        let runs = [("a-s1", 1, 0), ("a-s2", 2, 1), ("b-s1", 1, 0), ("b-s2", 2, 0), ("c-s1", 1, 2)];
        let whole = tempfile::tempdir().unwrap();
        let slices = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        for (place, (name, seed, code)) in runs.into_iter().enumerate() {
            fake_run(whole.path(), name, seed, code);
            let i = (1..=2).find(|&i| Shard { index: i, count: 2 }.keeps(place)).unwrap();
            fake_run(slices[i - 1].path(), name, seed, code);
        }
        let merged = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = slices.iter().map(|d| d.path().to_path_buf()).collect();
        assert_eq!(summarise(whole.path(), Verdict::Valid), 1);
        assert_eq!(merge(&dirs, merged.path(), Verdict::Valid), 1);
        let read = |d: &Path| -> report::summary::Summary {
            serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap()
        };
        let (a, b) = (read(whole.path()), read(merged.path()));
        let groups = |s: &report::summary::Summary| {
            s.groups
                .iter()
                .map(|g| {
                    let mut rows: Vec<_> = g.rows.iter().map(|r| (r.name.clone(), r.seed, r.verdict)).collect();
                    rows.sort_by(|x, y| x.0.cmp(&y.0));
                    (g.name.clone(), g.runs, g.valid, g.invalid, g.unknown, g.broken, rows)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!((a.runs, a.all_valid), (b.runs, b.all_valid));
        assert_eq!(groups(&a), groups(&b));
        assert!(merged.path().join("index.html").is_file() && merged.path().join("summary.txt").is_file());
        // The sources are left as they were.
        assert!(!slices[0].path().join("summary.json").exists());
    }
}
