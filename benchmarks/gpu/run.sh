#!/usr/bin/env bash
# The GPU check of issue 13 on a fresh GPU machine (torch with CUDA preinstalled, no internet):
# install the project from carried wheels, JIT-build mamba-ssm's selective-scan kernel for the
# local GPU, run tests/gpu and `m3tr bench temporal --device cuda`, write JSON to $OUT.
#
#   WHEELS=/path/to/wheels OUT=/path/to/out bash benchmarks/gpu/run.sh
#   DRY_RUN=1 WHEELS=... OUT=... bash benchmarks/gpu/run.sh     # print the steps, run nothing
#
# WHEELS holds what scripts/gpu-wheels downloaded: the project's dependencies as wheels and
# mamba-ssm's source archive (mamba_ssm-*.tar.gz), whose csrc/selective_scan is built here.
set -euo pipefail

: "${WHEELS:?set WHEELS to the folder scripts/gpu-wheels filled}"
: "${OUT:?set OUT to the folder for the results}"
PY=${PY:-python3}
export MAX_JOBS=${MAX_JOBS:-16}
BUILD=${BUILD:-$OUT/selective_scan_build}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

run() {  # echo, then run unless DRY_RUN
  echo "+ $*" >&2
  if [[ -z "${DRY_RUN:-}" ]]; then "$@"; fi
}

mkdir -p "$OUT" "$BUILD"
cd "$REPO"
start=$(date +%s)

# 1. the project and its dependencies, offline (torch is the machine's: no torch wheel carried)
run "$PY" -m pip install --no-index --find-links "$WHEELS" -e '.[dev]'

# 2. mamba-ssm's selective-scan sources, built for this GPU's architecture only
src=$(ls "$WHEELS"/mamba_ssm-*.tar.gz 2>/dev/null | head -n 1 || true)
if [[ -z "$src" && -z "${DRY_RUN:-}" ]]; then
  echo "no mamba_ssm-*.tar.gz in $WHEELS (scripts/gpu-wheels downloads it)" >&2
  exit 1
fi
run tar -xzf "${src:-mamba_ssm.tar.gz}" -C "$BUILD" --strip-components=1 --wildcards '*/csrc/selective_scan/*'
run "$PY" - "$BUILD" <<'PYEOF'
import glob, sys, time, torch
from torch.utils.cpp_extension import load
build = sys.argv[1]
major, minor = torch.cuda.get_device_capability()
src = f"{build}/csrc/selective_scan"
sources = [f"{src}/selective_scan.cpp"] + sorted(glob.glob(f"{src}/selective_scan_*.cu"))
t0 = time.time()
load(
    name="selective_scan_cuda", sources=sources, build_directory=build, verbose=False,
    extra_cflags=["-O3"],
    extra_cuda_cflags=[
        "-O3", "--use_fast_math", "-std=c++17", "--expt-relaxed-constexpr",
        "--expt-extended-lambda", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
        "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
        f"-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}",
    ],
)
print(f"built selective_scan_cuda for sm_{major}{minor} in {time.time() - t0:.0f} s")
PYEOF
# m3tr.core.temporal.scan_cuda imports the module `selective_scan_cuda` from the import path
export PYTHONPATH="$BUILD${PYTHONPATH:+:$PYTHONPATH}"
run "$PY" -c "from m3tr.core.temporal.scan import kernel_source as k; print('kernel:', k()); assert k() != 'none'"

# 3. the GPU tests, the GPU benchmark, the device's own description
run "$PY" -m pytest tests/gpu -m gpu -q -p no:cacheprovider --junitxml "$OUT/tests_gpu.xml"
run "$PY" -c "from m3tr.app.cli.main import main; main()" bench temporal --device cuda --json "$OUT/bench_temporal_cuda.json"
run "$PY" -c "import json, torch; print(json.dumps({'gpu': torch.cuda.get_device_name(), 'torch': torch.__version__, 'cuda': torch.version.cuda}))" \
  > "$OUT/machine.json"
echo "done in $(( $(date +%s) - start )) s; results in $OUT" >&2
