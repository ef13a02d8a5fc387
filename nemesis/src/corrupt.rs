//! File corruption on a stopped node: what to damage and how, chosen with
//! the nemesis's seeded RNG from the node's file list, so one seed always
//! damages the same bytes of the same file.
//!
//! Three kinds, after Jepsen's file-corruption nemesis:
//! - truncate the tail of the newest write-ahead log (a torn append);
//! - flip bits in a few bytes of one block of a storage file;
//! - zero a range of one of them.
//!
//! Which files are storage, and which log is the newest, depends on the
//! system ([`Layout`]): raftkv's RocksDB (write-ahead logs, tables,
//! manifests) or NATS JetStream's file store (message blocks, `N.blk`,
//! of every stream and Raft group, as Jepsen damaged them in its NATS
//! analysis).
//!
//! The node must then either recover without serving wrong data (the
//! checker judges that), or refuse to start with a clear message, which the
//! nemesis records as a finding, not as a failure of the rig.

use std::fmt;

use cluster::DbKind;
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

/// How a system lays out the files `corrupt` damages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// raftkv's RocksDB: the write-ahead logs, the tables and the
    /// manifests (not RocksDB's info LOG, nor the identity file, whose
    /// damage the node already refuses).
    RocksDb,
    /// NATS JetStream's file store: each stream's and each Raft group's
    /// messages in numbered blocks (`msgs/N.blk`), the highest the newest.
    JetStream,
}

impl Layout {
    /// The layout of `db`'s files, when `corrupt` knows it.
    pub fn of(db: &DbKind) -> Option<Layout> {
        match db {
            DbKind::Raftkv => Some(Layout::RocksDb),
            DbKind::Nats => Some(Layout::JetStream),
            DbKind::Etcd | DbKind::Command(_) => None,
        }
    }

    fn is_storage(self, path: &str) -> bool {
        let name = file_name(path);
        match self {
            Layout::RocksDb => name.ends_with(".log") || name.ends_with(".sst") || name.starts_with("MANIFEST-"),
            Layout::JetStream => block_number(name).is_some(),
        }
    }

    fn is_log(self, path: &str) -> bool {
        match self {
            Layout::RocksDb => path.ends_with(".log"),
            Layout::JetStream => self.is_storage(path),
        }
    }

    /// The newest log among `logs`: RocksDB numbers its files zero-padded
    /// across one folder; JetStream numbers blocks per store, so the
    /// newest block of one store, chosen at random.
    fn newest<'a, R: Rng>(self, logs: &[&'a (String, u64)], rng: &mut R) -> Option<&'a (String, u64)> {
        match self {
            Layout::RocksDb => logs.iter().copied().max_by_key(|(p, _)| p),
            Layout::JetStream => {
                let (dir, _) = logs.choose(rng)?.0.rsplit_once('/').unwrap_or(("", ""));
                logs.iter()
                    .copied()
                    .filter(|(p, _)| p.rsplit_once('/').map_or("", |(d, _)| d) == dir)
                    .max_by_key(|(p, _)| block_number(file_name(p)))
            }
        }
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// N of a JetStream block file's name, `N.blk`.
fn block_number(name: &str) -> Option<u64> {
    name.strip_suffix(".blk")?.parse().ok()
}

/// Chooses the damage for `how` among `files` (relative path, size) laid
/// out as `layout` says, or None when no file fits (or the layout is not
/// known).
pub fn plan<R: Rng>(how: Corruption, layout: Option<Layout>, files: &[(String, u64)], rng: &mut R) -> Option<Damage> {
    let layout = layout?;
    let mut files: Vec<&(String, u64)> = files.iter().filter(|(p, size)| layout.is_storage(p) && *size > 0).collect();
    files.sort();
    let (file, size) = match how {
        Corruption::TruncateTail => {
            let logs: Vec<&(String, u64)> = files.iter().copied().filter(|(p, _)| layout.is_log(p)).collect();
            layout.newest(&logs, rng)?
        }
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
            let d = plan(
                Corruption::TruncateTail,
                Some(Layout::RocksDb),
                &files(),
                &mut rand::rngs::StdRng::seed_from_u64(seed),
            )
            .unwrap();
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
                let d = plan(how, Some(Layout::RocksDb), &files(), &mut rng).unwrap();
                let size = sizes[&d.file];
                assert!(Layout::RocksDb.is_storage(&d.file) && size > 0, "{d:?}");
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
        let pick =
            |s| plan(Corruption::FlipBits, Some(Layout::RocksDb), &files(), &mut rand::rngs::StdRng::seed_from_u64(s));
        assert_eq!(pick(3), pick(3));
        assert_eq!(
            plan(Corruption::ZeroRange, Some(Layout::RocksDb), &[], &mut rand::rngs::StdRng::seed_from_u64(1)),
            None
        );
    }

    fn blocks() -> Vec<(String, u64)> {
        vec![
            ("jetstream/$G/streams/KV_faultline/meta.inf".into(), 300),
            ("jetstream/$G/streams/KV_faultline/msgs/2.blk".into(), 5_000),
            ("jetstream/$G/streams/KV_faultline/msgs/10.blk".into(), 900),
            ("jetstream/$G/streams/KV_faultline/msgs/10.idx".into(), 40),
            ("jetstream/$SYS/_js_/S-R3F-x/msgs/1.blk".into(), 7_000),
            ("jetstream/$SYS/_js_/S-R3F-x/tav.idx".into(), 16),
        ]
    }

    /// NATS: only message blocks are damaged, and a truncate cuts the
    /// newest block of one store (by number, not by name: 10 after 2).
    #[test]
    fn jetstream_damage_stays_in_message_blocks_and_truncates_a_store_s_newest() {
        let mut cut = std::collections::BTreeSet::new();
        for seed in 0..100 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let d = plan(Corruption::TruncateTail, Some(Layout::JetStream), &blocks(), &mut rng).unwrap();
            cut.insert(d.file);
            for how in [Corruption::FlipBits, Corruption::ZeroRange] {
                let d = plan(how, Some(Layout::JetStream), &blocks(), &mut rng).unwrap();
                assert!(d.file.ends_with(".blk"), "{d:?}");
            }
        }
        let expected = ["jetstream/$G/streams/KV_faultline/msgs/10.blk", "jetstream/$SYS/_js_/S-R3F-x/msgs/1.blk"];
        assert_eq!(cut.into_iter().collect::<Vec<_>>(), expected);
        assert_eq!(Layout::of(&DbKind::Etcd), None);
        assert_eq!(plan(Corruption::FlipBits, None, &blocks(), &mut rand::rngs::StdRng::seed_from_u64(1)), None);
    }
}
