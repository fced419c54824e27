"""``fit``: the one training loop every task uses through its step functions.

Per step it dispatches one jitted call ``train_step(state, batch)`` whose batch is
gathered on device from the device-resident split (no host->device copy, no host
sync). Metrics stay on device and are fetched every ``log_every_steps``; that fetch
is also where divergence (NaN/inf loss) is detected. At each evaluation (every
``eval_every_epochs`` and at the end) the state is checkpointed, so a run killed
at any point and restarted with the same workdir resumes from the last checkpoint
and reaches exactly the parameters of an uninterrupted run.

Early stopping and restart-from-best act at evaluations (``LoopOptions``); their
state is checkpointed with the run, so they too survive a restart.
"""

import dataclasses
import functools
import os
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
from jaxdl.training.early_stopping import EarlyStopping
from jaxdl.training.guards import FINITE_KEYS
from jaxdl.training.restarts import early_stop_or_restart
from jaxdl.training.state import TrainState
from jaxdl.training.writers import MetricWriter, read_jsonl
from jaxdl.viz.plots import plot_curves


def _mark(phase: str, step: int) -> None:
    """Records the loop's phase in $JAXDL_PHASE_FILE, if set (fault-injection tests read it)."""
    path = os.environ.get("JAXDL_PHASE_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{phase} {step}\n")


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
      early_stopping: stop when its monitored metric stalls for ``patience``
        evaluations; its ``monitor`` must be ``best_metric`` (the best checkpoint is
        the early-stopping optimum).
      restart_patience: after this many evaluations without improvement, go back to
        the best checkpoint (weights AND optimizer state) and multiply the learning
        rate by ``restart_decay`` (needs ``early_stopping`` for the bookkeeping and an
        optimizer wrapped by ``restarts.with_restarts``); 0 disables restarts.
      max_restarts: bound on the number of restarts.
      restart_decay: learning-rate factor applied at each restart.
      final_from_best: evaluate ``final_evals`` with the best checkpoint's weights
        instead of the last ones (the course's "keep the best weights").
      max_skipped_steps: with a ``guards.skip_nonfinite`` train step, how many skipped
        (NaN/inf) updates are tolerated in total before the run stops.
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
    early_stopping: EarlyStopping | None = None
    restart_patience: int = 0
    max_restarts: int = 0
    restart_decay: float = 0.5
    final_from_best: bool = False
    max_skipped_steps: int = 0

    def __post_init__(self):
        for name in ("batch_size", "num_epochs", "log_every_steps", "eval_every_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"LoopOptions.{name} must be >= 1, got {getattr(self, name)}.")
        es = self.early_stopping
        if es is not None:
            es.validate()
            if (es.monitor, es.mode) != (self.best_metric, self.best_mode):
                raise ValueError(
                    f"early_stopping monitors {es.monitor!r} ({es.mode}) but checkpoints are "
                    f"ranked by {self.best_metric!r} ({self.best_mode}); set best_metric and "
                    "best_mode to the monitored metric so the best weights are kept."
                )
        if self.restart_patience and es is None:
            raise ValueError("restart_patience needs early_stopping (it tracks the best step).")
        if not 0 < self.restart_decay <= 1:
            raise ValueError(f"restart_decay must be in (0, 1], got {self.restart_decay}.")


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
    """Averages ``eval_step``'s sums over every example of ``split`` (one host fetch).

    ``eval_step`` returns sums over the real examples of a batch plus their ``count``;
    each metric is its total divided by the total count.
    """
    if hasattr(split, "eval_batches"):  # streamed (jaxdl.data.imagenet.StreamSplit)
        fn = _eval_fn(eval_step, None, None, None)
        all_sums = (fn(state, batch) for batch in split.eval_batches(batch_size))
    else:
        fn = _eval_fn(eval_step, batch_size, split.size, mesh)
        batches = range(num_eval_batches(split.size, batch_size))
        all_sums = (fn(state, split.arrays, jnp.asarray(i, jnp.int32)) for i in batches)
    totals = None
    for sums in all_sums:
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    totals = jax.device_get(totals)
    count = float(totals.pop("count"))
    return {f"{prefix}_{k}": float(v) / count for k, v in totals.items()}


@functools.lru_cache(maxsize=32)
def _eval_fn(eval_step, batch_size, size, mesh):
    if size is None:  # streamed batches arrive ready, on the mesh
        return jax.jit(eval_step)

    def fn(state, arrays, i):
        return eval_step(state, eval_batch(arrays, i, batch_size, size, mesh))

    return jax.jit(fn)


class _Progress:
    """Host-side bookkeeping of the metrics window between two fetches."""

    def __init__(self, writer: MetricWriter, bar, batch_size: int):
        self.writer, self.bar, self.batch_size = writer, bar, batch_size
        self.pending: list[dict[str, jax.Array]] = []
        self.t0 = time.perf_counter()

    def add(self, metrics: dict[str, jax.Array]) -> None:
        self.pending.append(metrics)
        self.bar.update(1)

    def flush(self, step: int) -> tuple[int | None, int]:
        """Writes the window's means.

        Returns:
          ``(first_bad_step, skipped)``: the first step whose loss or gradient norm was not
          finite and was not skipped by a guard (None if none), and how many were skipped.
        """
        if not self.pending:
            return None, 0
        n = len(self.pending)
        stacked = jax.device_get(jax.tree.map(lambda *xs: jnp.stack(xs), *self.pending))
        skipped = stacked.pop("skipped", np.zeros(n, np.int32)).astype(bool)
        finite = np.ones(n, bool)
        for k in FINITE_KEYS:
            if k in stacked:
                finite &= np.isfinite(stacked[k])
        means = {f"train_{k}": float(np.mean(v[~skipped])) for k, v in stacked.items()}
        dt = time.perf_counter() - self.t0
        means["images_per_second"] = n * self.batch_size / dt if dt > 0 else 0.0
        if skipped.any():
            means["train_skipped_steps"] = int(skipped.sum())
        self.writer.write(step, means)
        self.pending, self.t0 = [], time.perf_counter()
        bad = ~finite & ~skipped
        if bad.any():
            return step - n + int(np.argmax(bad)) + 1, int(skipped.sum())
        self.bar.set_postfix(
            loss=f"{means.get('train_loss', float('nan')):.4f}",
            acc=f"{means.get('train_accuracy', float('nan')):.4f}",
            img_s=f"{means['images_per_second']:.0f}",
        )
        return None, int(skipped.sum())


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
    epoch_order: Callable[[jax.Array, int], jax.Array] | None = None,
) -> FitResult:
    """Trains ``state`` with ``train_step`` over ``train``, resuming from ``workdir``.

    Args:
      state: freshly initialised (and sharded) state; replaced by the latest checkpoint
        in ``workdir/checkpoints`` when one exists.
      train_step: pure ``(state, batch) -> (state, metrics)``; metrics include ``loss``.
      eval_step: pure ``(state, batch) -> sums`` with a ``count`` entry (see steps.py).
      train: device-resident training split, or a streamed one (``size`` and
        ``batches(epoch, start, batch_size)``, e.g. ``jaxdl.data.imagenet.StreamSplit``;
        its own seed orders the data, ``data_key`` is unused); evaluation splits may be
        streamed likewise (``eval_batches(batch_size)``).
      evals: splits evaluated every ``eval_every_epochs`` (e.g. ``{"val": ...}``).
      final_evals: splits evaluated once at the end (e.g. ``{"test": ...}``).
      options: see ``LoopOptions``.
      workdir: run directory (checkpoints, metrics.jsonl, tensorboard, curves.png).
      data_key: PRNG key of the data order (permutation of epoch e uses fold_in(key, e)).
      mesh: device mesh; batches are sharded on its ``'data'`` axis.
      epoch_order: ``(data_key, epoch) -> int32 [>= steps * B]``, one epoch's example
        indices, batch i = entries ``[i B, (i + 1) B)`` (a curriculum); None: shuffled.

    Returns:
      A ``FitResult``.

    Raises:
      DivergenceError: the training loss became NaN/inf (the last checkpoint is intact).

    Example:
      >>> result = fit(state=state, train_step=ts, eval_step=es, train=train,
      ...              evals={"val": val}, final_evals={"test": test},
      ...              options=LoopOptions(batch_size=128, num_epochs=10),
      ...              workdir="runs/x", data_key=jax.random.PRNGKey(1), mesh=mesh)
    """
    workdir = Path(workdir)
    opts = options
    B, EB = opts.batch_size, opts.eval_batch_size or opts.batch_size
    spe = steps_per_epoch(train.size, B)
    total_steps = opts.num_epochs * spe
    ckpt = Checkpointer(
        workdir / "checkpoints",
        max_to_keep=opts.max_to_keep,
        best_metric=opts.best_metric if evals else None,
        best_mode=opts.best_mode,
        async_save=opts.async_checkpoints,
    )
    es = opts.early_stopping
    meta: dict[str, Any] = {"history": [], "stopped": False, "restarts": 0}
    if es is not None:
        meta["early_stopping"] = es.init().to_dict()
    # Structure + shardings only: the live buffers are donated to the first step.
    template = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state
    )
    restored = ckpt.restore_latest(state)
    if restored is not None:
        state, saved = restored
        meta.update(saved)
        print(f"Resuming from checkpoint step {int(state.step)} in {workdir / 'checkpoints'}")
    step = first_step = int(state.step)
    writer = MetricWriter(workdir, resume_step=step)

    def one_step(s, arrays, perm, i):
        return train_step(s, train_batch(arrays, perm, i, B, mesh))

    streamed = hasattr(train, "batches")
    if streamed and epoch_order is not None:
        raise ValueError(
            "epoch_order (e.g. a curriculum) needs a device-resident training split; a "
            "streamed split orders its data itself."
        )
    order = epoch_order or (lambda key, epoch: epoch_permutation(key, epoch, train.size))
    jit_step = jax.jit(train_step if streamed else one_step, donate_argnums=0)
    bar = tqdm(total=total_steps, initial=step, disable=not opts.progress, unit="step")
    progress = _Progress(writer, bar, B)
    t_start = time.perf_counter()
    stop = meta["stopped"]

    def check(step):
        bad, skipped = progress.flush(step)
        meta["skipped_steps"] = meta.get("skipped_steps", 0) + skipped
        where = (
            f"The last good checkpoint is step {ckpt.latest_step()} in {workdir / 'checkpoints'}"
        )
        if bad is not None:
            raise DivergenceError(
                f"Training loss or gradient norm became NaN/inf at step {bad}. {where} "
                "(untouched). Likely causes: a learning rate too high for this model/batch "
                "size, unnormalised inputs, or a loss without a stable log-softmax. Lower "
                "optimizer.learning_rate, add gradient clipping (optimizer.clip), or skip such "
                "steps (train.on_nonfinite='skip')."
            )
        if meta["skipped_steps"] > opts.max_skipped_steps:
            raise DivergenceError(
                f"{meta['skipped_steps']} updates were skipped for NaN/inf (more than "
                f"max_skipped_steps={opts.max_skipped_steps}) by step {step}. {where}. "
                "The run is diverging: lower optimizer.learning_rate or add clipping."
            )

    try:
        while step < total_steps and not stop:
            _mark("train", step)
            if streamed:
                batches = train.batches(step // spe, step % spe, B)
            else:
                perm = order(data_key, step // spe)
            for i in range(step % spe, spe):
                if streamed:
                    state, metrics = jit_step(state, next(batches))
                else:
                    state, metrics = jit_step(state, train.arrays, perm, jnp.asarray(i, jnp.int32))
                progress.add(metrics)
                step += 1
                if step % opts.log_every_steps == 0:
                    check(step)
                if opts.max_steps is not None and step >= opts.max_steps:
                    stop = True
                    break
            check(step)
            epoch = step // spe
            if step % spe == 0 and (epoch % opts.eval_every_epochs == 0 or step == total_steps):
                _mark("eval", step)
                record = {"step": step, "epoch": epoch}
                for name, split in evals.items():
                    record.update(evaluate(state, eval_step, split, EB, mesh, name))
                scores = {k: v for k, v in record.items() if k != "step"} if evals else None
                if es is not None:
                    state, scores, stop = early_stop_or_restart(
                        state, template, record, meta, ckpt, opts
                    )
                meta["history"].append(record)
                meta["stopped"] = stop and opts.max_steps is None
                writer.write(step, {k: v for k, v in record.items() if k != "step"})
                _mark("checkpoint", step)
                ckpt.save(step, state, meta, scores)
            elif stop:  # max_steps reached mid-epoch: save where we are
                ckpt.save(step, state, meta, None)
    finally:
        bar.close()
        ckpt.wait_until_finished()

    _mark("final", step)
    wall = time.perf_counter() - t_start
    finished = step >= total_steps or meta["stopped"]
    final: dict[str, float] = {}
    if finished and final_evals:
        evaluated = state
        best = ckpt.best_step()
        if opts.final_from_best and best is not None and best != step:
            evaluated, _ = ckpt.restore(template, best)
            final["best_step"] = best
        for name, split in final_evals.items():
            final.update(evaluate(evaluated, eval_step, split, EB, mesh, name))
        writer.write(step, final)
    writer.close()
    ckpt.close()
    plot_curves(read_jsonl(workdir / "metrics.jsonl"), workdir / "curves.png", title=workdir.name)
    return FitResult(
        state=state,
        history=meta["history"],
        final_metrics=final,
        wall_time=wall,
        steps_per_second=(step - first_step) / wall if wall > 0 else 0.0,
        finished=finished,
    )
