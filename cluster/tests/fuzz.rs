//! Fuzzing cluster files on stable Rust: valid cluster files with random
//! edits go through `Cluster::load`. Nothing may panic; what loads has
//! passed validation (no NUL anywhere, three distinct nodes), so the
//! nemesis can quote every string of it into a script.

use cluster::Cluster;
use proptest::prelude::*;

const CLUSTER: &str = r#"{
  "name": "local",
  "nodes": [
    {"id": 1, "name": "n1", "address": "10.77.0.11", "port": 7001,
     "host": {"kind": "netns", "namespace": "fl-n1"},
     "data_dir": "/var/lib/fl/n1/data", "log_file": "/var/lib/fl/n1/raftkv.log",
     "pid_file": "/var/lib/fl/n1/raftkv.pid", "binary": "/var/lib/fl/n1/bin/raftkv"},
    {"id": 2, "name": "n2", "address": "10.77.0.12", "port": 7001,
     "host": {"kind": "ssh", "target": "n2", "user": "vagrant", "ssh_config": "ssh-config"},
     "data_dir": "/var/lib/fl/n2/data", "log_file": "/var/lib/fl/n2/raftkv.log",
     "pid_file": "/var/lib/fl/n2/raftkv.pid", "binary": "/var/lib/fl/n2/bin/raftkv"},
    {"id": 3, "name": "n3", "address": "10.77.0.13", "port": 7001,
     "host": {"kind": "netns", "namespace": "fl-n3"},
     "data_dir": "/var/lib/fl/n3/data", "log_file": "/var/lib/fl/n3/raftkv.log",
     "pid_file": "/var/lib/fl/n3/raftkv.pid", "binary": "/var/lib/fl/n3/bin/raftkv"}
  ],
  "node_args": ["--tick-interval", "50ms"]
}"#;

fn mutate(text: &str, edits: &[(usize, usize, String)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, del, ins) in edits {
        let start = at % (chars.len() + 1);
        let end = (start + del).min(chars.len());
        chars.splice(start..end, ins.chars());
    }
    chars.into_iter().collect()
}

fn insert() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,6}",
        Just("\\u0000".to_string()),
        Just("\u{0}".to_string()),
        Just("\"".to_string()),
        Just("99999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("$(reboot)".to_string()),
        Just("{}".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn cluster_files_never_panic_and_what_loads_is_valid(
        edits in proptest::collection::vec((any::<usize>(), 0usize..12, insert()), 1..5)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.json");
        std::fs::write(&path, mutate(CLUSTER, &edits)).unwrap();
        if let Ok(c) = Cluster::load(&path) {
            prop_assert!(c.validate().is_ok());
            let text = serde_json::to_string(&c).unwrap();
            prop_assert!(!text.contains("\\u0000"), "{text}");
        }
    }
}

#[test]
fn the_seed_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.json");
    std::fs::write(&path, CLUSTER).unwrap();
    let c = Cluster::load(&path).unwrap();
    assert_eq!(c.nodes.len(), 3);
}
