//! Faultline's checker: the history formats, the models, and a
//! linearizability checker. A pure library: no network, no runtime; the
//! live workload runner (`runner`) and the reports (`report`) build on it.
//!
//! Layout:
//! - [`history`]: events (JSON Lines), validation, pairing into ops per key;
//! - [`edn`]: Jepsen/Knossos EDN import and export;
//! - [`jepsen_log`]: Jepsen's console log (`jepsen.util` op lines) import;
//! - [`etcd_robustness`]: etcd robustness reports' `operations.json` import;
//! - [`input`]: history files to histories, the model to use, results.json;
//! - [`model`]: the model trait and [`model::ModelName`]; [`register`] and
//!   [`list_append`] implement it;
//! - [`bitset`]: the sets a search configuration holds, and its memo keys;
//! - [`versions`]: registers with unique values decided without a search,
//!   by placing runs of versions from the end;
//! - [`wgl`]: the Wing–Gong–Lowe search for one key; [`memo`]: what a
//!   configuration has linearized, and the memo with its dominance rule;
//! - [`check`]: all keys in parallel, and explanations; [`limits`]: the
//!   time and memory a check may use;
//! - [`results`]: what a check found, as results.json holds it (serde both
//!   ways), with a live run's statistics;
//! - [`gen`]: a simulated linearizable store that writes histories;
//! - [`brute`]: an all-orders checker that cross-checks the search;
//! - [`bench`]: the contention benchmark (`checker bench`);
//! - [`corpus`]: the public histories with known verdicts (`checker corpus`);
//! - [`txn`]: transactions, checked as Elle does (list-append, Adya's
//!   anomalies, consistency models).

pub mod bench;
pub mod bitset;
pub mod brute;
pub mod check;
pub mod corpus;
pub mod edn;
pub mod etcd_robustness;
pub mod gen;
pub mod history;
pub mod input;
pub mod jepsen_log;
pub mod limits;
pub mod list_append;
pub mod memo;
pub mod model;
pub mod register;
pub mod results;
pub mod txn;
pub mod versions;
pub mod wgl;
