#!/usr/bin/env bash
# Build `drift` with the `cuda` feature on a CPU-only x86-64 Linux machine (no GPU, no driver,
# no system CUDA toolkit), using only NVIDIA's CUDA wheels from PyPI, and bundle the CUDA
# runtime libraries next to the binary so that it runs on a GPU machine that has only the
# NVIDIA driver (>= R580, i.e. `nvidia-smi` reports "CUDA Version: 13.0" or newer) and no Rust
# toolchain.
#
# Usage:  bash benches/cuda-build.sh            # build + bundle (idempotent, incremental)
#   env:  CUDA_COMPUTE_CAP=90                   # target GPU (H100/H200 = 90 -> sm_90a)
#         CARGO_TARGET_DIR=target/cuda-build    # where the build goes
#         JOBS=N                                # cargo -j (default: all cores)
#
# Result: $CARGO_TARGET_DIR/release/drift plus $CARGO_TARGET_DIR/release/cuda-lib/ (the CUDA
# user-space libraries the binary needs; the binary's RUNPATH is $ORIGIN/cuda-lib). Copy both
# together (e.g. `tar -C $CARGO_TARGET_DIR/release -chf drift-cuda.tar drift cuda-lib`), or
# copy only target/gpu-carry/drift.gz (the stripped binary, ~23 MB) to a GPU machine whose
# python3 has NVIDIA's CUDA 13 wheels (any PyTorch cu13x install); benches/gpu.sh runs either.
#
# Why each piece is needed (all facts from the build scripts of candle-kernels 0.11.1,
# cudaforge 0.1.6 and cudarc 0.19.10, which `candle-core/cuda` pulls in):
#  * candle-kernels' build.rs compiles its .cu kernels with nvcc at build time (via cudaforge):
#    PTX for the ordinary kernels and a static libmoe.a (cubin) for the MoE/GGUF kernels, then
#    links `-lcudart` and `-lstdc++`. cudaforge finds nvcc through $NVCC or PATH, takes the GPU
#    architecture from $CUDA_COMPUTE_CAP (otherwise it runs nvidia-smi, which does not exist
#    here), and compiles with `-gencode=arch=compute_90a,code=sm_90a` for 90.
#  * The CUDA 12 wheels on PyPI (nvidia-cuda-nvcc-cu12, every 12.x release) ship only ptxas, not
#    the nvcc driver, cudafe++ or cicc, so they cannot compile .cu files. The CUDA 13 wheels
#    (nvidia-cuda-nvcc, nvidia-nvvm, nvidia-cuda-crt, ...) are a complete compiler and install
#    into one toolkit-like tree, site-packages/nvidia/cu13/{bin,include,lib,nvvm}. Hence CUDA 13,
#    and hence the R580+ driver requirement on the GPU machine.
#  * cudarc (features chosen by candle: `dynamic-linking`, `cuda-version-from-build-system`)
#    runs `nvcc --version` from PATH to pick its CUDA API version (or reads
#    $CUDARC_CUDA_VERSION, which we set explicitly), and links -lcuda -lnvrtc -lcurand -lcublas
#    -lcublasLt from $CUDA_ROOT/{lib64,lib64/stubs,...}. The wheels only have versioned
#    sonames (libcublas.so.13, ...) and no libcuda at all (that comes with the driver), so
#    target/cuda-root/lib64 gets unversioned dev symlinks and lib64/stubs gets a generated stub
#    libcuda.so (soname libcuda.so.1, every driver entry point returns 34 =
#    CUDA_ERROR_STUB_LIBRARY, like NVIDIA's own stub). It is only for linking: at run time the
#    driver's real libcuda.so.1 is used. Never ship the stub.
#  * The final binary (ld's --as-needed drops nvrtc) has DT_NEEDED entries on libcuda.so.1
#    (the driver's; the binary does not even start where it is missing, also for `--device
#    cpu`) and on libcudart.so.13, libcublas.so.13, libcurand.so.10, plus libcublasLt.so.13
#    through libcublas. These four come from the wheels and are copied to cuda-lib/ (~720 MiB,
#    libcublasLt alone is 517 MiB). The binary also needs glibc >= 2.35 and libstdc++ with
#    GLIBCXX_3.4.21 (built on Debian 12).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CUDA_TOOLKIT_VERSION=13.0.2          # PyPI meta-package; pins nvcc 13.0.88, cublas 13.1.0.3,
                                     # cudart 13.0.96, curand 10.4.0.35, nvrtc 13.0.88, ...
CUDARC_VERSION_TAG=13000             # must match the nvcc major.minor above (13.0)
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/cuda-build}
VENV=$ROOT/target/cuda-venv
CROOT=$ROOT/target/cuda-root
PY=${PYTHON:-python3}

