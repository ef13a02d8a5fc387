//! Faultline's workload runner: drives concurrent clients against a live
//! cluster, records what they saw as a history, reads every key at the end,
//! and checks the history with the [`checker`].
//!
//! Layout:
//! - [`workload`]: the op generators (mix, keys, values);
//! - [`txn`]: the transactions of the `txn-append` workload;
//! - [`store`]: the Client protocol, one implementation per system
//!   (raftkv's client library, [`etcd`], [`nats`], and [`adapter`]: any system,
//!   through an external program speaking JSON Lines);
//! - [`client`]: invoking one op through a store and classifying its
//!   outcome as ok, fail or info;
//! - [`recorder`]: the one writer of history.jsonl;
//! - [`run`]: the clients, the final reads, the run's summary;
//! - [`bench`]: a closed-loop load generator over any store.

pub mod adapter;
pub mod bench;
pub mod client;
pub mod etcd;
pub mod nats;
pub mod recorder;
pub mod run;
pub mod store;
pub mod txn;
pub mod workload;

/// What a run trusts to reach the nodes over TLS.
pub use raftkv_client::tls::ClientTls;
pub use run::{run, summary, RunError, RunOptions, RunOutcome};
