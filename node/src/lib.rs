//! raftkv: a three-node key-value store replicated with Raft (raft-rs 0.7),
//! persisted in RocksDB and served over gRPC. It is the system that the
//! Faultline rig attacks.
//!
//! Layout:
//! - [`config`]: the `serve` flags, their validation, the data dir's identity;
//! - [`storage`]: RocksDB column families behind raft-rs's `Storage` trait;
//! - [`state_machine`]: what an applied command does to the key-value data;
//! - [`raft_loop`]: the single thread that owns Raft and handles `Ready`;
//! - [`admission`]: what a sane peer can send, checked before Raft sees it;
//! - [`transport`]: outbound peer streams and chunked snapshots;
//! - [`server`]: the gRPC services (peers and clients);
//! - [`listener`]: the accept loop, its handshake deadline and its caps;
//! - [`deadline`]: the server-side deadline on every client call;
//! - [`failpoints`]: crashes, errors and sleeps at exact steps, set at run time;
//! - [`tls`] and [`revocation`]: mutual TLS and the revoked certificates;
//! - [`throttle`]: log lines at a bounded rate;
//! - [`node`]: wires one node together and shuts it down;
//! - [`client`]: the client library with leader redirects;
//! - [`cli`] and [`logging`]: the command line and log set-up.

pub mod admission;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod failpoints;
pub mod listener;
pub mod logging;
pub mod node;
pub mod raft_loop;
pub mod revocation;
pub mod server;
pub mod stages;
pub mod state_machine;
pub mod storage;
pub mod throttle;
pub mod tls;
pub mod transport;

pub use config::NodeId;
/// The client library lives in its own crate so that the rig links it
/// without RocksDB; it is re-exported here for the CLI and the tests.
pub use raftkv_client as client;
