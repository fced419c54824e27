"""Training throughput of jaxdl's models (images/s, MFU, memory), with a PyTorch peer.

For each model x dtype: synthetic data created on device and sharded over a
``'data'`` mesh of all devices (``--devices`` to restrict), the project's own
``classification_steps`` train step (SGD momentum 0.9; the synthetic float32 images
are only cast to the compute dtype), jitted with the state donated as the training
loop does, compiled ahead of time (``jit(...).lower(...).compile()``, timed and
reported apart), then ``--warmup`` untimed steps and at least ``--steps`` timed ones.
By default every step is followed by ``block_until_ready`` and the median per-step
time is reported; ``--sync_every N`` syncs every N steps instead (per-step time =
window / N). images/s = global batch / median step time; MFU = (XLA cost-analysis
FLOPs per step per device) / median / (measured peak FLOP/s of one device in the
row's dtype). With ``--peer torch`` the PyTorch versions (benchmarks/peers) run in
the same invocation (eager and/or torch.compile, one device) and every jaxdl row
carries ``ratio_vs_torch_<mode>`` = jaxdl images/s / torch images/s.

By default each row runs in its own worker process (``--no-isolate`` to run in this
one): peak memory is then per row, a crash or hang loses one row only
(``--row_timeout``), and JAX and PyTorch never share a GPU's memory. The JSON (and a
markdown table beside it) is rewritten after every row.

Usage:
  python benchmarks/throughput.py --models lenet5,resnet20 --batch_size 32 \
      --dtypes float32 --steps 3 --warmup 1 --peer torch --torch_modes eager  # CPU smoke
  python benchmarks/throughput.py --models resnet50 --batch_size 256 --dtypes bfloat16 \
      --peer torch --torch_modes eager,compile --out benchmarks/results/h100.json

References:
  Chowdhery et al. PaLM. arXiv:2204.02311, 2022 (appendix B: MFU).
"""

import argparse
import datetime
import json
import pathlib
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import common, workers  # noqa: E402
from benchmarks.bench_step import (  # noqa: E402
    input_spec,
    program_flops,
    synthetic_inputs,
    synthetic_train_step,
)
from benchmarks.throughput_report import TORCH_MODES, derive, table  # noqa: E402

DEFAULT_MODELS = ("lenet5", "resnet20", "resnet50", "vgg16", "alexnet", "googlenet")
DTYPES = common.PEAK_DTYPES


def jaxdl_row(
    name: str,
    dtype: str,
    batch_size: int,
    image_shape: tuple[int, int, int],
    num_classes: int,
    steps: int,
    warmup: int,
    sync_every: int = 1,
    devices: int = 0,
    seed: int = 0,
) -> dict:
    """Compiles and times jaxdl's train step for ``name`` (see the module docstring).

    Args:
      name: registered model name (or a ``benchmarks.bench_models.EXTRA`` one).
      dtype: compute dtype, 'float32' or 'bfloat16' (parameters stay float32).
      batch_size: global batch, a multiple of the device count.
      image_shape: (H, W, C) of the synthetic images.
      num_classes: classifier outputs.
      steps, warmup, sync_every: see ``benchmarks.common.time_steps``.
      devices: use the first ``devices`` devices (0: all).
      seed: PRNG seed of weights and data.

    Returns:
      Row fields: timing summary, images/s, compile times, XLA FLOPs and memory,
      parameter count, measured peak memory, final loss.

    Example:
      >>> row = jaxdl_row("lenet5", "float32", 16, (32, 32, 1), 10, steps=2, warmup=1)
    """
    import jax
    import jax.numpy as jnp

    from jaxdl.training import parallel

    warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}.")
    devs = jax.devices()[:devices] if devices else jax.devices()
    mesh = parallel.make_mesh(devs)
    parallel.check_batch_size(batch_size, mesh)
    compute_dtype = jnp.dtype(dtype)
    state, batch = synthetic_inputs(
        name, dtype, batch_size, image_shape, num_classes, seed=seed, mesh=mesh
    )
    params = sum(x.size for x in jax.tree.leaves(state.params))

    train_step = synthetic_train_step(compute_dtype)
    t0 = time.perf_counter()
    lowered = jax.jit(train_step, donate_argnums=0).lower(state, batch)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    holder = [state]

    def step():
        holder[0], metrics = compiled(holder[0], batch)
        return metrics

    samples, first_step_s = common.time_steps(
        step, jax.block_until_ready, steps, warmup, sync_every
    )
    stats = common.summarize(samples)
    final_loss = float(step()["loss"])
    flops = common.xla_flops(train_step, state, batch, num_devices=len(devs))
    peaks = [common.jax_peak_memory(d) for d in devs]
    return {
        "impl": f"benchmarks.bench_models.create({name!r})",
        "params": int(params),
        "devices": len(devs),
        "trace_lower_s": t1 - t0,
        "compile_s": t2 - t1,
        "first_step_s": first_step_s,
        "step_time": stats,
        "median_step_s": stats["median_s"],
        "images_per_s": batch_size / stats["median_s"],
        "flops_per_step_per_device": flops,
        "flops_per_step": None if flops is None else flops * len(devs),
        "xla_memory_bytes": common.xla_memory_bytes(compiled),
        "peak_bytes_in_use": None if None in peaks else max(peaks),
        "final_loss": final_loss,
    }


