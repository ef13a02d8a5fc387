//! The workspace's built binaries, for tests that run them as processes.
//!
//! Integration tests run from `target/<profile>/deps/`, and cargo puts the
//! binaries one folder up, so a test finds them beside itself. A test run
//! through `scripts/test` builds them first (`cargo build --workspace --bins`);
//! `cargo test` alone builds only the binaries of the package under test.

use std::path::PathBuf;

/// The folder holding the workspace's binaries.
pub fn dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent().and_then(|deps| deps.parent()).expect("tests run from target/<profile>/deps").to_path_buf()
}

/// The path of binary `name`; panics, saying how to build it, when it is
/// missing.
pub fn path(name: &str) -> PathBuf {
    let bin = dir().join(name);
    assert!(
        bin.is_file(),
        "{} is missing; build the workspace first: cargo build --release --workspace",
        bin.display()
    );
    bin
}
