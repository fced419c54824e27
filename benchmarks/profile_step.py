"""Where one compiled train step spends its time: XLA ops grouped by kind, from a trace.

Runs the throughput benchmark's train step (``benchmarks.throughput``: synthetic data,
SGD momentum) a few times under ``jax.profiler.trace`` and reads the Perfetto trace
back: every executed XLA op (a fusion, a convolution, a library call) with its
duration, grouped by kind (the op name without its numeric suffix, e.g. all
``transpose_copy_fusion.N``). Shares are load-independent enough to find a hotspot
on a busy machine, where absolute times are not.

  python -m benchmarks.profile_step --model resnet20 --batch_size 128

Prints the kinds by share of the step and the top single ops; ``--hlo FILE`` also
writes the optimized HLO so an op can be looked up by name.
"""

import argparse
import collections
import glob
import gzip
import json
import re
import tempfile
import warnings


def op_times(trace_file: str, steps: int) -> dict[str, float]:
    """Milliseconds per step of every XLA op in a Perfetto trace (host events dropped)."""
    with gzip.open(trace_file) as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    out: collections.Counter = collections.Counter()
    for e in events:
        name = e.get("name", "")
        if e.get("ph") == "X" and not name.startswith(("$", "ThunkExecutor")):
            out[name] += e.get("dur", 0) / 1000 / steps
    return dict(out)


def by_kind(times: dict[str, float]) -> dict[str, float]:
    """Sums ``times`` over op names that differ only by their numeric suffix."""
    out: collections.Counter = collections.Counter()
    for name, ms in times.items():
        out[re.sub(r"[.\d]+$", "", name)] += ms
    return dict(out)


def profile(model: str, batch_size: int, steps: int, hlo: str | None = None) -> tuple[dict, float]:
    """``({op name: ms per step}, wall ms per step)`` of ``model``'s train step.

    The op times come from ``steps`` traced steps; the wall time is the median of
    ``steps`` untraced steps, each synchronised: their difference is time the trace
    shows no op for (runtime, allocation, idle threads).
    """
    import time

    import jax
    import jax.numpy as jnp

    from benchmarks.bench_step import input_spec, synthetic_inputs, synthetic_train_step

    warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
    image_shape, classes = input_spec(model, None)
    state, batch = synthetic_inputs(model, "float32", batch_size, image_shape, classes)
    step = jax.jit(synthetic_train_step(jnp.float32), donate_argnums=0)
    compiled = step.lower(state, batch).compile()
    if hlo:
        with open(hlo, "w") as f:
            f.write(compiled.as_text())
    for _ in range(2):  # warm-up
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    walls = []
    for _ in range(steps):
        t0 = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        walls.append(1e3 * (time.perf_counter() - t0))
    wall = sorted(walls)[len(walls) // 2]
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            for _ in range(steps):
                state, metrics = compiled(state, batch)
            jax.block_until_ready(metrics)
        (trace,) = glob.glob(f"{tmp}/**/perfetto_trace.json.gz", recursive=True)
        return op_times(trace, steps), wall


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--hlo", default=None, help="write the optimized HLO here")
    args = p.parse_args(argv)
    times, wall = profile(args.model, args.batch_size, args.steps, args.hlo)
    total = sum(times.values())
    print(
        f"{args.model}, batch {args.batch_size}: {total:.1f} ms of XLA ops per step "
        f"({wall:.1f} ms wall, median of {args.steps} untraced steps)"
    )
    for title, table in (("by kind", by_kind(times)), ("single ops", times)):
        print(f"-- {title}")
        for name, ms in sorted(table.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"{ms:9.1f} ms {100 * ms / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
