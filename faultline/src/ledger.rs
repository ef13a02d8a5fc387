//! `faultline ledger`: every bug the rig claims to catch, with the test
//! that shows it and what that test came to when it was last run. One
//! file (`docs/findings/ledger.json`) holds one row per bug:
//!
//! - a **finding**: a real bug in a system we did not write, found or
//!   reproduced black-box, argued in its `docs/findings/` folder; its test
//!   (options and seeds) and the verdict each seed must reach are written
//!   in its row;
//! - a **hunt**: a published bug the rig aims at and has not reached (yet);
//!   its row says how close the aimed test comes, and why, in its page;
//! - a **setting**: an unsafe setting (or its control), whose test is
//!   `faultline detect`'s ([`crate::detect::SETTINGS`]);
//! - a **mutant**: a planted bug of the mutation suite (`mutants/`), run
//!   under the plan its patch names.
//!
//! Each row's `verified` block (the command, how many runs reached the
//! expected verdict of how many, the median time to the first invalid op,
//! the day and the commit) is written only by `faultline ledger verify`,
//! which runs the rows again and rewrites the file and the README's table.
//! Nobody types a number into it, and the rows of settings and mutants are
//! made from their own definitions (`faultline ledger sync`), so the
//! ledger cannot drift from what the rig runs.

use std::path::{Path, PathBuf};

use report::run_dir::Verdict;
use report::summary::{Group, Summary};
use serde::{Deserialize, Serialize};

use crate::batch::{self, BatchArgs, Spec};
use crate::detect::{self, SETTINGS};
use crate::mutants::{self, Mutant, MutantsOptions};
use crate::run::BROKEN;
use crate::scenario::TestOptions;

/// Where the ledger lives, from the repository's root.
pub const LEDGER: &str = "docs/findings/ledger.json";
/// The page that shows the ledger's table, between [`TABLE_BEGIN`] and
/// [`TABLE_END`].
pub const README: &str = "README.md";
pub const TABLE_BEGIN: &str = "<!-- ledger table: written by `faultline ledger verify`; do not edit -->";
pub const TABLE_END: &str = "<!-- end of the ledger table -->";

/// What kind of bug a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Finding,
    Hunt,
    Setting,
    Mutant,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Finding => "finding",
            Kind::Hunt => "hunt",
            Kind::Setting => "setting",
            Kind::Mutant => "mutant",
        }
    }
}

/// One row of the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Short, unique: a finding's runs are named `ledger-NAME-sSEED`, a
    /// setting's `unsafe-NAME-sSEED`, a mutant's `mutant-NAME-sSEED`.
    pub name: String,
    pub kind: Kind,
    /// The system and version it is in.
    pub system: String,
    /// The bug, in one sentence.
    pub what: String,
    /// Who found it, or the public report it reproduces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where it is argued.
    pub doc: String,
    /// A finding's or a hunt's test; a setting's and a mutant's are their
    /// own definitions'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<LedgerTest>,
    /// The verdict a run must reach to count: invalid for a bug (a node
    /// failure counts too), valid for a control.
    pub expect: Verdict,
    /// For a finding of chance (a power failure that may or may not take
    /// the newest writes, a race): how many of its seeds must reach the
    /// verdict. Every seed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<usize>,
    /// What the last `faultline ledger verify` of this row came to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Verification>,
}

/// A finding's or a hunt's test: `faultline test` options, and its seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerTest {
    pub db: String,
    #[serde(default = "quick")]
    pub plan: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_consistency: Option<String>,
    pub seeds: Vec<u64>,
}

fn quick() -> String {
    "quick".into()
}

/// What one `faultline ledger verify` of a row came to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// The command that runs the row's test, as it was run.
    pub command: String,
    /// Runs that reached the row's expected verdict.
    pub met: usize,
    pub runs: usize,
    /// Of the runs that met an expected invalid verdict, those that did by
    /// a node failure (a panic, a node that would not come back, no final
    /// read) rather than by their history.
    #[serde(default)]
    pub node_failed: usize,
    /// Median time from the start of the workload to the first op that
    /// could not be linearized, over the invalid runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_time_to_invalid_s: Option<f64>,
    /// The day (UTC) and the commit it ran on.
    pub date: String,
    pub commit: String,
}

