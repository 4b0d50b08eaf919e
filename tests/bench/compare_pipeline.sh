#!/bin/sh
# The pipeline bench of this tree side by side with a baseline commit's, in
# the same run: builds BASE (default fd44839, the pipeline before the one
# renderer) in a throw-away git worktree, then alternates the two binaries
# ROUNDS times (base, this, base, this, …: the machine's noise hits both) and
# prints each run's median records/s of pipeline-thread CPU and their ratio.
#
#   tests/bench/compare_pipeline.sh [BUILD_DIR] [BASE] [ROUNDS] [-- BENCH ARGS]
#
# Every event is rendered in both (--render 1: the default configuration,
# where the journal takes every event).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
base=${2:-fd44839}
rounds=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
args="--render 1 --jobs 1000 --rounds 3 $*"

# Under the build dir: a shared ccache (CCACHE_BASEDIR) then finds the base objects.
tmp=$(mktemp -d "$build/compare.XXXXXX")
trap 'git -C "$root" worktree remove --force "$tmp/src" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/src" "$base" >/dev/null
cmake -S "$tmp/src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$tmp/build" -j"${JOBS:-2}" --target fts_bench_pipeline >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target fts_bench_pipeline >/dev/null

median() { sed -n 's/.*median \([0-9]*\) events\/s.*/\1/p'; }
printf '%-6s %14s %14s %8s\n' run "base $base" "this tree" ratio
for i in $(seq "$rounds"); do
  # shellcheck disable=SC2086
  b=$("$tmp/build/tests/bench/fts_bench_pipeline" $args | median)
  # shellcheck disable=SC2086
  t=$("$build/tests/bench/fts_bench_pipeline" $args | median)
  printf '%-6s %14s %14s %8s\n' "$i" "$b" "$t" "$(awk "BEGIN{printf \"%.2fx\", $t/$b}")"
done
