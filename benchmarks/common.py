"""Shared pieces of the benchmark suites: environment, timing, peak FLOP/s, output.

Every suite reports the same header (device kind and count, package versions, git
SHA, config), times steps the same way (median of per-step wall times, each step
ended by a device sync) and writes one JSON file plus a markdown table next to it,
rewritten after every row so that a run cut short still leaves its results.

Nothing here imports jax or torch at module level: the throughput orchestrator runs
every measurement in a worker process (benchmarks/workers.py) and must not touch the
accelerator itself.

Peak FLOP/s is measured, not looked up: the best of a few timed ``n x n @ n x n``
matmuls (``2 n^3`` FLOPs) per dtype with JAX's default precision, the same precision
the models' convolutions and dense layers get (TF32 for float32 on NVIDIA Ampere and
later). MFU = (FLOPs per step from XLA's cost analysis) / (median step time) / peak.

References:
  Chowdhery et al. PaLM: Scaling language modeling with pathways. arXiv:2204.02311,
  2022 (appendix B: model FLOPs utilization).
"""

import datetime
import importlib.metadata
import json
import math
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Distributions whose versions every result file records (absent ones are skipped).
BASE_PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")
PEER_PACKAGES = ("torch", "torchvision")
PEAK_DTYPES = ("float32", "bfloat16")


def git_sha(root: pathlib.Path = ROOT) -> str:
    """Commit of the working tree, ``-dirty`` appended when tracked files changed.

    ``$JAXDL_GIT_SHA`` wins when set (a copy of the tree without ``.git``, e.g. on a
    lent GPU machine).

    Example:
      >>> git_sha()  # e.g. 'e3436b9...-dirty', or 'unknown' outside a git checkout
    """
    if os.environ.get("JAXDL_GIT_SHA"):
        return os.environ["JAXDL_GIT_SHA"]
    try:

        def git(*args):
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
            )
            return out.stdout.strip()

        sha = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def package_versions(names: Sequence[str] = BASE_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None when absent), plus any ``jax-cuda*`` plugins.

    Read from package metadata, so nothing is imported (a broken torchvision still
    reports its version).
    """
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith(("jax-cuda", "jax_cuda", "jax-rocm", "libtpu")):
            versions[name] = dist.version
    versions["python"] = platform.python_version()
    return versions


def jax_device_info(devices: Sequence[Any] | None = None) -> dict[str, Any]:
    """Kind, platform and counts of the JAX devices a benchmark runs on."""
    import jax

    devices = list(jax.devices() if devices is None else devices)
    return {
        "device_kind": devices[0].device_kind,
        "platform": devices[0].platform,
        "device_count": len(devices),
        "global_device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "default_matmul_precision": jax.config.jax_default_matmul_precision,
    }


def time_steps(
    step: Callable[[], Any],
    sync: Callable[[Any], Any],
    steps: int,
    warmup: int,
    sync_every: int = 1,
) -> tuple[list[float], float]:
    """Seconds per step of ``step()``, measured in windows of ``sync_every`` steps.

    ``warmup`` untimed steps run first (each synced). Then ``ceil(steps / sync_every)``
    windows of ``sync_every`` steps are timed, each closed by ``sync(last output)``;
    a window's time divided by ``sync_every`` is one sample. ``sync_every=1`` gives
    true per-step times (the host waits for every step, as a loop that reads metrics
    each step would); larger values let the device queue steps back to back.

    Args:
      step: runs one training step, returns something ``sync`` can wait on.
      sync: blocks until the device finished the work behind its argument.
      steps: timed steps (>= 1).
      warmup: untimed steps before timing (>= 0).
      sync_every: steps per timed window (>= 1).

    Returns:
      ``(samples, first_step_s)``: per-step seconds of each window, and the wall time of
      the very first call (compilation for lazily compiled steps, e.g. torch.compile).

    Example:
      >>> samples, first = time_steps(lambda: f(x), lambda y: y.block_until_ready(), 20, 3)
    """
    if steps < 1 or warmup < 0 or sync_every < 1:
        raise ValueError(
            f"need steps >= 1, warmup >= 0, sync_every >= 1; got {steps}, {warmup}, {sync_every}."
        )
    t0 = time.perf_counter()
    sync(step())
    first_step_s = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        sync(step())
    samples = []
    for _ in range(math.ceil(steps / sync_every)):
        t0 = time.perf_counter()
        for _ in range(sync_every):
            out = step()
        sync(out)
        samples.append((time.perf_counter() - t0) / sync_every)
    return samples, first_step_s


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, min, mean and relative spread (stdev / mean) of step-time samples."""
    mean = statistics.fmean(samples)
    stdev = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "mean_s": mean,
        "rel_stdev": stdev / mean if mean > 0 else 0.0,
        "samples": len(samples),
    }


def default_matmul_size(platform_name: str) -> int:
    """Matmul side for the peak measurement: large enough to saturate the chip."""
    return 1024 if platform_name == "cpu" else 8192


def measure_peak_flops(
    dtype: str, n: int, reps: int = 10, device: Any = None
) -> dict[str, float | int | str]:
    """Best FLOP/s of a jitted ``[n, n] @ [n, n]`` matmul in ``dtype`` on one device.

    Args:
      dtype: ``'float32'`` or ``'bfloat16'`` (inputs and output).
      n: matrix side; ``2 n^3`` FLOPs per call.
      reps: timed calls after a warm-up; the fastest one counts (peak, not typical).
      device: JAX device (default: the first one).

    Returns:
      ``{'dtype', 'n', 'flops_per_s', 'best_s'}``.

    Example:
      >>> measure_peak_flops("bfloat16", 8192)["flops_per_s"]  # ~7e14 on an H100
    """
    import jax
    import jax.numpy as jnp

    device = jax.devices()[0] if device is None else device
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.device_put(jax.random.normal(ka, (n, n), jnp.float32).astype(dtype), device)
    b = jax.device_put(jax.random.normal(kb, (n, n), jnp.float32).astype(dtype), device)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()  # compile + warm the kernels
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return {"dtype": dtype, "n": n, "flops_per_s": 2.0 * n**3 / best, "best_s": best}


