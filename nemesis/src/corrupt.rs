//! File corruption on a stopped node: what to damage and how, chosen with
//! the nemesis's seeded RNG from the node's file list, so one seed always
//! damages the same bytes of the same file.
//!
//! Three kinds, after Jepsen's file-corruption nemesis:
//! - truncate the tail of the newest write-ahead log (a torn append);
//! - flip bits in a few bytes of one block of a log, table or manifest;
//! - zero a range of one of them.
//!
//! The node must then either recover without serving wrong data (the
//! checker judges that), or refuse to start with a clear message, which the
//! nemesis records as a finding, not as a failure of the rig.

use std::fmt;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

/// How a file is damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corruption {
    TruncateTail,
    FlipBits,
    ZeroRange,
}

pub const CORRUPTIONS: [Corruption; 3] = [Corruption::TruncateTail, Corruption::FlipBits, Corruption::ZeroRange];

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Corruption::TruncateTail => "truncate-tail",
            Corruption::FlipBits => "flip-bits",
            Corruption::ZeroRange => "zero-range",
        })
    }
}

/// The block a flip stays within, and the most a truncate or a zeroing
/// takes.
const BLOCK: u64 = 4096;

/// Exactly what is done to one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// Relative to the node's data dir.
    pub file: String,
    pub how: Corruption,
    /// The first byte touched (for a truncate, the new length).
    pub offset: u64,
    /// Bytes touched (cut, zeroed, or flipped).
    pub len: u64,
    /// For a flip: each byte's offset and the mask it is xored with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flips: Vec<(u64, u8)>,
}

impl Damage {
    /// The arguments of the host's `step_corrupt`.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![self.file.clone()];
        match self.how {
            Corruption::TruncateTail => a.extend(["truncate".into(), self.offset.to_string()]),
            Corruption::ZeroRange => a.extend(["zero".into(), self.offset.to_string(), self.len.to_string()]),
            Corruption::FlipBits => {
                a.push("flip".into());
                a.extend(self.flips.iter().map(|(o, m)| format!("{o}:{m}")));
            }
        }
        a
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} at {}+{}", self.how, self.file, self.offset, self.len)
    }
}

/// A storage file worth damaging: the write-ahead logs, the tables and
/// the manifests (not RocksDB's info LOG, nor our identity file, whose
/// damage the node already refuses).
fn is_storage(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".log") || name.ends_with(".sst") || name.starts_with("MANIFEST-")
}

/// Chooses the damage for `how` among `files` (relative path, size), or
/// None when no file fits.
pub fn plan<R: Rng>(how: Corruption, files: &[(String, u64)], rng: &mut R) -> Option<Damage> {
    let mut files: Vec<&(String, u64)> = files.iter().filter(|(p, size)| is_storage(p) && *size > 0).collect();
    files.sort();
    let (file, size) = match how {
        // The newest log: RocksDB numbers its files, zero-padded.
        Corruption::TruncateTail => files.iter().filter(|(p, _)| p.ends_with(".log")).max_by_key(|(p, _)| p)?,
        _ => files.choose(rng)?,
    };
    let (file, size) = (file.clone(), *size);
    Some(match how {
        Corruption::TruncateTail => {
            let len = rng.gen_range(1..=size.min(BLOCK));
            Damage { file, how, offset: size - len, len, flips: vec![] }
        }
        Corruption::ZeroRange => {
            let offset = rng.gen_range(0..size);
            let len = rng.gen_range(1..=(size - offset).min(BLOCK));
            Damage { file, how, offset, len, flips: vec![] }
        }
        Corruption::FlipBits => {
            let block = rng.gen_range(0..size.div_ceil(BLOCK)) * BLOCK;
            let end = (block + BLOCK).min(size);
            let mut flips: Vec<(u64, u8)> =
                (0..rng.gen_range(1..=8)).map(|_| (rng.gen_range(block..end), rng.gen_range(1..=255))).collect();
            flips.sort();
            flips.dedup_by_key(|(o, _)| *o);
            let offset = flips[0].0;
            Damage { file, how, offset, len: flips.len() as u64, flips }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn files() -> Vec<(String, u64)> {
        vec![
            ("identity.json".into(), 80),
            ("db/LOG".into(), 90_000),
            ("db/000004.log".into(), 10_000),
            ("db/000011.log".into(), 300),
            ("db/000009.sst".into(), 20_000),
            ("db/MANIFEST-000005".into(), 500),
            ("db/000012.log".into(), 0),
        ]
    }

    #[test]
    fn a_truncate_cuts_the_tail_of_the_newest_non_empty_log() {
        for seed in 0..50 {
            let d = plan(Corruption::TruncateTail, &files(), &mut rand::rngs::StdRng::seed_from_u64(seed)).unwrap();
            assert_eq!(d.file, "db/000011.log");
            assert!(d.len >= 1 && d.offset + d.len == 300, "{d:?}");
            assert_eq!(d.args(), ["db/000011.log", "truncate", &d.offset.to_string()]);
        }
    }

    #[test]
    fn flips_and_zeroes_stay_inside_one_storage_file() {
        let sizes: std::collections::HashMap<String, u64> = files().into_iter().collect();
        let mut touched = std::collections::HashSet::new();
        for seed in 0..200 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for how in [Corruption::FlipBits, Corruption::ZeroRange] {
                let d = plan(how, &files(), &mut rng).unwrap();
                let size = sizes[&d.file];
                assert!(is_storage(&d.file) && size > 0, "{d:?}");
                assert!(d.offset + d.len <= size && d.len >= 1, "{d:?}");
                if how == Corruption::FlipBits {
                    let block = d.flips[0].0 / BLOCK;
                    assert!(d.flips.iter().all(|(o, m)| o / BLOCK == block && *o < size && *m != 0), "{d:?}");
                }
                touched.insert(d.file);
            }
        }
        assert!(!touched.contains("db/LOG") && !touched.contains("identity.json"));
        assert_eq!(touched.len(), 4, "every storage file gets chosen: {touched:?}");
    }

    #[test]
    fn one_seed_one_damage_and_nothing_without_files() {
        let pick = |s| plan(Corruption::FlipBits, &files(), &mut rand::rngs::StdRng::seed_from_u64(s));
        assert_eq!(pick(3), pick(3));
        assert_eq!(plan(Corruption::ZeroRange, &[], &mut rand::rngs::StdRng::seed_from_u64(1)), None);
    }
}
