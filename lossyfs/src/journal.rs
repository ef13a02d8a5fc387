//! The journal of what a power failure would take: every change to a file
//! since that file's last fsync, and every directory entry made since its
//! directory's last fsync.
//!
//! Changes go to the backing files at once, so reads need no merging and a
//! process crash (SIGKILL) loses nothing, exactly as with a page cache. The
//! journal keeps what each change overwrote, and a power failure undoes
//! changes newest first:
//! - [`Loss::Tail`]: every unsynced change of every file, and every unsynced
//!   directory entry;
//! - [`Loss::Torn`]: for each file, all but a seeded random prefix of its
//!   unsynced changes, the last kept write torn part way; and all but a
//!   random prefix of the unsynced directory entries.
//!
//! Undoing newest first restores each file byte for byte, because every
//! change records the length before it and the bytes it overwrote.
//!
//! An unlink is not journaled: a power failure never brings a deleted file
//! back. Renames over an existing file keep that file as a hard link in the
//! stash, so that undoing the rename restores it.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How much of the unsynced state a power failure takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Everything since the last fsync.
    Tail,
    /// A random suffix of it, the boundary write torn part way.
    Torn,
}

pub const LOSSES: [Loss; 2] = [Loss::Tail, Loss::Torn];

impl Loss {
    pub fn name(self) -> &'static str {
        match self {
            Loss::Tail => "tail",
            Loss::Torn => "torn",
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LOSSES.into_iter().find(|l| l.name() == s).ok_or_else(|| format!("unknown loss {s:?}; known: tail, torn"))
    }
}

/// One unsynced change to a file, and what it overwrote.
#[derive(Debug)]
struct Change {
    /// The file's length just before the change.
    len_before: u64,
    offset: u64,
    /// The bytes at `offset..` that the change overwrote (only those that
    /// existed: an append overwrites nothing).
    old: Vec<u8>,
    kind: ChangeKind,
}

#[derive(Debug)]
enum ChangeKind {
    /// `len` bytes written at the offset.
    Write { len: u64 },
    /// A truncate or an extension to `offset`; never torn.
    SetLen,
}

/// A file's unsynced changes, oldest first, and a handle to undo them by
/// (a handle, not a path: the file may be renamed meanwhile).
#[derive(Debug)]
struct Pending {
    file: File,
    path: PathBuf,
    changes: Vec<Change>,
}

/// A directory entry made since its directory's last fsync.
#[derive(Debug)]
enum DirOp {
    Created { parent: u64, path: PathBuf, dir: bool },
    Renamed { new_parent: u64, from: PathBuf, to: PathBuf, stash: Option<PathBuf> },
}

/// What a power failure took, for the nemesis log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossReport {
    pub files: Vec<FileLoss>,
    /// Directory entries undone, each described ("created 000012.log").
    pub entries: Vec<String>,
}

/// What one file lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLoss {
    /// Relative to the filesystem's root.
    pub path: String,
    pub changes_lost: usize,
    pub changes_kept: usize,
    /// Bytes written that are gone.
    pub bytes_lost: u64,
    /// The offset at which a kept write was cut short, when one was.
    pub torn_at: Option<u64>,
}

/// How much is unsynced now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsynced {
    pub files: usize,
    pub changes: usize,
    pub entries: usize,
}

/// The journal of one filesystem, rooted at its backing directory.
#[derive(Debug)]
pub struct Journal {
    root: PathBuf,
    files: HashMap<u64, Pending>,
    dir_ops: Vec<DirOp>,
}

impl Journal {
    pub fn new(root: &Path) -> Journal {
        Journal { root: root.to_path_buf(), files: HashMap::new(), dir_ops: Vec::new() }
    }

