#!/bin/sh
# Set up, build, run or test ftsentinel on a Debian 12 machine (as root).
#   scripts/dev.sh run    install packages, build, run ftsentineld on agent-config/ftsentinel.yaml
#   scripts/dev.sh test   install packages, build, run the whole test suite (ctest)
#   scripts/dev.sh deps | build
# BUILD_DIR (default ./build) and BUILD_TYPE (default RelWithDebInfo) may be set.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}

PACKAGES="cmake make g++ pkg-config clang llvm bpftool libbpf-dev
  libboost-dev libspdlog-dev libfmt-dev libprotobuf-dev protobuf-compiler libyaml-cpp-dev
  libsystemd-dev libssl-dev libsqlite3-dev
  libgtest-dev libgmock-dev python3 util-linux iproute2
  openssl rsyslog rsyslog-openssl systemd dpkg-dev fio"
# What only the tests use: the scenarios' real programs (B1 trains with PyTorch,
# A1 exfiltrates with curl and wget).
TEST_PACKAGES="python3-torch curl wget sqlite3 chromium"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/dev.sh $1: run as root (BPF programs need it): sudo $0 $1" >&2
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
  test)
    need_root test; EXTRA_PACKAGES=$TEST_PACKAGES deps; mounts; build
    cd "$BUILD_DIR"
    exec ctest --output-on-failure --timeout 600
    ;;
  *)
    sed -n '2,7p' "$0" >&2
    exit 2
    ;;
esac