impl Row {
    /// Whether the runs met the row's bar: every run, or its `at_least`.
    fn holds(&self, v: &Verification) -> bool {
        v.runs > 0 && v.met >= self.at_least.unwrap_or(v.runs)
    }

    /// The name its runs share less the seed: the summary group that
    /// holds them.
    fn group(&self) -> String {
        match self.kind {
            Kind::Finding | Kind::Hunt => format!("ledger-{}", self.name),
            Kind::Setting => format!("unsafe-{}", self.name),
            Kind::Mutant => format!("mutant-{}", self.name),
        }
    }

    /// The command that runs this row's test over `seeds` (a setting's or
    /// a mutant's) or its own seeds (a finding's, a hunt's).
    fn command(&self, seeds: u64) -> String {
        match (&self.test, self.kind) {
            (Some(t), _) => {
                let mut words = vec!["faultline test".to_string(), format!("--db {}", t.db)];
                if t.plan != "quick" {
                    words.push(format!("--plan {}", t.plan));
                }
                let flags = [
                    ("--faults", &t.faults),
                    ("--workload", &t.workload),
                    ("--time-limit", &t.time_limit),
                    ("--interval", &t.interval),
                    ("--concurrency", &t.concurrency),
                    ("--rate", &t.rate),
                    ("--workload-args", &t.workload_args),
                    ("--node-args", &t.node_args),
                    ("--read-consistency", &t.read_consistency),
                ];
                for (flag, value) in flags {
                    if let Some(v) = value {
                        words.push(if v.contains(' ') { format!("{flag} \"{v}\"") } else { format!("{flag} {v}") });
                    }
                }
                match t.seeds.as_slice() {
                    [one] => {
                        words.push(format!("--seed {one}"));
                        words.join(" ")
                    }
                    many => {
                        let seeds: Vec<String> = many.iter().map(u64::to_string).collect();
                        format!("for s in {}; do {} --seed $s; done", seeds.join(" "), words.join(" "))
                    }
                }
            }
            (None, Kind::Mutant) => format!("faultline mutants --only {} --seeds {seeds}", self.name),
            (None, _) => format!("faultline detect --only {} --seeds {seeds}", self.name),
        }
    }
}

/// Reads the ledger, naming the file and what is wrong with it.
pub fn read(path: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows: Vec<Row> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for (i, r) in rows.iter().enumerate() {
        let bad = |what: String| format!("{}: row {:?}: {what}", path.display(), r.name);
        if rows[..i].iter().any(|g| g.name == r.name) {
            return Err(bad("is named twice".into()));
        }
        match (r.kind, &r.test) {
            (Kind::Finding | Kind::Hunt, None) => return Err(bad(format!("a {} needs its test", r.kind.name()))),
            (Kind::Finding | Kind::Hunt, Some(t)) if t.seeds.is_empty() => return Err(bad("has no seeds".into())),
            (Kind::Setting | Kind::Mutant, Some(_)) => {
                return Err(bad(format!("a {}'s test is its own definition's, not the ledger's", r.kind.name())))
            }
            _ => {}
        }
        let seeds = r.test.as_ref().map_or(usize::MAX, |t| t.seeds.len());
        if let Some(n) = r.at_least.filter(|&n| n == 0 || n > seeds) {
            return Err(bad(format!("at_least {n} must be 1 to its {seeds} seeds")));
        }
    }
    Ok(rows)
}

