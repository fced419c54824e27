"""Orbax checkpoints: async, atomic, keep the last k plus the best by a metric.

What is saved, per checkpoint step: the whole train state pytree (step, params,
model state such as BN statistics, optimizer state, RNG key) and a JSON ``meta``
dict written by the loop (epoch, metric history, early-stopping state). The data
position needs no saving: it is a function of the step (see ``jaxdl.data.loader``).

Orbax writes each checkpoint to a temporary directory and renames it when complete,
so a process killed mid-write never leaves a checkpoint that is picked up. Each
checkpoint's meta also records a SHA-256 digest of the saved state, recomputed at
restore: a checkpoint that cannot be read (truncated file) or whose bytes changed
(flipped bit) is skipped with a warning naming its step, and the previous one is used.

References:
  Orbax CheckpointManager documentation (orbax-checkpoint >= 0.11).
"""

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from jaxdl.training.state import TrainState

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CheckpointOptions:
    """How ``fit`` keeps the checkpoints of a run with a workdir.

    Attributes:
      max_to_keep: most recent checkpoints kept (the best one is kept as well).
      async_save: write checkpoints in a background thread while training continues.
      resume: continue from the newest checkpoint of the workdir; False refuses a
        workdir that already holds checkpoints (rather than silently training over
        them, or returning them as if they were this run's).
    """

    max_to_keep: int = 3
    async_save: bool = True
    resume: bool = True


class CheckpointError(RuntimeError):
    """Raised when checkpoints exist but none of them can be restored."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's content does not match the digest recorded when it was saved."""


def tree_digest(tree: Any) -> str | None:
    """SHA-256 over every leaf's path, dtype, shape and bytes (None if not addressable here).

    Example:
      >>> a, b = tree_digest({"w": np.zeros(3)}), tree_digest({"w": np.zeros(3)})
      >>> len(a), a == b, a == tree_digest({"w": np.ones(3)})
      (64, True, False)
    """
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return None  # multi-host sharded state: Orbax's own checks only
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)  # typed keys have no buffer of their own
        arr = np.asarray(leaf)
        h.update(f"{jax.tree_util.keystr(path)}|{arr.dtype}|{arr.shape}|".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _abstract(tree: Any) -> Any:
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
        tree,
    )


