//! The `raftkv` command line: `serve` runs a node; `get`, `put`, `delete`,
//! `cas`, `append`, `txn` and `status` are scriptable clients (like
//! etcdctl). The benchmark is `faultline bench-node`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::client::tls::{ClientTls, TlsError};
use crate::client::{CasResult, Client, TxnOp};
use crate::config::ServeArgs;
use crate::revocation;

#[derive(Debug, Parser)]
#[command(name = "raftkv", version, about = "A three-node Raft key-value store")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by the client subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Nodes to talk to, HOST:PORT,HOST:PORT,…; requests follow redirects
    /// to the leader.
    #[arg(long, env = "RAFTKV_ENDPOINTS", value_delimiter = ',', required = true)]
    pub endpoints: Vec<String>,
    /// Give up on an operation after this long.
    #[arg(long, default_value = "5s", value_parser = flags::duration)]
    pub timeout: Duration,
    /// Connect over TLS, trusting this CA certificate (PEM; the `ca.pem` of
    /// the nodes' `--tls-dir`). Without it the client speaks plaintext, to
    /// nodes run `--insecure`.
    #[arg(long, env = "RAFTKV_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl ClientArgs {
    /// What the client trusts, read now so that a bad file is named
    /// before any request.
    pub fn tls(&self) -> Result<Option<ClientTls>, TlsError> {
        self.tls_ca.as_deref().map(ClientTls::load).transpose()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node.
    Serve(Box<ServeArgs>),
    /// Print a key's value; exit 1 when the key is absent.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        key: String,
    },
    /// Set a key.
    Put {
        #[command(flatten)]
        client: ClientArgs,
        key: String,
        value: String,
    },
    /// Delete a key.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        key: String,
    },
    /// Set KEY to NEW if it holds EXPECTED (or, with --absent, if it is
    /// absent, and then NEW is the only value given). Exit 1 on a mismatch.
    Cas {
        #[command(flatten)]
        client: ClientArgs,
        /// Swap only if the key is absent.
        #[arg(long)]
        absent: bool,
        key: String,
        /// EXPECTED NEW, or just NEW with --absent.
        #[arg(num_args = 1..=2, required = true)]
        values: Vec<String>,
    },
    /// Append VALUE to the key's value (creating it when absent).
    Append {
        #[command(flatten)]
        client: ClientArgs,
        key: String,
        value: String,
    },
    /// Apply micro-ops atomically, in one log entry: `r KEY`, `append KEY
    /// VALUE`, `put KEY VALUE`, in order (`txn r a append b 1 r b`).
    /// Prints one JSON object per read, in order: {"key": …, "value": …},
    /// the value null when the key is absent.
    Txn {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(required = true, value_name = "MICRO-OP")]
        ops: Vec<String>,
    },
    /// Print one JSON object per node: role, term, leader, indexes.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the SHA-256 fingerprint of a certificate (PEM), the form a
    /// node's `revoked.txt` lists: append it there and send the node
    /// SIGHUP to revoke that certificate.
    Fingerprint {
        /// A PEM file holding the certificate (its first one is used).
        cert: PathBuf,
    },
}

/// Exit code for a definite "no" (absent key, cas mismatch).
const EXIT_NO: u8 = 1;
/// Exit code for an error.
const EXIT_ERROR: u8 = 2;

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("raftkv: {e}");
    ExitCode::from(EXIT_ERROR)
}

/// The client's trust, or the exit after saying which file is wrong.
fn tls_of(client: &ClientArgs) -> Result<Option<ClientTls>, ExitCode> {
    client.tls().map_err(|e| fail(format!("--tls-ca: {e}")))
}

fn open(client: &ClientArgs) -> Result<Client, ExitCode> {
    Ok(Client::new(client.endpoints.clone(), client.timeout).with_tls(tls_of(client)?))
}

/// The micro-ops of `raftkv txn`: `r KEY`, `append KEY VALUE`, `put KEY
/// VALUE`, one after another.
fn parse_txn(words: &[String]) -> Result<Vec<TxnOp>, String> {
    let mut ops = Vec::new();
    let mut rest = words;
    while let [f, tail @ ..] = rest {
        let need = |n: usize| {
            (tail.len() >= n)
                .then_some(())
                .ok_or_else(|| format!("txn: micro-op {} ({f}) needs {n} argument(s) after it", ops.len()))
        };
        let bytes = |s: &String| s.as_bytes().to_vec();
        let (op, used) = match f.as_str() {
            "r" => {
                need(1)?;
                (TxnOp::Read { key: bytes(&tail[0]) }, 1)
            }
            "append" => {
                need(2)?;
                (TxnOp::Append { key: bytes(&tail[0]), value: bytes(&tail[1]) }, 2)
            }
            "put" => {
                need(2)?;
                (TxnOp::Put { key: bytes(&tail[0]), value: bytes(&tail[1]) }, 2)
            }
            other => return Err(format!("txn: {other:?} is not a micro-op (r KEY, append KEY VALUE, put KEY VALUE)")),
        };
        ops.push(op);
        rest = &tail[used..];
    }
    Ok(ops)
}

