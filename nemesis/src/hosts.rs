//! The local test hosts: n1..nN on this machine, each in its own network
//! namespace, joined by a bridge in the root namespace.
//!
//! Layout for prefix `fl` and subnet 10.77.0.0/24:
//! - bridge `fl-br` holding 10.77.0.1, the control side's address;
//! - namespace `fl-n{i}` with loopback up and `eth0` = 10.77.0.(10+i),
//!   linked to the bridge by the veth `fl-v{i}`;
//! - a blackhole route for the subnet, at a low priority, so that traffic
//!   for it never leaves this machine, even while the bridge is missing.
//!   It stays after `down`, on purpose.
//!
//! Each namespace has its own iptables, so partitions act per host. The
//! control side (checker, nemesis) stays in the root namespace. `up` and
//! `down` are idempotent, and `down` also clears what a crashed run left:
//! processes in the namespaces, and their pid files. The steps themselves
//! are shell functions in `hosts.sh` (shellchecked by `scripts/test`), run
//! after a preamble of quoted names, addresses and folders.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use cluster::{Cluster, HostSpec, NodeId, NodeSpec};

use crate::remote::{quote, quote_words};

/// Metric of the blackhole route: worse than the bridge's connected route
/// (metric 0), so it only acts when that route is gone.
const BLACKHOLE_METRIC: u32 = 4000;

/// The comment of a login user that `ssh_up` created, so that `down`
/// removes only users of ours.
const SSH_USER_MARKER: &str = "faultline test hosts";

/// The root-side steps (up, down, ssh up), as shell functions.
const HOSTS_SH: &str = include_str!("hosts.sh");
/// `wait_reaped`, shared with the lifecycle steps.
pub(crate) const REAP_SH: &str = include_str!("reap.sh");

#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("local test hosts need root (network namespaces, a bridge and iptables); run as root, e.g. with sudo")]
    NotRoot,
    #[error("--subnet {0:?}: {1}")]
    Subnet(String, String),
    #[error("--prefix {0:?}: must be 1 to 8 letters or digits, so interface names fit in 15 characters")]
    Prefix(String),
    #[error("hosts {step} failed: {detail}")]
    Command { step: &'static str, detail: String },
    #[error("state dir {path}: {why}; refusing to use it as root (remove it, or give --state-dir a folder only root can write)")]
    StateDir { path: PathBuf, why: String },
}

/// An IPv4 subnet such as 10.77.0.0/24.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub len: u8,
}

impl FromStr for Subnet {
    type Err = HostsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| HostsError::Subnet(s.to_string(), why.to_string());
        let (ip, len) = s.split_once('/').ok_or_else(|| bad("expected A.B.C.D/LEN"))?;
        let base: Ipv4Addr = ip.parse().map_err(|_| bad("not an IPv4 address"))?;
        let len: u8 = len.parse().map_err(|_| bad("prefix length is not a number"))?;
        if !(16..=26).contains(&len) {
            return Err(bad("prefix length must be between 16 and 26"));
        }
        let mask = u32::MAX << (32 - len);
        if u32::from(base) & !mask != 0 {
            return Err(bad("host bits are set; give the network address"));
        }
        Ok(Subnet { base, len })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.len)
    }
}

impl Subnet {
    fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + n)
    }
    /// The bridge's address: the control side.
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }
    /// Node `i`'s address (1-based).
    pub fn node(&self, i: u32) -> Ipv4Addr {
        self.host(10 + i)
    }
}

/// Where and how the local hosts are laid out.
#[derive(Clone, Debug)]
pub struct Hosts {
    pub prefix: String,
    pub subnet: Subnet,
    pub count: u32,
    /// The port every node serves on.
    pub port: u16,
    /// Binaries, data, logs and pid files of the nodes, per node.
    pub state_dir: PathBuf,
}

