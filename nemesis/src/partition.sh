#!/usr/bin/env bash
# A host's side of a partition: the steps of nemesis/src/partition.rs. The
# nemesis runs this file with a preamble that sets `chain` (our iptables
# chain) and ends with one step: `step_block PROBABILITY ADDR...`,
# `step_heal` or `step_list`. Only our chain and its one jump from INPUT
# are touched.
set -eu
: "${chain:?}"

# Drops packets from the given addresses, replacing whatever the chain
# held before: all of them when PROBABILITY is empty, else that share at
# random (0.25 drops one packet in four).
step_block() {
  local prob=$1 src
  shift
  local match=()
  [ -n "$prob" ] && match=(-m statistic --mode random --probability "$prob")
  iptables -w -N "$chain" 2>/dev/null || true
  iptables -w -C INPUT -j "$chain" 2>/dev/null || iptables -w -I INPUT 1 -j "$chain"
  iptables -w -F "$chain"
  for src in "$@"; do
    iptables -w -A "$chain" -s "$src" "${match[@]}" -j DROP
  done
}

# Removes the chain and its jump; other rules stay.
step_heal() {
  if iptables -w -n -L "$chain" >/dev/null 2>&1; then
    while iptables -w -D INPUT -j "$chain" 2>/dev/null; do :; done
    iptables -w -F "$chain"
    iptables -w -X "$chain"
  fi
}

# Lists the chain's active rules, one `-A …` line each.
step_list() {
  iptables -w -S "$chain" 2>/dev/null | grep -- '^-A' || true
}
