//! Loopback ports for the processes a test starts.
//!
//! A port the kernel hands out for `bind(":0")` comes from the ephemeral
//! range, the same range it draws from for every outgoing connection. Between
//! the test picking such a port and the child binding it, a node dialling a
//! peer that is not up yet (or any client in the same test binary) can be
//! given that very port as its local end, and the child then fails to bind.
//! So ports here come from below the ephemeral range, which `connect` never
//! uses, and are never handed out twice in one test process.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// The ports handed out below the ephemeral range (32768 and up by default).
const FIRST: u16 = 20_000;
const LAST: u16 = 32_000;

static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback TCP port that nothing listens on now, outside the ephemeral
/// range, and not given before by this process.
pub fn free_port() -> u16 {
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let span = u32::from(LAST - FIRST);
    // Starting from the process id keeps two test binaries run at once
    // apart.
    let start = std::process::id().wrapping_mul(7_919) % span;
    for step in 0..span {
        let port = FIRST + ((start + step * 101) % span) as u16;
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{LAST}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_outside_the_ephemeral_range_bindable_and_never_repeated() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
        for p in ports {
            assert!((FIRST..LAST).contains(&p), "{p} is outside {FIRST}..{LAST}");
            TcpListener::bind(("127.0.0.1", p)).unwrap_or_else(|e| panic!("port {p} is not free: {e}"));
        }
    }
}
