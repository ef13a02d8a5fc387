//! The cluster's certificates: issued afresh for each run (a CA of the
//! run's own, whose key is never written), named in the cluster description,
//! and installed into each node's TLS folder on its host (see
//! `lifecycle::NodeProc::install`).

use std::path::Path;

use certs::{Authority, CertError};
use cluster::{Cluster, NodeCertFiles, TlsSpec};
use raftkv_client::tls::{CA_FILE, CERT_FILE, KEY_FILE};

/// The folder, beside the cluster file, that [`issue`] writes.
pub const DIR: &str = "tls";

/// Issues a CA and one certificate per node into `tls/` under `base`, the
/// folder the cluster file is saved in, and names them in `cluster.tls`
/// relative to it (so the pair can move together), replacing whatever it
/// named.
pub fn issue(cluster: &mut Cluster, base: &Path) -> Result<(), CertError> {
    let ca = Authority::new(&cluster.name)?;
    let nodes: Vec<_> = cluster.nodes.iter().map(|n| (n.id, n.name.clone())).collect();
    let dirs = ca.write_cluster(&base.join(DIR), &nodes)?;
    let relative = |p: &Path| p.strip_prefix(base).unwrap_or(p).to_path_buf();
    let files = cluster
        .nodes
        .iter()
        .map(|n| {
            let d = relative(&dirs[&n.id]);
            (n.name.clone(), NodeCertFiles { cert: d.join(CERT_FILE), key: d.join(KEY_FILE) })
        })
        .collect();
    cluster.tls = Some(TlsSpec { ca: Path::new(DIR).join(CA_FILE), nodes: files });
    Ok(())
}