impl Hosts {
    pub fn new(prefix: &str, subnet: Subnet, port: u16, state_dir: &Path) -> Result<Hosts, HostsError> {
        if prefix.is_empty() || prefix.len() > 8 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(HostsError::Prefix(prefix.to_string()));
        }
        Ok(Hosts {
            prefix: prefix.into(),
            subnet,
            count: cluster::spec::CLUSTER_SIZE as u32,
            port,
            state_dir: state_dir.into(),
        })
    }

    pub fn namespace(&self, i: u32) -> String {
        format!("{}-n{i}", self.prefix)
    }
    fn veth(&self, i: u32) -> String {
        format!("{}-v{i}", self.prefix)
    }
    fn bridge(&self) -> String {
        format!("{}-br", self.prefix)
    }
    fn node_dir(&self, i: u32) -> PathBuf {
        self.state_dir.join(format!("n{i}"))
    }

    /// The cluster description of these hosts.
    pub fn cluster(&self) -> Cluster {
        let nodes = (1..=self.count)
            .map(|i| {
                let host = HostSpec::Netns { namespace: self.namespace(i) };
                let addr = self.subnet.node(i).to_string();
                NodeSpec::standard(NodeId(i as u64), &format!("n{i}"), &addr, self.port, host, &self.state_dir)
            })
            .collect();
        Cluster::new("local", nodes)
    }

    /// `hosts.sh` with this host set's names, addresses and folders set
    /// (quoted), then `extra`, ending with `step`.
    fn script(&self, step: &str, extra: &[(&str, String)]) -> String {
        let each = |f: &dyn Fn(u32) -> String| quote_words(&(1..=self.count).map(f).collect::<Vec<_>>());
        let mut s = format!(
            "subnet={}\nmetric={BLACKHOLE_METRIC}\nbridge={}\ngateway={}\nlen={}\nmarker={}\n\
             namespaces=({})\nveths=({})\naddrs=({})\ndirs=({})\npidfiles=({})\n",
            quote(&self.subnet.to_string()),
            quote(&self.bridge()),
            self.subnet.gateway(),
            self.subnet.len,
            quote(SSH_USER_MARKER),
            each(&|i| self.namespace(i)),
            each(&|i| self.veth(i)),
            each(&|i| self.subnet.node(i).to_string()),
            each(&|i| self.node_dir(i).to_string_lossy().into_owned()),
            each(&|i| self.node_dir(i).join("raftkv.pid").to_string_lossy().into_owned()),
        );
        for (k, v) in extra {
            s.push_str(&format!("{k}={}\n", quote(v)));
        }
        s.push_str(REAP_SH);
        s.push_str(HOSTS_SH);
        s.push_str(&format!("\n{step}\n"));
        s
    }

    /// Creates whatever is missing. Safe to run again.
    pub fn up(&self) -> Result<(), HostsError> {
        require_root()?;
        secure_dir(&self.state_dir)?;
        bash("up", &self.script("step_up", &[])).map(drop)
    }

    /// Removes the namespaces (killing what runs in them), the links and
    /// our FORWARD rule. The blackhole route stays. Safe to run again.
    pub fn down(&self) -> Result<(), HostsError> {
        require_root()?;
        bash("down", &self.script("step_down", &[])).map(drop)
    }

    /// Makes the hosts reachable over SSH, the way Vagrant VMs are: an
    /// sshd in every namespace on the node's address, a login `user` with
    /// passwordless sudo, a key pair generated here, and an ssh config file
    /// in the style of `vagrant ssh-config`. Returns the cluster
    /// description whose hosts are reached through SSH. Idempotent.
    pub fn ssh_up(&self, user: &str) -> Result<Cluster, HostsError> {
        require_root()?;
        if user.is_empty() || !user.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(HostsError::Command { step: "ssh up", detail: format!("bad user name {user:?}") });
        }
        let dir = self.state_dir.join("ssh");
        secure_dir(&dir)?;
        let extra = [("ssh_dir", dir.to_string_lossy().into_owned()), ("user", user.to_string())];
        let s = self.script("step_ssh_up", &extra);
        bash("ssh up", &s)?;
        // The same description as `vagrant/up` writes for VMs.
        let nodes: Vec<(String, String)> =
            (1..=self.count).map(|i| (format!("n{i}"), self.subnet.node(i).to_string())).collect();
        Ok(Cluster::over_ssh("local-ssh", &nodes, self.port, user, &dir.join("ssh-config"), &self.state_dir))
    }

    /// True when every namespace exists.
    pub fn are_up(&self) -> bool {
        (1..=self.count).all(|i| Path::new("/run/netns").join(self.namespace(i)).exists())
    }
}

