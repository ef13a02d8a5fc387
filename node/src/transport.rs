//! Outbound Raft transport: one long-lived gRPC stream per peer, fed by a
//! bounded queue, and a separate chunked stream per snapshot.
//!
//! The queue is the stream: HTTP/2 takes each message from it as it sends,
//! with no task between, so a message costs one wake-up, not two.
//!
//! The Raft loop only ever calls [`Transport::send`], which never blocks:
//! when a peer's queue is full (the peer is slow or dead) the message is
//! dropped and the peer reported unreachable. Raft retransmits what
//! matters, so a dropped message costs time, never safety.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use faultline_proto::raft_transport_client::RaftTransportClient;
use faultline_proto::{RaftMessage, SnapshotChunk, MAX_GRPC_MESSAGE};
use prost_011::Message as _;
use raft::prelude::*;
use raftkv_client::tls::{self, peer_name, ClientTls, ConnectError};
use raftkv_client::NodeId;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::transport::Channel;
use tracing::{debug, info, warn};

use crate::raft_loop::Event;

/// Messages queued per peer before new ones are dropped.
const PEER_QUEUE: usize = 4096;
/// Snapshot data per gRPC message.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Transport {
    peers: HashMap<u64, Peer>,
    events: Sender<Event>,
    rt: Handle,
    /// This node's certificate and the CA; plaintext when absent.
    tls: Option<ClientTls>,
}

struct Peer {
    addr: String,
    queue: mpsc::Sender<Message>,
}

impl Transport {
    /// Starts one sender task per peer other than `self_id`, over mutual
    /// TLS when `tls` is given.
    pub fn start(
        self_id: u64,
        peers: &[(u64, String)],
        events: Sender<Event>,
        rt: Handle,
        tls: Option<ClientTls>,
    ) -> Transport {
        let mut map = HashMap::new();
        for (id, addr) in peers.iter().filter(|(id, _)| *id != self_id) {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            rt.spawn(peer_loop(*id, addr.clone(), rx, events.clone(), tls.clone()));
            map.insert(*id, Peer { addr: addr.clone(), queue: tx });
        }
        Transport { peers: map, events, rt, tls }
    }

    /// Queues messages; returns the peers that could not take theirs.
    pub fn send(&self, msgs: Vec<Message>) -> Vec<u64> {
        let mut unreachable = Vec::new();
        for m in msgs {
            let to = m.to;
            let Some(peer) = self.peers.get(&to) else {
                warn!(to, "dropping message to an unknown peer");
                continue;
            };
            if m.get_msg_type() == MessageType::MsgSnapshot {
                self.rt.spawn(send_snapshot(to, peer.addr.clone(), m, self.events.clone(), self.tls.clone()));
                continue;
            }
            if peer.queue.try_send(m).is_err() && !unreachable.contains(&to) {
                unreachable.push(to);
            }
        }
        unreachable
    }
}

/// Dials peer `id`; over TLS, its certificate must carry that peer's name.
async fn connect(id: u64, addr: &str, tls: Option<&ClientTls>) -> Result<Channel, ConnectError> {
    let endpoint = tls::endpoint(addr, tls, &peer_name(NodeId(id)))?
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(3));
    tls::connect(endpoint, CONNECT_TIMEOUT).await
}

/// A peer's queue as the body of one gRPC call: messages are encoded as
/// HTTP/2 takes them. The queue outlives the call, so each reconnection
/// streams from the same queue.
struct Outbound(Arc<Mutex<mpsc::Receiver<Message>>>);

impl Stream for Outbound {
    type Item = RaftMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RaftMessage>> {
        let mut queue = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        queue.poll_recv(cx).map(|m| m.map(|m| RaftMessage { message: Bytes::from(m.encode_to_vec()) }))
    }
}

fn drain(queue: &Mutex<mpsc::Receiver<Message>>) {
    let mut q = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    while q.try_recv().is_ok() {}
}

fn closed(queue: &Mutex<mpsc::Receiver<Message>>) -> bool {
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_closed()
}

/// Keeps one stream open to `addr`, reconnecting with backoff.
async fn peer_loop(
    id: u64,
    addr: String,
    queue: mpsc::Receiver<Message>,
    events: Sender<Event>,
    tls: Option<ClientTls>,
) {
    let queue = Arc::new(Mutex::new(queue));
    let mut backoff = BACKOFF_MIN;
    let mut was_connected = true;
    loop {
        let channel = match connect(id, &addr, tls.as_ref()).await {
            Ok(c) => c,
            Err(e) => {
                if was_connected {
                    info!(peer = id, %addr, "peer unreachable: {e}");
                    was_connected = false;
                }
                // Stale messages are worthless once the peer is back; Raft
                // will send fresh ones.
                drain(&queue);
                if events.send(Event::Unreachable(id)).is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if !was_connected {
            info!(peer = id, %addr, "peer connected");
        }
        was_connected = true;
        backoff = BACKOFF_MIN;
        let mut client = RaftTransportClient::new(channel)
            .max_encoding_message_size(MAX_GRPC_MESSAGE)
            .max_decoding_message_size(MAX_GRPC_MESSAGE);
        let res = client.send(Outbound(queue.clone())).await;
        // The stream ends without an error only when the queue closed: the
        // node is stopping.
        if closed(&queue) {
            return;
        }
        debug!(peer = id, "raft stream ended: {res:?}");
        if events.send(Event::Unreachable(id)).is_err() {
            return;
        }
    }
}

/// Streams one MsgSnapshot in chunks and reports the outcome to the loop.
async fn send_snapshot(to: u64, addr: String, mut m: Message, events: Sender<Event>, tls: Option<ClientTls>) {
    let data = std::mem::take(&mut m.mut_snapshot().data);
    let size = data.len();
    let head = Bytes::from(m.encode_to_vec());
    let result = async {
        let channel = connect(to, &addr, tls.as_ref()).await?;
        let mut client = RaftTransportClient::new(channel)
            .max_encoding_message_size(MAX_GRPC_MESSAGE)
            .max_decoding_message_size(MAX_GRPC_MESSAGE);
        let mut chunks: Vec<SnapshotChunk> = data
            .chunks(SNAPSHOT_CHUNK)
            .map(|c| SnapshotChunk { message: Bytes::new(), data: Bytes::copy_from_slice(c), last: false })
            .collect();
        if chunks.is_empty() {
            chunks.push(SnapshotChunk::default());
        }
        chunks[0].message = head;
        if let Some(last) = chunks.last_mut() {
            last.last = true;
        }
        client.snapshot(tokio_stream::iter(chunks)).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    let ok = match result {
        Ok(()) => {
            info!(peer = to, bytes = size, "snapshot sent");
            true
        }
        Err(e) => {
            warn!(peer = to, "snapshot send failed: {e}");
            false
        }
    };
    let _ = events.send(Event::SnapshotDone { to, ok });
}
