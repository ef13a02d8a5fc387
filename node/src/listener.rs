//! The node's accept loop: every connection passes through here before
//! tonic sees it, so no one who merely reaches the port can hold the node's
//! file descriptors, memory or CPU.
//!
//! A connection is *pending* from accept until its first bytes of HTTP/2
//! (the 24-byte preface) arrive, and *established* after. What bounds it:
//! - the TLS handshake, and then the preface, must each come within the
//!   handshake timeout;
//! - at most `max_pending` connections are pending: past it the oldest is
//!   closed to make room, so a flood of silent connections cannot lock out
//!   a client that completes its handshake;
//! - at most `max_connections` are established: past it new ones are
//!   closed at once;
//! - both caps are fitted inside the file-descriptor limit (raised to its
//!   hard limit at start), and running out of descriptors anyway closes the
//!   oldest pending connection rather than spinning on `accept`;
//! - a certificate on the revoked list is refused after the handshake;
//! - every refusal is logged at a bounded rate, with a count.
//!
//! Idle established connections are HTTP/2's business: the server pings
//! them and closes those that do not answer (see `node.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Sleep;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;
use tracing::warn;

use crate::throttle::Throttle;

/// An HTTP/2 connection opens with this many bytes of preface.
const H2_PREFACE: usize = 24;
/// File descriptors kept back for RocksDB, peers and logs.
const FD_RESERVE: u64 = 256;
/// How long accept rests after running out of file descriptors.
const FD_BACKOFF: Duration = Duration::from_millis(10);

/// The limits on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may take from accept to its TLS handshake's
    /// end, and again from there to its HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// Established connections at most.
    pub max_connections: usize,
    /// Connections in their handshake at most; past it the oldest goes.
    pub max_pending: usize,
}

impl Limits {
    /// The same limits, fitted inside a file-descriptor limit of `nofile`:
    /// past a reserve, three quarters for established connections and a
    /// quarter for pending ones, each at least 8.
    pub fn within(self, nofile: u64) -> Limits {
        let room = nofile.saturating_sub(FD_RESERVE).max(64) as usize;
        Limits {
            max_connections: self.max_connections.min(room * 3 / 4).max(8),
            max_pending: self.max_pending.min(room / 4).max(8),
            ..self
        }
    }
}

/// Raises this process's file-descriptor soft limit to its hard limit;
/// returns the limit now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The bookkeeping shared by the accept loop and its connections.
struct Gate {
    limits: Limits,
    pending: Mutex<BTreeMap<u64, CancellationToken>>,
    established: AtomicUsize,
    next_id: AtomicU64,
    /// Connections closed at accept (a cap, no descriptors).
    refused: Throttle,
    /// Connections that failed their handshake or were revoked.
    failed: Throttle,
}

impl Gate {
    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, CancellationToken>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new pending connection, closing the oldest when full.
    fn register(&self) -> (u64, CancellationToken) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        let mut pending = self.pending();
        while pending.len() >= self.limits.max_pending {
            if let Some((_, oldest)) = pending.pop_first() {
                oldest.cancel();
            }
        }
        pending.insert(id, token.clone());
        (id, token)
    }

    fn evict_oldest(&self) -> bool {
        let oldest = self.pending().pop_first();
        oldest.map(|(_, t)| t.cancel()).is_some()
    }

    fn promote(&self, id: u64) {
        self.pending().remove(&id);
        self.established.fetch_add(1, Ordering::Relaxed);
    }

    fn release(&self, id: u64, established: bool) {
        if established {
            self.established.fetch_sub(1, Ordering::Relaxed);
        } else {
            self.pending().remove(&id);
        }
    }

    fn refuse(&self, why: &str) {
        if self.refused.admit() {
            warn!(
                suppressed = self.refused.take_suppressed(),
                pending = self.pending().len(),
                established = self.established.load(Ordering::Relaxed),
                "closing a new connection: {why}"
            );
        }
    }
}

