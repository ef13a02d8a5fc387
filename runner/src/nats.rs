//! The NATS JetStream implementation of the Client protocol ([`Store`]),
//! on the `async-nats` crate: one key-value bucket ([`cluster::nats`]),
//! three replicas, file storage. Each store is bound to one server, as a
//! Jepsen client is (servers the cluster gossips are ignored), and the
//! cluster routes its requests to the bucket's stream leader.
//!
//! A bucket is a stream with one subject per key; a write is a message,
//! acknowledged once the stream's Raft group has committed it. The
//! operations:
//! - read: the newest message on the key's subject, asked of the stream
//!   leader (`$JS.API.STREAM.MSG.GET`): the leader's read, which NATS
//!   offers as its consistent one. `direct` reads
//!   (`$JS.API.DIRECT.GET`, what `async-nats`'s own `kv::Store::get` uses
//!   when the bucket allows them) may be answered by any replica, so may
//!   be stale: a documented weaker mode, as etcd's serializable reads are.
//!   A delete marker (`KV-Operation: DEL`) reads as absent;
//! - write: a publish; delete: a publish of a delete marker;
//! - cas and append: the leader's read of the key and its revision (the
//!   message's stream sequence), then a publish guarded on that revision
//!   (`Nats-Expected-Last-Subject-Sequence`; 0 when the key never had a
//!   message). A failed guard wrote nothing: read and try again, until the
//!   op's timeout. cas compares against the leader's read whatever the
//!   read mode, so `direct` changes only plain reads;
//! - txn: JetStream 2.9 has no multi-key transactions; refused.
//!
//! A bucket can vanish: a power failure that takes JetStream's own record
//! of it leaves every server without the stream. A read that finds no
//! stream makes the bucket again, as an application's start-up does
//! ("create or bind"), and reads once more, so the loss shows in the
//! history as keys read absent, not as errors that hide it.
//!
//! Errors, sorted as the history needs them ([`classify`]):
//! - no connection could be made, or the message could not be handed to
//!   the connection: never sent, definite;
//! - "no responders" (503): no server took the subject, so no stream
//!   stored it: definite;
//! - a failed revision guard (JetStream error 10071): definite, and
//!   retried as above;
//! - a message over the server's payload limit: refused, definite;
//! - no acknowledgement within the op's timeout, a connection lost while
//!   waiting, or any other JetStream error: unknown, so a write is
//!   recorded `info`. A read that fails in any way changed nothing.

use std::time::Duration;

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{self, DirectGetErrorKind, LastRawMessageErrorKind, Stream};
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self, Context};
use async_nats::{HeaderMap, StatusCode};
use bytes::Bytes;
use cluster::nats::{self as bucket, BUCKET, REPLICAS, STREAM};
use raftkv_client::{CasResult, ClientError, TxnOp};
use tokio::time::Instant;

use crate::store::Store;

/// Connection attempts give up after this; the server may be down.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The header a KV write carries to say what it is.
const KV_OPERATION: &str = "KV-Operation";

/// The header that guards a write on the subject's last sequence.
const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";

/// A client of one NATS server.
pub struct NatsStore {
    js: Context,
    stream: Stream<()>,
    endpoint: String,
    timeout: Duration,
    direct: bool,
}

/// What became of a publish that was acknowledged or refused by its guard.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Acked,
    /// The key's revision was not the one named: nothing was stored.
    GuardFailed,
}

/// Why a read found nothing to return.
enum Unread {
    /// JetStream has no such stream (or no replica took a direct get):
    /// the bucket may be gone.
    BucketGone(ClientError),
    Failed(ClientError),
}

/// What the leader's read found of a key: its value (`None`: absent or
/// deleted) and the revision a guarded write names (0: never written).
struct Found {
    value: Option<Vec<u8>>,
    revision: u64,
}

/// A key's value as a message holds it: absent for a delete or purge
/// marker.
fn value_of(m: &StreamMessage) -> Option<Vec<u8>> {
    match m.headers.get(KV_OPERATION).map(|v| v.as_str()) {
        Some("DEL" | "PURGE") => None,
        _ => Some(m.payload.to_vec()),
    }
}