/// Runs a client subcommand (everything but `serve`).
pub async fn run_client(command: Command) -> ExitCode {
    match run_client_inner(command).await {
        Ok(code) | Err(code) => code,
    }
}

async fn run_client_inner(command: Command) -> Result<ExitCode, ExitCode> {
    Ok(match command {
        Command::Serve(_) => unreachable!("serve is handled by main"),
        Command::Get { client, key } => match open(&client)?.get(key.as_bytes()).await {
            Ok(Some(v)) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&v).and_then(|_| out.write_all(b"\n"));
                ExitCode::SUCCESS
            }
            Ok(None) => {
                eprintln!("raftkv: key {key:?} is absent");
                ExitCode::from(EXIT_NO)
            }
            Err(e) => fail(e),
        },
        Command::Put { client, key, value } => match open(&client)?.put(key.as_bytes(), value.as_bytes()).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::Delete { client, key } => match open(&client)?.delete(key.as_bytes()).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::Append { client, key, value } => match open(&client)?.append(key.as_bytes(), value.as_bytes()).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::Txn { client, ops } => {
            let ops = parse_txn(&ops).map_err(fail)?;
            match open(&client)?.txn(&ops).await {
                Ok(reads) => {
                    let keys = ops.iter().filter_map(|o| match o {
                        TxnOp::Read { key } => Some(String::from_utf8_lossy(key).into_owned()),
                        _ => None,
                    });
                    for (key, value) in keys.zip(reads) {
                        let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
                        println!("{}", serde_json::json!({ "key": key, "value": value }));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Cas { client, absent, key, values } => {
            let (expected, new) = match (absent, values.as_slice()) {
                (true, [new]) => (None, new.clone()),
                (false, [expected, new]) => (Some(expected.clone()), new.clone()),
                (true, _) => return Err(fail("cas --absent takes KEY NEW")),
                (false, _) => return Err(fail("cas takes KEY EXPECTED NEW (or --absent KEY NEW)")),
            };
            let mut c = open(&client)?;
            match c.cas(key.as_bytes(), expected.as_deref().map(str::as_bytes), new.as_bytes()).await {
                Ok(CasResult::Swapped) => ExitCode::SUCCESS,
                Ok(CasResult::Mismatch { current }) => {
                    match current {
                        Some(v) => {
                            eprintln!("raftkv: cas mismatch: key {key:?} holds {:?}", String::from_utf8_lossy(&v))
                        }
                        None => eprintln!("raftkv: cas mismatch: key {key:?} is absent"),
                    }
                    ExitCode::from(EXIT_NO)
                }
                Err(e) => fail(e),
            }
        }
        Command::Status { client } => {
            let mut c = open(&client)?;
            let mut code = ExitCode::SUCCESS;
            for addr in &client.endpoints {
                let line = match c.status_of(addr).await {
                    Ok(s) => serde_json::json!({
                        "addr": addr, "id": s.id, "role": s.role, "term": s.term,
                        "leader_id": s.leader_id, "leader_addr": s.leader_addr,
                        "commit": s.commit, "applied": s.applied,
                        "first_index": s.first_index, "last_index": s.last_index,
                        "unsafe_settings": s.unsafe_settings,
                    }),
                    Err(e) => {
                        code = ExitCode::from(EXIT_ERROR);
                        serde_json::json!({ "addr": addr, "error": e.to_string() })
                    }
                };
                println!("{line}");
            }
            code
        }
        Command::Fingerprint { cert } => {
            use rustls_pki_types::pem::PemObject as _;
            match rustls_pki_types::CertificateDer::from_pem_file(&cert) {
                Ok(der) => {
                    println!("{}", revocation::to_hex(&revocation::fingerprint(&der)));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{}: no PEM certificate: {e}", cert.display())),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn txn_micro_ops_are_read_in_order_and_bad_ones_are_named() {
        let ops = parse_txn(&words("r a append b 1 put c x r b")).unwrap();
        assert_eq!(
            ops,
            vec![
                TxnOp::Read { key: b"a".to_vec() },
                TxnOp::Append { key: b"b".to_vec(), value: b"1".to_vec() },
                TxnOp::Put { key: b"c".to_vec(), value: b"x".to_vec() },
                TxnOp::Read { key: b"b".to_vec() },
            ]
        );
        assert!(parse_txn(&words("r a append b")).unwrap_err().contains("micro-op 1 (append) needs 2"));
        assert!(parse_txn(&words("w a 1")).unwrap_err().contains("\"w\" is not a micro-op"));
    }
}
