#!/usr/bin/env bash
# Every GPU check of a lent-device session in one call; results land in $OUT
# (default benchmarks/results/gpu). Run from the repository root on the GPU machine:
#   OUT=/some/dir bash benchmarks/run_gpu_checks.sh
# Packages the GPU image lacks (ml_collections, tensorboardX) are installed from .whl/
# when that folder is present (see the device tool's README).
set -u
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:.
else
  export PYTHONPATH=.
fi
export PYTHONUNBUFFERED=1
LOG="$OUT/session.log"  # one log: the device tool returns at most 8 files
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$LOG"
python3 -c "import jax, torch; print(jax.__version__, jax.devices(), torch.__version__)" \
  2>&1 | tee -a "$LOG"

# 1. The main job (LeNet-5 on MNIST) on the GPU: accuracy and wall time.
timeout 120 python3 -m train --config train/configs/mnist_lenet5.py --workdir /tmp/lenet_gpu \
  --config.train.progress=False >> "$LOG" 2>&1
cp /tmp/lenet_gpu/summary.json "$OUT/mnist_lenet5_gpu_summary.json" 2>/dev/null
tail -1 "$LOG"

# 2. Throughput, bf16, every classic CNN, against eager PyTorch in the same invocation.
timeout 290 python3 benchmarks/throughput.py \
  --models lenet5,resnet20,resnet50,vgg16,alexnet,googlenet --batch_size 256 \
  --dtypes bfloat16 --peer torch --torch_modes eager --row_timeout 100 \
  --out "$OUT/throughput_bf16_eager.json" >> "$LOG" 2>&1
tail -12 "$LOG"

# 3. The same for ResNet-50 against torch.compile (its compile is slow).
timeout 130 python3 benchmarks/throughput.py --models resnet50 --batch_size 256 \
  --dtypes bfloat16 --peer torch --torch_modes compile --row_timeout 120 \
  --out "$OUT/throughput_bf16_compile.json" >> "$LOG" 2>&1
tail -6 "$LOG"