class Checkpointer:
    """Saves and restores ``TrainState`` + JSON metadata in ``directory``.

    Args:
      directory: where step folders are written (created if missing).
      max_to_keep: how many of the most recent checkpoints to keep.
      best_metric: name of a metric passed to ``save``; the best checkpoint by it is
        kept as well (``None``: only the most recent ones).
      best_mode: ``'max'`` or ``'min'``.
      async_save: write in a background thread while training continues.

    Example:
      >>> import tempfile
      >>> from jaxdl.models import create
      >>> state = TrainState.create(model=create("mlp", num_classes=2, depth=1, width=4),
      ...     tx=optax.sgd(0.1), rng=jax.random.PRNGKey(0), example_input=np.zeros((1, 3)))
      >>> ckpt = Checkpointer(Path(tempfile.mkdtemp()) / "checkpoints",
      ...                     best_metric="val_accuracy", async_save=False)
      >>> ckpt.save(7, state, meta={"epoch": 1}, metrics={"val_accuracy": 0.98})
      >>> restored, meta = ckpt.restore_latest(state)
      >>> int(restored.step), meta["epoch"], ckpt.best_step()
      (0, 1, 7)
      >>> ckpt.close()
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        max_to_keep: int = 3,
        best_metric: str | None = None,
        best_mode: str = "max",
        async_save: bool = True,
    ):
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}.")
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}.")
        self.best_metric = best_metric
        policies = [ocp.checkpoint_managers.LatestN(n=max_to_keep)]
        if best_metric is not None:
            policies.append(
                ocp.checkpoint_managers.BestN(
                    get_metric_fn=lambda m: m[best_metric],
                    reverse=best_mode == "min",
                    n=1,
                    keep_checkpoints_without_metrics=False,
                )
            )
        options = ocp.CheckpointManagerOptions(
            best_fn=(lambda m: m[best_metric]) if best_metric else None,
            best_mode=best_mode,
            preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True,
        )
        self._manager = ocp.CheckpointManager(
            Path(directory).absolute(), options=options, item_names=("state", "meta")
        )

    def all_steps(self) -> list[int]:
        """Steps of every complete checkpoint, ascending."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The most recent complete checkpoint's step, or None."""
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        """The best checkpoint's step by ``best_metric`` (latest if no metric), or None."""
        return self._manager.best_step()

    def save(
        self,
        step: int,
        state: TrainState,
        meta: dict[str, Any],
        metrics: dict[str, float] | None = None,
    ) -> None:
        """Starts writing checkpoint ``step`` (returns before it is on disk when async).

        ``metrics`` (e.g. validation scores) rank it for ``best_metric``; a checkpoint
        saved without them is kept only while it is among the most recent ones.
        """
        state_dict = serialization.to_state_dict(state)
        meta = {**meta, "state_sha256": tree_digest(state_dict)}
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state_dict),
                meta=ocp.args.JsonSave(meta),
            ),
            metrics=metrics,
        )

    def restore(self, target: TrainState, step: int) -> tuple[TrainState, dict[str, Any]]:
        """Restores checkpoint ``step`` into the structure and shardings of ``target``.

        Raises:
          CorruptCheckpointError: the content differs from the digest saved with it.
        """
        abstract = _abstract(serialization.to_state_dict(target))
        saved, meta = self._restore(step, ocp.args.StandardRestore(abstract))
        state = serialization.from_state_dict(target, saved)
        return state, meta

    def restore_raw(self, step: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Checkpoint ``step`` as saved (nested dicts of numpy arrays), without a target.

        For reading another run's variables (transfer learning) whose optimizer and
        shapes this process does not rebuild.

        Raises:
          CorruptCheckpointError: the content differs from the digest saved with it.
        """
        state, meta = self._restore(step, ocp.args.StandardRestore())
        return jax.tree.map(np.asarray, state), meta

    def _restore(self, step: int, state_args) -> tuple[Any, dict[str, Any]]:
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=state_args, meta=ocp.args.JsonRestore())
        )
        meta = dict(restored["meta"])
        expected = meta.pop("state_sha256", None)
        if expected is not None and tree_digest(restored["state"]) != expected:
            raise CorruptCheckpointError(
                f"checkpoint step {step}: the restored state does not match the SHA-256 "
                "digest recorded when it was saved (the files changed on disk)."
            )
        return restored["state"], meta

    def restore_latest(self, target: TrainState) -> tuple[TrainState, dict[str, Any]] | None:
        """Restores the newest readable checkpoint; None when there is none.

        An unreadable checkpoint is reported with a warning and the previous one is tried.

        Raises:
          CheckpointError: checkpoints exist but none can be read.
        """
        steps = self.all_steps()
        errors = []
        for step in reversed(steps):
            try:
                return self.restore(target, step)
            except Exception as e:  # noqa: BLE001 - any read failure means "corrupt"
                log.warning(
                    "Checkpoint at step %d is unreadable (%s); trying an older one.", step, e
                )
                errors.append(f"step {step}: {type(e).__name__}: {e}")
        if steps:
            raise CheckpointError(
                f"No readable checkpoint in {self._manager.directory}: "
                + "; ".join(errors)
                + ". Delete the directory to start from scratch, or point --workdir elsewhere."
            )
        return None

    def wait_until_finished(self) -> None:
        """Blocks until every pending async write is on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finishes pending writes and releases resources."""
        self._manager.close()


class MemoryStore:
    """The checkpoint interface of an in-memory run: keeps only a copy of the best state.

    ``fit(..., workdir=None)`` saves here instead of to disk, so restart-from-best and the
    best state of the result work without writing a file. The copy is taken on device
    (one more state in device memory) and only when an evaluation ranks as the best.

    Example:
      >>> store = MemoryStore(best_metric="val_accuracy", best_mode="max")
      >>> store.save(10, {"w": jax.numpy.ones(2)}, {}, {"val_accuracy": 0.5})
      >>> store.save(20, {"w": jax.numpy.zeros(2)}, {}, {"val_accuracy": 0.4})
      >>> store.best_step(), store.latest_step()
      (10, 20)
      >>> store.restore(None, 10)[0]["w"]
      Array([1., 1.], dtype=float32)
    """

    def __init__(self, best_metric: str | None = None, best_mode: str = "max"):
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}.")
        self.best_metric, self.best_mode = best_metric, best_mode
        self._latest: int | None = None
        self._best: tuple[int, float, Any, dict[str, Any]] | None = None

    def save(self, step: int, state: Any, meta: dict[str, Any], metrics=None) -> None:
        """Records ``step``; copies ``state`` when ``metrics`` rank it above the best."""
        self._latest = step
        if self.best_metric is None or metrics is None:
            return
        value = float(metrics[self.best_metric])
        if self._best is not None:
            better = value > self._best[1] if self.best_mode == "max" else value < self._best[1]
            if not better:
                return
        self._best = (step, value, jax.tree.map(lambda x: x.copy(), state), dict(meta))

    def restore(self, target: Any, step: int) -> tuple[Any, dict[str, Any]]:
        """A copy of the best state (the only one kept), for ``step == best_step()``."""
        if self._best is None or self._best[0] != step:
            raise CheckpointError(
                f"An in-memory run keeps only its best state (step {self.best_step()}), not "
                f"step {step}; pass a workdir to keep checkpoints."
            )
        return jax.tree.map(lambda x: x.copy(), self._best[2]), dict(self._best[3])

    def restore_latest(self, target: Any) -> None:
        """Nothing to resume from: an in-memory run starts from the state it is given."""
        return None

    def latest_step(self) -> int | None:
        """The last saved step (None before the first save)."""
        return self._latest

    def best_step(self) -> int | None:
        """The best-ranked step (None when nothing was ranked)."""
        return None if self._best is None else self._best[0]

    def wait_until_finished(self) -> None:
        """Nothing is in flight."""

    def close(self) -> None:
        """Drops the copy of the best state."""
        self._best = None


def open_store(
    workdir: Path | None,
    options: CheckpointOptions,
    best_metric: str | None,
    best_mode: str,
) -> "Checkpointer | MemoryStore":
    """The checkpoints of a run: ``workdir/checkpoints`` on disk, or in memory without one.

    Raises:
      ValueError: ``options.resume`` is off and the workdir already holds checkpoints.
    """
    if workdir is None:
        return MemoryStore(best_metric, best_mode)
    store = Checkpointer(
        Path(workdir) / "checkpoints",
        max_to_keep=options.max_to_keep,
        best_metric=best_metric,
        best_mode=best_mode,
        async_save=options.async_save,
    )
    latest = store.latest_step()
    if not options.resume and latest is not None:
        store.close()
        raise ValueError(
            f"{Path(workdir) / 'checkpoints'} already holds checkpoints (step {latest}) and "
            "resume is off: use another workdir, or CheckpointOptions(resume=True) to "
            "continue that run."
        )
    return store