/// The bucket's stream as the rig creates it: what `nats kv add` makes
/// for a 2.9 server (one message kept per key, rollups allowed, deletes
/// only by marker, direct gets allowed), three replicas on files.
pub fn bucket_config() -> stream::Config {
    stream::Config {
        name: STREAM.into(),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        storage: stream::StorageType::File,
        num_replicas: REPLICAS,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

impl NatsStore {
    /// A store bound to `endpoint` (HOST:PORT, plaintext), whose ops each
    /// give up after `timeout`; `direct`: plain reads by direct get.
    pub async fn connect(endpoint: &str, timeout: Duration, direct: bool) -> Result<NatsStore, ClientError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(timeout))
            .ignore_discovered_servers()
            .connect(format!("nats://{endpoint}"))
            .await
            .map_err(|e| ClientError::Unreachable(format!("{endpoint}: {e}")))?;
        let mut js = jetstream::new(client);
        js.set_timeout(timeout);
        let stream = js.get_stream_no_info(STREAM).await.map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        Ok(NatsStore { js, stream, endpoint: endpoint.to_string(), timeout, direct })
    }

    fn key(&self, key: &[u8]) -> Result<String, ClientError> {
        std::str::from_utf8(key)
            .ok()
            .filter(|k| bucket::is_valid_key(k))
            .map(String::from)
            .ok_or_else(|| ClientError::InvalidArgument(format!("{:?} is not a NATS bucket key", key)))
    }

    /// The key's value and revision, as the stream leader has them.
    async fn leader_read(&self, key: &str) -> Result<Found, Unread> {
        let subject = bucket::subject(key);
        let read = self.stream.get_last_raw_message_by_subject(&subject);
        match tokio::time::timeout(self.timeout, read).await {
            Err(_) => Err(Unread::Failed(ClientError::Timeout(self.timeout))),
            Ok(Ok(m)) => Ok(Found { value: value_of(&m), revision: m.sequence }),
            Ok(Err(e)) => match e.kind() {
                LastRawMessageErrorKind::NoMessageFound => Ok(Found { value: None, revision: 0 }),
                LastRawMessageErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                    Err(Unread::BucketGone(self.unavailable(&e)))
                }
                _ => Err(Unread::Failed(self.unavailable(&e))),
            },
        }
    }

    /// The key's value by direct get, which any replica may answer.
    async fn direct_read(&self, key: &str) -> Result<Option<Vec<u8>>, Unread> {
        let read = self.stream.direct_get_last_for_subject(bucket::subject(key));
        match tokio::time::timeout(self.timeout, read).await {
            Err(_) => Err(Unread::Failed(ClientError::Timeout(self.timeout))),
            Ok(Ok(m)) => Ok(value_of(&m)),
            Ok(Err(e)) => match e.kind() {
                DirectGetErrorKind::NotFound => Ok(None),
                // No replica took the request: down, or the bucket gone.
                DirectGetErrorKind::ErrorResponse(status, _) if status == StatusCode::NO_RESPONDERS => {
                    Err(Unread::BucketGone(self.unavailable(&e)))
                }
                _ => Err(Unread::Failed(self.unavailable(&e))),
            },
        }
    }

    fn unavailable(&self, e: &dyn std::fmt::Display) -> ClientError {
        ClientError::ReadUnavailable(format!("{}: {e}", self.endpoint))
    }

    /// Reads the key (by direct get when `direct`); when the bucket may be
    /// gone, makes it again, as an application's start-up does ("create
    /// or bind"), and reads once more: a bucket that a fault took then
    /// reads as the data it lost, not as an error.
    async fn read(&mut self, key: &str, direct: bool) -> Result<Found, ClientError> {
        let mut remade = false;
        loop {
            let read = if direct {
                self.direct_read(key).await.map(|value| Found { value, revision: 0 })
            } else {
                self.leader_read(key).await
            };
            match read {
                Ok(found) => return Ok(found),
                Err(Unread::BucketGone(e)) if !remade => {
                    if self.prepare().await.is_err() {
                        return Err(e);
                    }
                    remade = true;
                }
                Err(Unread::BucketGone(e) | Unread::Failed(e)) => return Err(e),
            }
        }
    }

    /// Publishes `value` to the key's subject with `headers`, and waits
    /// for the ack within the op's timeout.
    async fn publish(&self, key: &str, headers: HeaderMap, value: Vec<u8>) -> Result<Sent, ClientError> {
        let send = async {
            let sent = self
                .js
                .publish_with_headers(bucket::subject(key), headers, Bytes::from(value))
                .await
                .map_err(|e| ClientError::Unreachable(format!("{}: not sent: {e}", self.endpoint)))?;
            match sent.await {
                Ok(_) => Ok(Sent::Acked),
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(Sent::GuardFailed),
                Err(e) => Err(classify(&self.endpoint, &e)),
            }
        };
        tokio::time::timeout(self.timeout, send).await.unwrap_or(Err(ClientError::Timeout(self.timeout)))
    }

    /// Publishes `value` only if the key's revision is still `revision`.
    async fn publish_if(&self, key: &str, revision: u64, value: Vec<u8>) -> Result<Sent, ClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(EXPECTED_LAST_SUBJECT_SEQUENCE, revision.to_string().as_str());
        self.publish(key, headers, value).await
    }

    /// Reads the key and publishes what `next` makes of it, guarded on the
    /// revision read, until a guard holds or the op's timeout passes.
    /// `next` may decide not to write (`Err(answer)`).
    async fn read_modify_write<T>(
        &mut self,
        key: &str,
        mut next: impl FnMut(Option<Vec<u8>>) -> Result<(Vec<u8>, T), T>,
    ) -> Result<T, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut conflicts = 0;
        loop {
            // Nothing is written yet: any failure here is definite.
            let found = self.read(key, false).await.map_err(|e| ClientError::Refused(e.to_string()))?;
            let (value, answer) = match next(found.value) {
                Ok(write) => write,
                Err(answer) => return Ok(answer),
            };
            if self.publish_if(key, found.revision, value).await? == Sent::Acked {
                return Ok(answer);
            }
            conflicts += 1;
            if Instant::now() >= deadline {
                return Err(ClientError::Refused(format!(
                    "{}: gave up after {conflicts} writes lost to concurrent writes",
                    self.endpoint
                )));
            }
        }
    }
}

