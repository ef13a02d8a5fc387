//! `faultline ledger`: the bugs the rig has found or reproduced in systems
//! we did not write, each with the test that shows it, run again. A
//! ledger entry (`docs/findings/ledger.json`) names the finding, the
//! system, where it is argued, the test (its options and seeds) and the
//! verdict that test must reach; `faultline ledger` runs every entry's
//! seeds as one batch and says, from this run, which findings still
//! reproduce. So the ledger's "last reproduced" is a run's date, never a
//! line typed by hand (as in etcd's robustness table).

use std::path::{Path, PathBuf};

use report::run_dir::Verdict;
use serde::{Deserialize, Serialize};

use crate::batch::{self, BatchArgs, Spec};
use crate::run::BROKEN;
use crate::scenario::TestOptions;

/// Where the ledger lives, from the repository's root.
pub const LEDGER: &str = "docs/findings/ledger.json";

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Short, unique: the runs are named `ledger-NAME-sSEED`.
    pub name: String,
    /// The system and version it was seen in.
    pub system: String,
    /// The bug, in one sentence.
    pub what: String,
    /// Who found it, or the public report it reproduces.
    pub source: String,
    /// Where it is argued (a findings folder, an issue).
    pub doc: String,
    pub test: LedgerTest,
    /// The verdict a seed must reach to reproduce the finding.
    pub expect: Verdict,
    /// For a finding of chance (a power failure that may or may not take
    /// the newest writes, a race): how many of its seeds must reach the
    /// verdict. Every seed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<usize>,
}

/// The test that shows a finding: `faultline test` options, and its
/// seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerTest {
    pub db: String,
    #[serde(default = "quick")]
    pub plan: String,
    #[serde(default)]
    pub faults: Option<String>,
    #[serde(default)]
    pub workload: Option<String>,
    #[serde(default)]
    pub time_limit: Option<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub workload_args: Option<String>,
    #[serde(default)]
    pub node_args: Option<String>,
    #[serde(default)]
    pub read_consistency: Option<String>,
    pub seeds: Vec<u64>,
}

fn quick() -> String {
    "quick".into()
}

/// `faultline ledger`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct LedgerOptions {
    /// Only these findings (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The ledger file.
    #[arg(long, default_value = LEDGER)]
    pub ledger: PathBuf,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Reads the ledger, naming the file and what is wrong with it.
pub fn read(path: &Path) -> Result<Vec<Finding>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let findings: Vec<Finding> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for (i, f) in findings.iter().enumerate() {
        if findings[..i].iter().any(|g| g.name == f.name) {
            return Err(format!("{}: finding {:?} is named twice", path.display(), f.name));
        }
        if f.test.seeds.is_empty() {
            return Err(format!("{}: finding {:?} has no seeds", path.display(), f.name));
        }
        if let Some(n) = f.at_least.filter(|&n| n == 0 || n > f.test.seeds.len()) {
            return Err(format!(
                "{}: finding {:?}: at_least {n} must be 1 to its {} seeds",
                path.display(),
                f.name,
                f.test.seeds.len()
            ));
        }
    }
    Ok(findings)
}

/// The findings `only` names (all when empty); an unknown name is refused.
pub fn select(all: Vec<Finding>, only: &[String]) -> Result<Vec<Finding>, String> {
    if let Some(o) = only.iter().find(|o| !all.iter().any(|f| &f.name == *o)) {
        let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
        return Err(format!("--only {o}: no such finding; the ledger has {}", names.join(", ")));
    }
    Ok(all.into_iter().filter(|f| only.is_empty() || only.contains(&f.name)).collect())
}

/// Every finding's runs, in ledger order: its seeds, named
/// `ledger-NAME-sSEED`.
pub fn runs(findings: &[Finding], cluster: Option<&PathBuf>) -> Vec<TestOptions> {
    let mut out = Vec::new();
    for f in findings {
        let t = &f.test;
        for seed in &t.seeds {
            out.push(TestOptions {
                plan: t.plan.clone(),
                db: t.db.clone(),
                faults: t.faults.clone(),
                workload: t.workload.clone(),
                time_limit: t.time_limit.clone(),
                interval: t.interval.clone(),
                workload_args: t.workload_args.clone(),
                node_args: t.node_args.clone(),
                read_consistency: t.read_consistency.clone(),
                seed: Some(seed.to_string()),
                name: Some(format!("ledger-{}-s{seed}", f.name)),
                cluster: cluster.cloned(),
                ..TestOptions::default()
            });
        }
    }
    out
}

/// How one finding fared in this run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    pub name: String,
    pub system: String,
    /// Seeds that reached the expected verdict, of those run.
    pub reproduced: usize,
    pub runs: usize,
    /// The day of this run (UTC), when enough seeds reproduced it (every
    /// seed, or the finding's `at_least`).
    pub last_reproduced: Option<String>,
}

/// Sets each finding beside what its runs came to in `summary`.
pub fn verify(findings: &[Finding], summary: &report::summary::Summary, day: &str) -> Vec<Verified> {
    findings
        .iter()
        .map(|f| {
            let rows: Vec<_> = summary
                .groups
                .iter()
                .filter(|g| g.name == format!("ledger-{}", f.name))
                .flat_map(|g| &g.rows)
                .collect();
            let reproduced = rows.iter().filter(|r| r.verdict.meets(f.expect)).count();
            let enough = !rows.is_empty() && reproduced >= f.at_least.unwrap_or(rows.len());
            Verified {
                name: f.name.clone(),
                system: f.system.clone(),
                reproduced,
                runs: rows.len(),
                last_reproduced: enough.then(|| day.to_string()),
            }
        })
        .collect()
}

