//! Revoked certificates: the SHA-256 fingerprints listed in `revoked.txt`
//! in the node's TLS folder, read at start and again on SIGHUP.
//!
//! A peer key that leaks lets its holder speak for that peer (see the
//! security section of the docs). The CA cannot be changed under a running
//! cluster, so a key is revoked by listing its certificate's fingerprint:
//! connections that present it are refused at the handshake, and a peer
//! stream that was open before the SIGHUP is cut at its next message.
//!
//! The format is one fingerprint a line (`raftkv fingerprint CERT.pem`
//! prints it; `openssl x509 -fingerprint -sha256` gives the same digits
//! with colons, which are accepted), with `#` comments and blank lines. A
//! missing file revokes nothing; a malformed one is refused naming the
//! line, and on SIGHUP the list in force is kept.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rustls_pki_types::CertificateDer;

/// The file in the TLS folder.
pub const REVOKED_FILE: &str = "revoked.txt";

/// A certificate's SHA-256 digest, of its DER bytes.
pub type Fingerprint = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {what}: expected a SHA-256 fingerprint (64 hex digits, colons allowed)")]
    Malformed { path: PathBuf, line: usize, what: String },
}

/// The revoked fingerprints of one TLS folder (none without one).
#[derive(Debug, Default)]
pub struct Revoked {
    path: PathBuf,
    set: RwLock<HashSet<Fingerprint>>,
}

impl Revoked {
    /// Reads `dir/revoked.txt`, if it exists.
    pub fn load(dir: &Path) -> Result<Revoked, RevocationError> {
        let path = dir.join(REVOKED_FILE);
        let set = read(&path)?;
        Ok(Revoked { path, set: RwLock::new(set) })
    }

    /// Reads the file again; on an error the list in force stays. Returns
    /// how many fingerprints are now revoked.
    pub fn reload(&self) -> Result<usize, RevocationError> {
        let set = read(&self.path)?;
        let n = set.len();
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = set;
        Ok(n)
    }

    pub fn len(&self) -> usize {
        self.set.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.set.read().unwrap_or_else(|p| p.into_inner()).contains(fingerprint)
    }

    /// Whether the leaf of a presented chain is revoked.
    pub fn revokes(&self, chain: Option<&[CertificateDer<'_>]>) -> bool {
        chain.and_then(|c| c.first()).is_some_and(|leaf| self.contains(&fingerprint(leaf)))
    }
}

pub fn fingerprint(der: &[u8]) -> Fingerprint {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// Lower-case hex, as the file holds it.
pub fn to_hex(f: &Fingerprint) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> Result<HashSet<Fingerprint>, RevocationError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(source) => return Err(RevocationError::Read { path: path.to_path_buf(), source }),
    };
    let mut set = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let malformed = |what: String| RevocationError::Malformed { path: path.to_path_buf(), line: i + 1, what };
        let digits: String = line.chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 {
            return Err(malformed(format!("{} hex digits", digits.len())));
        }
        let mut f = [0u8; 32];
        for (k, byte) in f.iter_mut().enumerate() {
            *byte = u8::from_str_radix(digits.get(2 * k..2 * k + 2).unwrap_or("?"), 16)
                .map_err(|_| malformed(format!("{line:?} is not hex")))?;
        }
        set.insert(f);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_with_or_without_colons_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let r = Revoked::load(dir.path()).unwrap();
        assert!(r.is_empty(), "a missing file revokes nothing");
        let a = fingerprint(b"a");
        let b = fingerprint(b"b");
        let colons: Vec<String> = b.iter().map(|x| format!("{x:02X}")).collect();
        let text = format!("# leaked 2026-12-02\n{}\n\n{}  # n3\n", to_hex(&a), colons.join(":"));
        std::fs::write(dir.path().join(REVOKED_FILE), text).unwrap();
        assert_eq!(r.reload().unwrap(), 2);
        assert!(r.contains(&a) && r.contains(&b));
        assert!(!r.contains(&fingerprint(b"c")));
    }

    #[test]
    fn a_malformed_line_is_refused_naming_it_and_the_list_in_force_stays() {
        let dir = tempfile::tempdir().unwrap();
        let a = fingerprint(b"a");
        std::fs::write(dir.path().join(REVOKED_FILE), to_hex(&a)).unwrap();
        let r = Revoked::load(dir.path()).unwrap();
        std::fs::write(dir.path().join(REVOKED_FILE), format!("{}\nnot-a-fingerprint\n", to_hex(&a))).unwrap();
        let err = r.reload().unwrap_err().to_string();
        assert!(err.contains("revoked.txt:2"), "{err}");
        assert!(r.contains(&a));
        let zz = "zz".repeat(32);
        std::fs::write(dir.path().join(REVOKED_FILE), zz).unwrap();
        assert!(r.reload().unwrap_err().to_string().contains("is not hex"));
    }
}
