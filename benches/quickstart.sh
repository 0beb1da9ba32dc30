#!/usr/bin/env bash
# Wall time of specs/quickstart.toml from a cold cache, for several ways of sharing the cores
# between instances (--jobs) and compute threads per instance (--threads).
# Usage: benches/quickstart.sh ["JOBSxTHREADS" ...]   (default: 2x1 1x2 2x2)
# Needs a release build: cargo build --release --bin drift
set -euo pipefail
cd "$(dirname "$0")/.."
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(2x1 1x2 2x2)
for c in "${configs[@]}"; do
  jobs=${c%x*}
  threads=${c#*x}
  cache=$(mktemp -d)
  start=$(date +%s.%N)
  env -u RAYON_NUM_THREADS target/release/drift --cache "$cache" run specs/quickstart.toml \
    --jobs "$jobs" --threads "$threads" > "$cache/table.txt" 2> "$cache/log.txt"
  end=$(date +%s.%N)
  printf '%-6s wall %6.1f s   %s\n' "$c" "$(echo "$end - $start" | bc)" "$(grep 'instances:' "$cache/log.txt")"
  # Training throughput from the manifests (steps/s per training, outside the key).
  grep -h '"steps_per_s"' "$cache"/v1/entries/*/*/manifest.json | awk -F: '{s+=$2; n++} END {printf "       mean training steps/s per instance: %.0f over %d trainings\n", s/n, n}'
  rm -rf "$cache"
done
