#!/usr/bin/env bash
# The GPU checks of the kernels in one run, for a machine with an NVIDIA GPU and no network: the
# kernel, integer, neuron and backend tests (the CUDA ones included), the kernel benchmark, each
# pass's bandwidth, the CUDA benchmark report and the whole-network table. From the repository
# root:
#
#   benchmarks/gpu_check.sh [OUT]      # OUT: folder for the logs and results (default: $OUT,
#                                      # else /tmp/gpu_check)
#
# It runs the machine's python3 (PyTorch and CuPy installed) on this checkout (PYTHONPATH).
# Pure-Python packages the machine lacks travel as wheels in .whl/ and are installed into
# /tmp/site first; make them on a machine with PyPI:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform any -d .whl spikingjelly==2.0.0 loguru SciencePlots \
#       dcls==0.1.1
#
# Results land in OUT, in the order they are made, so that a run cut short by the device's time
# limit still brings back the first ones: device.txt, tests_gpu.log (the tests marked gpu),
# bench_passes.txt (each kernel pass's share of the copy bandwidth), bench_dispatch.txt
# (operations and time of a layer's step against PSN at T = 4 ... 32, eager and captured as
# CUDA graphs), bench_kernels.txt,
# tests.log (the kernel, integer, neuron and backend suites on this machine, without the
# CPU-only sanitizer rerun) and results_cuda.tgz (benchmarks/results/cuda/: unpack it there and
# commit it; the docs' benchmarks page then shows the GPU tables). Each step has a time limit
# (STEP_LIMIT seconds, default 240). Exit status 1 if any step failed; later steps still run.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
status=0

{ nvidia-smi -L; python3 -c "import torch, cupy; print('torch', torch.__version__, 'CUDA',
torch.version.cuda, 'cupy', cupy.__version__, torch.cuda.get_device_name())"; } 2>&1 \
    | tee "$OUT/device.txt" || status=1

LIMIT=${STEP_LIMIT:-240}
PYTEST=(timeout "$LIMIT" python3 -m pytest -q -p no:cacheprovider -rs --continue-on-collection-errors)

"${PYTEST[@]}" -m gpu tests 2>&1 | tee "$OUT/tests_gpu.log" || status=1
timeout "$LIMIT" python3 benchmarks/bench_passes.py --device cuda 2>&1 \
    | tee "$OUT/bench_passes.txt" || status=1
# the fixed cost at the small layer, then the issue's "training step faster than PSN at T = 4
# ... 32" on the sequential-CIFAR layer
for shape in 4,8,64,8 4,32,128,32 8,32,128,32 16,32,128,32 32,32,128,32; do
    timeout "$LIMIT" python3 benchmarks/bench_dispatch.py --device cuda --shape $shape 2>&1 \
        | tee -a "$OUT/bench_dispatch.txt" || status=1
done
timeout "$LIMIT" python3 benchmarks/bench_kernels.py --device cuda --repeats 15 2>&1 \
    | tee "$OUT/bench_kernels.txt" || status=1
"${PYTEST[@]}" tests/kernels tests/integer tests/neuron tests/backends \
    tests/test_benchmark_memory.py tests/train/test_gpu.py \
    --deselect tests/kernels/test_kernel_sanitized.py 2>&1 | tee "$OUT/tests.log" || status=1

results=$(mktemp -d)
timeout "$LIMIT" python3 benchmarks/report.py --device cuda --out "$results" || status=1
timeout "$LIMIT" python3 benchmarks/bench_network.py --device cuda --out "$results/cuda" \
    || status=1
tar czf "$OUT/results_cuda.tgz" -C "$results/cuda" . || status=1
exit $status
