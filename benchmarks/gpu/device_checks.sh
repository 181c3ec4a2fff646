#!/usr/bin/env bash
# The GPU checks of issue 20 as one command, for a machine with a CUDA device (docs/scale.md, "GPU path"),
# in order of what is still unmeasured first, inside one time budget (BUDGET_S, default 540 s):
#   1. the batched-fold equality tests on CUDA (tests/test_fold_batch.py -k cuda; cuDNN tolerance),
#   2. the `paper` profile for 5 epochs fold by fold and batched, to see which is faster on this GPU,
#   3. the complete `paper` profile run (10 folds x 100 epochs) in the faster of the two (and step 7's layout),
#   4. the main job with engine.compile=true (compiled once, fold by fold), 5. the main job as it is,
#   6. benchmarks/test_bench_gpu.py (LOSO samples/s and fraction of the GPU's peak) while time is left,
#   7. benchmarks/gpu/step_profile.py (ms per paper-size step by layout and precision, top CUDA kernels).
# CHECKS names the checks to run (default all; step 7, the shortest, runs first), e.g.
# CHECKS="step_profile paper" (names: step_profile tests paper_short paper compiled default bench_gpu);
# PAPER_LIMIT_S sets step 3's limit (default 300 s).
# $OUT (default /tmp/merbench-gpu) gets device.log (the device, then step 7), tests.log, paper_short.log, paper.log, compiled.log,
# default.log, bench_gpu.log and summary.txt (samples/s, TFLOP/s, fraction of peak and scores of every
# finished run, from benchmarks/gpu/summarise_runs.py): 8 files, the device tool's limit. A failing step
# is reported and the next one still runs.
#
# Here (a machine with pip access), once:   bash benchmarks/gpu/device_checks.sh --fetch-wheels
#   puts what merbench needs and the device image lacks into .whl/ (git-ignored): the pure-Python wheels
#   below, and OpenCV's contrib build (TV-L1 flow, the default) unpacked and packed again as
#   .whl/cv2site.tar.xz (44 MB; its 68 MB wheel alone would pass the device tool's 64 MiB limit).
# With the device tool:  run(command="bash benchmarks/gpu/device_checks.sh", carry=[".whl"], timeout_s=590)
# Each call's result JSON files go to a fresh folder (mktemp -d under $TMPDIR, named at the end), so a step
# that fails or times out shows no earlier call's figures.
set -uo pipefail
usage="usage: bash benchmarks/gpu/device_checks.sh [--fetch-wheels | -h | --help]"
case "${1:-}" in
    -h|--help) echo "$usage"; sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    ""|--fetch-wheels) ;;
    *) echo "device_checks.sh: error: unknown argument '$1'; $usage" >&2; exit 2 ;;
esac
if (( $# > 1 )); then echo "device_checks.sh: error: one argument at most, got $#; $usage" >&2; exit 2; fi
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

if ! python3 -c "import torch" 2>/dev/null; then
    echo "device_checks.sh: error: python3 has no torch: activate merbench's environment" >&2
    exit 2
fi
python3 -c "import sys, torch; torch.cuda.is_available() or sys.exit('no CUDA device here: these checks need one')" || exit 2
OUT=${OUT:-/tmp/merbench-gpu}
mkdir -p "$OUT" || exit 1
RUNS=$(mktemp -d -t merbench-gpu-runs.XXXXXX) || exit 1  # this call's result files, summarised at the end
export PYTHONUNBUFFERED=1 MERBENCH_CACHE=/tmp/merbench-cache
deadline=$((SECONDS + ${BUDGET_S:-540}))
failed=0
step() {  # step LOG LIMIT_S COMMAND...: run within LIMIT_S and the budget, output appended to $OUT/LOG.log
    local log=$1 limit=$2; shift 2
    local left=$((deadline - SECONDS - 15))
    (( left < limit )) && limit=$left
    if (( limit < 20 )); then echo "== skipped for want of time: $*"; return; fi
    local started=$SECONDS
    echo "\$ $*" >> "$OUT/$log.log"
    timeout "$limit" "$@" >> "$OUT/$log.log" 2>&1
    local status=$?
    echo "== $log: exit $status in $((SECONDS - started)) s (limit $limit s)"
    tail -n 6 "$OUT/$log.log"
    [[ $status -eq 0 ]] || failed=1
}
run() {  # run NAME LOG LIMIT_S MERBENCH-RUN-ARGUMENTS...: the main job's model and data on CUDA, result in $RUNS/NAME.json
    local name=$1 log=$2 limit=$3; shift 3
    rm -f "$RUNS/$name.json"  # a run that fails leaves no result to summarise
    step "$log" "$limit" python3 -m merbench run --model convmixer --dataset synthetic --device cuda --no-store \
        --json "$RUNS/$name.json" "$@"
}
train_seconds() {  # the training-and-evaluation seconds of a result file, or 1e9 when the run did not finish
    python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['seconds']['train_eval'])" "$1" 2>/dev/null || echo 1e9
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
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  python3 -c "import cv2; print('opencv', cv2.__version__, 'TV-L1', hasattr(cv2, 'optflow'))"
  nproc; git rev-parse --short HEAD 2>/dev/null
} | tee "$OUT/device.log"

wants() { [[ " ${CHECKS:-tests paper_short paper compiled default bench_gpu step_profile} " == *" $1 "* ]]; }
wants step_profile && step device 120 python3 benchmarks/gpu/step_profile.py
wants tests && step tests 100 python3 -m pytest -q -p no:cacheprovider tests/test_fold_batch.py -k cuda -rs
if wants paper_short; then
    run paper_short_fold_by_fold paper_short 80 --profile paper --set engine.epochs=5 --set engine.parallel_folds=1
    run paper_short_batched paper_short 80 --profile paper --set engine.epochs=5
fi
faster=auto  # batched folds: 1.16x fold by fold for 5 paper epochs on an H200 (docs/scale.md)
if [[ -e $RUNS/paper_short_fold_by_fold.json ]] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" \
        "$(train_seconds "$RUNS/paper_short_fold_by_fold.json")" "$(train_seconds "$RUNS/paper_short_batched.json")"; then
    faster=1
fi
if wants paper; then
    layout=()  # the fastest layout and precision of step 7, where it ran
    read -ra layout < <(sed -n 's/^fastest: //p' "$OUT/device.log" 2>/dev/null | tail -n 1)
    echo "== paper profile in full with engine.parallel_folds=$faster ${layout[*]}"
    run "paper_parallel_folds_$faster" paper "${PAPER_LIMIT_S:-300}" --profile paper --set engine.parallel_folds=$faster "${layout[@]}"
fi
wants compiled && run compiled compiled 120 --set engine.compile=true
wants default && run default default 50
wants bench_gpu && step bench_gpu 200 python3 -m pytest -q -p no:cacheprovider benchmarks/test_bench_gpu.py -s -k convmixer
echo "== result files of this call: $RUNS"
# This GPU's peak from its name (benchmarks/test_bench_gpu.py's table) or MERBENCH_GPU_PEAK_TFLOPS; none when unknown.
peak=$(python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from test_bench_gpu import peak_flops; p = peak_flops(); print(p / 1e12 if p else '')" 2>/dev/null || true)
python3 benchmarks/gpu/summarise_runs.py ${peak:+--peak-tflops "$peak"} "$RUNS"/*.json 2>&1 | tee "$OUT/summary.txt"
exit $failed