def measure_peaks(n: int | None = None, device_count: int = 0) -> dict[str, Any]:
    """Device description and peak matmul FLOP/s of one device in float32 and bfloat16.

    Args:
      n: matmul side (None: ``default_matmul_size`` of the platform).
      device_count: describe the first ``device_count`` devices (0: all).

    Returns:
      ``{'device': jax_device_info(...), 'peak_flops': {dtype: measure_peak_flops(...)}}``;
      a dtype whose measurement failed has ``flops_per_s: None`` and an ``error``.
    """
    import jax

    devices = jax.devices()[:device_count] if device_count else jax.devices()
    info = jax_device_info(devices)
    n = n or default_matmul_size(info["platform"])
    reps = 3 if info["platform"] == "cpu" else 10
    peaks = {}
    for dtype in PEAK_DTYPES:
        try:
            peaks[dtype] = measure_peak_flops(dtype, n, reps, devices[0])
        except Exception as exc:  # noqa: BLE001 - MFU becomes null, the suite goes on
            peaks[dtype] = {"dtype": dtype, "n": n, "flops_per_s": None, "error": error_text(exc)}
    return {"device": info, "peak_flops": peaks}


def xla_flops(fn: Any, *args: Any, num_devices: int = 1) -> float | None:
    """Model FLOPs of one call of ``fn(*args)``, per device, from XLA's cost analysis.

    The program is lowered FOR THE CPU from abstract (shape/dtype only) arguments, so
    the count is the program's, whatever device runs it: on a GPU, the compiled
    module's cost analysis misses convolutions (they become cuDNN custom calls; it
    under-read ResNet-50 about 30-fold on an H100) and jax 0.11's GPU ``Lowered``
    reports none. The global count is divided by ``num_devices`` (data parallelism).

    Example:
      >>> xla_flops(jnp.matmul, jnp.ones((64, 256)), jnp.ones((256, 128)))  # 4194304.0
    """
    import jax

    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), args)
    try:
        lowered = jax.jit(fn).trace(*abstract).lower(lowering_platforms=("cpu",))
        analysis = lowered.cost_analysis()
    except Exception:  # an older jax without trace()/lowering_platforms
        return None
    if isinstance(analysis, list | tuple):  # older jax: one dict per program
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"]) / num_devices


def xla_memory_bytes(compiled: Any) -> int | None:
    """Device bytes XLA assigned to one call (arguments + outputs + temporaries - aliased)."""
    try:
        m = compiled.memory_analysis()
    except Exception:
        return None
    if m is None:
        return None
    return int(
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )


def jax_peak_memory(device: Any) -> int | None:
    """Peak bytes in use on ``device`` since the process started (None where unsupported)."""
    try:
        stats = device.memory_stats()
    except Exception:
        return None
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return int(stats["peak_bytes_in_use"])


def error_text(exc: BaseException, limit: int = 1500) -> str:
    """One-line ``Type: message`` of an exception, cut to ``limit`` characters."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def slug(text: str) -> str:
    """File-name-safe lowercase ``text``: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def today() -> str:
    """UTC date as YYYY-MM-DD (result file names)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "ms":
        return f"{value * 1e3:.2f}"
    if kind == "s":
        return f"{value:.1f}"
    if kind == "s3":
        return f"{value:.3f}"
    if kind == "rate":
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "pct2":
        return f"{100 * value:.2f}%"
    if kind == "ratio":
        return f"{value:.2f}x"
    if kind == "gib":
        return f"{value / 2**30:.2f}"
    if kind == "shape":
        return "x".join(str(v) for v in value)
    return str(value)


def markdown_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """A GitHub markdown table of ``rows``.

    Args:
      rows: dicts of values.
      columns: ``(header, key, kind)`` with kind one of 'str', 'int', 'ms', 's', 's3',
        'rate', 'pct', 'pct2', 'ratio', 'gib', 'shape'; missing or None values print as '-'.

    Returns:
      The table as text (header, separator, one line per row).
    """
    lines = [
        "| " + " | ".join(h for h, _, _ in columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
    ]
    for row in rows:
        cells = [_fmt(row.get(key), kind).replace("|", "/") for _, key, kind in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_text_atomic(path: pathlib.Path, text: str) -> None:
    """Writes ``text`` to ``path`` via a temporary file, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_results(path: pathlib.Path, result: dict, table: str) -> None:
    """Writes ``result`` as JSON at ``path`` and ``table`` as markdown beside it (``.md``)."""
    write_text_atomic(path, json.dumps(result, indent=2, default=str) + "\n")
    write_text_atomic(path.with_suffix(".md"), table + "\n")


def command_line() -> str:
    """The command line this process was started with (recorded in result files)."""
    return " ".join([pathlib.Path(sys.executable).name, *sys.argv])


def process_age_s() -> float | None:
    """Seconds since this process started (Linux ``/proc``, 10 ms ticks); None elsewhere.

    Counts interpreter start-up and imports, which a timer started in ``main`` misses:
    the time-to-accuracy suite reports both sides' times to the target this way.
    """
    try:
        with open("/proc/self/stat") as f:  # field 22: start time, clock ticks after boot
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
