//! Failpoints: the node's side of [`crate::client::failpoint`]. The sites
//! are `failpoint!` lines in the Ready loop and the server; this module
//! sets and clears them (the `Failpoints` gRPC service) and acts on the
//! ones that crash or fail.
//!
//! A build without the `failpoints` feature compiles every site to nothing
//! and answers the service with UNIMPLEMENTED. The service is refused on a
//! node without mutual TLS: only a holder of a certificate the cluster's CA
//! signed may make a node crash.

use std::time::Duration;

use faultline_proto::failpoints_server::Failpoints;
use faultline_proto::{FailpointRequest, FailpointResponse};
use tonic::{Request, Response, Status};
use tracing::{error, warn};

use crate::client::failpoint::{self, Action};
use crate::NodeId;

/// How long a crashing point waits, its own thread stopped, before the
/// process aborts: what other threads already had in hand (messages queued
/// for the network) may still leave, as from a machine that loses power
/// in the middle of a write.
const CRASH_GRACE: Duration = Duration::from_millis(20);

/// Evaluates a failpoint; on `error` it returns `Err(Failpoint.into())`
/// from the enclosing function, on `crash` it never returns.
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        fail::fail_point!($name, |arg| Err($crate::failpoints::hit($name, arg).into()))
    };
}

/// A step failed on purpose.
#[derive(Debug, Clone, thiserror::Error)]
#[error("failpoint {0}")]
pub struct Failpoint(pub &'static str);

/// At the server, a failed step comes after the write was applied: its
/// outcome is unknown to the client.
impl From<Failpoint> for Status {
    fn from(f: Failpoint) -> Status {
        Status::unknown(format!("outcome unknown: {f}"))
    }
}

/// What a point's `return` action asks: `crash` stops here for good;
/// anything else fails the step.
pub fn hit(name: &'static str, arg: Option<String>) -> Failpoint {
    if arg.as_deref() == Some("crash") {
        error!(failpoint = name, "failpoint: crash (abort)");
        std::thread::sleep(CRASH_GRACE);
        std::process::abort();
    }
    warn!(failpoint = name, "failpoint: error");
    Failpoint(name)
}

/// The `Failpoints` service.
pub struct FailpointService {
    /// Mutual TLS is on.
    pub authenticated: bool,
    /// The cluster's members: a request must come with one's certificate.
    pub members: Vec<NodeId>,
}

/// Who asks to set a failpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// A connection with a cluster member's certificate.
    Member,
    /// Anyone else: a client's connection, which presents no certificate.
    Other,
}

impl FailpointService {
    fn apply(&self, caller: Caller, name: &str, action: &str) -> Result<Vec<String>, Status> {
        if !cfg!(feature = "failpoints") {
            return Err(Status::unimplemented("this raftkv was built without failpoints"));
        }
        if !self.authenticated {
            return Err(Status::failed_precondition("failpoints need mutual TLS; this node runs --insecure"));
        }
        if caller != Caller::Member {
            return Err(Status::permission_denied(
                "failpoints are set only over a connection with a cluster member's certificate",
            ));
        }
        if !failpoint::is_point(name) {
            return Err(Status::invalid_argument(format!(
                "no failpoint {name:?}; the points are {}",
                failpoint::point_names()
            )));
        }
        if action.is_empty() {
            fail::remove(name);
            warn!(failpoint = name, "failpoint cleared");
        } else {
            let action: Action = action.parse().map_err(Status::invalid_argument)?;
            fail::cfg(name, &action.fail_cfg()).map_err(Status::invalid_argument)?;
            warn!(failpoint = name, %action, "failpoint set");
        }
        Ok(fail::list().into_iter().map(|(n, a)| format!("{n}={a}")).collect())
    }
}

#[tonic::async_trait]
impl Failpoints for FailpointService {
    async fn set(&self, request: Request<FailpointRequest>) -> Result<Response<FailpointResponse>, Status> {
        let chain = request.peer_certs();
        let member = crate::tls::peer_of(chain.as_deref().map(Vec::as_slice), self.members.iter().copied());
        let caller = if member.is_some() { Caller::Member } else { Caller::Other };
        let r = request.into_inner();
        let active = self.apply(caller, &r.name, &r.action)?;
        Ok(Response::new(FailpointResponse { active }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_refused_without_tls_by_name_and_by_action() {
        let plain = FailpointService { authenticated: false, members: vec![] };
        let err = plain.apply(Caller::Member, "raft-after-send", "crash").unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");

        let tls = FailpointService { authenticated: true, members: vec![] };
        let err = tls.apply(Caller::Other, "raft-after-send", "crash").unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
        let err = tls.apply(Caller::Member, "raft-after-lunch", "crash").unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("raft-before-persist"), "{}", err.message());
        let err = tls.apply(Caller::Member, "raft-after-send", "explode").unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("crash, error or sleep"), "{}", err.message());

        let active = tls.apply(Caller::Member, "server-before-reply", "30%sleep(5)").unwrap();
        assert!(active.contains(&"server-before-reply=30%sleep(5)".to_string()), "{active:?}");
        let active = tls.apply(Caller::Member, "server-before-reply", "").unwrap();
        assert!(!active.iter().any(|a| a.starts_with("server-before-reply")), "{active:?}");
    }

    /// A point set to `error` fails its step, and the site returns the
    /// error from its function.
    #[test]
    fn an_error_action_returns_from_the_site() {
        fn step() -> Result<u32, Status> {
            failpoint!("raft-before-snapshot-save");
            Ok(1)
        }
        let tls = FailpointService { authenticated: true, members: vec![] };
        tls.apply(Caller::Member, "raft-before-snapshot-save", "1*error").unwrap();
        assert_eq!(step().unwrap_err().code(), tonic::Code::Unknown);
        assert_eq!(step().unwrap(), 1, "once only");
        tls.apply(Caller::Member, "raft-before-snapshot-save", "").unwrap();
    }
}
