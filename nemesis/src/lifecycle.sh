#!/usr/bin/env bash
# One node's process on its host: the steps of nemesis/src/lifecycle.rs.
# The nemesis runs this file with a preamble that sets the inputs below
# (each value quoted) and ends with one step: `step_start`, `step_kill`…
#
# Inputs: pidfile, bin (the node's binary), comm (the started program's
# name as `ps` shows it), data (the data dir), log (the node's log file), serve (an array:
# the full command line that starts the node), stopcmd (an array: the
# system's own stop command, or empty), fs: the lossyfs binary when the
# data dir is a lossyfs mount, else empty, and clock: the clock shim (an
# LD_PRELOAD library that offsets the node's clocks by what $data.clock
# says), else empty.
#
# With fs set, the node's files live in $data.disk and $data is a lossyfs
# mount over it, made afresh before every start: each step runs in a mount
# namespace of its own on the local hosts (`ip netns exec`), and a mount is
# seen only by the processes started in the step that made it.
set -u
# stopcmd may be an empty array; bash then counts it as unset.
: "${pidfile:?}" "${bin:?}" "${comm:?}" "${data:?}" "${log:?}" "${serve:?}" "${stopcmd[*]-}" "${fs?}" "${clock?}"
clockfile="$data.clock"
disk="$data.disk"
fsock="$data.fs.sock"
fspid="$data.fs.pid"

# The process's state: stopped (no pid file), dead (a pid file, but no such
# process, or another program under that pid), dying (its main thread has
# exited and another has not yet), paused or running.
state() {
  [ -s "$pidfile" ] || { echo stopped; return; }
  local pid s c
  pid=$(cat "$pidfile")
  s=$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)
  c=$(ps -o comm= -p "$pid" 2>/dev/null)
  if [ -z "$s" ] || [ "$s" = X ] || [ "$c" != "$comm" ]; then echo dead
  elif [ "$s" = Z ]; then
    # The main thread is gone, but a thread still inside a syscall (an
    # fsync, after SIGKILL) keeps the process's files open, its database
    # lock among them: it is dead once that thread is too.
    if [ "$(find /proc/"$pid"/task -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -le 1 ]; then echo dead; else echo dying; fi
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

# Unmounts the data dir's lossyfs without losing anything (a clean
# shutdown), and makes sure neither the daemon nor a stale mount is left.
fs_unmount() {
  [ -n "$fs" ] || return 0
  [ -S "$fsock" ] && "$fs" unmount --socket "$fsock" >/dev/null 2>&1
  if [ -s "$fspid" ]; then
    local pid
    pid=$(cat "$fspid")
    if [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = lossyfs ]; then
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 100); do ps -p "$pid" >/dev/null 2>&1 || break; sleep 0.05; done
    fi
  fi
  # A daemon killed outright leaves its mount behind, disconnected (which
  # `mountpoint` cannot even stat); a lazy unmount clears it, and fails
  # harmlessly where there is no mount.
  umount -l "$data" 2>/dev/null || true
  rm -f "$fspid" "$fsock"
}

# Mounts lossyfs over the data dir, in this step's mount namespace, and
# waits until its control socket answers.
fs_mount() {
  [ -n "$fs" ] || return 0
  [ -x "$fs" ] || { echo "lossyfs binary $fs is missing or not executable on this host" >&2; exit 3; }
  fs_unmount
  mkdir -p "$disk" "$data"
  nohup setsid bash -c "echo \$\$ > \"\$0\"; exec \"\$@\"" "$fspid" \
    "$fs" mount --backing "$disk" --mountpoint "$data" --socket "$fsock" >> "$log" 2>&1 < /dev/null &
  for _ in $(seq 100); do
    "$fs" status --socket "$fsock" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "lossyfs did not mount over $data within 5 s (see $log)" >&2; exit 1
}

# Starts the node unless it runs already; the log is appended to.
step_start() {
  case $(state) in
    running|paused) exit 0;;
    dying) wait_state dead || exit 1;;
  esac
  [ -x "$bin" ] || { echo "node binary $bin is missing or not executable on this host" >&2; exit 3; }
  mkdir -p "$data" "$(dirname "$log")" "$(dirname "$pidfile")"
  fs_mount
  rm -f "$pidfile"
  # Under the clock shim, the clock starts true; the shim rereads the
  # file every 10 ms, so a fault takes effect at once.
  local faked=()
  if [ -n "$clock" ]; then
    [ -f "$clock" ] || { echo "clock shim $clock is missing on this host (nemesis install puts it there)" >&2; exit 3; }
    printf '+0.000\n' > "$clockfile"
    faked=(env LD_PRELOAD="$clock" FAULTLINE_CLOCK_FILE="$clockfile")
  fi
  # The inner shell writes its own pid, then becomes the node.
  nohup setsid bash -c "echo \$\$ > \"\$0\"; exec \"\$@\"" "$pidfile" "${faked[@]}" "${serve[@]}" >> "$log" 2>&1 < /dev/null &
  for _ in $(seq 100); do [ -s "$pidfile" ] && exit 0; sleep 0.05; done
  echo "no pid file $pidfile within 5 s of starting" >&2; exit 1
}

