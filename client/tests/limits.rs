//! The client's gRPC limits are explicit: an answer past
//! `MAX_GRPC_MESSAGE` is refused as it is decoded, not held in memory,
//! and the read fails with a message that says so. A node never sends one
//! (values are at most 1 MiB), so a server that would is a broken or
//! hostile one; the mock store, which has no value limit, plays it here.

use std::time::Duration;

use faultline_proto::MAX_GRPC_MESSAGE;
use raftkv_client::{Client, ClientError};
use testkit::mock_kv::{self, Behaviour};

#[tokio::test]
async fn an_answer_past_the_message_limit_is_refused_naming_its_size() {
    let addr = mock_kv::spawn("127.0.0.1:0".parse().unwrap(), Behaviour::Correct).await.unwrap();
    let mut c = Client::new(vec![addr.to_string()], Duration::from_secs(30));
    // Each append fits the mock's own 4 MiB request limit; together they
    // make a value past the client's limit.
    let chunk = vec![b'x'; 3 << 20];
    let mut held = 0;
    while held <= MAX_GRPC_MESSAGE {
        c.append(b"big", &chunk).await.unwrap();
        held += chunk.len();
    }
    let err = c.get(b"big").await.unwrap_err();
    assert!(matches!(err, ClientError::ReadUnavailable(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("too large") && text.contains(&MAX_GRPC_MESSAGE.to_string()), "{text}");
    // A value within the limit still reads back whole.
    c.put(b"small", &chunk).await.unwrap();
    assert_eq!(c.get(b"small").await.unwrap().map(|v| v.len()), Some(chunk.len()));
}
