#!/bin/bash
# Runs every scenario at its default size (with --compare where it applies; the noisiest three
# times), one after the other, and keeps each JSON report in benchmarks/results/. Usage: benchmarks/run_all.sh
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
run drain drain --compare
run async-drain async-drain --compare
for i in 1 2 3; do run latency-$i latency --compare; done
run async-latency async-latency --compare
run io-bound io-bound --compare --layout 1x200
run enqueue-http enqueue-http --compare
run enqueue-bulk enqueue-bulk --compare
run memory memory
run history history --layout 2x200
echo "$(date +%T) done" | tee -a "$out/commands.log"
