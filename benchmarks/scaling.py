"""Data-parallel scaling: steps/s and images/s against the number of devices.

For each device count n in ``--device_counts`` (default 1, 2, 4, 8; counts above the
visible devices are skipped and listed in ``skipped``) the throughput suite's row
(``benchmarks.throughput.jaxdl_row``: the project's train step, synthetic data on
device, batch sharded over a ``'data'`` mesh of the first n devices, compile excluded,
median step time) is measured twice:

- weak scaling: ``--per_device_batch`` b per device, global batch n b; ideal images/s
  grow n-fold. efficiency = images/s(n) / (n images/s(1)).
- strong scaling: ``--global_batch`` G fixed, G / n per device; ideal steps/s grow
  n-fold. efficiency = steps/s(n) / (n steps/s(1)).

On a CPU, ``--fake_cpu_devices N`` sets
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before JAX is imported: the N
"devices" then share the same cores, so the numbers only prove the harness (more
devices cannot be faster there). They are meaningful on a multi-GPU/TPU host.

Usage:
  python benchmarks/scaling.py --model resnet50 --per_device_batch 256 \
      --global_batch 1024 --dtype bfloat16                         # 8-GPU host
  python benchmarks/scaling.py --fake_cpu_devices 8 --model lenet5 \
      --per_device_batch 16 --global_batch 128 --steps 3           # CPU harness check
"""

import argparse
import datetime
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402

COLUMNS = [
    ("mode", "mode", "str"),
    ("devices", "devices", "int"),
    ("global batch", "batch_size", "int"),
    ("per device", "per_device_batch", "int"),
    ("step ms", "median_step_s", "ms"),
    ("steps/s", "steps_per_s", "rate"),
    ("images/s", "images_per_s", "rate"),
    ("speed-up", "speedup", "ratio"),
    ("efficiency", "efficiency", "pct"),
    ("compile s", "compile_s", "s"),
    ("note", "note", "str"),
]


def force_cpu_devices(n: int) -> None:
    """Asks XLA for ``n`` host (CPU) devices; must run before JAX is imported (unless the
    process has them already: a caller's ``XLA_FLAGS``, e.g. the tests')."""
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        if jax.devices()[0].platform == "cpu" and jax.device_count() == n:
            return
        raise RuntimeError(
            "--fake_cpu_devices must be applied before jax is imported; run scaling.py as a "
            "script, or set XLA_FLAGS=--xla_force_host_platform_device_count=N yourself."
        )
    flags = os.environ.get("XLA_FLAGS", "")
    flags = " ".join(f for f in flags.split() if "xla_force_host_platform_device_count" not in f)
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def derive(rows: list[dict]) -> None:
    """Adds steps/s, speed-up and efficiency relative to each mode's 1-device row."""
    base = {r["mode"]: r for r in rows if r["devices"] == 1 and "error" not in r}
    for r in rows:
        if "error" in r:
            r["note"] = r["error"][:90]
            continue
        r["steps_per_s"] = 1.0 / r["median_step_s"]
        r["per_device_batch"] = r["batch_size"] // r["devices"]
        ref = base.get(r["mode"])
        if ref is None:
            continue
        key = "images_per_s" if r["mode"] == "weak" else "steps_per_s"
        ref_value = ref[key] if key in ref else 1.0 / ref["median_step_s"]
        r["speedup"] = r[key] / ref_value
        r["efficiency"] = r["speedup"] / r["devices"]


def table(result: dict) -> str:
    """Markdown table headed by device, model and the fake-device caveat."""
    cfg, dev = result["config"], result["device"]
    head = (
        f"Scaling of {cfg['model']} ({cfg['dtype']}) on {dev['device_kind']} "
        f"({dev['platform']}, {dev['device_count']} visible); weak: {cfg['per_device_batch']} "
        f"per device, strong: global {cfg['global_batch']}; jax {result['versions'].get('jax')}; "
        f"git {result['git_sha'][:12]}"
    )
    if result.get("caveat"):
        head += f"\n\n{result['caveat']}"
    return head + "\n\n" + common.markdown_table(result["rows"], COLUMNS)


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--dtype", default="float32", choices=list(common.PEAK_DTYPES))
    p.add_argument("--image_size", type=int, help="input side of the ImageNet models only")
    p.add_argument("--device_counts", default="1,2,4,8")
    p.add_argument("--per_device_batch", type=int, default=32, help="weak scaling")
    p.add_argument("--global_batch", type=int, default=256, help="strong scaling")
    p.add_argument("--modes", default="weak,strong")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--fake_cpu_devices", type=int, help="force N host devices (CPU harness)")
    p.add_argument("--out", type=pathlib.Path)
    args = p.parse_args(argv)
    args.device_counts = [int(n) for n in args.device_counts.split(",")]
    args.modes = [m.strip() for m in args.modes.split(",")]
    if any(n < 1 for n in args.device_counts) or not set(args.modes) <= {"weak", "strong"}:
        p.error("--device_counts must be positive integers and --modes weak and/or strong")
    if args.per_device_batch < 1 or args.global_batch < 1 or args.steps < 1:
        p.error("--per_device_batch, --global_batch and --steps must be >= 1")
    return args


def main(argv=None) -> dict:
    """Runs the weak and strong scaling sweeps; writes JSON + markdown; returns the result."""
    args = parse_args(argv)
    if args.fake_cpu_devices:
        force_cpu_devices(args.fake_cpu_devices)
    import jax

    from benchmarks import bench_step, throughput

    visible = len(jax.devices())
    counts = [n for n in args.device_counts if n <= visible]
    shape, classes = bench_step.input_spec(args.model, args.image_size)
    info = common.jax_device_info()
    fake = info["platform"] == "cpu" and visible > 1
    result = {
        "benchmark": "scaling",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": common.command_line(),
        "git_sha": common.git_sha(),
        "versions": common.package_versions(),
        "device": info,
        "config": {k: v for k, v in vars(args).items() if k != "out"}
        | {"image_shape": list(shape), "num_classes": classes},
        "skipped": [n for n in args.device_counts if n > visible],
        "caveat": "Fake CPU devices share the same cores: these numbers only prove the "
        "harness, they say nothing about scaling."
        if fake
        else "",
        "rows": [],
    }
    out = args.out or ROOT / "benchmarks" / "results" / (
        f"scaling-{args.model}-{common.today()}-{common.slug(info['device_kind'])}.json"
    )
    for mode in args.modes:
        for n in counts:
            batch = args.per_device_batch * n if mode == "weak" else args.global_batch
            row = {"mode": mode, "devices": n, "batch_size": batch}
            try:
                row.update(
                    throughput.jaxdl_row(
                        args.model, args.dtype, batch, shape, classes, args.steps, args.warmup,
                        devices=n,
                    )
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - e.g. a global batch not divisible by n
                row["error"] = common.error_text(exc)
            row["devices"] = n
            result["rows"].append(row)
            derive(result["rows"])
            common.write_results(out, result, table(result))
            done = row.get("error") or f"{row['images_per_s']:,.0f} images/s"
            print(f"{mode} n={n}: {done}", flush=True)
    print("\n" + table(result) + f"\n\nwritten: {out}", flush=True)
    return result


if __name__ == "__main__":
    main()
