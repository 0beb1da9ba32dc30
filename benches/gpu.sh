#!/usr/bin/env bash
# GPU check of issue 7: runs drift's CUDA build on an NVIDIA GPU machine that has the driver but
# no Rust toolchain, and writes the figures for BENCHMARKS.md ("GPU" section): training steps/s
# of the AGM toy network (batch 2048) and of the quick start, on the GPU and on the same
# machine's CPU, and the CPU/GPU agreement of the results (loss curves and every report cell).
# A few minutes on an H100/H200 with 16 cores.
#
# Usage:   bash benches/gpu.sh
# Input:   the CUDA build from benches/cuda-build.sh, found as (first that exists)
#            $DRIFT                                   a binary (with cuda-lib/ beside it or not)
#            target/cuda-build/release/drift          the build tree on the build machine
#            target/gpu-carry/drift.gz                the stripped, compressed copy cuda-build.sh
#                                                     writes for copying to a GPU machine
#          The CUDA user-space libraries (libcudart.so.13, libcublas.so.13, libcublasLt.so.13,
#          libcurand.so.10) come from cuda-lib/ beside the binary (its RUNPATH) or, where that is
#          absent, from NVIDIA's CUDA 13 PyPI wheels installed for python3 (a PyTorch cu13x
#          environment has them); the driver provides libcuda.so.1.
# Env:     GPU_DEVICE=cuda        the device under test; GPU_DEVICE=cpu rehearses the whole script
#                                 on a machine without a GPU (every "GPU" figure is then the CPU's)
#          AGM_STEPS=1000         AGM toy training steps per instance on the GPU (4 instances)
#          CPU_AGM_STEPS=200      the same on the CPU (steps/s is what is compared)
#          QUICK_SET="..."        extra `--set` overrides for the quick start (rehearsals)
#          RESULTS=dir            where results go (default: $OUT if set, else target/gpu-bench)
# Output:  $RESULTS/gpu-bench.md (the tables), gpu-bench.json, and every run's logs, tables and
#          `--json` records under $RESULTS/runs/. Exit status: 0 when every run succeeded, 1 when
#          a run failed (the report still says which and why), 2 when the setup is unusable.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
GPU_DEVICE=${GPU_DEVICE:-cuda}
AGM_STEPS=${AGM_STEPS:-1000}
CPU_AGM_STEPS=${CPU_AGM_STEPS:-200}
QUICK_SET=${QUICK_SET:-}
RESULTS=${RESULTS:-${OUT:-$ROOT/target/gpu-bench}}
mkdir -p "$RESULTS/runs"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/drift-gpu.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
die() { echo "gpu.sh: $*" >&2; exit 2; }

# 1. The binary.
if [ -n "${DRIFT:-}" ]; then
  [ -x "$DRIFT" ] || die "DRIFT=$DRIFT is not an executable file"
elif [ -x target/cuda-build/release/drift ]; then
  DRIFT=$ROOT/target/cuda-build/release/drift
elif [ -f target/gpu-carry/drift.gz ]; then
  gzip -dc target/gpu-carry/drift.gz > "$WORK/drift" && chmod +x "$WORK/drift" || die "cannot unpack target/gpu-carry/drift.gz"
  DRIFT=$WORK/drift
else
  die "no CUDA build found: run benches/cuda-build.sh first, or set DRIFT=/path/to/drift"
fi

# 2. The CUDA libraries: from cuda-lib/ beside the binary, else from NVIDIA's wheels for python3.
if ldd "$DRIFT" 2>/dev/null | grep -q 'not found'; then
  wheel_libs=$(python3 - <<'EOF' 2>/dev/null
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit
dirs = set()
for base in nvidia.__path__:
    for so in glob.glob(os.path.join(base, "*", "lib", "lib*.so*")):
        dirs.add(os.path.dirname(so))
print(":".join(sorted(dirs)))
EOF
)
  [ -n "$wheel_libs" ] && export LD_LIBRARY_PATH=$wheel_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
# The driver's libcuda.so.1 where the loader's cache does not list it (container mounts).
if ldd "$DRIFT" 2>/dev/null | grep -q 'libcuda.so.1 => not found'; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib/wsl/lib; do
    [ -e "$d/libcuda.so.1" ] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d && break
  done
