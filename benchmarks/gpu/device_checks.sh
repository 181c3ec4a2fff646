#!/usr/bin/env bash
# The GPU checks of issue 20 as one command, for a machine with a CUDA device (docs/scale.md, "GPU path"):
#   1. the batched-fold equality tests on CUDA (tests/test_fold_batch.py -k cuda; cuDNN tolerance),
#   2. benchmarks/test_bench_gpu.py (LOSO samples/s and the fraction of the GPU's peak, batched vs fold by fold),
#   3. the main job on the GPU, default profile, and 4. the same with --profile paper.
# Each step's output goes to $OUT (default /tmp/merbench-gpu): device.txt, tests.log, bench_gpu.log,
# default.json/.log, paper.json/.log; a failing step is reported and the next one still runs.
#
# Here (a machine with pip access), once:   bash benchmarks/gpu/device_checks.sh --fetch-wheels
#   puts the pure-Python packages merbench needs and the device image lacks into .whl/ (git-ignored).
# With the device tool:  run(command="bash benchmarks/gpu/device_checks.sh", carry=[".whl"], timeout_s=590)
set -uo pipefail
cd "$(dirname "$0")/../.."
EXTRA_WHEELS=(platformdirs openpyxl et-xmlfile)  # not in the device image's package list (device KINDS.md)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    exec python3 -m pip download --no-deps --only-binary=:all: -d .whl "${EXTRA_WHEELS[@]}"
fi

OUT=${OUT:-/tmp/merbench-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MERBENCH_CACHE=/tmp/merbench-cache
failed=0
step() {  # step NAME LIMIT_S COMMAND...: run with a time limit, output to $OUT/NAME.log, report the exit status
    local name=$1 limit=$2; shift 2
    local started=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local status=$?
    echo "== $name: exit $status in $((SECONDS - started)) s"
    tail -n 15 "$OUT/$name.log"
    [[ $status -eq 0 ]] || failed=1
}

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import sys, torch; torch.cuda.is_available() or sys.exit('no CUDA device here: these checks need one')" || exit 2
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
} | tee "$OUT/device.txt"

step tests 120 python3 -m pytest -q -p no:cacheprovider tests/test_fold_batch.py -k cuda -rs
step bench_gpu 180 python3 -m pytest -q -p no:cacheprovider benchmarks/test_bench_gpu.py -s
step default 90 python3 -m merbench run --model convmixer --dataset synthetic --device cuda --no-store \
    --json "$OUT/default.json"
step paper 150 python3 -m merbench run --model convmixer --dataset synthetic --device cuda --profile paper \
    --no-store --json "$OUT/paper.json"
exit $failed