    fn pending(&mut self, ino: u64, file: &File, path: &Path) -> io::Result<&mut Pending> {
        Ok(match self.files.entry(ino) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Pending { file: file.try_clone()?, path: path.to_path_buf(), changes: Vec::new() })
            }
        })
    }

    /// Call before writing `len` bytes at `offset` through `file`.
    pub fn before_write(&mut self, ino: u64, file: &File, path: &Path, offset: u64, len: u64) -> io::Result<()> {
        let len_before = file.metadata()?.len();
        let old = read_range(file, offset, (offset + len).min(len_before))?;
        let p = self.pending(ino, file, path)?;
        p.changes.push(Change { len_before, offset, old, kind: ChangeKind::Write { len } });
        Ok(())
    }

    /// Call before setting the length of `file` to `new_len` (a truncate,
    /// an extension, a preallocation that grows the file).
    pub fn before_set_len(&mut self, ino: u64, file: &File, path: &Path, new_len: u64) -> io::Result<()> {
        let len_before = file.metadata()?.len();
        if new_len == len_before {
            return Ok(());
        }
        let old = read_range(file, new_len, len_before)?;
        let p = self.pending(ino, file, path)?;
        p.changes.push(Change { len_before, offset: new_len.min(len_before), old, kind: ChangeKind::SetLen });
        Ok(())
    }

    /// The file was fsynced (or fdatasynced): its changes are durable.
    pub fn file_synced(&mut self, ino: u64) {
        self.files.remove(&ino);
    }

    /// A file or directory was created in directory `parent`.
    pub fn created(&mut self, parent: u64, path: &Path, dir: bool) {
        self.dir_ops.push(DirOp::Created { parent, path: path.to_path_buf(), dir });
    }

    /// `from` was renamed to `to` in directory `new_parent`; `stash` holds
    /// the file `to` named before, if there was one.
    pub fn renamed(&mut self, new_parent: u64, from: &Path, to: &Path, stash: Option<PathBuf>) {
        self.dir_ops.push(DirOp::Renamed { new_parent, from: from.to_path_buf(), to: to.to_path_buf(), stash });
    }

    /// Directory `ino` was fsynced: its entries are durable. Returns the
    /// stashed files that are no longer needed, for the caller to delete.
    pub fn dir_synced(&mut self, ino: u64) -> Vec<PathBuf> {
        let mut freed = Vec::new();
        self.dir_ops.retain_mut(|op| match op {
            DirOp::Created { parent, .. } => *parent != ino,
            DirOp::Renamed { new_parent, stash, .. } => {
                if *new_parent == ino {
                    freed.extend(stash.take());
                    false
                } else {
                    true
                }
            }
        });
        freed
    }

    pub fn unsynced(&self) -> Unsynced {
        Unsynced {
            files: self.files.len(),
            changes: self.files.values().map(|p| p.changes.len()).sum(),
            entries: self.dir_ops.len(),
        }
    }

    /// Forgets everything without undoing it, as a clean shutdown would
    /// (the page cache reaches the disk). Returns the stashed files to delete.
    pub fn discard(&mut self) -> Vec<PathBuf> {
        self.files.clear();
        self.dir_ops
            .drain(..)
            .filter_map(|op| match op {
                DirOp::Renamed { stash, .. } => stash,
                DirOp::Created { .. } => None,
            })
            .collect()
    }

    fn relative(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).display().to_string()
    }

    /// The power failure: undoes what `loss` takes, on the backing files,
    /// and empties the journal.
    pub fn lose<R: Rng>(&mut self, loss: Loss, rng: &mut R) -> io::Result<LossReport> {
        let mut report = LossReport::default();
        // A stable order, so that one seed always tears the same way.
        let mut files: Vec<(u64, Pending)> = self.files.drain().collect();
        files.sort_by_key(|(ino, _)| *ino);
        for (_, p) in files {
            let n = p.changes.len();
            let (kept, keep_bytes) = match loss {
                Loss::Tail => (0, 0),
                Loss::Torn => {
                    let k = rng.gen_range(0..=n);
                    let bytes = match p.changes.get(k).map(|c| &c.kind) {
                        Some(ChangeKind::Write { len }) if *len > 0 => rng.gen_range(0..*len),
                        _ => 0,
                    };
                    (k, bytes)
                }
            };
            if kept == n {
                continue;
            }
            let mut bytes_lost = 0;
            for (i, c) in p.changes.iter().enumerate().skip(kept).rev() {
                let keep = if i == kept { keep_bytes } else { 0 };
                undo(&p.file, c, keep)?;
                if let ChangeKind::Write { len } = c.kind {
                    bytes_lost += len - keep;
                }
            }
            let torn_at = (keep_bytes > 0).then(|| p.changes[kept].offset + keep_bytes);
            report.files.push(FileLoss {
                path: self.relative(&p.path),
                changes_lost: n - kept,
                changes_kept: kept,
                bytes_lost,
                torn_at,
            });
        }
        let ops: Vec<DirOp> = self.dir_ops.drain(..).collect();
        let kept = match loss {
            Loss::Tail => 0,
            Loss::Torn => rng.gen_range(0..=ops.len()),
        };
        for (i, op) in ops.into_iter().enumerate().rev() {
            if i < kept {
                if let DirOp::Renamed { stash: Some(s), .. } = op {
                    remove_if_present(&s, false)?;
                }
                continue;
            }
            match op {
                DirOp::Created { path, dir, .. } => {
                    remove_if_present(&path, dir)?;
                    report.entries.push(format!("created {}", self.relative(&path)));
                }
                DirOp::Renamed { from, to, stash, .. } => {
                    match std::fs::rename(&to, &from) {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        r => r?,
                    }
                    if let Some(s) = stash {
                        std::fs::rename(&s, &to)?;
                    }
                    report.entries.push(format!("renamed {} to {}", self.relative(&from), self.relative(&to)));
                }
            }
        }
        Ok(report)
    }
}

