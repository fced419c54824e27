"""``fit``: the one training loop every task uses through its step functions.

The loop only iterates: per step it dispatches one jitted ``train_step(state, batch)``
whose batch is gathered on device from the device-resident split (no host->device
copy, no host sync), or K of them in one ``lax.scan`` (``LoopOptions.steps_per_dispatch``);
every ``log_every_steps`` steps it fetches the metrics to the
host; at each evaluation (every ``eval_every_epochs`` and at the end) it evaluates the
``evals`` splits and saves a checkpoint. A run killed at any point and restarted with
the same workdir resumes from the last checkpoint and reaches exactly the parameters
of an uninterrupted run. Everything else (early stopping, restarts, the non-finite
guard, writers, console, pictures, the final test evaluation, your own actions) is a
hook: see ``jaxdl.training.hooks``.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding

from jaxdl.data.loader import StreamedSplit, epoch_permutation, steps_per_epoch, train_batch
from jaxdl.sharding import check_batch_size, replicated
from jaxdl.training.guards import DivergenceError
from jaxdl.training.hooks import default_hooks
from jaxdl.training.inference import as_split, evaluate, metric_names
from jaxdl.training.run import FitResult, Hook, LoopOptions, Run
from jaxdl.training.state import TrainState
from jaxdl.training.store import CheckpointOptions, open_store

__all__ = ["DivergenceError", "FitResult", "LoopOptions", "default_hooks", "fit"]


def fit(
    *,
    state: TrainState,
    train_step: Callable,
    train: Any,
    options: LoopOptions,
    eval_step: Callable | None = None,
    evals: Mapping[str, Any] | None = None,
    hooks: Sequence[Hook] | None = None,
    workdir: str | Path | None = None,
    checkpoints: CheckpointOptions | None = None,
    data_key: jax.Array | None = None,
    mesh: Mesh | None = None,
    epoch_order: Callable[[jax.Array, int], jax.Array] | None = None,
) -> FitResult:
    """Trains ``state`` with ``train_step`` over ``train``, evaluating ``evals``.

    With a ``workdir``, checkpoints go to ``workdir/checkpoints`` (and the default hooks
    write ``metrics.jsonl`` and ``tensorboard/`` there); when that folder already holds
    checkpoints, the run RESUMES from the newest one instead of starting from ``state``
    (``checkpoints.resume=False`` refuses such a workdir). Without a workdir nothing is
    written: the run stays in memory (the best state is kept as a device copy).

    ``state`` is not modified: the loop trains a copy (its first step donates the copy's
    buffers), so the caller's arrays stay valid; use ``result.state``.

    Args:
      state: initial (and possibly sharded) state.
      train_step: pure ``(state, batch) -> (state, metrics)``; metrics include ``loss``.
      train: the training split: a dict of equally long arrays, a ``DeviceSplit``, or a
        ``jaxdl.data.loader.StreamedSplit`` (e.g. ``jaxdl.data.imagenet.StreamSplit``,
        which orders its data itself).
      options: see ``LoopOptions``.
      eval_step: pure ``(state, batch) -> {name: Metric}`` (needed with ``evals``).
      evals: splits evaluated every ``eval_every_epochs``, e.g. ``{"val": ...}``.
      hooks: the run's hooks (``jaxdl.training.hooks``); None: ``default_hooks(workdir)``.
      workdir: run directory, or None for an in-memory run.
      checkpoints: retention, async writes and resume (default ``CheckpointOptions()``).
      data_key: PRNG key of the data order (epoch e uses ``fold_in(key, e)``); default
        ``PRNGKey(0)``.
      mesh: device mesh; batches are sharded on its ``'data'`` axis, and the state's
        leaves not on it are replicated over it (as ``jaxdl.sharding.replicated``).
      epoch_order: ``(data_key, epoch) -> int32 [>= steps * B]``, one epoch's example
        indices, batch i = entries ``[i B, (i + 1) B)`` (a curriculum); None: shuffled.

    Returns:
      A ``FitResult``.

    Raises:
      DivergenceError: from the ``NonFinite`` hook (the last checkpoint is intact).

    Example:
      >>> import optax
      >>> from jaxdl.models import create
      >>> from jaxdl.training import steps
      >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
      >>> data = {"image": x, "label": (x[:, 0] > 0).astype(np.int32)}
      >>> state = TrainState.create(model=create("mlp", num_classes=2, depth=1, width=8),
      ...     tx=optax.sgd(0.5), rng=jax.random.PRNGKey(0), example_input=x[:1])
      >>> train_step, eval_step = steps.classification_steps(lambda b, k, t: b)
      >>> result = fit(state=state, train_step=train_step, eval_step=eval_step, train=data,
      ...              evals={"val": data}, options=LoopOptions(batch_size=16, num_epochs=3),
      ...              hooks=[])
      >>> int(result.state.step), result.history[-1]["val_accuracy"] > 0.9
      (12, True)
    """
    opts, t_start = options, time.perf_counter()
    checkpoints = checkpoints or CheckpointOptions()
    workdir = None if workdir is None else Path(workdir)
    train = as_split(train, mesh)
    evals = {name: as_split(split, mesh) for name, split in (evals or {}).items()}
    if evals and eval_step is None:
        raise ValueError("fit was given evaluation splits but no eval_step to evaluate them.")
    hooks = sorted(default_hooks(workdir) if hooks is None else hooks, key=lambda h: h.order)
    names = [h.name for h in hooks if h.state_dict() is not None]
    if len(set(names)) != len(names):
        raise ValueError(f"Stateful hooks need distinct names (their checkpoint keys): {names}.")
    B, EB = opts.batch_size, opts.eval_batch_size or opts.batch_size
    if mesh is not None:
        check_batch_size(B, mesh)
        check_batch_size(EB, mesh)
    spe = steps_per_epoch(train.size, B)
    ranked = opts.best_metric if evals else None
    if ranked:  # before anything compiles: the evaluation's metric names, from shapes
        names = metric_names(state, eval_step, next(iter(evals.items())), EB, mesh)
        if names is not None and ranked not in names:
            raise ValueError(
                f"best_metric={ranked!r} is not among the evaluation's metrics {names}; "
                "pick one of them."
            )
    store = open_store(workdir, checkpoints, ranked, opts.best_mode)
    meta: dict[str, Any] = {"history": [], "stopped": False, "hooks": {}}
    restored = store.restore_latest(state)
    if restored is not None:
        state, saved = restored
        meta.update(saved)
        print(f"Resuming from checkpoint step {int(state.step)} in {workdir / 'checkpoints'}")
    else:  # the first step donates its input: train a copy, the caller's state stays valid
        state = jax.tree.map(lambda x: x.copy(), state)
    if mesh is not None:
        state = _on_mesh(state, mesh)

    def evaluate_fn(s, split, prefix):
        return evaluate(s, eval_step, split, EB, mesh, prefix)

    run = Run(
        state=state,
        step=int(state.step),
        steps_per_epoch=spe,
        total_steps=opts.num_epochs * spe,
        options=opts,
        workdir=workdir,
        hooks=hooks,
        history=meta["history"],
        evals=evals,
        evaluate_fn=evaluate_fn,
        store=store,
        stop=meta["stopped"],
    )
    for hook in hooks:
        if hook.name in meta["hooks"]:
            hook.load_state_dict(meta["hooks"][hook.name])
    first_step = run.step
    try:
        for hook in hooks:
            hook.on_start(run)
        _train(run, train_step, train, data_key, mesh, epoch_order, meta)
        run.finished = run.step >= run.total_steps or run.stop
    except BaseException as e:
        run.error = e
        raise
    finally:
        store.wait_until_finished()
        wall = time.perf_counter() - t_start
        best = run.best_state() if run.error is None else None
        for hook in hooks:
            hook.on_end(run)
        store.close()
    return FitResult(
        state=run.state,
        best_state=best,
        history=run.history,
        final_metrics=run.final_metrics,
        wall_time=wall,
        steps_per_second=(run.step - first_step) / wall if wall > 0 else 0.0,
        finished=run.finished,
        stop_reason=run.stop_reason,
        warnings=run.warnings,
    )


def _on_mesh(state: Any, mesh: Mesh) -> Any:
    """``state`` with every leaf not yet on ``mesh`` replicated over it; the others kept.

    The steps' outputs live on the mesh: a state placed elsewhere would make the first
    dispatch's program differ from the next ones', compiled twice.
    """

    def place(x):
        on = isinstance(x, jax.Array) and isinstance(x.sharding, NamedSharding)
        return x if on and x.sharding.mesh == mesh else jax.device_put(x, replicated(mesh))

    return jax.tree.map(place, state)


def _train(run: Run, train_step, train, data_key, mesh, epoch_order, meta) -> None:
    """The epochs: steps, log windows, evaluations and checkpoints (see ``fit``)."""
    opts, hooks, B, spe = run.options, run.hooks, run.options.batch_size, run.steps_per_epoch
    streamed = isinstance(train, StreamedSplit)
    if streamed and epoch_order is not None:
        raise ValueError(
            "epoch_order (e.g. a curriculum) needs a device-resident training split; a "
            "streamed split orders its data itself."
        )
    key = jax.random.PRNGKey(0) if data_key is None else data_key
    order = epoch_order or (lambda k, epoch: epoch_permutation(k, epoch, train.size))

    def one_step(s, arrays, perm, i):
        return train_step(s, train_batch(arrays, perm, i, B, mesh))

    def k_steps(s, arrays, perm, i):  # K steps in one dispatch: metrics stacked [K]
        return jax.lax.scan(lambda s, j: one_step(s, arrays, perm, j), s, i + jnp.arange(K))

    K = 1 if streamed else opts.steps_per_dispatch
    jit_step = jax.jit(train_step if streamed else one_step, donate_argnums=0)
    jit_k_steps = jax.jit(k_steps, donate_argnums=0)
    window: list[dict[str, jax.Array]] = []  # per dispatch: scalars, or [K] stacked
    t0 = time.perf_counter()

    def log():
        nonlocal window, t0
        if not window:
            return
        dt = time.perf_counter() - t0
        # One host fetch, then numpy: no eager device op between the queued steps.
        fetched = jax.device_get(window)
        values = jax.tree.map(lambda *xs: np.concatenate([np.atleast_1d(x) for x in xs]), *fetched)
        n = len(next(iter(values.values())))  # steps in the window
        skipped = values.pop("skipped", np.zeros(n, np.int32)).astype(bool)
        kept = ~skipped
        logs = {f"train_{k}": float(np.mean(v[kept])) if kept.any() else float("nan")
                for k, v in values.items()}  # fmt: skip
        logs["images_per_second"] = n * B / dt if dt > 0 else 0.0
        if skipped.any():
            logs["train_skipped_steps"] = int(skipped.sum())
        dispatches = [len(np.atleast_1d(next(iter(m.values())))) for m in fetched]
        run.window = {"values": values, "skipped": skipped, "first_step": run.step - n + 1,
                      "dispatches": dispatches}  # fmt: skip
        for hook in hooks:
            hook.on_log(run, logs)
        window, t0 = [], time.perf_counter()

    def fits(i: int) -> bool:
        """Whether K steps from epoch position ``i`` end by the epoch's end, the next log
        and ``max_steps`` (so that nothing they act on falls inside the K)."""
        step, last = run.step, run.step + K
        before_log = step // opts.log_every_steps == (last - 1) // opts.log_every_steps
        before_max = opts.max_steps is None or last <= opts.max_steps
        return K > 1 and i + K <= spe and before_log and before_max

    while run.step < run.total_steps and not run.stop and not run.pause_reason:
        epoch = run.step // spe
        if streamed:
            batches = train.batches(epoch, run.step % spe, B)
        else:
            perm = order(key, epoch)
            if mesh is not None:  # once per epoch, not an implicit copy at every dispatch
                perm = jax.device_put(perm, replicated(mesh))
        i = run.step % spe
        while i < spe:
            k = K if fits(i) else 1
            if streamed:
                run.state, metrics = jit_step(run.state, next(batches))
            else:
                step_fn = jit_k_steps if k > 1 else jit_step
                run.state, metrics = step_fn(run.state, train.arrays, perm, np.int32(i))
            window.append(metrics)
            run.step, i = run.step + k, i + k
            if run.step % opts.log_every_steps == 0:
                log()
            if opts.max_steps is not None and run.step >= opts.max_steps:
                run.pause_reason = run.pause_reason or f"max_steps={opts.max_steps} reached"
            if run.pause_reason:  # max_steps, or a signal: save here and return
                break
        log()
        epoch = run.step // spe
        if run.step % spe == 0 and (
            epoch % opts.eval_every_epochs == 0 or run.step == run.total_steps
        ):
            _evaluate_and_save(run, meta)
        elif run.pause_reason:  # paused mid-epoch: save where we are
            run.store.save(run.step, run.state, _meta(run, meta), None)


def _evaluate_and_save(run: Run, meta: dict[str, Any]) -> None:
    """One evaluation point: evaluate, let the hooks act, save the checkpoint."""
    for hook in run.hooks:
        hook.before_eval(run)
    record: dict[str, Any] = {"step": run.step, "epoch": run.epoch}
    for name, split in run.evals.items():
        record.update(run.evaluate(split, name))
    run.scores = None
    if run.store.best_metric:
        if run.store.best_metric not in record:
            raise ValueError(
                f"best_metric={run.store.best_metric!r} is not among the evaluation's metrics "
                f"{sorted(k for k in record if k not in ('step', 'epoch'))}; pick one of them."
            )
        run.scores = {k: v for k, v in record.items() if k != "step"}
    for hook in run.hooks:
        hook.on_eval(run, record)
    run.history.append(record)
    run.store.save(run.step, run.state, _meta(run, meta), run.scores)


def _meta(run: Run, meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON saved beside the state: history, stop flag, every hook's state."""
    meta["stopped"] = run.stop
    meta["hooks"] = {h.name: h.state_dict() for h in run.hooks if h.state_dict() is not None}
    return meta
