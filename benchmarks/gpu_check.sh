#!/usr/bin/env bash
# The GPU checks of the kernels in one run, for a machine with an NVIDIA GPU and no network: the
# tests marked gpu, each pass's bandwidth, the CUDA benchmark report, the kernel benchmark, the
# fixed cost at T = 4 ... 32, the whole-network table and the kernel, integer, neuron and backend
# suites. From the repository root:
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
# Time: the whole run ends within TOTAL_LIMIT seconds (default 500, under a device call's 600 s
# limit with room for the wheels), each step within STEP_LIMIT (default 240) and within what is
# left; a step that would get under MIN_STEP seconds (default 20) is skipped and says so. Steps
# run in order of what the docs need most, and results land in OUT as they are made, so a run
# cut short still brings back the first ones (seven files, under the device's eight):
#   device.txt         the GPU, the versions, then each step's status and seconds
#   tests_gpu.log      the tests marked gpu
#   bench_passes.txt   each kernel pass's share of the copy bandwidth
#   report.log         the CUDA benchmark report's output
#   results_cuda.tgz   benchmarks/results/cuda/ (unpack it there and commit it; the docs'
#                      benchmarks page then shows the GPU tables), packed again after the
#                      network table is added
#   bench.txt          bench_kernels, then bench_dispatch (a layer's step against PSN, eager and
#                      captured as CUDA graphs) at the small layer and the sequential-CIFAR layer
#                      at T = 4 ... 32, then bench_network's output
#   tests.log          the kernel, integer, neuron and backend suites on this machine, without
#                      the CPU-only sanitizer rerun
# Exit status 1 if any step failed or was skipped; later steps still run.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
START=$SECONDS
TOTAL=${TOTAL_LIMIT:-500}
LIMIT=${STEP_LIMIT:-240}
MIN_STEP=${MIN_STEP:-20}
status=0

# step NAME LOG COMMAND...: runs COMMAND under the time left, appending its output to OUT/LOG
# (a file, not a pipe, which a stopped command's children could hold open), and records its
# status and seconds in device.txt and on stdout
step() {
    local name=$1 log=$2 left limit began rc
    shift 2
    left=$((TOTAL - (SECONDS - START)))
    limit=$((left < LIMIT ? left : LIMIT))
    if ((limit < MIN_STEP)); then
        echo "step $name: skipped, ${left} s left" | tee -a "$OUT/device.txt"
        status=1
        return
    fi
    began=$SECONDS
    timeout -k 10 "$limit" "$@" >> "$OUT/$log" 2>&1
    rc=$?
    ((rc == 0)) || status=1
    echo "step $name: status $rc, $((SECONDS - began)) s (limit $limit s)" \
        | tee -a "$OUT/device.txt"
}

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

{ nvidia-smi -L; python3 -c "import torch, cupy; print('torch', torch.__version__, 'CUDA',
torch.version.cuda, 'cupy', cupy.__version__, torch.cuda.get_device_name())"; } 2>&1 \
    | tee "$OUT/device.txt" || status=1

PYTEST=(python3 -m pytest -q -p no:cacheprovider -rs --continue-on-collection-errors)
results=$(mktemp -d)
pack() { tar czf "$OUT/results_cuda.tgz" -C "$results/cuda" . || status=1; }

step tests_gpu tests_gpu.log "${PYTEST[@]}" -m gpu tests
step bench_passes bench_passes.txt python3 benchmarks/bench_passes.py --device cuda
step report report.log python3 benchmarks/report.py --device cuda --out "$results"
[[ -d $results/cuda ]] && pack
step bench_kernels bench.txt python3 benchmarks/bench_kernels.py --device cuda --repeats 15
# the fixed cost at the small layer, then the issue's "training step faster than PSN at T = 4
# ... 32" on the sequential-CIFAR layer
for shape in 4,8,64,8 4,32,128,32 8,32,128,32 16,32,128,32 32,32,128,32; do
    step "bench_dispatch $shape" bench.txt \
        python3 benchmarks/bench_dispatch.py --device cuda --shape "$shape"
done
step bench_network bench.txt \
    python3 benchmarks/bench_network.py --device cuda --out "$results/cuda"
[[ -d $results/cuda ]] && pack
step tests tests.log "${PYTEST[@]}" tests/kernels tests/integer tests/neuron tests/backends \
    tests/test_benchmark_memory.py tests/train/test_gpu.py \
    --deselect tests/kernels/test_kernel_sanitized.py
echo "total: $((SECONDS - START)) s" >> "$OUT/device.txt"
exit $status
