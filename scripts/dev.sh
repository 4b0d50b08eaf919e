#!/bin/sh
# Set up, build, run or test ftsentinel on a Debian 12 machine (as root).
#   scripts/dev.sh run         install packages, build, run ftsentineld on agent-config/ftsentinel.yaml
#   scripts/dev.sh test        install packages, build, run the whole test suite (ctest) on a clean
#                              root: what earlier runs left on this machine is hidden
#   scripts/dev.sh test-here   the same on the machine as it is (debugging a test against live state)
#   scripts/dev.sh deps | build
# BUILD_DIR (default ./build) and BUILD_TYPE (default RelWithDebInfo) may be set;
# arguments after test / test-here go to ctest (e.g. -R integration).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}

PACKAGES="cmake make g++ pkg-config clang llvm bpftool libbpf-dev
  libboost-dev libspdlog-dev libfmt-dev libprotobuf-dev protobuf-compiler libyaml-cpp-dev
  libsystemd-dev libssl-dev libsqlite3-dev libre2-dev zlib1g-dev
  libgtest-dev libgmock-dev libclang-rt-dev nlohmann-json3-dev python3 util-linux iproute2
  openssl rsyslog rsyslog-openssl systemd dpkg-dev fio"
# What only the tests use: the scenarios' real programs (B1 trains with PyTorch,
# A1 exfiltrates with curl and wget; the ML-BOM export is validated with
# python3-jsonschema).
TEST_PACKAGES="python3-torch curl wget sqlite3 chromium python3-jsonschema"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    # A minimal Debian has no sudo: say how to get root either way.
    echo "scripts/dev.sh $1: run it as root (BPF programs need it): from a root shell" \
         "(su -), or with sudo where it is installed" >&2
    exit 1
  fi
}

deps() {
  missing=""
  for p in $PACKAGES ${EXTRA_PACKAGES:-}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
  fi
}

mounts() {
  # tp_btf programs need neither, but pinning needs bpffs and tracefs helps debugging.
  grep -q " /sys/fs/bpf bpf " /proc/mounts || mount -t bpf bpf /sys/fs/bpf || true
  grep -q " /sys/kernel/tracing tracefs " /proc/mounts || mount -t tracefs tracefs /sys/kernel/tracing || true
}

# Where ftsentinel keeps state between runs, and what a test run could find
# there from an earlier one (`test` hides them).
STATE_DIRS="/etc/ftsentinel /var/lib/ftsentinel /var/log/ftsentinel /run/ftsentinel"

build() {
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)"
}

cmd=${1:-}
case "$cmd" in
  deps) need_root deps; deps ;;
  build) build ;;
  run)
    need_root run; deps; mounts; build
    exec "$BUILD_DIR/daemon/ftsentineld" --config "$ROOT/agent-config/ftsentinel.yaml"
    ;;
  test-here)
    need_root test-here; EXTRA_PACKAGES=$TEST_PACKAGES deps; mounts; build; shift
    cd "$BUILD_DIR"
    exec ctest --output-on-failure --timeout 600 "$@"
    ;;
  test)
    # A fresh machine, as far as ftsentinel can tell: a private mount namespace
    # with an empty tmpfs over each of its state directories and a new bpffs
    # (no pinned objects), so no test passes on what an earlier run left.
    need_root test; EXTRA_PACKAGES=$TEST_PACKAGES deps; mounts; build; shift
    made=""
    for d in $STATE_DIRS; do
      [ -d "$d" ] || { mkdir -p "$d"; made="$made $d"; }
    done
    rc=0
    unshare --mount --propagation private /bin/sh -eu -c '
      for d in '"$STATE_DIRS"'; do mount -t tmpfs -o mode=0755 fts-clean "$d"; done
      mount -t bpf bpf /sys/fs/bpf
      cd "$0"
      exec ctest --output-on-failure --timeout 600 "$@"' "$BUILD_DIR" "$@" || rc=$?
    # The mount points this made (absent on a fresh machine) go again.
    for d in $made; do rmdir "$d" 2>/dev/null || true; done
    exit $rc
    ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
