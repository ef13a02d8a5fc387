//! Running a shell command on a node's host.
//!
//! Every fault and every lifecycle step is a bash script run through a
//! [`Remote`], so local test hosts and real machines share one code path,
//! as Jepsen does it over SSH. A local host is a network namespace on this
//! machine (`ip netns exec`); a remote one is reached with OpenSSH in batch
//! mode, honouring an ssh config file such as `vagrant ssh-config` writes,
//! and through `sudo -n` when the login user is not root.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cluster::{HostSpec, NodeSpec};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long SSH may take to open a connection before the host counts as
/// unreachable.
const SSH_CONNECT_TIMEOUT_S: u32 = 5;

/// A command that could not be run, or that failed. Every variant names
/// the node.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{node}: host unreachable: {detail}")]
    Unreachable { node: String, detail: String },
    #[error("{node}: {what} failed (exit {code}): {stderr}")]
    Failed { node: String, what: String, code: i32, stderr: String },
    #[error("{node}: {what} did not finish within {after:?}")]
    Timeout { node: String, what: String, after: Duration },
    #[error("{node}: cannot run {program}: {source}")]
    Spawn { node: String, program: &'static str, source: std::io::Error },
}

/// One host's command channel.
#[derive(Clone, Debug)]
pub struct Remote {
    node: String,
    host: HostSpec,
}

impl Remote {
    pub fn for_node(node: &NodeSpec) -> Remote {
        Remote { node: node.name.clone(), host: node.host.clone() }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Runs `script` with bash on the host and returns its stdout. `what`
    /// names the step in errors ("kill", "partition", …).
    pub async fn run(&self, what: &str, script: &str, timeout: Duration) -> Result<String, RemoteError> {
        self.run_with_input(what, script, None, timeout).await
    }

    /// Writes `local` to `dest` on the host with `mode`, atomically (a
    /// temporary file renamed into place), so a running binary is never
    /// overwritten in place. The temporary is made under umask 077, so a
    /// key is never readable by others, even for a moment.
    pub async fn upload(&self, local: &Path, dest: &Path, mode: u32, timeout: Duration) -> Result<(), RemoteError> {
        let bytes = std::fs::read(local).map_err(|e| RemoteError::Failed {
            node: self.node.clone(),
            what: format!("reading {} to upload", local.display()),
            code: -1,
            stderr: e.to_string(),
        })?;
        let dest = quote(&dest.to_string_lossy());
        let script = format!(
            "set -e\nd={dest}\nmkdir -p \"$(dirname \"$d\")\"\n(umask 077 && cat > \"$d.upload.$$\")\n\
             chmod {mode:04o} \"$d.upload.$$\"\nmv -f \"$d.upload.$$\" \"$d\"\n"
        );
        self.run_with_input("install a file", &script, Some(bytes), timeout).await.map(drop)
    }

    async fn run_with_input(
        &self,
        what: &str,
        script: &str,
        input: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<String, RemoteError> {
        let (mut cmd, program) = match &self.host {
            HostSpec::Netns { namespace } => {
                // `ip netns exec` on a missing namespace says little; say
                // what to do instead.
                if !Path::new("/run/netns").join(namespace).exists() {
                    return Err(RemoteError::Unreachable {
                        node: self.node.clone(),
                        detail: format!(
                            "network namespace {namespace} does not exist (bring the local hosts up with \
                             `nemesis hosts up`)"
                        ),
                    });
                }
                let mut c = Command::new("ip");
                c.args(["netns", "exec", namespace, "bash", "-c", script]);
                (c, "ip netns exec")
            }
            HostSpec::Ssh { target, user, ssh_config, identity_file, port } => {
                let c = ssh_command(target, user, ssh_config.as_deref(), identity_file.as_deref(), *port, script);
                (c, "ssh")
            }
        };
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child =
            cmd.spawn().map_err(|source| RemoteError::Spawn { node: self.node.clone(), program, source })?;
        if let Some(bytes) = input {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // The write runs beside the wait: a script that fails early
            // closes its stdin, and the error shows in its exit status.
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            });
        }
        let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(source)) => return Err(RemoteError::Spawn { node: self.node.clone(), program, source }),
            Err(_) => return Err(RemoteError::Timeout { node: self.node.clone(), what: what.into(), after: timeout }),
        };
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            // ssh's own failures (no route, refused, auth) exit 255.
            Some(255) if program == "ssh" => {
                Err(RemoteError::Unreachable { node: self.node.clone(), detail: format!("ssh: {stderr}") })
            }
            code => Err(RemoteError::Failed {
                node: self.node.clone(),
                what: what.into(),
                code: code.unwrap_or(-1),
                stderr: if stderr.is_empty() { "(no output)".into() } else { stderr },
            }),
        }
    }
}

/// Quotes each of `words` as one word for a POSIX shell, space-separated:
/// a command line, or an array's elements, that the shell reads back as
/// the same words.
pub fn quote_words<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Quotes `s` as one word for a POSIX shell.
pub fn quote(s: &str) -> String {
    shlex::try_quote(s).map(|q| q.into_owned()).unwrap_or_else(|_| {
        // Only a NUL byte makes try_quote fail; no path or script of ours
        // holds one.
        panic!("cannot quote a string holding NUL: {s:?}")
    })
}

/// The ssh command line that runs `script` as root on `target`. Every
/// option comes before `--`, and only the target and the command after it,
/// so nothing taken from a cluster file is read as an option.
fn ssh_command(
    target: &str,
    user: &str,
    ssh_config: Option<&Path>,
    identity_file: Option<&Path>,
    port: Option<u16>,
    script: &str,
) -> Command {
    let mut c = Command::new("ssh");
    if let Some(cfg) = ssh_config {
        c.arg("-F").arg(cfg);
    }
    if let Some(id) = identity_file {
        c.arg("-i").arg(id);
    }
    if let Some(p) = port {
        c.arg("-p").arg(p.to_string());
    }
    c.args(["-o", "BatchMode=yes", "-o"]).arg(format!("ConnectTimeout={SSH_CONNECT_TIMEOUT_S}")).args([
        "-o",
        "ServerAliveInterval=5",
        "-l",
        user,
        "--",
        target,
    ]);
    let sudo = if user == "root" { "" } else { "sudo -n " };
    c.arg(format!("{sudo}bash -c {}", quote(script)));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_from_the_cluster_file_reaches_ssh_as_an_option() {
        let c = ssh_command("-V", "vagrant", Some(Path::new("/c")), None, Some(2222), "true");
        let args: Vec<String> = c.as_std().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let dashes = args.iter().position(|a| a == "--").expect("a -- in the ssh command line");
        assert_eq!(args[dashes + 1], "-V", "{args:?}");
        assert_eq!(args.len(), dashes + 3, "only the target and the command follow --: {args:?}");
        assert!(args[dashes + 2].starts_with("sudo -n bash -c "), "{args:?}");
    }
}