/// The ledger with one row for every mutant in `mutants` and every setting
/// of [`SETTINGS`], made from their definitions (a row's verification is
/// kept), and none for one that is gone. Findings and hunts are kept as
/// they are.
pub fn sync(rows: Vec<Row>, mutants: &[Mutant]) -> Vec<Row> {
    let mut by_name: std::collections::HashMap<String, Row> =
        rows.iter().map(|r| (r.name.clone(), r.clone())).collect();
    let mut out: Vec<Row> = rows.into_iter().filter(|r| matches!(r.kind, Kind::Finding | Kind::Hunt)).collect();
    for s in SETTINGS.iter() {
        let verified = by_name.remove(s.name).filter(|r| r.kind == Kind::Setting).and_then(|r| r.verified);
        out.push(Row {
            name: s.name.into(),
            kind: Kind::Setting,
            system: s.system().into(),
            what: s.what.into(),
            source: None,
            doc: s.doc().into(),
            test: None,
            expect: s.expect,
            at_least: None,
            verified,
        });
    }
    for m in mutants {
        let verified = by_name.remove(&m.name).filter(|r| r.kind == Kind::Mutant).and_then(|r| r.verified);
        out.push(Row {
            name: m.name.clone(),
            kind: Kind::Mutant,
            system: "raftkv, planted".into(),
            what: m.description(),
            source: None,
            doc: "docs/mutants.md".into(),
            test: None,
            expect: Verdict::Invalid,
            at_least: None,
            verified,
        });
    }
    out
}

/// The rows `only` names and `kinds` holds (all when empty); an unknown
/// name is refused.
pub fn select(all: &[Row], only: &[String], kinds: &[Kind]) -> Result<Vec<Row>, String> {
    if let Some(o) = only.iter().find(|o| !all.iter().any(|r| &r.name == *o)) {
        return Err(format!("--only {o}: no such row (faultline ledger show lists them)"));
    }
    Ok(all
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.name))
        .filter(|r| kinds.is_empty() || kinds.contains(&r.kind))
        .cloned()
        .collect())
}

/// The runs of the findings and hunts among `rows`: their seeds, named
/// `ledger-NAME-sSEED`.
pub fn runs(rows: &[Row], cluster: Option<&PathBuf>) -> Vec<TestOptions> {
    let mut out = Vec::new();
    for (r, t) in rows.iter().filter_map(|r| r.test.as_ref().map(|t| (r, t))) {
        for seed in &t.seeds {
            out.push(TestOptions {
                plan: t.plan.clone(),
                db: t.db.clone(),
                faults: t.faults.clone(),
                workload: t.workload.clone(),
                time_limit: t.time_limit.clone(),
                interval: t.interval.clone(),
                concurrency: t.concurrency.clone(),
                rate: t.rate.clone(),
                workload_args: t.workload_args.clone(),
                node_args: t.node_args.clone(),
                read_consistency: t.read_consistency.clone(),
                seed: Some(seed.to_string()),
                name: Some(format!("ledger-{}-s{seed}", r.name)),
                cluster: cluster.cloned(),
                ..TestOptions::default()
            });
        }
    }
    out
}

/// Sets each row of `rows` that ran in one of `summaries` beside what its
/// runs came to; a row that did not run keeps its last verification.
pub fn verify(rows: &mut [Row], summaries: &[Summary], seeds: u64, date: &str, commit: &str) {
    for r in rows.iter_mut() {
        let groups: Vec<&Group> = summaries.iter().flat_map(|s| &s.groups).filter(|g| g.name == r.group()).collect();
        let runs: Vec<_> = groups.iter().flat_map(|g| &g.rows).collect();
        if runs.is_empty() {
            continue;
        }
        r.verified = Some(Verification {
            command: r.command(seeds),
            met: runs.iter().filter(|run| run.verdict.meets(r.expect)).count(),
            runs: runs.len(),
            node_failed: runs.iter().filter(|run| run.verdict == Verdict::NodeFailed).count(),
            median_time_to_invalid_s: groups.iter().find_map(|g| g.median_time_to_invalid_s),
            date: date.into(),
            commit: commit.into(),
        });
    }
}

/// Sets the verification of each row of `ran` into the same row of
/// `rows`, where its definition is still what ran; the names of rows
/// whose definition changed meanwhile (their runs would be counted for a
/// test they did not run).
pub fn merge(rows: &mut [Row], ran: &[Row]) -> Vec<String> {
    let mut changed = Vec::new();
    for r in ran.iter().filter(|r| r.verified.is_some()) {
        let Some(row) = rows.iter_mut().find(|row| row.name == r.name) else { continue };
        if (&row.kind, &row.test, row.expect, row.at_least) == (&r.kind, &r.test, r.expect, r.at_least) {
            row.verified = r.verified.clone();
        } else {
            changed.push(r.name.clone());
        }
    }
    changed
}

