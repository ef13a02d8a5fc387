//! The mounted process: mounts a [`LossyFs`] over the mount point, serves
//! the control socket, and unmounts when told to lose or to stop.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use fuser::MountOption;
use rand::SeedableRng;

use crate::control::{Request, Response};
use crate::fs::{lock, LossyFs, Shared, State};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("backing dir {dir}: {source}")]
    Backing { dir: String, source: std::io::Error },
    #[error("cannot mount over {mountpoint} (is /dev/fuse there, and are we root?): {source}")]
    Mount { mountpoint: String, source: std::io::Error },
    #[error("control socket {socket}: {source}")]
    Socket { socket: String, source: std::io::Error },
}

/// Mounts, serves the control socket until a `lose` or `unmount` request,
/// then unmounts. Returns once unmounted.
pub fn run(backing: &Path, mountpoint: &Path, socket: &Path) -> Result<(), DaemonError> {
    let state: Shared = Arc::new(Mutex::new(
        State::new(backing).map_err(|source| DaemonError::Backing { dir: backing.display().to_string(), source })?,
    ));
    let options = [MountOption::FSName("lossyfs".into()), MountOption::Subtype("lossyfs".into())];
    let session = fuser::spawn_mount2(LossyFs::new(state.clone()), mountpoint, &options)
        .map_err(|source| DaemonError::Mount { mountpoint: mountpoint.display().to_string(), source })?;
    let sock_err = |source| DaemonError::Socket { socket: socket.display().to_string(), source };
    // A socket file left by a killed daemon would make bind fail.
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(sock_err)?;
    eprintln!("lossyfs: {} mounted over {}", backing.display(), mountpoint.display());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let (answer, done) = match serde_json::from_str::<Request>(&line) {
            Ok(req) => answer(&state, req),
            Err(e) => (Response::Error { message: format!("unreadable request {:?}: {e}", line.trim()) }, false),
        };
        let mut out = serde_json::to_string(&answer).expect("answers serialise");
        out.push('\n');
        if done {
            // Unmount before answering, so that whoever asked may restart
            // the node on a fresh mount at once.
            unmount(mountpoint);
            drop(session);
            let _ = std::fs::remove_file(socket);
            eprintln!("lossyfs: unmounted {}: {}", mountpoint.display(), out.trim());
            let _ = (&stream).write_all(out.as_bytes());
            return Ok(());
        }
        let _ = (&stream).write_all(out.as_bytes());
    }
    Ok(())
}

/// The answer to one request, and whether the daemon is done.
fn answer(state: &Shared, req: Request) -> (Response, bool) {
    let mut s = lock(state);
    match req {
        Request::Status => (Response::Status { unsynced: s.journal.unsynced(), full: s.full }, false),
        Request::Fill { full } => {
            s.full = full;
            eprintln!("lossyfs: the disk is {}", if full { "full" } else { "free again" });
            (Response::Filled { full }, false)
        }
        Request::Lose { loss, seed } => {
            s.off = true;
            match s.journal.lose(loss, &mut rand::rngs::StdRng::seed_from_u64(seed)) {
                Ok(report) => (Response::Lost { loss, seed, report }, true),
                Err(e) => (Response::Error { message: format!("the loss failed part way: {e}") }, true),
            }
        }
        Request::Unmount => {
            s.off = true;
            for stash in s.journal.discard() {
                let _ = std::fs::remove_file(stash);
            }
            (Response::Unmounted, true)
        }
    }
}

/// A lazy unmount: it succeeds even while a (dead) process's files are
/// still being closed, and the FUSE session's own unmount then finds
/// nothing left to do.
fn unmount(mountpoint: &Path) {
    if let Ok(c) = CString::new(mountpoint.as_os_str().as_encoded_bytes()) {
        // SAFETY: `c` is a valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}
