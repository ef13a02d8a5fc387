//! Test support, never shipped in the product binaries.
//!
//! Layout:
//! - [`mock_kv`]: an in-memory Kv server, correct or broken on purpose (the
//!   recorder benchmark's server and the runner tests' fixtures; also the
//!   `mock-kv` binary);
//! - [`browser`]: headless Chromium for the page tests;
//! - [`bins`]: the workspace's built binaries, found beside the test;
//! - [`ports`]: loopback ports for the processes a test starts;
//! - [`servers`]: servers of systems we did not write, run on loopback.

pub mod bins;
pub mod browser;
pub mod mock_kv;
pub mod ports;
pub mod servers;