/// A commit as the table shows it: ten hex digits, and whether the tree
/// had changes beside it.
fn short_commit(commit: &str) -> String {
    let dirty = commit.strip_suffix("-dirty");
    let hash = dirty.unwrap_or(commit);
    format!("{}{}", &hash[..hash.len().min(10)], if dirty.is_some() { " (with changes)" } else { "" })
}

/// The ledger as people read it: one line per row.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| bug | kind | system | caught | median time to invalid | last verified | command |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (caught, median, last, command) = match &r.verified {
            None => ("not yet verified".to_string(), String::new(), String::new(), r.command(10)),
            Some(v) => {
                let bar = match r.at_least {
                    Some(n) if n < v.runs => format!(" (needs {n})"),
                    _ => String::new(),
                };
                let verdict = match (r.expect, v.node_failed) {
                    (Verdict::Valid, _) => "valid".to_string(),
                    (_, 0) => "invalid".to_string(),
                    (_, n) => format!("invalid ({n} by a node failure)"),
                };
                let held = if r.holds(v) || r.kind != Kind::Finding { "" } else { ", NOT REPRODUCED" };
                (
                    format!("{}/{} {verdict}{bar}{held}", v.met, v.runs),
                    v.median_time_to_invalid_s.map(|s| format!("{s:.1} s")).unwrap_or_default(),
                    format!("{}, {}", v.date, short_commit(&v.commit)),
                    v.command.clone(),
                )
            }
        };
        out.push_str(&format!(
            "| [{}]({}) | {} | {} | {caught} | {median} | {last} | `{command}` |\n",
            r.name,
            r.doc,
            r.kind.name(),
            r.system
        ));
    }
    out
}

/// `text` with the part between the table's markers replaced by `table`;
/// an error when the markers are not there once, in order.
pub fn with_table(text: &str, table: &str) -> Result<String, String> {
    let (Some(begin), Some(end)) = (text.find(TABLE_BEGIN), text.find(TABLE_END)) else {
        return Err(format!("the markers of the ledger table ({TABLE_BEGIN} … {TABLE_END}) are not there"));
    };
    if end < begin || text.matches(TABLE_BEGIN).count() != 1 {
        return Err("the markers of the ledger table are out of order or repeated".into());
    }
    Ok(format!("{}{TABLE_BEGIN}\n{table}{}", &text[..begin], &text[end..]))
}

