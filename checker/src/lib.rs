//! Faultline's checker: the history format, the models, and a
//! linearizability checker.
//!
//! Layout:
//! - [`history`]: events (JSON Lines), validation, pairing into ops per key;
//! - [`edn`]: Jepsen/Knossos EDN import and export;
//! - [`jepsen_log`]: Jepsen's console log (`jepsen.util` op lines) import;
//! - [`model`]: the model trait; [`register`] and [`list_append`] implement it;
//! - [`bitset`]: the set of linearized ops, half of the memo key;
//! - [`wgl`]: the Wing–Gong–Lowe search for one key;
//! - [`check`]: all keys in parallel, limits, and results.json;
//! - [`gen`]: a simulated linearizable store that writes histories;
//! - [`brute`]: an all-orders checker that cross-checks the search;
//! - [`bench`]: the contention benchmark (`checker bench`);
//! - [`workload`]: the op generators of `checker run`;
//! - [`recorder`]: the one writer of history.jsonl;
//! - [`runner`]: `checker run`'s clients, final reads and summary;
//! - [`mock_kv`]: an in-memory Kv server, correct or broken on purpose;
//! - [`report`]: a run's report.html; [`index`]: results/index.html;
//! - [`cli`]: the `checker` command line.

pub mod bench;
pub mod bitset;
pub mod brute;
pub mod check;
pub mod cli;
pub mod edn;
pub mod gen;
pub mod history;
pub mod index;
pub mod jepsen_log;
pub mod list_append;
pub mod mock_kv;
pub mod model;
pub mod recorder;
pub mod register;
pub mod report;
pub mod runner;
pub mod wgl;
pub mod workload;
