"""``fit``: the one training loop every task uses through its step functions.

Per step it dispatches one jitted call ``train_step(state, batch)`` whose batch is
gathered on device from the device-resident split (no host->device copy, no host
sync). Metrics stay on device and are fetched every ``log_every_steps``; that fetch
is also where divergence (NaN/inf loss) is detected. At each evaluation (every
``eval_every_epochs`` and at the end) the state is checkpointed, so a run killed
at any point and restarted with the same workdir resumes from the last checkpoint
and reaches exactly the parameters of an uninterrupted run.
"""

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from tqdm.auto import tqdm

from jaxdl.data.loader import (
    DeviceSplit,
    epoch_permutation,
    eval_batch,
    num_eval_batches,
    steps_per_epoch,
    train_batch,
)
from jaxdl.training.checkpoint import Checkpointer
from jaxdl.training.state import TrainState
from jaxdl.training.writers import MetricWriter, read_jsonl
from jaxdl.viz.plots import plot_curves


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """How ``fit`` iterates, logs, evaluates and checkpoints.

    Attributes:
      batch_size: global training batch size (a multiple of the device count).
      num_epochs: passes over the training split.
      eval_batch_size: evaluation batch size (default: ``batch_size``).
      log_every_steps: host fetch + log interval (the only host sync in the hot loop).
      eval_every_epochs: evaluation and checkpoint interval, in epochs.
      max_to_keep: most recent checkpoints kept (the best one is kept as well).
      best_metric: metric ranking checkpoints, e.g. ``'val_accuracy'`` (None: latest only).
      best_mode: ``'max'`` or ``'min'``.
      max_steps: stop (after checkpointing) once this many steps are done in total, e.g.
        to split a long run over time-limited jobs; None: run all epochs.
      progress: show a tqdm progress bar.
      async_checkpoints: write checkpoints in the background.
    """

    batch_size: int
    num_epochs: int
    eval_batch_size: int | None = None
    log_every_steps: int = 100
    eval_every_epochs: int = 1
    max_to_keep: int = 3
    best_metric: str | None = "val_accuracy"
    best_mode: str = "max"
    max_steps: int | None = None
    progress: bool = True
    async_checkpoints: bool = True

    def __post_init__(self):
        for name in ("batch_size", "num_epochs", "log_every_steps", "eval_every_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"LoopOptions.{name} must be >= 1, got {getattr(self, name)}.")


@dataclasses.dataclass
class FitResult:
    """What ``fit`` returns: the final state, per-evaluation history and the final metrics."""

    state: TrainState
    history: list[dict[str, Any]]
    final_metrics: dict[str, float]
    wall_time: float
    steps_per_second: float
    finished: bool


def evaluate(
    state: TrainState,
    eval_step: Callable,
    split: DeviceSplit,
    batch_size: int,
    mesh: Mesh | None,
    prefix: str,
) -> dict[str, float]:
    """Averages ``eval_step``'s sums over every example of ``split`` (one host fetch)."""
    fn = _eval_fn(eval_step, batch_size, split.size, mesh)
    totals = None
    for i in range(num_eval_batches(split.size, batch_size)):
        sums = fn(state, split.arrays, jnp.asarray(i, jnp.int32))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    totals = jax.device_get(totals)
    count = float(totals.pop("count"))
    return {f"{prefix}_{k}": float(v) / count for k, v in totals.items()}


@functools.lru_cache(maxsize=32)
def _eval_fn(eval_step, batch_size, size, mesh):
    def fn(state, arrays, i):
        return eval_step(state, eval_batch(arrays, i, batch_size, size, mesh))

    return jax.jit(fn)


def fit(
    *,
    state: TrainState,
    train_step: Callable,
    eval_step: Callable,
    train: DeviceSplit,
    evals: Mapping[str, DeviceSplit],
    final_evals: Mapping[str, DeviceSplit],
    options: LoopOptions,
    workdir: str | Path,
    data_key: jax.Array,
    mesh: Mesh | None = None,
    on_evaluation: Callable[[dict[str, Any]], bool] | None = None,
) -> FitResult:
    """Trains ``state`` with ``train_step`` over ``train``, resuming from ``workdir``.

    Args:
      state: freshly initialised (and sharded) state; replaced by the latest checkpoint
        in ``workdir/checkpoints`` when one exists.
      train_step: pure ``(state, batch) -> (state, metrics)``.
      eval_step: pure ``(state, batch) -> sums`` with a ``count`` entry (see steps.py).
      train: device-resident training split.
      evals: splits evaluated every ``eval_every_epochs`` (e.g. ``{"val": ...}``).
      final_evals: splits evaluated once at the end (e.g. ``{"test": ...}``).
      options: see ``LoopOptions``.
      workdir: run directory (checkpoints, metrics.jsonl, tensorboard, curves.png).
      data_key: PRNG key of the data order (permutation of epoch e uses fold_in(key, e)).
      mesh: device mesh; batches are sharded on its ``'data'`` axis.
      on_evaluation: optional callback given each evaluation record; returning True stops
        training (early stopping).

    Returns:
      A ``FitResult``.

    Raises:
      DivergenceError: the training loss became NaN/inf (the last checkpoint is intact).
    """
    workdir = Path(workdir)
    B = options.batch_size
    EB = options.eval_batch_size or B
    spe = steps_per_epoch(train.size, B)
    total_steps = options.num_epochs * spe
    ckpt = Checkpointer(
        workdir / "checkpoints",
        max_to_keep=options.max_to_keep,
        best_metric=options.best_metric if evals else None,
        best_mode=options.best_mode,
        async_save=options.async_checkpoints,
    )
    history: list[dict[str, Any]] = []
    restored = ckpt.restore_latest(state)
    if restored is not None:
        state, meta = restored
        history = meta.get("history", [])
        print(f"Resuming from checkpoint step {int(state.step)} in {workdir / 'checkpoints'}")
    step = int(state.step)
    writer = MetricWriter(workdir, resume_step=step)
    first_step = step

    def one_step(s, arrays, perm, i):
        return train_step(s, train_batch(arrays, perm, i, B, mesh))

    jit_step = jax.jit(one_step, donate_argnums=0)

    bar = tqdm(total=total_steps, initial=step, disable=not options.progress, unit="step")
    pending: list[dict[str, jax.Array]] = []
    t_window, n_window = time.perf_counter(), 0
    t_start = time.perf_counter()
    stop = False

    def flush():
        nonlocal pending, t_window, n_window
        if not pending:
            return
        stacked = jax.device_get(jax.tree.map(lambda *xs: jnp.stack(xs), *pending))
        means = {f"train_{k}": float(np.mean(v)) for k, v in stacked.items()}
        if not all(math.isfinite(v) for v in stacked["loss"].ravel()):
            bad = step - len(pending) + int(np.argmin(np.isfinite(stacked["loss"])))
            writer.write(step, means)
            writer.close()
            bar.close()
            ckpt.wait_until_finished()
            raise DivergenceError(
                f"Training loss became {stacked['loss'][bad - step + len(pending)]} at step "
                f"{bad + 1}. The last good checkpoint is step {ckpt.latest_step()} in "
                f"{workdir / 'checkpoints'} (untouched). Likely causes: a learning rate too "
                "high for this model/batch size, unnormalised inputs, or a loss without a "
                "stable log-softmax. Lower optimizer.learning_rate or add gradient clipping."
            )
        dt = time.perf_counter() - t_window
        means["images_per_second"] = n_window * B / dt if dt > 0 else 0.0
        writer.write(step, means)
        bar.set_postfix(
            loss=f"{means['train_loss']:.4f}",
            acc=f"{means.get('train_accuracy', float('nan')):.4f}",
            img_s=f"{means['images_per_second']:.0f}",
        )
        pending, t_window, n_window = [], time.perf_counter(), 0

    try:
        while step < total_steps and not stop:
            epoch = step // spe
            perm = epoch_permutation(data_key, epoch, train.size)
            for i in range(step % spe, spe):
                state, metrics = jit_step(state, train.arrays, perm, jnp.asarray(i, jnp.int32))
                pending.append(metrics)
                step += 1
                n_window += 1
                bar.update(1)
                if step % options.log_every_steps == 0:
                    flush()
                if options.max_steps is not None and step >= options.max_steps:
                    stop = True
                    break
            flush()
            epoch_done = step % spe == 0
            if epoch_done and (
                (step // spe) % options.eval_every_epochs == 0 or step == total_steps
            ):
                record = {"step": step, "epoch": step // spe}
                for name, split in evals.items():
                    record.update(evaluate(state, eval_step, split, EB, mesh, name))
                history.append(record)
                writer.write(step, {k: v for k, v in record.items() if k != "step"})
                scores = {k: v for k, v in record.items() if k != "step"} if evals else None
                ckpt.save(step, state, {"history": history}, scores)
                if on_evaluation is not None and on_evaluation(record):
                    stop = True
            elif stop:  # max_steps reached mid-epoch: save where we are
                ckpt.save(step, state, {"history": history}, None)
    finally:
        bar.close()
        ckpt.wait_until_finished()

    wall = time.perf_counter() - t_start
    final = {}
    finished = step >= total_steps or (stop and options.max_steps is None)
    if finished:
        for name, split in final_evals.items():
            final.update(evaluate(state, eval_step, split, EB, mesh, name))
        writer.write(step, final)
    writer.close()
    ckpt.close()
    plot_curves(read_jsonl(workdir / "metrics.jsonl"), workdir / "curves.png", title=workdir.name)
    return FitResult(
        state=state,
        history=history,
        final_metrics=final,
        wall_time=wall,
        steps_per_second=(step - first_step) / wall if wall > 0 else 0.0,
        finished=finished,
    )