/// Creates `dir` and its missing parents with mode 0755, and refuses a
/// folder that anyone but root could have prepared: root writes node
/// binaries, keys and scripts there and runs them, so every existing part
/// of the path must be a real folder (no symlink) owned by root and not
/// writable by group or others. Sticky shared folders such as /var/tmp are
/// allowed as ancestors, since nobody can replace what root made in them.
/// (Not 0700: the SSH hosts' login user must read its authorized keys.)
pub fn secure_dir(dir: &Path) -> Result<(), HostsError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let refuse = |path: &Path, why: String| Err(HostsError::StateDir { path: path.to_path_buf(), why });
    if !dir.is_absolute() {
        return refuse(dir, "must be an absolute path".into());
    }
    let mut path = PathBuf::new();
    let parts: Vec<_> = dir.components().collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let last = i + 1 == parts.len();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Err(e) = std::fs::DirBuilder::new().mode(0o755).create(&path) {
                    return refuse(&path, format!("cannot create it: {e}"));
                }
                continue;
            }
            Err(e) => return refuse(&path, e.to_string()),
        };
        if meta.file_type().is_symlink() {
            return refuse(&path, "is a symbolic link".into());
        }
        if !meta.is_dir() {
            return refuse(&path, "is not a folder".into());
        }
        let mode = meta.permissions().mode();
        // A sticky shared folder (/var/tmp) may be an ancestor, not the dir.
        let shared_ancestor = mode & 0o1000 != 0 && !last;
        if meta.uid() != 0 {
            return refuse(&path, format!("is owned by uid {}, not root", meta.uid()));
        }
        if mode & 0o022 != 0 && !shared_ancestor {
            return refuse(&path, format!("is writable by others (mode {:o})", mode & 0o7777));
        }
    }
    Ok(())
}

fn require_root() -> Result<(), HostsError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(HostsError::NotRoot);
    }
    Ok(())
}

fn bash(step: &'static str, script: &str) -> Result<String, HostsError> {
    let out = Command::new("bash")
        .args(["-c", script])
        .output()
        .map_err(|e| HostsError::Command { step, detail: format!("cannot run bash: {e}") })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.code() == Some(127) {
        detail.push_str(" (ip and iptables come from iproute2 and iptables; scripts/bootstrap installs them)");
    }
    Err(HostsError::Command { step, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root (CI is root): root must own what it creates.
    #[test]
    fn state_dirs_are_made_private_and_shared_or_linked_ones_refused() {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root; CI runs it as root");
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("a/b");
        secure_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "mode {mode:o}");
        secure_dir(&fresh).unwrap(); // again: fine
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = secure_dir(&open.join("hosts")).unwrap_err().to_string();
        assert!(e.contains("writable by others"), "{e}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let e = secure_dir(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(secure_dir(Path::new("relative/dir")).is_err());
    }

    #[test]
    fn subnet_layout() {
        let s: Subnet = "10.77.0.0/24".parse().unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(s.node(3), Ipv4Addr::new(10, 77, 0, 13));
        assert!("10.77.0.5/24".parse::<Subnet>().unwrap_err().to_string().contains("host bits"));
        assert!("10.77.0.0".parse::<Subnet>().is_err());
        assert!("10.77.0.0/30".parse::<Subnet>().is_err());
    }

    #[test]
    fn cluster_of_local_hosts_is_valid() {
        let h = Hosts::new("fl", "10.77.0.0/24".parse().unwrap(), 7001, Path::new("/var/tmp/fl")).unwrap();
        let c = h.cluster();
        c.validate().unwrap();
        assert_eq!(c.peers_arg(), "1=10.77.0.11:7001,2=10.77.0.12:7001,3=10.77.0.13:7001");
        assert!(Hosts::new("much-too-long", h.subnet, 7001, Path::new("/x")).is_err());
    }
}
