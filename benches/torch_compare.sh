#!/usr/bin/env bash
# Side-by-side training throughput of drift-nn and PyTorch CPU (issue 3): the AGM toy res_mlp
# (width 128, depth 20, log1m, batch 2048) and the 3x256 SiLU MLP (sinusoidal 32, batch 256),
# at 1 and 2 threads. Installs torch (PyPI default wheel, ~3 GB) into its own virtual
# environment target/bench-venv on first use and reuses it after; never part of CI.
#
# Usage: benches/torch_compare.sh [MLP_STEPS] [AGM_STEPS] [THREADS...]
#   defaults: 300 steps for the MLP, 30 for the res_mlp, threads "1 2".
# Columns: drift = drift_nn::train (the fast host path on the CPU), candle = the candle
# autograd reference trainer (drift_nn::train_reference), torch = PyTorch; ratio = drift/torch.
set -euo pipefail
cd "$(dirname "$0")/.."
MLP_STEPS=${1:-300}
AGM_STEPS=${2:-30}
shift $(( $# < 2 ? $# : 2 ))
THREADS=${*:-1 2}
VENV=target/bench-venv

if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  echo "== installing torch into $VENV (several minutes, ~6 GB)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --quiet --release -p drift-nn --example train_bench
BENCH="$CARGO_TARGET_DIR/release/examples/train_bench"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

rows=()
for T in $THREADS; do
  for M in mlp agm; do
    S=$MLP_STEPS; [ "$M" = agm ] && S=$AGM_STEPS
    d=$(RAYON_NUM_THREADS=$T "$BENCH" "$M" "$S" auto)
    c=$(RAYON_NUM_THREADS=$T "$BENCH" "$M" "$S" candle)
    p=$(OMP_NUM_THREADS=$T "$VENV/bin/python" benches/torch_train.py --model "$M" --threads "$T" --steps "$S")
    echo "$d" >&2; echo "$c" >&2; echo "$p" >&2
    ds=$(echo "$d" | field train_steps_per_s)
    cs=$(echo "$c" | field train_steps_per_s)
    ps=$(echo "$p" | field train_steps_per_s)
    de=$(echo "$d" | field evals_per_s)
    pe=$(echo "$p" | field evals_per_s)
    rows+=("$(printf '| %s | %s | %s | %s | %s | %.2fx | %.2fx | %s | %s |' \
      "$M" "$T" "$ds" "$cs" "$ps" "$(echo "$ds / $ps" | bc -l)" "$(echo "$cs / $ps" | bc -l)" "$de" "$pe")")
  done
done
echo
echo "| model | threads | drift steps/s | candle steps/s | torch steps/s | drift/torch | candle/torch | drift evals/s | torch evals/s |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