# 1. NVIDIA's CUDA 13 wheels in a private venv (nothing is installed system-wide).
if [ ! -x "$VENV/bin/pip" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/pip" show cuda-toolkit 2>/dev/null | grep -qx "Version: $CUDA_TOOLKIT_VERSION"; then
  # nvcc+crt+nvvm: the compiler; cudart/cublas/curand/nvrtc: headers + libs to link and ship;
  # cccl: <cuda/std/...> headers some kernels include.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "cuda-toolkit[nvcc,crt,nvvm,cudart,cublas,curand,nvrtc,cccl]==$CUDA_TOOLKIT_VERSION"
fi
CU13=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$CU13/bin/nvcc" ] || { echo "nvcc not found under $CU13" >&2; exit 1; }

# 2. A CUDA_ROOT-shaped tree: bin/include/nvvm point into the wheel tree; lib64 holds
#    unversioned dev symlinks for the linker, lib64/stubs the generated libcuda stub.
mkdir -p "$CROOT/lib64/stubs"
for d in bin include nvvm; do ln -sfn "$CU13/$d" "$CROOT/$d"; done
for so in "$CU13"/lib/lib*.so.*; do
  base=$(basename "$so"); dev=${base%%.so.*}.so
  case "$base" in *.alt.*|*builtins*) continue ;; esac
  ln -sfn "$so" "$CROOT/lib64/$base"
  ln -sfn "$base" "$CROOT/lib64/$dev"
done
# Driver-API symbol list from cudarc's bindings (what the Rust code can reference), plus the
# names declared in cuda.h for good measure.
cargo fetch --quiet
CUDARC_SYS=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10/src/driver/sys/mod.rs | head -1)
STUB_C=$CROOT/lib64/stubs/libcuda_stub.c
{
  echo '/* generated by benches/cuda-build.sh: link-time stand-in for the driver libcuda.so.1 */'
  { grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$CUDARC_SYS" | awk '{print $4}'
    grep -oE 'CUDAAPI cu[A-Za-z0-9_]+\(' "$CU13/include/cuda.h" | sed 's/CUDAAPI //; s/($//'
  } | sort -u | sed 's/.*/int &(void) { return 34; }/'
} > "$STUB_C.new"
if ! cmp -s "$STUB_C.new" "$STUB_C" || [ ! -f "$CROOT/lib64/stubs/libcuda.so" ]; then
  mv "$STUB_C.new" "$STUB_C"
  cc -shared -fPIC -O0 -Wl,-soname,libcuda.so.1 -o "$CROOT/lib64/stubs/libcuda.so" "$STUB_C"
else
  rm -f "$STUB_C.new"
fi

# 3. Environment for the build scripts.
export PATH="$CROOT/bin:$PATH"          # cudarc runs `nvcc --version` from PATH
export NVCC="$CROOT/bin/nvcc"           # cudaforge: which nvcc to run
export CUDA_ROOT="$CROOT" CUDA_HOME="$CROOT" CUDA_PATH="$CROOT"  # cudarc: -L search roots
export CUDARC_CUDA_VERSION=$CUDARC_VERSION_TAG
export LIBRARY_PATH="$CROOT/lib64:$CROOT/lib64/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)}   # parallel nvcc jobs (default: half)

# 4. Build. `cargo rustc ... -- <args>` passes the RUNPATH only to the final binary, so the
#    dependency artefacts keep their normal fingerprints.
nice -n 10 cargo rustc --release ${JOBS:+-j "$JOBS"} -p drift-cli --bin drift --features cuda \
  -- -C 'link-arg=-Wl,-rpath,$ORIGIN/cuda-lib'

# 5. Bundle the CUDA user-space libraries the binary needs (never libcuda: that is the driver's).
OUT=$CARGO_TARGET_DIR/release
rm -rf "$OUT/cuda-lib"; mkdir -p "$OUT/cuda-lib"
# Transitively: libcublas.so.13 needs libcublasLt.so.13 (found through its own RUNPATH $ORIGIN).
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
todo=$(needed "$OUT/drift")
while [ -n "$todo" ]; do
  next=""
  for lib in $todo; do
    if [ -e "$CU13/lib/$lib" ] && [ ! -e "$OUT/cuda-lib/$lib" ]; then
      cp -L "$CU13/lib/$lib" "$OUT/cuda-lib/"
      next="$next $(needed "$OUT/cuda-lib/$lib")"
    fi
  done
  todo=$next
done
# nvrtc dlopens its builtins library at run time.
if [ -e "$OUT/cuda-lib/libnvrtc.so.13" ]; then cp -L "$CU13"/lib/libnvrtc-builtins.so.13.* "$OUT/cuda-lib/"; fi
echo "built $OUT/drift; bundled: $(ls "$OUT/cuda-lib" | tr '\n' ' ')($(du -sh "$OUT/cuda-lib" | cut -f1))"

# 6. A compact copy for GPU machines that already have NVIDIA's CUDA 13 libraries (a PyTorch
#    cu13x environment installs them as wheels; benches/gpu.sh finds them there): the binary
#    alone, stripped and gzip-compressed (~23 MB instead of 89 MB + 696 MiB of libraries).
CARRY=$ROOT/target/gpu-carry
mkdir -p "$CARRY"
strip -o "$CARRY/drift.tmp" "$OUT/drift"
gzip -9 -c "$CARRY/drift.tmp" > "$CARRY/drift.gz.tmp" && mv "$CARRY/drift.gz.tmp" "$CARRY/drift.gz"
rm -f "$CARRY/drift.tmp"
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) from git $(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
  echo "cuda: nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), compute capability $CUDA_COMPUTE_CAP"
} > "$CARRY/build.txt"
echo "compact copy: $CARRY/drift.gz ($(du -h "$CARRY/drift.gz" | cut -f1); unpacked and run by benches/gpu.sh)"
