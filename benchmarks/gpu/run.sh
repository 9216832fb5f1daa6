#!/usr/bin/env bash
# The GPU check of issue 13 on a fresh GPU machine (torch with CUDA preinstalled, no internet):
# install the project from carried wheels, JIT-build mamba-ssm's selective-scan kernel for the
# local GPU, run tests/gpu, `m3tr bench temporal --device cuda` and the CED evaluation on CUDA,
# write JSON to $OUT; all within 10 minutes (the kernel build took 192 s on an H100).
#
#   WHEELS=/path/to/wheels OUT=/path/to/out bash benchmarks/gpu/run.sh
#   CPU_REPORT=cpu-eval/report.json WHEELS=... OUT=... bash benchmarks/gpu/run.sh   # + comparison
#   DRY_RUN=1 WHEELS=... OUT=... bash benchmarks/gpu/run.sh     # print the steps, run nothing
#
# WHEELS holds what scripts/gpu-wheels downloaded: the project's dependencies as wheels and
# mamba-ssm's source archive (mamba_ssm-*.tar.gz), whose csrc/selective_scan is built here.
# The CED Weibo data must be on the GPU machine beside the repository, as in development:
# ../shared/data/ced-weibo (posts.csv, events.csv.gz); DATA=/elsewhere overrides ../shared/data.
# The evaluation runs one seed of CED_FLAGS' methods (EVAL_TIMEOUT_S caps it); CPU_REPORT, the
# report.json of the same command on the CPU, gives $OUT/eval_cuda_vs_cpu.json:
#   m3tr evaluate ced-weibo --train ../shared/data/ced-weibo --device cpu --seeds 0 $CED_FLAGS \
#     --out cpu-eval
set -euo pipefail

: "${WHEELS:?set WHEELS to the folder scripts/gpu-wheels filled}"
: "${OUT:?set OUT to the folder for the results}"
PY=${PY:-python3}
export MAX_JOBS=${MAX_JOBS:-16}
BUILD=${BUILD:-$OUT/selective_scan_build}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=${DATA:-$REPO/../shared/data}
CED_FLAGS=${CED_FLAGS:---methods m3tr,mean --mhp-sizes 16-8-1 --no-split-spread}
EVAL_TIMEOUT_S=${EVAL_TIMEOUT_S:-240}
export M3TR_HOME=${M3TR_HOME:-${TMPDIR:-/tmp}/m3tr-gpu-home}   # workspace and feature cache

run() {  # echo, then run unless DRY_RUN
  echo "+ $*" >&2
  if [[ -z "${DRY_RUN:-}" ]]; then "$@"; fi
}

if [[ -z "${DRY_RUN:-}" && ! -f "$DATA/ced-weibo/posts.csv" ]]; then
  echo "no $DATA/ced-weibo/posts.csv: copy ../shared/data beside the repository (or set DATA)" >&2
  exit 1
fi
if [[ -n "${CPU_REPORT:-}" && -z "${DRY_RUN:-}" && ! -f "$CPU_REPORT" ]]; then
  echo "CPU_REPORT=$CPU_REPORT: no such file" >&2
  exit 1
fi
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

# 4. the CED evaluation on CUDA (one seed), then its comparison with a CPU run's report
# shellcheck disable=SC2086  # CED_FLAGS is a list of options
run timeout "$EVAL_TIMEOUT_S" "$PY" -c "from m3tr.app.cli.main import main; main()" evaluate ced-weibo \
  --train "$DATA/ced-weibo" --device cuda --seeds 0 $CED_FLAGS --out "$OUT/eval-cuda"
if [[ -n "${CPU_REPORT:-}" ]]; then
  run "$PY" -m m3tr.bench.eval_devices "$OUT/eval-cuda/report.json" "$CPU_REPORT" \
    "$OUT/eval_cuda_vs_cpu.json"
fi
echo "done in $(( $(date +%s) - start )) s; results in $OUT" >&2
