#!/usr/bin/env bash
# One node's process on its host: the steps of nemesis/src/lifecycle.rs.
# The nemesis runs this file with a preamble that sets the inputs below
# (each value quoted) and ends with one step: `step_start`, `step_kill`…
#
# Inputs: pidfile, bin (the raftkv binary), comm (its name as `ps` shows
# it), data (the data dir), log (the node's log file), and serve (an array:
# the full `raftkv serve` command line).
set -u
: "${pidfile:?}" "${bin:?}" "${comm:?}" "${data:?}" "${log:?}" "${serve:?}"

# The process's state: stopped (no pid file), dead (a pid file, but no such
# process, or another program under that pid), paused or running.
state() {
  [ -s "$pidfile" ] || { echo stopped; return; }
  local pid s c
  pid=$(cat "$pidfile")
  s=$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)
  c=$(ps -o comm= -p "$pid" 2>/dev/null)
  if [ -z "$s" ] || [ "$s" = Z ] || [ "$s" = X ] || [ "$c" != "$comm" ]; then echo dead
  elif [ "$s" = T ] || [ "$s" = t ]; then echo paused
  else echo running; fi
}

# wait_state STATE...: polls (5 s at most) until the process is in one of them.
wait_state() {
  local st want
  for _ in $(seq 100); do
    st=$(state); for want in "$@"; do [ "$st" = "$want" ] && return 0; done
    sleep 0.05
  done
  echo "process still $(state) after 5 s; wanted $*" >&2; return 1
}

# Starts the node unless it runs already; the log is appended to.
step_start() {
  case $(state) in running|paused) exit 0;; esac
  [ -x "$bin" ] || { echo "raftkv binary $bin is missing or not executable on this host" >&2; exit 3; }
  mkdir -p "$data" "$(dirname "$log")" "$(dirname "$pidfile")"
  rm -f "$pidfile"
  # The inner shell writes its own pid, then becomes the node.
  nohup setsid bash -c "echo \$\$ > \"\$0\"; exec \"\$@\"" "$pidfile" "${serve[@]}" >> "$log" 2>&1 < /dev/null &
  for _ in $(seq 100); do [ -s "$pidfile" ] && exit 0; sleep 0.05; done
  echo "no pid file $pidfile within 5 s of starting" >&2; exit 1
}

# SIGKILL. The pid file stays: the node is meant to come back.
step_kill() {
  case $(state) in stopped|dead) exit 0;; esac
  kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  wait_state dead
}

# SIGSTOP.
step_pause() {
  case $(state) in
    paused) exit 0;;
    stopped|dead) echo "cannot pause: the node is $(state)" >&2; exit 1;;
  esac
  kill -STOP "$(cat "$pidfile")"
  wait_state paused
}

# SIGCONT; nothing to do unless paused.
step_resume() {
  [ "$(state)" = paused ] || exit 0
  kill -CONT "$(cat "$pidfile")"
  wait_state running dead
}

# SIGTERM, then SIGKILL after 10 s; removes the pid file, so a heal will
# not restart the node.
step_stop() {
  if [ "$(state)" != stopped ] && [ "$(state)" != dead ]; then
    local pid
    pid=$(cat "$pidfile")
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do [ "$(state)" = dead ] && break; sleep 0.05; done
    [ "$(state)" = dead ] || kill -9 "$pid" 2>/dev/null || true
    wait_state dead
  fi
  rm -f "$pidfile"
}

# Deletes the data dir and the log, so a fresh node's log holds its run
# alone (restarts within a run append to it); only a node that is not
# running may be wiped.
step_wipe() {
  case $(state) in running|paused) echo "refusing to wipe the data dir of a $(state) node" >&2; exit 1;; esac
  rm -rf "$data"
  rm -f "$log"
}

step_state() {
  state
}

# The node's log, or nothing when there is none yet.
step_log() {
  cat "$log" 2>/dev/null || true
}
