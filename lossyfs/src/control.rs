//! The control socket: a Unix socket beside the mount (never inside it),
//! one JSON request and one JSON answer per connection.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::journal::{Loss, LossReport, Unsynced};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// How much is unsynced now.
    Status,
    /// The power failure: undo what `loss` takes (seeded), unmount, exit.
    /// The node must already be dead.
    Lose { loss: Loss, seed: u64 },
    /// A clean unmount: nothing is lost, as at a clean shutdown.
    Unmount,
    /// Fills the disk (`full: true`) or frees it again.
    Fill { full: bool },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum Response {
    Status { unsynced: Unsynced, full: bool },
    Lost { loss: Loss, seed: u64, report: LossReport },
    Unmounted,
    Filled { full: bool },
    Error { message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("lossyfs control socket {socket}: {source}")]
    Io { socket: String, source: std::io::Error },
    #[error("lossyfs control socket {socket}: unreadable answer {answer:?}: {source}")]
    Answer { socket: String, answer: String, source: serde_json::Error },
}

/// How long a request may take; a loss rewrites at most what was written
/// since the last fsync.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends one request to the mount whose control socket is `socket`.
pub fn request(socket: &Path, req: &Request) -> Result<Response, ControlError> {
    let io = |source| ControlError::Io { socket: socket.display().to_string(), source };
    let mut stream = UnixStream::connect(socket).map_err(io)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    let mut line = serde_json::to_string(req).expect("requests serialise");
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|source| ControlError::Answer {
        socket: socket.display().to_string(),
        answer: answer.trim().to_string(),
        source,
    })
}
