#!/usr/bin/env bash
# The whole issue-11 GPU suite in one call (< 8 minutes on one H100); JSON results land
# in the folder given as the first argument (default benchmarks/results/gpu):
#   1. throughput, bf16, jaxdl vs PyTorch eager and torch.compile in the same invocation:
#      ResNet-50 224x224 batch 256, CIFAR ResNet-18 32x32 batch 512;
#   2. time to accuracy: MNIST to 99% and CIFAR-10 to 94% (airbench-class recipe), 5 seeds.
# Run from the repository root:   bash benchmarks/run_gpu.sh /some/dir
# Tiny sizes (harness check, e.g. on a CPU):   TINY=1 bash benchmarks/run_gpu.sh /tmp/gpu_tiny
# Data: MNIST is embedded; CIFAR-10 is looked up in $DATA_DIR (default ../shared/data, else
# .data). A lent device machine gets only the repository: copy the 19 MB JPEG archive into
# .data/cifar10_jpeg/ (ignored by git, e.g. via .git/info/exclude) and carry .data.
# Packages the GPU image lacks are installed from .whl/ when that folder is present.
# Results: 4 JSON files + session.log (the printed markdown tables are in the log), which
# stays under the device tool's 8 returned files.
set -u
OUT=${1:-${OUT:-benchmarks/results/gpu}}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:.
else
  export PYTHONPATH=.
fi
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if [ -z "${DATA_DIR:-}" ]; then
  if [ -d ../shared/data ]; then DATA_DIR=../shared/data; else DATA_DIR=.data; fi
fi
LOG="$OUT/session.log"
: > "$LOG"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi") \
  2>&1 | tee -a "$LOG"
$PY -c "import jax, torch; print('jax', jax.__version__, jax.devices(), 'torch', torch.__version__)" \
  2>&1 | tee -a "$LOG"

if [ "${TINY:-0}" = 1 ]; then
  echo "TINY=1: harness check with tiny sizes, numbers meaningless" | tee -a "$LOG"
  # float32: bf16 on a CPU is emulated and slow; rows get 300 s each.
  R50="--dtypes float32 --batch_size 8 --image_size 64 --steps 2 --warmup 1 --torch_modes eager"
  R50="$R50 --peak_n 256 --row_timeout 300"
  R18="--dtypes float32 --batch_size 8 --steps 2 --warmup 1 --torch_modes eager --peak_n 256"
  R18="$R18 --row_timeout 300"
  MNIST="--seeds 1 --epochs 1 --train_subset 1024 --test_subset 512 --widths 8,16 --batch_size 128"
  CIFAR="--seeds 1 --epochs 1 --train_subset 1024 --test_subset 512 --widths 16,32,32 --batch_size 256"
  T_THR=600; T_TTA=600
else
  R50="--dtypes bfloat16 --batch_size 256 --steps 20 --warmup 3 --torch_modes eager,compile"
  R50="$R50 --row_timeout 100"
  R18="--dtypes bfloat16 --batch_size 512 --steps 20 --warmup 3 --torch_modes eager,compile"
  R18="$R18 --row_timeout 100"
  MNIST="--seeds 5"
  CIFAR="--seeds 5 --eval_from 8"
  T_THR=140; T_TTA=100
fi

finish() {  # the table is already in the log (printed): drop the .md (file budget)
  rm -f "$1.md"
}
run() {  # run <timeout s> <name> <command...>: one stage, its output in the log
  local t=$1 name=$2; shift 2
  echo "== $name ($(date -u +%T), limit ${t} s)" | tee -a "$LOG"
  local t0=$SECONDS
  timeout "$t" "$@" >> "$LOG" 2>&1
  echo "== $name: exit $? after $((SECONDS - t0)) s" | tee -a "$LOG"
}

# 1. Throughput, bf16, against PyTorch eager and torch.compile in the same invocation.
run "$T_THR" throughput_resnet50 $PY benchmarks/throughput.py --models resnet50 \
  --peer torch $R50 --out "$OUT/throughput_resnet50.json"
finish "$OUT/throughput_resnet50"
run "$T_THR" throughput_resnet18_cifar $PY benchmarks/throughput.py --models resnet18_cifar \
  --peer torch $R18 --out "$OUT/throughput_resnet18_cifar.json"
finish "$OUT/throughput_resnet18_cifar"

# 2. Time to accuracy (fit, compilation included in every seed; data on device).
run "$T_TTA" tta_mnist $PY benchmarks/time_to_accuracy.py --task mnist $MNIST \
  --data_dir "$DATA_DIR" --out "$OUT/tta_mnist.json"
finish "$OUT/tta_mnist"
run "$T_TTA" tta_cifar10 $PY benchmarks/time_to_accuracy.py --task cifar10 $CIFAR \
  --data_dir "$DATA_DIR" --out "$OUT/tta_cifar10.json"
finish "$OUT/tta_cifar10"
ls -l "$OUT" | tee -a "$LOG"