/// The ledger as people read it.
pub fn table(verified: &[Verified]) -> String {
    let mut out = String::from("| finding | system | reproduced | last reproduced |\n|---|---|---|---|\n");
    for v in verified {
        out.push_str(&format!(
            "| {} | {} | {}/{} | {} |\n",
            v.name,
            v.system,
            v.reproduced,
            v.runs,
            v.last_reproduced.as_deref().unwrap_or("not in this run")
        ));
    }
    out
}

/// Runs the ledger (or lists it): 0 when every finding reproduced (in
/// every seed, or its `at_least`), 1 when any did not, 3 when the ledger or the batch failed.
pub async fn main(o: LedgerOptions) -> u8 {
    let findings = match read(&o.ledger).and_then(|all| select(all, &o.only)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ledger: {e}");
            return BROKEN;
        }
    };
    let options = runs(&findings, o.batch.cluster.as_ref());
    let spec = Spec { prefix: "ledger", kind: "ledger", args: o.batch, freeze_bins: false, expect: None };
    let (code, out) = batch::drive_in(spec, &options).await;
    // A dry run makes no folder; a broken batch has no ledger to show.
    let Some(out) = out.filter(|_| code != BROKEN) else { return code };
    let summary = match report::summary::summarise(&out) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ledger: {}: {e}", out.display());
            return BROKEN;
        }
    };
    let day = crate::run::timestamp()[..8].to_string();
    let verified = verify(&findings, &summary, &format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..]));
    print!("{}", table(&verified));
    let json = serde_json::to_string_pretty(&verified).expect("a ledger serialises");
    if let Err(e) = std::fs::write(out.join("ledger.json"), json + "\n") {
        eprintln!("ledger: {}/ledger.json: {e}", out.display());
        return BROKEN;
    }
    println!("ledger: {}", out.join("ledger.json").display());
    u8::from(verified.iter().any(|v| v.last_reproduced.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn repo_ledger() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join(LEDGER)
    }

    #[test]
    fn every_entry_of_the_ledger_builds_a_valid_test() {
        let findings = read(&repo_ledger()).unwrap();
        assert!(!findings.is_empty());
        for o in runs(&findings, None) {
            let s = Scenario::build(&o).unwrap();
            assert!(s.name.starts_with("ledger-"), "{}", s.name);
        }
        for f in &findings {
            let doc = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join(&f.doc);
            assert!(doc.exists(), "{}: {} is not there", f.name, f.doc);
        }
    }

    #[test]
    fn a_bad_ledger_is_refused_naming_the_file_and_the_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        std::fs::write(&path, r#"[{"name": "x", "sistem": "etcd"}]"#).unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.starts_with(&path.display().to_string()) && e.contains("sistem"), "{e}");
        let mut f = read(&repo_ledger()).unwrap().remove(0);
        f.test.seeds.clear();
        std::fs::write(&path, serde_json::to_string(&[f]).unwrap()).unwrap();
        assert!(read(&path).unwrap_err().contains("has no seeds"));
        let mut f = read(&repo_ledger()).unwrap().remove(0);
        f.at_least = Some(f.test.seeds.len() + 1);
        std::fs::write(&path, serde_json::to_string(&[f]).unwrap()).unwrap();
        assert!(read(&path).unwrap_err().contains("at_least"), "{}", read(&path).unwrap_err());
        let e = select(read(&repo_ledger()).unwrap(), &["nope".into()]).unwrap_err();
        assert!(e.starts_with("--only nope: no such finding"), "{e}");
    }

    #[test]
    fn a_finding_reproduces_when_every_seed_or_its_at_least_reaches_its_verdict() {
        use report::summary::{Group, RunRow, Summary};
        let f = read(&repo_ledger()).unwrap().remove(0);
        let row = |seed, verdict| RunRow {
            name: format!("ledger-{}-s{seed}", f.name),
            seed,
            verdict,
            exit_code: None,
            lost_write_count: None,
            time_to_invalid_s: None,
            explanation: None,
            findings: Vec::new(),
            dir: PathBuf::new(),
        };
        let summary = |rows: Vec<RunRow>| Summary {
            runs: rows.len(),
            all_valid: false,
            lost_writes: 0,
            groups: vec![Group {
                name: format!("ledger-{}", f.name),
                db: "etcd".into(),
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
                median_time_to_invalid_s: None,
                example: None,
                rows,
            }],
        };
        let both = verify(std::slice::from_ref(&f), &summary(vec![row(1, f.expect), row(2, f.expect)]), "2026-12-03");
        assert_eq!((both[0].reproduced, both[0].runs, both[0].last_reproduced.as_deref()), (2, 2, Some("2026-12-03")));
        let one =
            verify(std::slice::from_ref(&f), &summary(vec![row(1, f.expect), row(2, Verdict::Broken)]), "2026-12-03");
        assert_eq!((one[0].reproduced, one[0].last_reproduced.as_deref()), (1, None));
        assert!(table(&one).contains("| 1/2 | not in this run |"), "{}", table(&one));
        // A finding of chance needs only its at_least.
        let chance = Finding { at_least: Some(1), ..f.clone() };
        let one = verify(
            std::slice::from_ref(&chance),
            &summary(vec![row(1, Verdict::Valid), row(2, f.expect)]),
            "2026-12-03",
        );
        assert_eq!((one[0].reproduced, one[0].last_reproduced.as_deref()), (1, Some("2026-12-03")));
    }
}
