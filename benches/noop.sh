#!/usr/bin/env bash
# Engine overhead: the no-op `drift status` and `drift run` on a generated spec of N instances
# (1 data + 3 x (N-1)/3 train/sample/eval + 1 report). Usage: benches/noop.sh [N] [REPEATS]
# Needs a release build: cargo build --release --bin drift
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
repeats=${2:-20}
per=$(( (n - 1) / 3 ))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seeds=$(seq -s, 0 $((per - 1)))
cat > "$work/spec.toml" <<SPEC
[experiment]
name = "noop-bench"
device = "cpu"

[data.d]
generator = "two_moons"
n_train = 64
n_test = 16

[train.t]
method = "flow_matching"
data = "data.d"
sweep.seed = [$seeds]
steps = 1
batch = 16
model = { hidden = [8] }

[sample.s]
model = "train.t"
solver = "euler"
n = 16
nfe = 1

[eval.e]
samples = "sample.s"
metrics = ["sliced_w2"]
projections = 8

[report.r]
from = ["eval.e"]
rows = ["seed"]
aggregate = "none"
SPEC
drift=target/release/drift
cache="$work/cache"
"$drift" --cache "$cache" check "$work/spec.toml"
start=$(date +%s.%N)
"$drift" --cache "$cache" run "$work/spec.toml" --json > /dev/null 2> "$work/first.log"
end=$(date +%s.%N)
echo "first run: $(echo "$end - $start" | bc) s ($(tail -1 "$work/first.log"))"
time_it() {
  local best=999999 total=0
  for _ in $(seq "$repeats"); do
    local s e ms
    s=$(date +%s%N)
    "$drift" --cache "$cache" "$@" > /dev/null 2>&1
    e=$(date +%s%N)
    ms=$(( (e - s) / 1000 ))
    total=$(( total + ms ))
    (( ms < best )) && best=$ms
  done
  printf '%-28s best %6.1f ms   mean %6.1f ms   (%s runs)\n' "$1 (no-op)" "$(echo "$best / 1000" | bc -l)" "$(echo "$total / $repeats / 1000" | bc -l)" "$repeats"
}
instances=$("$drift" --cache "$cache" status "$work/spec.toml" | tail -1)
echo "$instances"
time_it status "$work/spec.toml"
time_it run "$work/spec.toml"
if command -v /usr/bin/time > /dev/null; then
  /usr/bin/time -f "max RSS of no-op run: %M KiB" "$drift" --cache "$cache" run "$work/spec.toml" > /dev/null 2> "$work/rss.log" || true
  tail -1 "$work/rss.log"
fi
