//! lossyfs: a FUSE passthrough filesystem that remembers every write not
//! yet fsynced, so that the nemesis can simulate a power failure by
//! throwing those writes away (the `lose-unsynced` fault).
//!
//! A SIGKILL cannot lose a write the process made: the kernel's page cache
//! keeps it. A power failure can. Jepsen reaches that with LazyFS; this is
//! ours. Each node's data dir is a lossyfs mount over a backing directory;
//! the nemesis kills the node, asks the mount over its control socket to
//! lose what was unsynced, and restarts the node on a fresh mount.
//!
//! - [`journal`]: what would be lost, and the undo itself (unit-tested
//!   without FUSE);
//! - [`fs`]: the FUSE operations, all passed through to the backing dir;
//! - [`control`]: the control socket's requests and answers;
//! - [`daemon`]: the mounted process.

pub mod control;
pub mod daemon;
pub mod fs;
pub mod journal;

pub use journal::{Loss, LossReport};