def run_task(task: dict) -> dict:
    """Runs one task ('peak', 'jaxdl' or 'torch') and returns its result; errors become rows."""
    kind = task["kind"]
    if kind == "peak":
        return common.measure_peaks(task["peak_n"], task["devices"])
    args = {k: task[k] for k in ("dtype", "batch_size", "num_classes", "steps", "warmup")}
    args.update(image_shape=tuple(task["image_shape"]), sync_every=task["sync_every"])
    try:
        if kind == "jaxdl":
            return jaxdl_row(task["model"], devices=task["devices"], **args)
        from benchmarks.peers import torch_train

        return torch_train.run(name=task["model"], mode=task["mode"], source=task["source"], **args)
    except Exception as exc:  # noqa: BLE001 - a failed row must not stop the suite
        return {"error": common.error_text(exc)}


def fill_mfu(path: pathlib.Path) -> dict:
    """Adds missing FLOPs (hence MFU) to a result file, e.g. one measured where XLA's
    GPU cost analysis gave none; rewrites the JSON and its markdown table."""
    result = json.loads(path.read_text())
    for r in result["rows"]:
        if r["framework"] == "jaxdl" and "error" not in r and not r.get("flops_per_step"):
            per_device = program_flops(r)
            r["flops_per_step_per_device"] = per_device
            r["flops_per_step"] = per_device * r.get("devices", 1) if per_device else None
            r["flops_note"] = "filled by --fill_mfu (CPU lowering of the same step)"
    derive(result)
    path.write_text(json.dumps(result, indent=2))
    path.with_suffix(".md").write_text(table(result) + "\n")
    print(table(result))
    return result


