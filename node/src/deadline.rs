//! A server-side deadline on every client call, from its headers to its
//! answer, so that a request whose body never finishes cannot hold the
//! node's memory for ever.
//!
//! Only the `Kv` service gets one: a peer's Raft stream lives as long as its
//! connection. The deadline is longer than the request timeout, which bounds
//! the wait for Raft once the request is read, so it only ever cuts a client
//! that is slow to send. A write cut that way was never proposed, but the
//! answer (DEADLINE_EXCEEDED) is one clients already treat as "outcome
//! unknown", which is always safe.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use faultline_proto::kv_server::KvServer;
use tonic::server::NamedService;
use tonic::Status;
use tower::{Layer, Service};

use crate::server::KvService;

/// Adds [`KvDeadline`] to a router.
#[derive(Debug, Clone, Copy)]
pub struct KvDeadlineLayer {
    pub deadline: Duration,
}

impl<S> Layer<S> for KvDeadlineLayer {
    type Service = KvDeadline<S>;

    fn layer(&self, inner: S) -> KvDeadline<S> {
        KvDeadline { inner, deadline: self.deadline }
    }
}

/// Answers DEADLINE_EXCEEDED to a `Kv` call not done within the deadline.
#[derive(Debug, Clone)]
pub struct KvDeadline<S> {
    inner: S,
    deadline: Duration,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<http::Request<B>> for KvDeadline<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let is_kv = is_kv_path(req.uri().path());
        let call = self.inner.call(req);
        if !is_kv {
            return Box::pin(call);
        }
        let deadline = self.deadline;
        Box::pin(async move {
            match tokio::time::timeout(deadline, call).await {
                Ok(answer) => answer,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "the call was not done within the server's deadline ({deadline:?}); \
                     a request that is still being sent then is dropped"
                ))
                .into_http()),
            }
        })
    }
}

/// Whether a gRPC path names a method of the `Kv` service.
fn is_kv_path(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(<KvServer<KvService> as NamedService>::NAME))
        .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kv_service_has_a_deadline() {
        assert!(is_kv_path("/raftkv.Kv/Put"));
        assert!(!is_kv_path("/raftkv.RaftTransport/Send"));
        assert!(!is_kv_path("/raftkv.KvX/Put"));
    }
}
