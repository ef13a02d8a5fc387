//! What the rig's client and its nemesis agree on about a NATS cluster:
//! the one key-value bucket a run's data lives in, and the JetStream
//! stream and subjects behind it (a JetStream KV bucket is a stream
//! `KV_<bucket>` whose subjects are `$KV.<bucket>.<key>`, one message per
//! write, the newest per subject kept).

/// The bucket every run's keys live in (runs keep apart by key prefix).
pub const BUCKET: &str = "faultline";

/// The stream behind [`BUCKET`].
pub const STREAM: &str = "KV_faultline";

/// Replicas of the bucket: every node of a three-node cluster, so that a
/// write is acknowledged once a majority has it, as in raftkv and etcd.
pub const REPLICAS: usize = 3;

/// The subject a key's writes are published to.
pub fn subject(key: &str) -> String {
    format!("$KV.{BUCKET}.{key}")
}

/// Whether `key` is a key a JetStream bucket takes: letters, digits and
/// `-/_=.`, not starting or ending with `.`.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_are_bucket_keys_and_others_are_not() {
        assert!(is_valid_key("r1a2b-7/12"));
        assert!(is_valid_key("faultline-probe"));
        for bad in ["", ".k", "k.", "a b", "k*", "k>", "ключ"] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
        assert_eq!(subject("r1-7/3"), "$KV.faultline.r1-7/3");
    }
}