def _csv(text: str, allowed: tuple[str, ...] | None, what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if allowed is not None and s not in allowed]
    if not items or bad:
        raise argparse.ArgumentTypeError(f"{what}: got {text!r}; choose from {allowed}.")
    return items


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated names")
    p.add_argument("--batch_size", type=int, default=256, help="global batch per step")
    p.add_argument("--dtypes", default="float32,bfloat16", help="compute dtypes, comma-separated")
    p.add_argument("--steps", type=int, default=20, help="timed steps (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after compilation")
    p.add_argument("--sync_every", type=int, default=1, help="steps per timed window")
    p.add_argument("--image_size", type=int, help="input side of the ImageNet models only")
    p.add_argument("--devices", type=int, default=0, help="use the first N devices (0: all)")
    p.add_argument("--peer", choices=["none", "torch"], default="none")
    p.add_argument("--torch_modes", default="eager,compile", help="eager and/or compile")
    p.add_argument("--torch_source", choices=["auto", "native", "torchvision"], default="auto")
    p.add_argument("--peak_n", type=int, help="matmul side of the peak measurement")
    p.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one worker process per row (default) or all in this process",
    )
    p.add_argument("--row_timeout", type=float, default=900.0, help="seconds per isolated row")
    p.add_argument("--out", type=pathlib.Path, help="JSON path (default benchmarks/results/...)")
    p.add_argument("--fill_mfu", type=pathlib.Path, help="add FLOPs/MFU to a result JSON, exit")
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._worker:
        return args
    try:
        from benchmarks.bench_models import names

        args.models = _csv(args.models, tuple(names()), "--models")
        args.dtypes = _csv(args.dtypes, DTYPES, "--dtypes")
        args.torch_modes = _csv(args.torch_modes, TORCH_MODES, "--torch_modes")
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    for flag in ("batch_size", "steps", "sync_every"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be >= 1")
    if args.warmup < 0 or args.devices < 0:
        p.error("--warmup and --devices must be >= 0")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Runs the suite; returns the result dict (also written to ``--out`` and printed)."""
    args = parse_args(argv)
    if args.fill_mfu:
        return fill_mfu(args.fill_mfu)
    if args._worker:
        print(workers.WORKER_MARK + json.dumps(run_task(json.loads(args._worker))), flush=True)
        return {}

    if args.isolate:
        workers.exit_on_sigterm()

    def execute(task):
        return (
            workers.run_worker(__file__, task, args.row_timeout) if args.isolate else run_task(task)
        )

    peak = execute({"kind": "peak", "peak_n": args.peak_n, "devices": args.devices})
    if "error" in peak:
        raise SystemExit(f"Could not start JAX on the device: {peak['error']}")
    packages = common.BASE_PACKAGES + (common.PEER_PACKAGES if args.peer == "torch" else ())
    timing = (
        "median of per-step times, block_until_ready / cuda.synchronize after every step"
        if args.sync_every == 1
        else f"median of (window of {args.sync_every} steps, one sync) / {args.sync_every}"
    )
    config = {k: v for k, v in vars(args).items() if k not in ("out", "_worker")}
    result = {
        "benchmark": "throughput",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": common.command_line(),
        "git_sha": common.git_sha(),
        "versions": common.package_versions(packages),
        **peak,
        "config": {
            **config,
            "timing": timing,
            "peak_memory": "per row (own worker process)"
            if args.isolate
            else "process-wide maximum so far (--no-isolate)",
            "optimizer": "SGD momentum 0.9, lr 0.01",
            "data": "synthetic float32 images and int32 labels, created on device",
        },
        "rows": [],
    }
    out = args.out or ROOT / "benchmarks" / "results" / (
        f"throughput-{common.today()}-{common.slug(peak['device']['device_kind'])}.json"
    )
    peaks = {k: v.get("flops_per_s") for k, v in peak["peak_flops"].items()}
    print(f"device: {peak['device']}; peak FLOP/s: {peaks}", flush=True)
    base = {
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "sync_every": args.sync_every,
        "devices": args.devices,
    }
    plan = []
    for model in args.models:
        shape, classes = input_spec(model, args.image_size)
        for dtype in args.dtypes:
            spec = {
                **base,
                "model": model,
                "dtype": dtype,
                "image_shape": list(shape),
                "num_classes": classes,
            }
            plan.append({**spec, "kind": "jaxdl", "framework": "jaxdl", "mode": "jit"})
            if args.peer == "torch":
                for mode in args.torch_modes:
                    plan.append(
                        {
                            **spec,
                            "kind": "torch",
                            "framework": "torch",
                            "mode": mode,
                            "source": args.torch_source,
                        }
                    )
    for i, task in enumerate(plan, 1):
        label = (
            f"[{i}/{len(plan)}] {task['model']} {task['dtype']} {task['framework']}/{task['mode']}"
        )
        print(label + " ...", flush=True)
        t0 = time.perf_counter()
        row = {
            k: task[k]
            for k in (
                "model",
                "framework",
                "mode",
                "dtype",
                "batch_size",
                "image_shape",
                "num_classes",
            )
        }
        row.update(execute(task))
        row["wall_s"] = time.perf_counter() - t0
        result["rows"].append(row)
        derive(result)
        common.write_results(out, result, table(result))
        summary = row.get("error") or (
            f"{row['images_per_s']:,.0f} images/s, median {row['median_step_s'] * 1e3:.2f} ms"
        )
        print(f"{label}: {summary} ({row['wall_s']:.0f} s)", flush=True)
    print("\n" + table(result) + f"\n\nwritten: {out} and {out.with_suffix('.md')}", flush=True)
    return result


if __name__ == "__main__":
    main()