# SIGKILL. The pid file stays: the node is meant to come back.
step_kill() {
  case $(state) in stopped|dead) exit 0;; esac
  kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  wait_state dead
}

# A power failure: SIGKILL, then the lossyfs mount throws away what was
# never fsynced (step_lose LOSS SEED) and unmounts; prints what was lost.
# The pid file stays, so a heal restarts the node on a fresh mount.
step_lose() {
  [ -n "$fs" ] || { echo "no lossyfs under the data dir: describe the cluster with --lossy-fs" >&2; exit 3; }
  [ -S "$fsock" ] || { echo "no lossyfs mount over $data (is the node started?)" >&2; exit 1; }
  case $(state) in
    running|paused) kill -9 "$(cat "$pidfile")" 2>/dev/null || true; wait_state dead;;
  esac
  "$fs" lose --socket "$fsock" --loss "$1" --seed "$2"
}

# The node's files as they lie on disk (under the lossyfs backing dir when
# there is one): one "SIZE<TAB>PATH" line each, PATH relative to the data dir.
step_files() {
  local root="$data"
  [ -n "$fs" ] && root="$disk"
  [ -d "$root" ] || return 0
  (cd "$root" && find . -type f -not -path './.lossyfs-stash/*' -printf '%s\t%P\n')
}

# Damages one file of a node that is not running:
#   step_corrupt FILE truncate NEWSIZE | zero OFFSET LEN | flip OFFSET:MASK...
step_corrupt() {
  case $(state) in running|paused|dying) echo "refusing to corrupt the files of a $(state) node" >&2; exit 1;; esac
  local root="$data"
  [ -n "$fs" ] && root="$disk"
  local f="$root/$1"
  shift
  [ -f "$f" ] || { echo "no file $f to corrupt" >&2; exit 1; }
  case "$1" in
    truncate) truncate -s "$2" "$f" ;;
    zero) dd if=/dev/zero of="$f" bs=1 seek="$2" count="$3" conv=notrunc status=none ;;
    flip)
      shift
      local p off mask b
      for p in "$@"; do
        off=${p%%:*}
        mask=${p##*:}
        b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
        printf '%b' "\\0$(printf '%o' $(( b ^ mask )))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
      done ;;
    *) echo "unknown corruption $1" >&2; exit 3 ;;
  esac
}

# The last lines of the node's log.
step_log_tail() {
  tail -n "$1" "$log" 2>/dev/null || true
}

# The lossyfs mount's status (one JSON line), or nothing without a mount.
step_fs_status() {
  [ -n "$fs" ] && [ -S "$fsock" ] || return 0
  "$fs" status --socket "$fsock" 2>/dev/null || true
}

# Fills the data dir's disk (step_fill on: whatever needs new space fails
# with ENOSPC) or frees it (step_fill off; nothing to do without a mount).
step_fill() {
  [ -n "$fs" ] || { echo "no lossyfs under the data dir: describe the cluster with --lossy-fs" >&2; exit 3; }
  if [ ! -S "$fsock" ]; then
    [ "$1" = off ] && exit 0
    echo "no lossyfs mount over $data (is the node started?)" >&2; exit 1
  fi
  if [ "$1" = on ]; then "$fs" fill --socket "$fsock" >/dev/null; else "$fs" fill --socket "$fsock" --free >/dev/null; fi
}

# Sets the clock offset (step_clock +1.500): written whole, then renamed,
# so the node never reads half a line.
step_clock() {
  [ -n "$clock" ] || { echo "the node runs on the real clock: describe the cluster with --faked-clock" >&2; exit 3; }
  printf '%s\n' "$1" > "$clockfile.new" && mv -f "$clockfile.new" "$clockfile"
}

step_clock_show() {
  cat "$clockfile" 2>/dev/null || true
}

# SIGSTOP.
step_pause() {
  case $(state) in
    paused) exit 0;;
    stopped|dead|dying) echo "cannot pause: the node is $(state)" >&2; exit 1;;
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
    # The system's own stop command first (5 s to act), then ours.
    if [ ${#stopcmd[@]} -gt 0 ]; then
      timeout 5 "${stopcmd[@]}" >> "$log" 2>&1 || echo "the stop command failed or timed out; sending SIGTERM" >> "$log"
      for _ in $(seq 100); do [ "$(state)" = dead ] && break; sleep 0.05; done
    fi
    [ "$(state)" = dead ] || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do [ "$(state)" = dead ] && break; sleep 0.05; done
    [ "$(state)" = dead ] || kill -9 "$pid" 2>/dev/null || true
    wait_state dead
    # A stopped node is gone, not a zombie waiting for its parent.
    wait_reaped "$pid" || exit 1
  fi
  rm -f "$pidfile" "$clockfile"
  fs_unmount
}

# Deletes the data dir and the log, so a fresh node's log holds its run
# alone (restarts within a run append to it); only a node that is not
# running may be wiped.
step_wipe() {
  case $(state) in running|paused|dying) echo "refusing to wipe the data dir of a $(state) node" >&2; exit 1;; esac
  fs_unmount
  rm -rf "$data" "$disk"
  rm -f "$log" "$clockfile"
}

step_state() {
  state
}

# The node's log, or nothing when there is none yet.
step_log() {
  cat "$log" 2>/dev/null || true
}
