//! TLS between clients, peers and nodes: the names a node's certificate
//! carries, the files a node's TLS folder holds, and the dialling side of a
//! connection.
//!
//! Every node certificate is issued by the run's CA for two names: the
//! shared [`SERVER_NAME`], which a client checks (any genuine member of the
//! cluster will do), and [`peer_name`] of its id, which a node checks when
//! a peer dials it and which the dialling node checks of the peer it meant
//! to reach. Clients present no certificate; peers must.

use std::path::{Path, PathBuf};

use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::NodeId;

/// The name every node certificate carries, and that clients check.
pub const SERVER_NAME: &str = "raftkv";
/// The CA certificate in a node's TLS folder (`raftkv serve --tls-dir`).
pub const CA_FILE: &str = "ca.pem";
/// The node's own certificate in its TLS folder.
pub const CERT_FILE: &str = "node.pem";
/// The node's private key in its TLS folder.
pub const KEY_FILE: &str = "node.key";

/// The name that node `id`'s certificate carries for its peers.
pub fn peer_name(id: NodeId) -> String {
    format!("node-{id}")
}

/// A TLS file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS file {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("TLS file {path} holds no PEM {what}")]
    NotPem { path: PathBuf, what: &'static str },
}

/// Reads a PEM file and checks that it holds a `what` ("CERTIFICATE",
/// "PRIVATE KEY"), so that a wrong file is named now rather than failing
/// every handshake later with a message about bytes.
pub fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    let pem = std::fs::read(path).map_err(|error| TlsError::Read { path: path.into(), error })?;
    let text = String::from_utf8_lossy(&pem);
    let found = text.lines().any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{what}-----")));
    if !found {
        return Err(TlsError::NotPem { path: path.into(), what });
    }
    Ok(pem)
}

/// What a dialling side trusts and, for a peer, what it presents.
#[derive(Clone, Debug)]
pub struct ClientTls {
    ca: Certificate,
    identity: Option<Identity>,
}

impl ClientTls {
    /// Trusts the CA certificate at `ca`; presents nothing (a client).
    pub fn load(ca: &Path) -> Result<ClientTls, TlsError> {
        Ok(ClientTls { ca: Certificate::from_pem(read_pem(ca, "CERTIFICATE")?), identity: None })
    }

    /// A node's TLS folder: trusts its CA and presents its certificate (a
    /// peer).
    pub fn load_dir(dir: &Path) -> Result<ClientTls, TlsError> {
        Ok(ClientTls::peer(
            &read_pem(&dir.join(CA_FILE), "CERTIFICATE")?,
            &read_pem(&dir.join(CERT_FILE), "CERTIFICATE")?,
            &read_pem(&dir.join(KEY_FILE), "PRIVATE KEY")?,
        ))
    }

    /// Trusts the CA `ca` and presents `cert` with its `key` (PEM, already
    /// read and checked).
    pub fn peer(ca: &[u8], cert: &[u8], key: &[u8]) -> ClientTls {
        ClientTls { ca: Certificate::from_pem(ca), identity: Some(Identity::from_pem(cert, key)) }
    }

    fn config(&self, server_name: &str) -> ClientTlsConfig {
        let mut c = ClientTlsConfig::new().ca_certificate(self.ca.clone()).domain_name(server_name);
        if let Some(id) = &self.identity {
            c = c.identity(id.clone());
        }
        c
    }
}

/// A connection that could not be opened; nothing was sent on it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
    #[error("no connection within {0:?} (the node may be paused or overloaded)")]
    Timeout(Duration),
}

/// Opens a channel on `endpoint` within `within`: the TCP connect and,
/// with TLS, the handshake. tonic's connect timeout covers only the first,
/// and the kernel of a paused node still accepts connections, so without
/// this a handshake with it would wait for as long as the pause lasts.
pub async fn connect(endpoint: Endpoint, within: Duration) -> Result<Channel, ConnectError> {
    match tokio::time::timeout(within, endpoint.connect_timeout(within).connect()).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ConnectError::Timeout(within)),
    }
}

/// The endpoint for `addr` (HOST:PORT): plaintext without `tls`, else TLS
/// checking that the server's certificate is valid for `server_name`.
pub fn endpoint(addr: &str, tls: Option<&ClientTls>, server_name: &str) -> Result<Endpoint, tonic::transport::Error> {
    match tls {
        None => Endpoint::from_shared(format!("http://{addr}")),
        Some(t) => Endpoint::from_shared(format!("https://{addr}"))?.tls_config(t.config(server_name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_the_pem_asked_for_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let e = read_pem(&p, "CERTIFICATE").unwrap_err().to_string();
        assert!(e.contains("ca.pem") && e.contains("no PEM CERTIFICATE"), "{e}");
        assert!(read_pem(&p, "PRIVATE KEY").is_ok());
        let missing = read_pem(&dir.path().join("absent.pem"), "CERTIFICATE").unwrap_err().to_string();
        assert!(missing.contains("absent.pem"), "{missing}");
    }
}
