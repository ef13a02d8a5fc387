//! The rig's certificate authority: for each run, a fresh CA and one
//! certificate per node, so that peers authenticate each other (mutual
//! TLS) and clients know they reach a member of this run's cluster.
//!
//! A node's certificate carries the names of `raftkv_client::tls`: the
//! shared server name and its own peer name. The CA's key is never written:
//! once the run's certificates are issued, nobody can issue another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use raftkv_client::tls::{peer_name, CA_FILE, CERT_FILE, KEY_FILE, SERVER_NAME};
use raftkv_client::NodeId;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("issuing a certificate: {0}")]
    Issue(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// One node's certificate and private key, PEM.
#[derive(Clone, Debug)]
pub struct NodeCert {
    pub cert: String,
    pub key: String,
}

/// A CA that lives as long as this value: it issues node certificates and
/// then is dropped with its key.
pub struct Authority {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    /// A fresh CA named `label` (the run, in messages and `openssl x509`).
    pub fn new(label: &str) -> Result<Authority, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, format!("faultline CA ({label})"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = params.self_signed(&key)?;
        Ok(Authority { ca_pem: ca.pem(), issuer: Issuer::new(params, key) })
    }

    /// The CA certificate, PEM: what every node and client trusts.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Node `id`'s certificate, good as a server (for the shared name and
    /// its peer name) and as a client (when it dials its peers).
    pub fn issue(&self, id: NodeId) -> Result<NodeCert, CertError> {
        self.issue_for(&peer_name(id), &[SERVER_NAME.to_string(), peer_name(id)])
    }

    /// A certificate for arbitrary names; tests use it to forge peers.
    pub fn issue_for(&self, common_name: &str, names: &[String]) -> Result<NodeCert, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(NodeCert { cert: cert.pem(), key: key.serialize_pem() })
    }

    /// Writes node `id`'s TLS folder (`raftkv serve --tls-dir`): the CA,
    /// its certificate and its key (mode 0600).
    pub fn write_node_dir(&self, id: NodeId, dir: &Path) -> Result<(), CertError> {
        let c = self.issue(id)?;
        write(dir, CA_FILE, &self.ca_pem, 0o644)?;
        write(dir, CERT_FILE, &c.cert, 0o644)?;
        write(dir, KEY_FILE, &c.key, 0o600)
    }

    /// One TLS folder per node under `dir` (`dir/NAME/`), plus `dir/ca.pem`
    /// for clients. Returns each node's folder.
    pub fn write_cluster(
        &self,
        dir: &Path,
        nodes: &[(NodeId, String)],
    ) -> Result<BTreeMap<NodeId, PathBuf>, CertError> {
        write(dir, CA_FILE, &self.ca_pem, 0o644)?;
        let mut out = BTreeMap::new();
        for (id, name) in nodes {
            let d = dir.join(name);
            self.write_node_dir(*id, &d)?;
            out.insert(*id, d);
        }
        Ok(out)
    }
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> Result<(), CertError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(name);
    let err = |source| CertError::Write { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(err)?;
    // A key is never readable by others, not even for a moment.
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&path).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_cluster_gets_a_ca_and_a_private_key_per_node() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::new("test").unwrap();
        let nodes: Vec<(NodeId, String)> = (1..=3).map(|i| (NodeId(i), format!("n{i}"))).collect();
        let dirs = ca.write_cluster(dir.path(), &nodes).unwrap();
        assert_eq!(dirs.len(), 3);
        assert!(std::fs::read_to_string(dir.path().join(CA_FILE)).unwrap().contains("BEGIN CERTIFICATE"));
        for d in dirs.values() {
            assert!(raftkv_client::tls::ClientTls::load_dir(d).is_ok());
            let mode = std::fs::metadata(d.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Each node has its own key.
        let k1 = std::fs::read(dirs[&NodeId(1)].join(KEY_FILE)).unwrap();
        let k2 = std::fs::read(dirs[&NodeId(2)].join(KEY_FILE)).unwrap();
        assert_ne!(k1, k2);
    }
}
