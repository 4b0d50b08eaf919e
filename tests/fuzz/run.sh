#!/bin/sh
# Runs one fuzz target for a bounded time: first every input of its checked-in
# corpus (the seeds and the inputs that once crashed it), then new ones. What
# it finds goes to WORK, never into the source tree. A crash, a sanitizer
# report, a leak, a slow input or a failed check exits non-zero, and the input
# is left as WORK/crash-* (or leak-*, timeout-*, slow-unit-*) to add to the
# corpus with a regression test.
#   run.sh FUZZER CORPUS SECONDS WORK
set -eu
fuzzer=$1 corpus=$2 seconds=$3 work=$4
rm -rf "$work"
mkdir -p "$work/found"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/found" "$corpus"