/// Undoes one change, keeping its first `keep` written bytes.
fn undo(file: &File, c: &Change, keep: u64) -> io::Result<()> {
    let keep = match c.kind {
        ChangeKind::Write { len } => keep.min(len),
        ChangeKind::SetLen => 0,
    };
    let skip = (keep as usize).min(c.old.len());
    file.write_all_at(&c.old[skip..], c.offset + skip as u64)?;
    file.set_len(c.len_before.max(c.offset + keep))
}

fn read_range(file: &File, from: u64, to: u64) -> io::Result<Vec<u8>> {
    if to <= from {
        return Ok(Vec::new());
    }
    let mut buf = vec![0; (to - from) as usize];
    file.read_exact_at(&mut buf, from)?;
    Ok(buf)
}

fn remove_if_present(path: &Path, dir: bool) -> io::Result<()> {
    let r = if dir { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::fs::OpenOptions;

    /// A file in a journaled directory, written through the journal as the
    /// filesystem writes it.
    struct Rig {
        dir: tempfile::TempDir,
        journal: Journal,
    }

    const DIR_INO: u64 = 1;

    impl Rig {
        fn new() -> Rig {
            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::new(dir.path());
            Rig { dir, journal }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        fn create(&mut self, name: &str) -> File {
            let p = self.path(name);
            let f = OpenOptions::new().read(true).write(true).create_new(true).open(&p).unwrap();
            self.journal.created(DIR_INO, &p, false);
            f
        }
        fn write(&mut self, ino: u64, f: &File, name: &str, offset: u64, data: &[u8]) {
            let p = self.path(name);
            self.journal.before_write(ino, f, &p, offset, data.len() as u64).unwrap();
            f.write_all_at(data, offset).unwrap();
        }
        fn set_len(&mut self, ino: u64, f: &File, name: &str, len: u64) {
            let p = self.path(name);
            self.journal.before_set_len(ino, f, &p, len).unwrap();
            f.set_len(len).unwrap();
        }
        fn read(&self, name: &str) -> Option<Vec<u8>> {
            std::fs::read(self.path(name)).ok()
        }
        fn lose(&mut self, loss: Loss, seed: u64) -> LossReport {
            self.journal.lose(loss, &mut rand::rngs::StdRng::seed_from_u64(seed)).unwrap()
        }
    }

    #[test]
    fn a_tail_loss_keeps_exactly_what_was_synced() {
        let mut r = Rig::new();
        let f = r.create("wal");
        r.journal.dir_synced(DIR_INO);
        r.write(2, &f, "wal", 0, b"synced ");
        r.journal.file_synced(2);
        r.write(2, &f, "wal", 7, b"lost");
        r.write(2, &f, "wal", 0, b"SYNCED");
        assert_eq!(r.read("wal").unwrap(), b"SYNCED lost");
        let report = r.lose(Loss::Tail, 1);
        assert_eq!(r.read("wal").unwrap(), b"synced ", "overwrites and appends both undone");
        assert_eq!(report.files.len(), 1);
        assert_eq!((report.files[0].changes_lost, report.files[0].bytes_lost), (2, 10));
        assert_eq!(report.files[0].path, "wal");
        assert!(report.entries.is_empty());
        assert_eq!(r.journal.unsynced(), Unsynced::default());
    }

    #[test]
    fn a_truncate_and_an_extension_are_undone() {
        let mut r = Rig::new();
        let f = r.create("sst");
        r.journal.dir_synced(DIR_INO);
        r.write(2, &f, "sst", 0, b"0123456789");
        r.journal.file_synced(2);
        r.set_len(2, &f, "sst", 4);
        r.set_len(2, &f, "sst", 20);
        r.write(2, &f, "sst", 18, b"zz");
        r.lose(Loss::Tail, 1);
        assert_eq!(r.read("sst").unwrap(), b"0123456789");
    }

    #[test]
    fn an_entry_never_fsynced_in_its_directory_is_lost_even_if_the_file_was() {
        let mut r = Rig::new();
        let f = r.create("new.log");
        r.write(2, &f, "new.log", 0, b"data");
        r.journal.file_synced(2);
        let report = r.lose(Loss::Tail, 1);
        assert_eq!(r.read("new.log"), None);
        assert_eq!(report.entries, ["created new.log"]);
    }

    /// RocksDB's way to replace CURRENT: `old` in place, a new synced
    /// temporary file renamed over it, the replaced file kept in the stash
    /// as the filesystem keeps it. Returns the stash.
    fn replace_current(r: &mut Rig, old: &[u8], new: &[u8]) -> PathBuf {
        std::fs::write(r.path("CURRENT"), old).unwrap();
        let f = r.create("CURRENT.tmp");
        r.write(3, &f, "CURRENT.tmp", 0, new);
        r.journal.file_synced(3);
        let stash = r.path("stash-1");
        std::fs::hard_link(r.path("CURRENT"), &stash).unwrap();
        std::fs::rename(r.path("CURRENT.tmp"), r.path("CURRENT")).unwrap();
        r.journal.renamed(DIR_INO, &r.path("CURRENT.tmp"), &r.path("CURRENT"), Some(stash.clone()));
        stash
    }

    #[test]
    fn an_unsynced_rename_over_a_file_is_undone_and_the_old_file_comes_back() {
        let mut r = Rig::new();
        let stash = replace_current(&mut r, b"MANIFEST-1", b"MANIFEST-2");
        assert_eq!(r.read("CURRENT").unwrap(), b"MANIFEST-2");
        r.lose(Loss::Tail, 1);
        assert_eq!(r.read("CURRENT").unwrap(), b"MANIFEST-1");
        assert_eq!(r.read("CURRENT.tmp"), None, "its creation was never synced either");
        assert!(!stash.exists());
    }

    #[test]
    fn a_synced_directory_keeps_its_entries_and_frees_the_stash() {
        let mut r = Rig::new();
        let stash = replace_current(&mut r, b"old", b"new");
        assert_eq!(r.journal.dir_synced(DIR_INO), vec![stash]);
        let report = r.lose(Loss::Tail, 1);
        assert_eq!(r.read("CURRENT").unwrap(), b"new");
        assert_eq!(report, LossReport::default());
    }

    /// Whatever the seed, a torn loss leaves each file as some prefix of
    /// its unsynced writes applied to its synced state: never bytes that
    /// were not written, never a synced byte lost.
    #[test]
    fn a_torn_loss_keeps_a_prefix_of_the_unsynced_writes() {
        for seed in 0..200 {
            let mut r = Rig::new();
            let f = r.create("wal");
            r.journal.dir_synced(DIR_INO);
            r.write(2, &f, "wal", 0, b"base|");
            r.journal.file_synced(2);
            let appends: [&[u8]; 3] = [b"one|", b"two|", b"three|"];
            let mut off = 5;
            for a in appends {
                r.write(2, &f, "wal", off, a);
                off += a.len() as u64;
            }
            let report = r.lose(Loss::Torn, seed);
            let got = r.read("wal").unwrap();
            let full = b"base|one|two|three|";
            assert!(full.starts_with(&got) && got.len() >= 5, "seed {seed}: {:?}", String::from_utf8_lossy(&got));
            if let Some(fl) = report.files.first() {
                assert_eq!(fl.bytes_lost as usize, full.len() - got.len(), "seed {seed}");
                if let Some(t) = fl.torn_at {
                    assert_eq!(t as usize, got.len(), "seed {seed}");
                }
            } else {
                assert_eq!(got, full, "seed {seed}: nothing reported lost");
            }
        }
    }

    #[test]
    fn one_seed_tears_one_way() {
        let run = |seed| {
            let mut r = Rig::new();
            let f = r.create("wal");
            for i in 0..10u64 {
                r.write(2, &f, "wal", i * 8, b"abcdefgh");
            }
            (r.lose(Loss::Torn, seed), r.read("wal"))
        };
        assert_eq!(run(5), run(5));
        let differ = (0..20).any(|s| run(s) != run(s + 1));
        assert!(differ, "seeds make different losses");
    }

    #[test]
    fn losses_parse_by_name() {
        assert_eq!("torn".parse::<Loss>().unwrap(), Loss::Torn);
        assert!("half".parse::<Loss>().unwrap_err().contains("tail, torn"));
    }
}
