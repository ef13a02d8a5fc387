//! The public cas-register histories with known verdicts (`checker corpus`,
//! behind `scripts/bench-jepsen-corpus`): Porcupine's Jepsen etcd logs and
//! Knossos's EDN histories, each checked and compared with the verdict its
//! own project's tests assert.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::check::CheckOptions;
use crate::input;
use crate::model::ModelName;
use crate::results::Validity;

/// The etcd logs (`test_data/jepsen/etcd_NNN.log`) that Porcupine's tests
/// expect to be linearizable; every other one is expected not to be,
/// except 095, which its tests skip (etcd failed to start in that run, and
/// the log is empty).
const LINEARIZABLE_ETCD: [u32; 23] =
    [2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102];
const SKIPPED_ETCD: u32 = 95;

/// One history and its known verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Known {
    pub path: PathBuf,
    pub expected: Validity,
}

/// Why the corpus cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{0} is not a folder (give a checkout of the repository)")]
    NotAFolder(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, CorpusError> {
    if !dir.is_dir() {
        return Err(CorpusError::NotAFolder(dir.to_path_buf()));
    }
    let io = |source| CorpusError::Io { path: dir.to_path_buf(), source };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    Ok(out)
}

/// Porcupine's etcd logs under a checkout of anishathalye/porcupine.
pub fn porcupine(checkout: &Path) -> Result<Vec<Known>, CorpusError> {
    let mut known = Vec::new();
    for path in files(&checkout.join("test_data/jepsen"), "log")? {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let Some(n) = stem.strip_prefix("etcd_").and_then(|n| n.parse::<u32>().ok()) else { continue };
        if n == SKIPPED_ETCD {
            continue;
        }
        let expected = if LINEARIZABLE_ETCD.contains(&n) { Validity::Valid } else { Validity::Invalid };
        known.push(Known { path, expected });
    }
    Ok(known)
}

/// Knossos's `data/cas-register/{good,bad}/*.edn` under a checkout of
/// jepsen-io/knossos (good: linearizable).
pub fn knossos(checkout: &Path) -> Result<Vec<Known>, CorpusError> {
    let mut known = Vec::new();
    for (kind, expected) in [("good", Validity::Valid), ("bad", Validity::Invalid)] {
        for path in files(&checkout.join("data/cas-register").join(kind), "edn")? {
            known.push(Known { path, expected });
        }
    }
    Ok(known)
}

/// One history's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    pub path: PathBuf,
    pub expected: Validity,
    /// None when the file could not be read or paired.
    pub got: Option<Validity>,
    pub error: Option<String>,
    pub check_ms: f64,
}

impl Checked {
    pub fn agrees(&self) -> bool {
        self.got == Some(self.expected)
    }
}

/// Checks every history (in parallel) with the register model.
pub fn check_all(known: &[Known], opts: &CheckOptions) -> Vec<Checked> {
    known
        .par_iter()
        .map(|k| {
            let started = Instant::now();
            let r = input::load_history(&k.path, None)
                .map_err(|e| e.to_string())
                .and_then(|h| input::check_history(&h, Some(ModelName::Register), opts).map_err(|e| e.to_string()));
            let check_ms = started.elapsed().as_secs_f64() * 1e3;
            match r {
                Ok(results) => Checked {
                    path: k.path.clone(),
                    expected: k.expected,
                    got: Some(results.valid),
                    error: None,
                    check_ms: results.check_time_ms,
                },
                Err(e) => Checked { path: k.path.clone(), expected: k.expected, got: None, error: Some(e), check_ms },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_come_from_the_file_names_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let jepsen = dir.path().join("test_data/jepsen");
        std::fs::create_dir_all(&jepsen).unwrap();
        for n in ["etcd_002.log", "etcd_003.log", "etcd_095.log", "notes.txt"] {
            std::fs::write(jepsen.join(n), "").unwrap();
        }
        let k = porcupine(dir.path()).unwrap();
        let got: Vec<(String, Validity)> =
            k.iter().map(|k| (k.path.file_name().unwrap().to_string_lossy().into_owned(), k.expected)).collect();
        assert_eq!(
            got,
            vec![("etcd_002.log".to_string(), Validity::Valid), ("etcd_003.log".to_string(), Validity::Invalid)]
        );
        assert!(matches!(knossos(dir.path()), Err(CorpusError::NotAFolder(_))));
    }
}
