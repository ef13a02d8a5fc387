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
//! processes in the namespaces, and their pid files.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use cluster::{Cluster, HostSpec, NodeId, NodeSpec};

use crate::remote::quote;

/// Metric of the blackhole route: worse than the bridge's connected route
/// (metric 0), so it only acts when that route is gone.
const BLACKHOLE_METRIC: u32 = 4000;

/// The comment of a login user that `ssh_up` created, so that `down`
/// removes only users of ours.
const SSH_USER_MARKER: &str = "faultline test hosts";

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
        Cluster { name: "local".into(), nodes, node_args: vec![] }
    }

    /// Creates whatever is missing. Safe to run again.
    pub fn up(&self) -> Result<(), HostsError> {
        require_root()?;
        secure_dir(&self.state_dir)?;
        let br = quote(&self.bridge());
        let mut s = format!(
            "set -euo pipefail\n\
             ip route replace blackhole {subnet} metric {BLACKHOLE_METRIC}\n\
             ip link show {br} >/dev/null 2>&1 || ip link add {br} type bridge\n\
             ip addr replace {gw}/{len} dev {br}\n\
             ip link set {br} up\n\
             # Bridged frames pass the root FORWARD chain when br_netfilter is loaded.\n\
             iptables -w -C FORWARD -i {br} -o {br} -j ACCEPT 2>/dev/null || \
             iptables -w -I FORWARD 1 -i {br} -o {br} -j ACCEPT\n",
            subnet = self.subnet,
            gw = self.subnet.gateway(),
            len = self.subnet.len,
        );
        for i in 1..=self.count {
            s.push_str(&format!(
                "ns={ns}; veth={veth}\n\
                 [ -e /run/netns/$ns ] || ip netns add $ns\n\
                 ip -n $ns link set lo up\n\
                 if ! ip link show $veth >/dev/null 2>&1; then\n\
                   ip -n $ns link del eth0 2>/dev/null || true\n\
                   ip link add $veth type veth peer name eth0 netns $ns\n\
                 fi\n\
                 ip link set $veth master {br} up\n\
                 ip -n $ns addr replace {addr}/{len} dev eth0\n\
                 ip -n $ns link set eth0 up\n\
                 mkdir -p {dir}\n",
                ns = quote(&self.namespace(i)),
                veth = quote(&self.veth(i)),
                addr = self.subnet.node(i),
                len = self.subnet.len,
                dir = quote(&self.node_dir(i).to_string_lossy()),
            ));
        }
        bash("up", &s).map(drop)
    }

    /// Removes the namespaces (killing what runs in them), the links and
    /// our FORWARD rule. The blackhole route stays. Safe to run again.
    pub fn down(&self) -> Result<(), HostsError> {
        require_root()?;
        let br = quote(&self.bridge());
        let mut s = String::from("set -uo pipefail\n");
        for i in 1..=self.count {
            s.push_str(&format!(
                "ns={ns}\n\
                 if [ -e /run/netns/$ns ]; then\n\
                   ip netns pids $ns | xargs -r kill -9\n\
                   ip netns del $ns\n\
                 fi\n\
                 ip link del {veth} 2>/dev/null || true\n\
                 rm -f {pid}\n",
                ns = quote(&self.namespace(i)),
                veth = quote(&self.veth(i)),
                pid = quote(&self.node_dir(i).join("raftkv.pid").to_string_lossy()),
            ));
        }
        s.push_str(&format!(
            "ip link del {br} 2>/dev/null || true\n\
             while iptables -w -D FORWARD -i {br} -o {br} -j ACCEPT 2>/dev/null; do :; done\n\
             for u in $(getent passwd | awk -F: -v m={marker} '$5 == m {{ print $1 }}'); do\n\
               userdel --remove \"$u\" 2>/dev/null || true; rm -f \"/etc/sudoers.d/faultline-$u\"\n\
             done\n\
             for ns in {nss}; do [ ! -e /run/netns/$ns ] || {{ echo \"namespace $ns is still there\" >&2; exit 1; }}; done\n",
            nss = (1..=self.count).map(|i| quote(&self.namespace(i))).collect::<Vec<_>>().join(" "),
            marker = quote(SSH_USER_MARKER),
        ));
        bash("down", &s).map(drop)
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
        let mut s = format!(
            r#"set -euo pipefail
dir={dir}; user={user}
mkdir -p "$dir" /run/sshd
[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C faultline-test-hosts -f "$dir/id_ed25519"
[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
chmod 0644 "$dir/authorized_keys"
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --comment {marker} "$user"
# '*' is no password, but not a locked account: key logins work.
usermod -p '*' "$user"
echo "$user ALL=(ALL) NOPASSWD: ALL" > "/etc/sudoers.d/faultline-$user"
chmod 0440 "/etc/sudoers.d/faultline-$user"
: > "$dir/ssh-config"
"#,
            dir = quote(&dir.to_string_lossy()),
            user = quote(user),
            marker = quote(SSH_USER_MARKER),
        );
        for i in 1..=self.count {
            s.push_str(&format!(
                r#"ns={ns}; addr={addr}; cfg="$dir/sshd-n{i}.conf"; pid="$dir/sshd-n{i}.pid"
cat > "$cfg" <<EOF
ListenAddress $addr:22
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PidFile $pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF
if ! {{ [ -s "$pid" ] && ip netns identify "$(cat "$pid")" 2>/dev/null | grep -qx "$ns"; }}; then
  ip netns exec "$ns" /usr/sbin/sshd -f "$cfg" -E "$dir/sshd-n{i}.log"
fi
cat >> "$dir/ssh-config" <<EOF
Host n{i}
  HostName $addr
  User $user
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  LogLevel FATAL

EOF
"#,
                ns = quote(&self.namespace(i)),
                addr = self.subnet.node(i),
            ));
        }
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
