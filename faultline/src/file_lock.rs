//! An exclusive lock on a file (`flock`), held while the file is open and
//! dropped with the process however it ends: the guard against two
//! faultline processes sharing what only one may use at a time (a host
//! set, the mutation suite's scratch worktree). The file names its holder.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("held by {holder} (lock {lock})")]
    Held { holder: String, lock: String },
    #[error("cannot open the lock {lock}: {source}")]
    Io { lock: String, source: std::io::Error },
}

/// A lock taken; released when dropped.
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock on `path` (created if missing), or says who holds it.
    pub fn take(path: &Path) -> Result<FileLock, LockError> {
        let lock = path.display().to_string();
        let file = File::options()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|source| LockError::Io { lock: lock.clone(), source })?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = std::fs::read_to_string(path).unwrap_or_default().trim().to_string();
            return Err(LockError::Held { holder: if holder.is_empty() { "(unknown)".into() } else { holder }, lock });
        }
        Ok(FileLock { _file: file, path: path.to_path_buf() })
    }

    /// Writes who holds it into the file, for the next one to be told.
    pub fn name_holder(&self, holder: &str) {
        let _ = std::fs::write(&self.path, format!("{holder}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_told_who_holds_the_lock_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = FileLock::take(&path).unwrap();
        first.name_holder("pid 1, batch results/x");
        let err = FileLock::take(&path).err().expect("the lock is held");
        assert_eq!(err.to_string(), format!("held by pid 1, batch results/x (lock {})", path.display()));
        drop(first);
        assert!(FileLock::take(&path).is_ok());
    }
}
