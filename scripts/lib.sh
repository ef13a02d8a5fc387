# Shared by the scripts (source it from the repository root): building the
# release binaries and finding them.
# shellcheck shell=bash

# Prints the comment block at the head of script FILE (after the #! line),
# without the leading "# ": the script's usage, and nothing of its code.
usage_of() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$1"
}

# The folder `cargo build --release` puts this workspace's binaries in:
# cargo's own target/, or $CARGO_TARGET_DIR when set (CI may cache there).
release_dir() {
  echo "${CARGO_TARGET_DIR:-target}/release"
}

# What a run needs from the build: the command that composes it, the node,
# the nemesis, the checker, and the helpers the nemesis installs beside the
# node.
FAULTLINE_BINS=(faultline raftkv nemesis checker lossyfs libclockshim.so)

# Prints the folder holding every one of FAULTLINE_BINS: $FAULTLINE_BIN_DIR
# when set (prebuilt binaries), else the release dir after building them.
# Says what is missing and fails otherwise.
faultline_bins() {
  local dir b
  if [ -n "${FAULTLINE_BIN_DIR:-}" ]; then
    dir="$FAULTLINE_BIN_DIR"
  else
    cargo build --release -q -p faultline -p raftkv -p nemesis -p checker-cli -p lossyfs -p clockshim >&2 || { echo "building the binaries failed" >&2; return 1; }
    dir="$(release_dir)"
  fi
  for b in "${FAULTLINE_BINS[@]}"; do
    [ -x "$dir/$b" ] || { echo "$dir/$b is missing" >&2; return 1; }
  done
  (cd "$dir" && pwd)
}

# Hands the command line to `faultline SUB`: at once for help, a listing or
# a dry run, which need only faultline; otherwise once the command line is
# checked (before the node's first build, some 20 minutes) and every binary
# is built. Exits as faultline does.
faultline_exec() {
  local sub="$1" bin
  shift
  if [ -z "${FAULTLINE_BIN_DIR:-}" ]; then
    scripts/bootstrap >/dev/null || { echo "$sub: bootstrap failed" >&2; exit 3; }
    cargo build --release -q -p faultline || { echo "$sub: building faultline failed" >&2; exit 3; }
    case " $* " in
      *" -h "* | *" --help "* | *" --list "* | *" --check "* | *" --dry-run "*)
        exec "$(release_dir)/faultline" "$sub" "$@" ;;
    esac
    "$(release_dir)/faultline" "$sub" "$@" --dry-run >/dev/null || exit 3
    echo "$sub: building release binaries" >&2
  fi
  bin="$(faultline_bins)" || exit 3
  exec "$bin/faultline" "$sub" "$@"
}
