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


class CheckpointError(RuntimeError):
    """Raised when checkpoints exist but none of them can be restored."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's content does not match the digest recorded when it was saved."""


def tree_digest(tree: Any) -> str | None:
    """SHA-256 over every leaf's path, dtype, shape and bytes (None if not addressable here).

    Example:
      >>> tree_digest({"w": np.zeros(3)})[:8]
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
      >>> ckpt = Checkpointer(workdir / "checkpoints", best_metric="val_accuracy")
      >>> ckpt.save(step, state, meta={"epoch": 1}, metrics={"val_accuracy": 0.98})
      >>> state, meta = ckpt.restore_latest(state)
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
