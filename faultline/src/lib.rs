//! `faultline`: the command a user types to test a system. It composes a
//! test in Rust, as Jepsen's `run!` composes one over a test map:
//!
//! - [`scenario`]: the test as one typed value, built from a plan and
//!   command-line overrides, validated before any host is touched, recorded
//!   in `test.json` and replayable from it;
//! - [`run`]: the run's lifecycle, from hosts to verdict, undone on every
//!   way out ([`interrupt`]: SIGINT and SIGTERM, watched once;
//!   [`progress`]: the live line while it runs);
//! - [`batch`]: many runs into one folder and one summary, sliced across
//!   machines and merged back; its batches are [`matrix`] (the nightly
//!   matrix), [`detect`] (the unsafe settings), [`mutants`] (the
//!   mutation suite) and [`ledger`] (every bug the rig claims to catch,
//!   findings, hunts, settings and mutants, each run again);
//! - [`shrink`]: a failing run cut down to a small reproducer, by
//!   replaying its fault schedule and delta debugging it;
//! - [`bench_node`]: the node benchmark on a local cluster;
//! - [`file_lock`]: what only one faultline process may use at a time.

pub mod batch;
pub mod bench_node;
pub mod detect;
pub mod file_lock;
pub mod interrupt;
pub mod ledger;
pub mod matrix;
pub mod mutants;
pub mod progress;
pub mod run;
pub mod scenario;
pub mod shrink;
