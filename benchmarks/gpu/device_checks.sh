#!/usr/bin/env bash
# The GPU checks of issue 20 as one command, for a machine with a CUDA device (docs/scale.md, "GPU path"):
#   1. the batched-fold equality tests on CUDA (tests/test_fold_batch.py -k cuda; cuDNN tolerance),
#   2. benchmarks/test_bench_gpu.py (LOSO samples/s and the fraction of the GPU's peak, batched vs fold by fold),
#   3. the main job on the GPU, default profile, 4. the same with --profile paper, and 5. with engine.compile=true.
# Each step's output goes to $OUT (default /tmp/merbench-gpu): device.txt, tests.log, bench_gpu.log,
# default.json/.log, paper.json/.log, compiled.log (8 files, the device tool's limit); a failing step is
# reported and the next one still runs.
#
# Here (a machine with pip access), once:   bash benchmarks/gpu/device_checks.sh --fetch-wheels
#   puts what merbench needs and the device image lacks into .whl/ (git-ignored): the pure-Python wheels
#   below, and OpenCV's contrib build (TV-L1 flow, the default) unpacked and packed again as
#   .whl/cv2site.tar.xz (44 MB; its 68 MB wheel alone would pass the device tool's 64 MiB limit).
# With the device tool:  run(command="bash benchmarks/gpu/device_checks.sh", carry=[".whl"], timeout_s=590)
set -uo pipefail
cd "$(dirname "$0")/../.."
EXTRA_WHEELS=(platformdirs openpyxl et-xmlfile ruamel.yaml)  # not in the device image's package list (KINDS.md)
DEVICE_PYTHON=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
               --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    python3 -m pip download -q --no-deps --only-binary=:all: "${DEVICE_PYTHON[@]}" -d .whl "${EXTRA_WHEELS[@]}" \
        "opencv-contrib-python-headless<5" || exit 1
    unpacked=$(mktemp -d)
    python3 -m pip install -q --no-deps --no-compile --target "$unpacked" .whl/opencv_contrib_python_headless-*.whl &&
        tar -C "$unpacked" -cf - . | xz -T0 -9 > .whl/cv2site.tar.xz && rm .whl/opencv_contrib_python_headless-*.whl
    status=$?
    rm -rf "$unpacked"
    exit $status
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
for packed in .whl/*.tar.xz; do  # packages unpacked here and packed small (--fetch-wheels)
    [[ -e $packed ]] || continue
    mkdir -p /tmp/site && tar -C /tmp/site -xJf "$packed" || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
done
python3 -c "import sys, torch; torch.cuda.is_available() or sys.exit('no CUDA device here: these checks need one')" || exit 2
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  python3 -c "import cv2; print('opencv', cv2.__version__, 'TV-L1', hasattr(cv2, 'optflow'))"
  nproc
} | tee "$OUT/device.txt"

step tests 120 python3 -m pytest -q -p no:cacheprovider tests/test_fold_batch.py -k cuda -rs
step bench_gpu 180 python3 -m pytest -q -p no:cacheprovider benchmarks/test_bench_gpu.py -s
step default 90 python3 -m merbench run --model convmixer --dataset synthetic --device cuda --no-store \
    --json "$OUT/default.json"
step paper 150 python3 -m merbench run --model convmixer --dataset synthetic --device cuda --profile paper \
    --no-store --json "$OUT/paper.json"
step compiled 90 python3 -m merbench run --model convmixer --dataset synthetic --device cuda --set engine.compile=true \
    --no-store
exit $failed
