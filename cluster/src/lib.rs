//! What the checker and the nemesis both need to know about a cluster.
//!
//! - [`spec`]: the cluster description, `cluster.json`: every node, its
//!   address, how to reach its host, and where its files live;
//! - [`db`]: which system the nodes run, and a system described by
//!   commands;
//! - [`nats`]: the key-value bucket a NATS cluster's runs use;
//! - [`clock`]: the CLOCK_MONOTONIC time stamps that histories and nemesis
//!   events share, so a report can lay faults over operations.

pub mod clock;
pub mod db;
pub mod nats;
pub mod spec;

pub use db::{Capability, CommandDb, DbKind};
pub use raftkv_client::NodeId;
pub use spec::{Cluster, ClusterError, HostSpec, NodeCertFiles, NodeSpec, TlsSpec};