/// The connections that passed the gate, for tonic's
/// `serve_with_incoming`: accepted on `listener`, each put through
/// `handshake` (TLS, or nothing) within the limits.
pub fn incoming<IO, H, Fut>(
    listener: TcpListener,
    limits: Limits,
    handshake: H,
) -> ReceiverStream<io::Result<Guarded<IO>>>
where
    IO: Send + 'static,
    H: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<IO>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let gate = Arc::new(Gate {
        limits,
        pending: Mutex::new(BTreeMap::new()),
        established: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
        refused: Throttle::per_second(),
        failed: Throttle::per_second(),
    });
    let handshake = Arc::new(handshake);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors (or another passing failure): make
                    // room by closing the oldest pending connection, and do
                    // not spin while none frees up.
                    gate.evict_oldest();
                    gate.refuse(&format!("accept failed: {e}"));
                    tokio::time::sleep(FD_BACKOFF).await;
                    continue;
                }
            };
            if gate.established.load(Ordering::Relaxed) >= limits.max_connections {
                gate.refuse(&format!("{} connections are established (the limit)", limits.max_connections));
                continue;
            }
            // tonic ignores its own tcp_nodelay with serve_with_incoming.
            let _ = tcp.set_nodelay(true);
            let (id, token) = gate.register();
            let (gate, tx, handshake) = (gate.clone(), tx.clone(), handshake.clone());
            tokio::spawn(async move {
                let done = tokio::select! {
                    r = tokio::time::timeout(limits.handshake_timeout, handshake(tcp)) => r,
                    _ = token.cancelled() => {
                        gate.release(id, false);
                        return;
                    }
                };
                let why = match done {
                    Ok(Ok(io)) => {
                        let guarded = Guarded::new(io, gate, id, token);
                        // A closed channel: the server is stopping.
                        let _ = tx.send(Ok(guarded)).await;
                        return;
                    }
                    Ok(Err(e)) => format!("handshake failed: {e}"),
                    Err(_) => format!("no handshake within {:?}", limits.handshake_timeout),
                };
                gate.release(id, false);
                if gate.failed.admit() {
                    warn!(%remote, suppressed = gate.failed.take_suppressed(), "refusing a connection: {why}");
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// A connection that passed its handshake. Until its HTTP/2 preface has
/// arrived it can still be closed: by its deadline, or to make room.
pub struct Guarded<IO> {
    io: IO,
    gate: Arc<Gate>,
    id: u64,
    waiting: Option<Waiting>,
}

struct Waiting {
    read: usize,
    deadline: Pin<Box<Sleep>>,
    evicted: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<IO> Guarded<IO> {
    fn new(io: IO, gate: Arc<Gate>, id: u64, token: CancellationToken) -> Guarded<IO> {
        let deadline = Box::pin(tokio::time::sleep(gate.limits.handshake_timeout));
        let waiting = Waiting { read: 0, deadline, evicted: Box::pin(token.cancelled_owned()) };
        Guarded { io, gate, id, waiting: Some(waiting) }
    }
}

impl<IO> Drop for Guarded<IO> {
    fn drop(&mut self) {
        self.gate.release(self.id, self.waiting.is_none());
    }
}

impl<IO: Connected> Connected for Guarded<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(w) = &mut this.waiting {
            if w.evicted.as_mut().poll(cx).is_ready() {
                let e = io::Error::new(io::ErrorKind::ConnectionAborted, "closed to make room for newer connections");
                return Poll::Ready(Err(e));
            }
            if w.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no HTTP/2 preface in time")));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(w)) = (&polled, &mut this.waiting) {
            w.read += buf.filled().len() - before;
            if w.read >= H2_PREFACE {
                this.waiting = None;
                this.gate.promote(this.id);
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_fit_inside_the_descriptor_limit() {
        let asked = Limits { handshake_timeout: Duration::from_secs(3), max_connections: 4096, max_pending: 1024 };
        assert_eq!(asked.within(1 << 20), asked);
        let low = asked.within(512);
        assert_eq!((low.max_connections, low.max_pending), (192, 64));
        assert!(asked.within(0).max_connections >= 8);
    }

    #[tokio::test]
    async fn silent_connections_make_room_for_one_that_speaks() {
        use tokio::io::AsyncWriteExt as _;
        use tokio_stream::StreamExt as _;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits { handshake_timeout: Duration::from_secs(30), max_connections: 8, max_pending: 8 };
        let mut conns = incoming(listener, limits, |tcp| async move { Ok(tcp) });
        // Twenty silent connections: the gate holds at most eight.
        let mut silent = Vec::new();
        for _ in 0..20 {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut speaker = TcpStream::connect(addr).await.unwrap();
        speaker.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        // Every accepted connection reaches the stream; read each until one
        // is promoted (the speaker's) and count the evicted.
        let mut promoted = false;
        let mut aborted = 0;
        for _ in 0..21 {
            let mut c = conns.next().await.unwrap().unwrap();
            let read = tokio::time::timeout(Duration::from_millis(200), async {
                tokio::io::AsyncReadExt::read(&mut c, &mut buf).await
            })
            .await;
            match read {
                Ok(Ok(n)) if n >= H2_PREFACE => promoted = true,
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionAborted => aborted += 1,
                _ => {}
            }
        }
        assert!(promoted, "the connection that spoke was not let through");
        assert!(aborted >= 12, "only {aborted} of 20 silent connections were closed");
    }
}
