"""Augmented images per second of the on-device CIFAR pipeline (jaxdl.data.augment).

Times the jitted ``build_augment`` function on a CIFAR-shaped batch already in device
memory (the way the train step sees it): compile excluded (one warm-up call), median
over ``--runs`` timed calls, each ended by ``block_until_ready``. Prints one JSON
object (device kind, JAX version, git SHA, config, median/min step time, images/s) and
optionally writes it to ``--out``. There is no peer figure: the PyTorch equivalent
(torchvision transforms) runs per image on the host, which is a different measurement.

Usage:
  python benchmarks/augment_throughput.py                  # 512x32x32x3 float32, crop+flip+cutout
  python benchmarks/augment_throughput.py --batch 4096 --dtype uint8 --pipeline full

References:
  DeVries, Taylor. Improved regularization of convolutional neural networks with cutout.
  arXiv:1708.04552, 2017 (the crop + flip + cutout CIFAR recipe).
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from jaxdl.data.augment import build_augment  # noqa: E402

PIPELINES = {
    # Standard CIFAR recipe: 4-pixel reflect-padded crop, flip, 8x8 cutout.
    "cifar": [
        ("random_crop", {"padding": 4, "mode": "reflect"}),
        ("horizontal_flip", {}),
        ("cutout", {"size": 8}),
    ],
    # Every op once, to see what the heavier geometric/photometric ones cost.
    "full": [
        ("random_crop", {"padding": 4, "mode": "reflect"}),
        ("horizontal_flip", {}),
        ("rotate", {"degrees": 15.0}),
        ("zoom", {"min_scale": 0.9, "max_scale": 1.1}),
        ("brightness", {"max_delta": 0.1}),
        ("contrast", {"max_delta": 0.2}),
        ("gaussian_noise", {"sigma": 0.02}),
        ("cutout", {"size": 8}),
    ],
}


def measure(batch: int, size: int, dtype: str, pipeline: str, runs: int, seed: int = 0) -> dict:
    """Median seconds per augmented batch of ``[batch, size, size, 3]`` images.

    Args:
      batch: images per batch.
      size: image side (32 for CIFAR).
      dtype: ``'float32'``, ``'bfloat16'`` or ``'uint8'``.
      pipeline: a key of ``PIPELINES``.
      runs: timed calls (>= 1); each gets a fresh key.
      seed: data and key seed.

    Returns:
      A JSON-ready dict of the configuration and timings.
    """
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    if dtype == "uint8":
        images = jnp.asarray(pixels)
    else:
        images = jnp.asarray(pixels.astype(np.float32) / 255.0, dtype)  # [B, H, W, 3] in [0, 1]
    fn = jax.jit(build_augment(PIPELINES[pipeline]))
    keys = jax.random.split(jax.random.key(seed), runs + 1)
    t0 = time.perf_counter()
    fn(keys[0], images).block_until_ready()  # compile + first run, not timed below
    compile_s = time.perf_counter() - t0
    times = []
    for k in keys[1:]:
        t = time.perf_counter()
        fn(k, images).block_until_ready()
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    return {
        "benchmark": "augment_throughput",
        **common.jax_device_info(),
        "versions": common.package_versions(),
        "git_sha": common.git_sha(),
        "config": {
            "batch": batch,
            "image_shape": [size, size, 3],
            "dtype": dtype,
            "pipeline": pipeline,
            "ops": [name for name, _ in PIPELINES[pipeline]],
            "runs": runs,
        },
        "compile_and_first_run_s": compile_s,
        "median_step_s": median,
        "min_step_s": min(times),
        "images_per_s": batch / median,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "uint8"], default="float32")
    parser.add_argument("--pipeline", choices=sorted(PIPELINES), default="cifar")
    parser.add_argument("--runs", type=int, default=20, help="timed runs (median reported)")
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.runs < 1 or args.batch < 1:
        parser.error("--runs and --batch must be >= 1")
    result = measure(args.batch, args.size, args.dtype, args.pipeline, args.runs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
