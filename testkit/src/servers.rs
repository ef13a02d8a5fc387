//! Servers of a system we did not write (etcd, nats-server), run by a test
//! on loopback: the installed program, and the processes killed however
//! the test ends.

use std::path::PathBuf;
use std::process::Child;

/// Where `program` is installed: on PATH, or in /usr/sbin, where Debian
/// puts servers. scripts/bootstrap installs them; a test without one
/// fails, naming it, rather than skipping.
pub fn installed(program: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path.split(':').chain(["/usr/sbin"]).map(|d| PathBuf::from(d).join(program)).find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("no {program} on PATH or in /usr/sbin: scripts/bootstrap installs it"))
}

/// Child processes, killed and reaped on drop.
#[derive(Default)]
pub struct Processes(pub Vec<Child>);

impl Processes {
    /// Kills and reaps process `i` now.
    pub fn kill(&mut self, i: usize) {
        let _ = self.0[i].kill();
        let _ = self.0[i].wait();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for i in 0..self.0.len() {
            self.kill(i);
        }
    }
}
