//! `results/index.html`: every run under a results folder, newest first,
//! with its name, time, faults, workload, op count and coloured verdict,
//! linking to its report. Regenerated after each run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use checker::results::Validity;

use crate::page::esc;
use crate::run_dir::{self, RunStatus};

struct Row {
    link: String,
    name: String,
    /// The system under test.
    db: String,
    timestamp: String,
    faults: String,
    workload: String,
    ops: String,
    verdict: (&'static str, &'static str),
}

/// Run folders: any folder (two levels deep at most) holding a test.json.
fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(names) = std::fs::read_dir(root) else { return out };
    for name in names.flatten().map(|e| e.path()).filter(|p| p.is_dir() && !p.is_symlink()) {
        if name.join("test.json").is_file() {
            out.push(name.clone());
        }
        if let Ok(runs) = std::fs::read_dir(&name) {
            out.extend(
                runs.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir() && !p.is_symlink() && p.join("test.json").is_file()),
            );
        }
    }
    out
}

/// Writes `root/index.html`; returns its path.
pub fn render(root: &Path) -> std::io::Result<PathBuf> {
    let mut rows: Vec<Row> = run_dirs(root)
        .into_iter()
        .map(|dir| {
            // A folder whose records cannot be read still gets its row, so
            // the index never hides a run.
            let test = run_dir::read_test(&dir).ok();
            let results = run_dir::read_results(&dir).ok().flatten();
            let node_failed = test.as_ref().is_some_and(|t| t.verdict() == run_dir::Verdict::NodeFailed);
            let verdict = match results.as_ref().map(|r| r.check.valid) {
                _ if node_failed => ("broken", "NODE FAILED"),
                Some(Validity::Valid) => ("valid", "valid"),
                Some(Validity::Invalid) => ("invalid", "INVALID"),
                Some(Validity::Unknown) => ("unknown", "unknown"),
                None if test.as_ref().is_some_and(|t| t.status == RunStatus::Broken) => ("broken", "broken"),
                None => ("unknown", "not checked"),
            };
            let ops = results
                .as_ref()
                .map(|r| r.run.as_ref().map_or(r.check.ops_checked as u64, |s| s.ops))
                .map(|n| n.to_string())
                .unwrap_or_else(|| "–".into());
            let field =
                |get: fn(&run_dir::TestRecord) -> &String| test.as_ref().map_or("–".into(), |t| get(t).clone());
            Row {
                link: dir.strip_prefix(root).unwrap_or(&dir).join("report.html").to_string_lossy().into_owned(),
                name: field(|t| &t.name),
                db: field(|t| &t.db),
                timestamp: field(|t| &t.timestamp),
                faults: field(|t| &t.faults),
                workload: field(|t| &t.workload),
                ops,
                verdict,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(a.name.cmp(&b.name)));
    let mut html = String::from(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Faultline runs</title><style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1060px; color: #222; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .25em .8em .25em 0; border-bottom: 1px solid #eee; }
.verdict { font-weight: bold; } .valid { color: #2e7d32; } .invalid, .broken { color: #c62828; } .unknown { color: #8d6e00; }
</style></head><body><h1>Faultline runs</h1>
"#,
    );
    if rows.is_empty() {
        html.push_str(r#"<p id="no-runs">No runs yet: <code>faultline test</code> (or <code>scripts/run-test</code>) makes one.</p>"#);
    } else {
        html.push_str(r#"<table id="runs"><tr><th>name</th><th>system</th><th>time</th><th>faults</th><th>workload</th><th>ops</th><th>verdict</th><th></th></tr>"#);
        for r in &rows {
            let _ = write!(
                html,
                r#"<tr class="run"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="verdict {}">{}</td><td><a href="{}">report</a></td></tr>"#,
                esc(&r.name),
                esc(&r.db),
                esc(&r.timestamp),
                esc(&r.faults),
                esc(&r.workload),
                esc(&r.ops),
                r.verdict.0,
                r.verdict.1,
                esc(&r.link)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("<script>document.body.dataset.rendered = 'ok';</script></body></html>\n");
    let out = root.join("index.html");
    std::fs::write(&out, html)?;
    Ok(out)
}