fi
missing=$(ldd "$DRIFT" 2>/dev/null | grep 'not found' | awk '{print $1}' | tr '\n' ' ')
[ -z "$missing" ] || die "$DRIFT cannot start, missing: $missing(libcuda.so.1 comes with the NVIDIA driver; the others from cuda-lib/ beside the binary or NVIDIA's CUDA 13 wheels)"
"$DRIFT" --version > /dev/null || die "$DRIFT does not start"

# 3. The machine.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "drift: $("$DRIFT" --version) ($DRIFT)"
  echo "git: $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown) (this tree)"
  [ -f target/gpu-carry/build.txt ] && sed 's/^/binary /' target/gpu-carry/build.txt
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
  if command -v nvidia-smi > /dev/null; then
    echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
  else
    echo "gpu: none (nvidia-smi not found)"
  fi
  echo "device under test: $GPU_DEVICE"
  ldd "$DRIFT" | grep -E 'libcuda|libcublas|libcudart|libcurand' | sed 's/^\s*/lib: /'
} > "$RESULTS/machine.txt"
cat "$RESULTS/machine.txt"

cores=$(nproc)
agm_jobs=$((cores < 4 ? cores : 4))
agm_threads=$((cores / agm_jobs))
failed=0

# One drift run: NAME DEVICE SPEC [args...]; a fresh cache per run, wall time measured here.
run_drift() {
  local name=$1 device=$2 spec=$3
  shift 3
  local dir=$RESULTS/runs/$name
  rm -rf "$dir" && mkdir -p "$dir"
  local cache=$WORK/cache-$name
  echo "== $name: drift run $spec --device $device $*"
  local start end rc
  start=$(date +%s.%N)
  "$DRIFT" --cache "$cache" run "$spec" --device "$device" --json "$@" \
    > "$dir/records.json" 2> "$dir/log.txt"
  rc=$?
  end=$(date +%s.%N)
  echo "$rc" > "$dir/rc"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' > "$dir/wall_s"
  tail -1 "$dir/log.txt"
  if [ "$rc" -ne 0 ]; then
    failed=1
    echo "   FAILED (exit $rc); last lines of the log:" && tail -5 "$dir/log.txt" | sed 's/^/   /'
    return
  fi
  # `table` takes the run's --set overrides (they choose the keys), not its scheduling options.
  local table_args=() skip=0 a
  for a in "$@"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$a" in --jobs|--threads) skip=1; continue ;; esac
    table_args+=("$a")
  done
  "$DRIFT" --cache "$cache" table "$spec" --device "$device" --format json "${table_args[@]}" \
    > "$dir/table.json" 2>> "$dir/log.txt"
  # The training costs (steps/s etc.) are in the manifests, outside the keys.
  mkdir -p "$dir/manifests"
  for m in "$cache"/v1/entries/*/*/manifest.json; do
    cp "$m" "$dir/manifests/$(basename "$(dirname "$m")").json"
  done
}

# 4. Agreement: the shortened AGM toy (4 trainings of 150 steps, SSS and gDDIM sampling, three
#    metrics) on both devices from the same seeds.
run_drift agree-cpu cpu tests/specs/agm-toy-short.toml
run_drift agree-gpu "$GPU_DEVICE" tests/specs/agm-toy-short.toml

# 5. AGM toy training throughput at the paper's size (res-MLP 20 x 128, batch 2048): the GPU
#    one training at a time, the CPU four at a time sharing the cores.
agm_set=(--set "train.agm.warmup_steps=100")
run_drift agm-gpu "$GPU_DEVICE" specs/agm-toy.toml --jobs 1 --set "train.agm.steps=$AGM_STEPS" "${agm_set[@]}"
run_drift agm-cpu cpu specs/agm-toy.toml --jobs "$agm_jobs" --threads "$agm_threads" \
  --set "train.agm.steps=$CPU_AGM_STEPS" "${agm_set[@]}"

# 6. The quick start (6 trainings of 2000 steps, 30 sample sets, 30 evaluations) on both devices,
#    default scheduling.
# shellcheck disable=SC2086  # QUICK_SET is a list of words on purpose
run_drift quick-gpu "$GPU_DEVICE" specs/quickstart.toml $QUICK_SET
# shellcheck disable=SC2086
run_drift quick-cpu cpu specs/quickstart.toml $QUICK_SET

python3 "$ROOT/benches/gpu_compare.py" "$RESULTS" "$GPU_DEVICE" || failed=1
echo "results: $RESULTS/gpu-bench.md"
exit "$failed"
