# shellcheck shell=bash
# wait_reaped PID...: polls (10 s at most) until none of the processes is
# left, not even as a zombie. A node is started detached, so when it dies
# its parent is init (or the nearest subreaper), which must reap it; a
# stop or a teardown is done only once it has. Names any it waited for in
# vain, with its parent, and fails.
wait_reaped() {
  local pid left
  for _ in $(seq 200); do
    left=()
    for pid in "$@"; do [ -e "/proc/$pid" ] && left+=("$pid"); done
    [ "${#left[@]}" -eq 0 ] && return 0
    sleep 0.05
  done
  for pid in "${left[@]}"; do
    echo "process $pid ($(ps -o comm=,stat= -p "$pid" 2>/dev/null)) is not reaped after 10 s;" \
      "its parent $(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ') does not wait for its children" >&2
  done
  return 1
}
