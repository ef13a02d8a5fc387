//! Mutual TLS on the node's one port: the server side of it, and which
//! peer a connection's certificate speaks for.
//!
//! Peers and clients share the port, so the server asks every connection
//! for a certificate but does not require one: clients present none, and a
//! connection without one may call `Kv` but never `RaftTransport`. A peer's
//! certificate must chain to the run's CA (rustls checks that in the
//! handshake) and carry the peer name of the node id its messages claim
//! (checked per message in `server.rs`). So a forged `from` gets nowhere
//! without that node's key.

use std::path::Path;
use std::sync::Arc;

use raftkv_client::tls::{peer_name, read_pem, ClientTls, TlsError, CA_FILE, CERT_FILE, KEY_FILE};
use raftkv_client::NodeId;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A node's TLS folder, read and checked at start-up.
#[derive(Clone, Debug)]
pub struct NodeTls {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl NodeTls {
    /// Reads `dir/ca.pem`, `dir/node.pem` and `dir/node.key`.
    pub fn load(dir: &Path) -> Result<NodeTls, TlsError> {
        Ok(NodeTls {
            ca: read_pem(&dir.join(CA_FILE), "CERTIFICATE")?,
            cert: read_pem(&dir.join(CERT_FILE), "CERTIFICATE")?,
            key: read_pem(&dir.join(KEY_FILE), "PRIVATE KEY")?,
        })
    }

    /// The server side: this node's certificate, and client certificates
    /// asked for, checked against the CA when given, never required. The
    /// handshake itself runs in [`crate::listener`], under its deadline.
    pub fn server(&self) -> Result<ServerConfig, rustls::Error> {
        let bad_pem = |what: &str, e: rustls_pki_types::pem::Error| rustls::Error::General(format!("{what}: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&self.ca) {
            roots.add(ca.map_err(|e| bad_pem("ca.pem", e))?)?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| rustls::Error::General(format!("ca.pem: {e}")))?;
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_pem("node.pem", e))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| bad_pem("node.key", e))?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }

    /// The dialling side, for this node's own connections to its peers: it
    /// presents this node's certificate.
    pub fn dialler(&self) -> ClientTls {
        ClientTls::peer(&self.ca, &self.cert, &self.key)
    }
}

/// Which of `peers` the certificate chain a connection presented speaks
/// for: the first certificate (the leaf) must carry that peer's name. The
/// chain itself was checked against the CA in the handshake.
pub fn peer_of(chain: Option<&[CertificateDer<'static>]>, peers: impl IntoIterator<Item = NodeId>) -> Option<NodeId> {
    let leaf = chain?.first()?;
    let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
    peers.into_iter().find(|id| {
        ServerName::try_from(peer_name(*id)).is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_certificate_speaks_for_the_peer_it_names_and_no_other() {
        let ca = certs::Authority::new("test").unwrap();
        let two = der(&ca.issue(NodeId(2)).unwrap().cert);
        let peers = [NodeId(2), NodeId(3)];
        assert_eq!(peer_of(Some(std::slice::from_ref(&two)), peers), Some(NodeId(2)));
        assert_eq!(peer_of(Some(std::slice::from_ref(&two)), [NodeId(3)]), None);
        // A certificate from the same CA for another name (a client's, say)
        // speaks for no peer.
        let other = der(&ca.issue_for("client", &["raftkv".into()]).unwrap().cert);
        assert_eq!(peer_of(Some(&[other]), peers), None);
        assert_eq!(peer_of(None, peers), None);
        assert_eq!(peer_of(Some(&[]), peers), None);
    }
}
