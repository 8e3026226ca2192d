#!/bin/bash
# Runs every scenario once at its default size (with --compare where it applies), one after
# the other, and keeps each JSON report in benchmarks/results/. Usage: benchmarks/run_all.sh
set -u
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
run() {  # name, then the arguments of `taskrow bench`
  local name=$1; shift
  echo "$(date +%T) taskrow bench $*" | tee -a "$out/commands.log"
  .venv/bin/taskrow bench "$@" --json > "$out/$name.json" 2> "$out/$name.err" \
    || echo "  failed: $(tail -1 "$out/$name.err")" | tee -a "$out/commands.log"
  [ -s "$out/$name.err" ] || rm -f "$out/$name.err"
}
run drain drain --compare --layout 1x50,1x100,2x50
run latency latency --compare
run enqueue-bulk enqueue-bulk --compare
run enqueue-http enqueue-http --compare
run history history --layout 2x50
run memory memory
echo "$(date +%T) done" | tee -a "$out/commands.log"
