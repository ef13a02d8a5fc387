#!/usr/bin/env bash
# Prepares one VM (or any Debian 12 host) to run a raftkv node under the
# Faultline nemesis. Idempotent.
#
# - installs what node lifecycle and faults need: iptables, procps, sudo,
#   fuse3 and util-linux (lossyfs data dirs, for lose-unsynced and
#   disk-full; the clock faults' shim comes with `nemesis install`);
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
for p in iptables procps sudo fuse3 util-linux; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

id faultline >/dev/null 2>&1 || useradd --system --home-dir /var/lib/faultline --shell /usr/sbin/nologin faultline
install -d -o faultline -g faultline -m 0755 /var/lib/faultline

node="$(hostname)"
if [ -x /vagrant/vagrant/bin/raftkv ]; then
  install -D -m 0755 /vagrant/vagrant/bin/raftkv "/var/lib/faultline/$node/bin/raftkv"
fi
echo "provision: $node ready"
