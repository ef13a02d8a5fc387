#!/usr/bin/env bash
# The local test hosts, in the root namespace: the steps of
# nemesis/src/hosts.rs. The nemesis runs this file with a preamble that sets
# the inputs below (each value quoted) and ends with one step: `step_up`,
# `step_down` or `step_ssh_up`.
#
# Inputs: subnet, metric (the blackhole route's), bridge, gateway, len (the
# prefix length), marker (the comment that marks our SSH login users), and
# per node, in order: namespaces, veths, addrs, dirs (state folders) and
# pidfiles. step_ssh_up also needs ssh_dir and user.
set -uo pipefail
: "${subnet:?}" "${metric:?}" "${bridge:?}" "${gateway:?}" "${len:?}" "${marker:?}"
: "${namespaces:?}" "${veths:?}" "${addrs:?}" "${dirs:?}" "${pidfiles:?}"

# Creates whatever is missing: the blackhole route (test traffic never
# leaves this machine, even without the bridge), the bridge, and per node a
# namespace with loopback up and eth0 on the bridge.
step_up() {
  set -e
  ip route replace blackhole "$subnet" metric "$metric"
  ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
  ip addr replace "$gateway/$len" dev "$bridge"
  ip link set "$bridge" up
  # Bridged frames pass the root FORWARD chain when br_netfilter is loaded.
  iptables -w -C FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null \
    || iptables -w -I FORWARD 1 -i "$bridge" -o "$bridge" -j ACCEPT
  local i ns veth
  for i in "${!namespaces[@]}"; do
    ns=${namespaces[$i]}; veth=${veths[$i]}
    [ -e "/run/netns/$ns" ] || ip netns add "$ns"
    ip -n "$ns" link set lo up
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip -n "$ns" link del eth0 2>/dev/null || true
      ip link add "$veth" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$veth" master "$bridge" up
    ip -n "$ns" addr replace "${addrs[$i]}/$len" dev eth0
    ip -n "$ns" link set eth0 up
    mkdir -p "${dirs[$i]}"
  done
}

# Removes the namespaces (killing what runs in them), the links, our
# FORWARD rule and our SSH login users. The blackhole route stays.
step_down() {
  local i ns u killed=() pids
  for i in "${!namespaces[@]}"; do
    ns=${namespaces[$i]}
    if [ -e "/run/netns/$ns" ]; then
      mapfile -t pids < <(ip netns pids "$ns")
      [ "${#pids[@]}" -eq 0 ] || kill -9 "${pids[@]}" 2>/dev/null
      killed+=("${pids[@]}")
      ip netns del "$ns"
    fi
    ip link del "${veths[$i]}" 2>/dev/null || true
    rm -f "${pidfiles[$i]}"
  done
  ip link del "$bridge" 2>/dev/null || true
  while iptables -w -D FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null; do :; done
  for u in $(getent passwd | awk -F: -v m="$marker" '$5 == m { print $1 }'); do
    userdel --remove "$u" 2>/dev/null || true
    rm -f "/etc/sudoers.d/faultline-$u"
  done
  # Down means gone: no zombie of a node outlives its host.
  wait_reaped "${killed[@]}" || exit 1
  for ns in "${namespaces[@]}"; do
    [ ! -e "/run/netns/$ns" ] || { echo "namespace $ns is still there" >&2; exit 1; }
  done
}

# An sshd in every namespace on the node's address, a login user with
# passwordless sudo, a key pair, and an ssh config in the style of
# `vagrant ssh-config` (hosts n1, n2, …).
step_ssh_up() {
  set -e
  : "${ssh_dir:?}" "${user:?}"
  local dir=$ssh_dir i n ns addr cfg pid
  mkdir -p "$dir" /run/sshd
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C faultline-test-hosts -f "$dir/id_ed25519"
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  chmod 0644 "$dir/authorized_keys"
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --comment "$marker" "$user"
  # '*' is no password, but not a locked account: key logins work.
  usermod -p '*' "$user"
  echo "$user ALL=(ALL) NOPASSWD: ALL" > "/etc/sudoers.d/faultline-$user"
  chmod 0440 "/etc/sudoers.d/faultline-$user"
  : > "$dir/ssh-config"
  for i in "${!namespaces[@]}"; do
    n=$((i + 1)); ns=${namespaces[$i]}; addr=${addrs[$i]}
    cfg="$dir/sshd-n$n.conf"; pid="$dir/sshd-n$n.pid"
    cat > "$cfg" <<CONF
ListenAddress $addr:22
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PidFile $pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CONF
    if ! { [ -s "$pid" ] && ip netns identify "$(cat "$pid")" 2>/dev/null | grep -qx "$ns"; }; then
      ip netns exec "$ns" /usr/sbin/sshd -f "$cfg" -E "$dir/sshd-n$n.log"
    fi
    cat >> "$dir/ssh-config" <<CONF
Host n$n
  HostName $addr
  User $user
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  LogLevel FATAL

CONF
  done
}