/// Writes the ledger and its table into the README, each through a
/// temporary file renamed over it (a reader never sees half a ledger).
pub fn write(rows: &[Row], ledger: &Path, readme: &Path) -> Result<(), String> {
    let page = std::fs::read_to_string(readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let page = with_table(&page, &table(rows)).map_err(|e| format!("{}: {e}", readme.display()))?;
    let json = serde_json::to_string_pretty(rows).expect("a ledger serialises") + "\n";
    for (path, text) in [(ledger, json), (readme, page)] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// `faultline ledger`'s subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// Run rows' tests again and rewrite the ledger and the README's table
    /// with what they came to. Exits 0 when every finding reproduced, 1
    /// when one did not (a hunt, a setting or a mutant is a measurement),
    /// 3 when the batch broke. Needs root.
    Verify(VerifyOptions),
    /// Print the ledger's table, as the last verifications left it.
    Show(Files),
    /// Make the rows of settings and mutants from their definitions (a new
    /// mutant gets its row) and rewrite the ledger and the table; nothing
    /// runs.
    Sync(Files),
}

/// Where the ledger and the page showing its table are.
#[derive(Clone, Debug, clap::Args)]
pub struct Files {
    /// The ledger file.
    #[arg(long, default_value = LEDGER)]
    pub ledger: PathBuf,
    /// The page whose table is rewritten.
    #[arg(long, default_value = README)]
    pub readme: PathBuf,
}

/// `faultline ledger verify`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct VerifyOptions {
    /// Only these rows (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Only rows of these kinds (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kind: Vec<Kind>,
    /// Seeds per setting and per mutant (a finding's and a hunt's are in
    /// its row).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    #[command(flatten)]
    pub files: Files,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Runs a `faultline ledger` subcommand.
pub async fn main(cmd: LedgerCommand) -> u8 {
    match cmd {
        LedgerCommand::Show(f) => match read(&f.ledger) {
            Ok(rows) => {
                print!("{}", table(&rows));
                0
            }
            Err(e) => fail(&e),
        },
        LedgerCommand::Sync(f) => {
            match load(&f.ledger).and_then(|rows| write(&rows, &f.ledger, &f.readme).map(|()| rows)) {
                Ok(rows) => {
                    println!("ledger: {} rows, {}", rows.len(), f.ledger.display());
                    0
                }
                Err(e) => fail(&e),
            }
        }
        LedgerCommand::Verify(o) => verify_main(o).await,
    }
}

fn fail(e: &str) -> u8 {
    eprintln!("ledger: {e}");
    BROKEN
}

/// The ledger at `path`, its rows of settings and mutants made from their
/// definitions (`mutants/` from the repository's root).
fn load(path: &Path) -> Result<Vec<Row>, String> {
    let mutants = mutants::all(Path::new("mutants")).map_err(|e| e.to_string())?;
    Ok(sync(read(path)?, &mutants))
}

async fn verify_main(o: VerifyOptions) -> u8 {
    let commit = crate::run::git_commit();
    let rows = match load(&o.files.ledger) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let chosen = match select(&rows, &o.only, &o.kind) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let settings: Vec<String> = chosen.iter().filter(|r| r.kind == Kind::Setting).map(|r| r.name.clone()).collect();
    let mutant_names: Vec<String> = chosen.iter().filter(|r| r.kind == Kind::Mutant).map(|r| r.name.clone()).collect();
    let mut options = runs(&chosen, o.batch.cluster.as_ref());
    if !settings.is_empty() {
        match detect::runs(&settings, o.seeds, o.batch.cluster.as_ref()) {
            Ok(r) => options.extend(r),
            Err(e) => return fail(&e.to_string()),
        }
    }
    // The batch's folder: the runs of findings, hunts and settings in it,
    // a mutant suite's in its `mutants/` (each mutant is built apart).
    let out = o
        .batch
        .out
        .clone()
        .unwrap_or_else(|| crate::run::results_root().join(format!("ledger-{}", crate::run::timestamp())));
    let mut summaries = Vec::new();
    let mut broke = false;
    if !options.is_empty() {
        let args = BatchArgs { out: Some(out.clone()), ..o.batch.clone() };
        let spec = Spec { prefix: "ledger", kind: "ledger", args, freeze_bins: false, expect: None };
        let (code, dir) = batch::drive_in(spec, &options).await;
        broke |= code == BROKEN;
        summaries.extend(dir.and_then(|d| report::summary::summarise(&d).ok()));
    }
    if !mutant_names.is_empty() && !crate::interrupt::raised() {
        let dir = out.join("mutants");
        let m = MutantsOptions {
            plan: None,
            seeds: Some(o.seeds),
            time_limit: None,
            faults: None,
            workload: None,
            workload_args: None,
            node_args: None,
            only: mutant_names,
            batch: BatchArgs { out: Some(dir.clone()), ..o.batch.clone() },
            list: false,
            check: false,
            shrink: false,
            confirm: 0,
        };
        broke |= mutants::main(m).await == BROKEN;
        if !o.batch.dry_run {
            summaries.extend(report::summary::summarise(&dir).ok());
        }
    }
    if o.batch.dry_run {
        return 0;
    }
    // An interrupted verify counted only some of its rows' seeds: a row
    // that needs eight of ten must not read as failed for having run five.
    if crate::interrupt::raised() {
        eprintln!("ledger: interrupted; the ledger is left as it was (the runs so far are in {})", out.display());
        return BROKEN;
    }
    let mut chosen = chosen;
    verify(&mut chosen, &summaries, o.seeds, &crate::run::day(), &commit);
    // Read again: a verify of other rows (on another host set) may have
    // rewritten the ledger meanwhile, and its rows are kept as it left them.
    let mut rows = match load(&o.files.ledger) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    for changed in merge(&mut rows, &chosen) {
        eprintln!(
            "ledger: {changed}: its row was edited while it ran; its runs are in {}, not in the ledger",
            out.display()
        );
    }
    if let Err(e) = write(&rows, &o.files.ledger, &o.files.readme) {
        return fail(&e);
    }
    let ran: Vec<Row> = rows.into_iter().filter(|r| chosen.iter().any(|c| c.name == r.name)).collect();
    print!("{}", table(&ran));
    println!("ledger: {} (and its table in {})", o.files.ledger.display(), o.files.readme.display());
    if broke {
        return BROKEN;
    }
    let missed = ran.iter().any(|r| r.kind == Kind::Finding && !r.verified.as_ref().is_some_and(|v| r.holds(v)));
    u8::from(missed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::summary::RunRow;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn repo_rows() -> Vec<Row> {
        read(&repo().join(LEDGER)).unwrap()
    }

    #[test]
    fn every_row_of_the_ledger_builds_a_valid_test_and_names_its_page() {
        let rows = repo_rows();
        for o in runs(&rows, None) {
            let s = crate::scenario::Scenario::build(&o).unwrap();
            assert!(s.name.starts_with("ledger-"), "{}", s.name);
        }
        for r in &rows {
            assert!(repo().join(&r.doc).exists(), "{}: {} is not there", r.name, r.doc);
        }
        assert!(rows.iter().any(|r| r.kind == Kind::Finding) && rows.iter().any(|r| r.kind == Kind::Hunt));
    }

    /// The ledger in the repository lists every mutant and every setting
    /// as their definitions make them, and the README shows its table:
    /// `faultline ledger sync` (or a verify) was run after any change.
    #[test]
    fn the_ledger_is_in_step_with_the_mutants_the_settings_and_the_readme() {
        let rows = repo_rows();
        let mutants = mutants::all(&repo().join("mutants")).unwrap();
        assert_eq!(sync(rows.clone(), &mutants), rows, "run `faultline ledger sync`");
        let kinds = |k| rows.iter().filter(|r| r.kind == k).count();
        assert_eq!((kinds(Kind::Mutant), kinds(Kind::Setting)), (mutants.len(), SETTINGS.len()));
        let page = std::fs::read_to_string(repo().join(README)).unwrap();
        assert_eq!(with_table(&page, &table(&rows)).unwrap(), page, "run `faultline ledger sync`");
    }

    #[test]
    fn a_bad_ledger_is_refused_naming_the_file_the_row_and_the_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        std::fs::write(&path, r#"[{"name": "x", "sistem": "etcd"}]"#).unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.starts_with(&path.display().to_string()) && e.contains("sistem"), "{e}");
        let finding = repo_rows().into_iter().find(|r| r.kind == Kind::Finding).unwrap();
        let refused = |r: Row| {
            std::fs::write(&path, serde_json::to_string(&[r]).unwrap()).unwrap();
            read(&path).unwrap_err()
        };
        let mut r = finding.clone();
        r.test.as_mut().unwrap().seeds.clear();
        assert!(refused(r).contains(&format!("row {:?}: has no seeds", finding.name)));
        let r = Row { at_least: Some(finding.test.as_ref().unwrap().seeds.len() + 1), ..finding.clone() };
        assert!(refused(r).contains("at_least"));
        let r = Row { test: None, ..finding.clone() };
        assert!(refused(r).contains("a finding needs its test"));
        let r = Row { kind: Kind::Mutant, ..finding.clone() };
        assert!(refused(r).contains("a mutant's test is its own definition's"));
        let e = select(&repo_rows(), &["nope".into()], &[]).unwrap_err();
        assert!(e.starts_with("--only nope: no such row"), "{e}");
    }

    #[test]
    fn a_row_is_verified_from_its_runs_and_a_finding_holds_at_its_bar() {
        let rows = repo_rows();
        let finding = rows.iter().find(|r| r.kind == Kind::Finding).unwrap().clone();
        let setting = rows.iter().find(|r| r.kind == Kind::Setting).unwrap().clone();
        let row = |name: &str, seed, verdict| RunRow {
            name: format!("{name}-s{seed}"),
            seed,
            verdict,
            exit_code: None,
            lost_write_count: None,
            time_to_invalid_s: None,
            explanation: None,
            findings: Vec::new(),
            dir: PathBuf::new(),
        };
        let group = |name: String, rows: Vec<RunRow>, median| Group {
            name,
            db: "raftkv".into(),
            node_args: String::new(),
            faults: String::new(),
            workload: String::new(),
            time_limit: String::new(),
            runs: rows.len(),
            valid: 0,
            invalid: 0,
            unknown: 0,
            node_failed: 0,
            broken: 0,
            refused: 0,
            median_time_to_invalid_s: median,
            example: None,
            rows,
        };
        let g = finding.group();
        let summary = Summary {
            runs: 3,
            all_valid: false,
            lost_writes: 0,
            groups: vec![
                group(g.clone(), vec![row(&g, 1, Verdict::Invalid), row(&g, 2, Verdict::Valid)], Some(4.25)),
                group(setting.group(), vec![row(&setting.group(), 1, Verdict::NodeFailed)], None),
            ],
        };
        let mut verified = vec![finding.clone(), setting.clone()];
        verify(&mut verified, &[summary], 10, "2026-12-04", "0123456789abcdef");
        let v = verified[0].verified.clone().unwrap();
        assert_eq!((v.met, v.runs, v.median_time_to_invalid_s, v.date.as_str()), (1, 2, Some(4.25), "2026-12-04"));
        assert!(v.command.starts_with(&format!("faultline test --db {}", finding.test.as_ref().unwrap().db)));
        let s = verified[1].verified.clone().unwrap();
        assert_eq!((s.met, s.runs), (usize::from(setting.expect == Verdict::Invalid), 1), "a node failure is a catch");
        assert_eq!(s.node_failed, 1);
        assert!(table(&verified[1..]).contains("| 1/1 invalid (1 by a node failure) |"), "{}", table(&verified[1..]));
        assert_eq!(s.command, format!("faultline detect --only {} --seeds 10", setting.name));
        // A finding of chance needs only its at_least; otherwise every run.
        let strict = Row { at_least: None, ..verified[0].clone() };
        assert!(!strict.holds(&v) && Row { at_least: Some(1), ..strict.clone() }.holds(&v));
        assert!(table(&[strict]).contains("| 1/2 invalid, NOT REPRODUCED | 4.2 s | 2026-12-04, 0123456789 |"));
        assert_eq!(short_commit("0123456789abcdef-dirty"), "0123456789 (with changes)");
        // A row that did not run keeps what it had.
        let before = verified.clone();
        verify(&mut verified, &[], 10, "2026-12-05", "x");
        assert_eq!(verified, before);
    }

    #[test]
    fn a_verification_is_merged_only_into_the_row_that_ran() {
        let rows = repo_rows();
        let mut ran = vec![rows.iter().find(|r| r.kind == Kind::Finding).unwrap().clone()];
        ran[0].verified = Some(Verification {
            command: "c".into(),
            met: 1,
            runs: 1,
            node_failed: 0,
            median_time_to_invalid_s: None,
            date: "d".into(),
            commit: "x".into(),
        });
        let mut same = rows.clone();
        assert!(merge(&mut same, &ran).is_empty());
        assert_eq!(same.iter().find(|r| r.name == ran[0].name).unwrap().verified, ran[0].verified);
        let mut edited = rows.clone();
        let row = edited.iter_mut().find(|r| r.name == ran[0].name).unwrap();
        row.test.as_mut().unwrap().seeds.push(99);
        let before = row.verified.clone();
        assert_eq!(merge(&mut edited, &ran), vec![ran[0].name.clone()]);
        assert_eq!(edited.iter().find(|r| r.name == ran[0].name).unwrap().verified, before);
    }

    #[test]
    fn the_table_goes_between_its_markers_and_nowhere_else() {
        let page = format!("# Title\n\n{TABLE_BEGIN}\nold\n{TABLE_END}\n\nafter\n");
        let new = with_table(&page, "| new |\n").unwrap();
        assert_eq!(new, format!("# Title\n\n{TABLE_BEGIN}\n| new |\n{TABLE_END}\n\nafter\n"));
        assert!(with_table("no markers", "x").unwrap_err().contains("are not there"));
        let twice = format!("{page}{TABLE_BEGIN}\n");
        assert!(with_table(&twice, "x").unwrap_err().contains("repeated"));
    }
}