/// Sorts a publish's error into "certainly not stored" or not.
pub fn classify(endpoint: &str, e: &PublishError) -> ClientError {
    let msg = format!("{endpoint}: {e}");
    match e.kind() {
        PublishErrorKind::StreamNotFound => ClientError::Refused(format!("{msg} (no responders)")),
        PublishErrorKind::WrongLastSequence => ClientError::Refused(msg),
        PublishErrorKind::MaxPayloadExceeded => ClientError::InvalidArgument(msg),
        _ => ClientError::Unknown(msg),
    }
}

#[tonic::async_trait]
impl Store for NatsStore {
    /// Creates the bucket unless it exists (the same config again is no
    /// change), so that the first op finds it.
    async fn prepare(&mut self) -> Result<(), ClientError> {
        let create = self.js.get_or_create_stream(bucket_config());
        match tokio::time::timeout(self.timeout, create).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ClientError::Refused(format!("{}: creating the bucket: {e}", self.endpoint))),
            Err(_) => Err(ClientError::Timeout(self.timeout)),
        }
    }

    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        let key = self.key(key)?;
        let direct = self.direct;
        Ok(self.read(&key, direct).await?.value)
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let key = self.key(key)?;
        self.publish(&key, HeaderMap::new(), value.to_vec()).await.map(drop)
    }

    async fn delete(&mut self, key: &[u8]) -> Result<(), ClientError> {
        let key = self.key(key)?;
        let mut headers = HeaderMap::new();
        headers.insert(KV_OPERATION, "DEL");
        self.publish(&key, headers, Vec::new()).await.map(drop)
    }

    async fn append(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let key = self.key(key)?;
        self.read_modify_write(&key, |old| {
            let mut longer = old.unwrap_or_default();
            longer.extend_from_slice(value);
            Ok((longer, ()))
        })
        .await
    }

    async fn cas(&mut self, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> Result<CasResult, ClientError> {
        let key = self.key(key)?;
        self.read_modify_write(&key, |current| {
            if current.as_deref() == expected {
                Ok((new.to_vec(), CasResult::Swapped))
            } else {
                Err(CasResult::Mismatch { current })
            }
        })
        .await
    }

    async fn txn(&mut self, _ops: &[TxnOp]) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
        Err(ClientError::InvalidArgument("NATS JetStream 2.9 has no multi-key transactions".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each publish error, sorted as the history needs: definite only when
    /// NATS certainly stored nothing.
    #[test]
    fn each_publish_error_is_sorted_definite_or_not() {
        let sort = |kind| {
            let c = classify("n1:4222", &PublishError::new(kind));
            (c.is_definite(), c.to_string())
        };
        for kind in [
            PublishErrorKind::StreamNotFound,
            PublishErrorKind::WrongLastSequence,
            PublishErrorKind::MaxPayloadExceeded,
        ] {
            assert!(sort(kind).0, "{kind:?}");
        }
        for kind in [
            PublishErrorKind::TimedOut,
            PublishErrorKind::BrokenPipe,
            PublishErrorKind::Other,
            PublishErrorKind::MaxAckPending,
            PublishErrorKind::WrongLastMessageId,
        ] {
            let (definite, text) = sort(kind);
            assert!(!definite, "{kind:?}: {text}");
            assert!(text.starts_with("outcome unknown: n1:4222"), "{text}");
        }
    }

    /// The bucket is what a KV client expects of one: one message per key,
    /// on every node, on disk, readable by direct get.
    #[test]
    fn the_bucket_is_a_three_replica_file_stream_keeping_one_message_per_key() {
        let c = bucket_config();
        assert_eq!((c.name.as_str(), c.subjects.as_slice()), (STREAM, ["$KV.faultline.>".to_string()].as_slice()));
        assert_eq!((c.max_messages_per_subject, c.num_replicas), (1, 3));
        assert!(c.allow_direct && c.allow_rollup && c.deny_delete);
        assert_eq!(c.storage, stream::StorageType::File);
    }
}
