//! Protobuf and gRPC definitions shared by `raftkv` and the Faultline rig.
//!
//! Layout:
//! - [`raftkv`]: the generated types of `raftkv.proto`: the peer transport
//!   (`RaftTransport`), the client API (`Kv`), log-entry commands and
//!   snapshot data.

#[allow(clippy::all, missing_docs)]
pub mod raftkv {
    tonic::include_proto!("raftkv");
}

pub use raftkv::*;

/// gRPC metadata keys of a NotLeader answer (FAILED_PRECONDITION): the id
/// and address of the leader the node knows, if any.
pub const LEADER_ID_KEY: &str = "raftkv-leader-id";
pub const LEADER_ADDR_KEY: &str = "raftkv-leader-addr";

/// gRPC metadata key on an UNAVAILABLE answer to a write that the node
/// refused before proposing it (it is shutting down): the write certainly
/// did not happen, so a client may try another node, and records a fail
/// rather than "outcome unknown".
pub const NOT_PROPOSED_KEY: &str = "raftkv-not-proposed";

/// Largest gRPC message a node accepts (a value of up to 1 MiB plus its
/// key, or one Raft message carrying a batch of entries).
pub const MAX_GRPC_MESSAGE: usize = 64 << 20;
