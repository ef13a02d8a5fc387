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
