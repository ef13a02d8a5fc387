//! The end-to-end tests that need root, in one place (`e2e/tests/`).
//!
//! They build real test hosts: network namespaces on a bridge, iptables
//! rules in each, an sshd with a sudo user for the SSH remote, and they run
//! `faultline test` whole. All of that needs root, so these tests assert
//! it (CI runs as root) and fail rather than skip without it:
//! - `local_hosts`: the nemesis's hosts, lifecycle, partitions, kills and
//!   pauses on the local test hosts, and that heal leaves nothing behind;
//! - `ssh_remote`: the same remote code over SSH, with the Vagrant layout;
//! - `run_test`: `faultline test` with faults, valid, complete, clean,
//!   and its pages rendered in a real browser; and the unsafe settings
//!   caught.
//!
//! The crate itself is empty; the tests are its integration tests.
