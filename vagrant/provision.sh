#!/usr/bin/env bash
# Prepares one VM (or any Debian 12 host) to run a raftkv node under the
# Faultline nemesis. Idempotent.
#
# - installs what node lifecycle and faults need: iptables, procps, sudo,
#   fuse3 and util-linux (lossyfs data dirs, for lose-unsynced and
#   disk-full; the clock faults' shim comes with `nemesis install`), and
#   etcd-server (etcd 3.4, for `scripts/run-test --db etcd`; `nemesis
#   install` copies the control machine's etcd binary anyway), whose own
#   service is never started and is masked: the nemesis runs etcd itself;
# - creates the service user `faultline` and /var/lib/faultline (data, logs,
#   pid files; the nemesis lays out one folder per node in it);
# - installs the raftkv binary from the synced folder when it is there
#   (vagrant/bin/raftkv, copied by vagrant/up); `nemesis install` (which
#   scripts/run-test calls) installs it again before every run anyway.
#
# No init system unit is installed, on purpose: a killed node must stay
# dead until the nemesis restarts it.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in iptables procps sudo fuse3 util-linux etcd-server; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # No service starts while packages install (etcd-server's would).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if command -v systemctl >/dev/null 2>&1; then
  systemctl mask --now etcd.service >/dev/null 2>&1 || true
fi

id faultline >/dev/null 2>&1 || useradd --system --home-dir /var/lib/faultline --shell /usr/sbin/nologin faultline
install -d -o faultline -g faultline -m 0755 /var/lib/faultline

node="$(hostname)"
if [ -x /vagrant/vagrant/bin/raftkv ]; then
  install -D -m 0755 /vagrant/vagrant/bin/raftkv "/var/lib/faultline/$node/bin/raftkv"
fi
echo "provision: $node ready"
