"""Where a run keeps its states: Orbax checkpoints in a workdir, or memory without one.

``open_store`` gives the loop one interface for both: ``save(step, state, meta,
metrics)``, ``restore(target, step)``, ``restore_latest(target)``, ``latest_step()``,
``best_step()``, ``wait_until_finished()``, ``close()``; ``CheckpointOptions`` says how
many checkpoints a workdir keeps, whether they are written in the background and
whether a run resumes from them.
"""

import dataclasses
from pathlib import Path
from typing import Any

import jax

from jaxdl.training.checkpoint import Checkpointer, CheckpointError, check_best_mode

__all__ = ["CheckpointOptions", "MemoryStore", "open_store"]


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
        check_best_mode(best_mode)
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
      CheckpointWriteError: ``workdir/checkpoints`` is not writable.
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
    if store._unwritable is not None or (not options.resume and latest is not None):
        store.close()
        store.check_writable()  # now, not at the first checkpoint an epoch later
        raise ValueError(
            f"{Path(workdir) / 'checkpoints'} already holds checkpoints (step {latest}) and "
            "resume is off: use another workdir, or CheckpointOptions(resume=True) to "
            "continue that run."
        )
    return store
