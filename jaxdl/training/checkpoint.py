"""Orbax checkpoints: async, atomic, keep the last k plus the best by a metric.

What is saved, per checkpoint step: the whole train state pytree (step, params,
model state such as BN statistics, optimizer state, RNG key) and a JSON ``meta``
dict written by the loop (epoch, metric history, early-stopping state). The data
position needs no saving: it is a function of the step (see ``jaxdl.data.loader``).

Orbax writes each checkpoint to a temporary directory and renames it when complete,
so a process killed mid-write never leaves a checkpoint that is picked up. Each
checkpoint's meta also records a SHA-256 digest of the saved state, recomputed at
restore: a checkpoint that cannot be read (truncated file) or whose bytes changed
(flipped bit) is skipped with a warning naming its step, and the previous one is used
(the damaged one is moved aside and saved again). Write errors raise at once, clearly.

References:
  Orbax CheckpointManager documentation (orbax-checkpoint >= 0.11).
"""

import contextlib
import datetime
import errno
import gc
import hashlib
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from jaxdl.training.state import TrainState

log = logging.getLogger(__name__)


BEST_MODES = ("max", "min")  # a best metric is maximised (accuracy) or minimised (loss)


def check_best_mode(mode: str, name: str = "best_mode") -> None:
    """The one rule of a best metric's direction (checkpoints, the loop, early stopping).

    Example:
      >>> check_best_mode("lowest")
      Traceback (most recent call last):
      ...
      ValueError: best_mode must be 'max' or 'min', got 'lowest'.
    """
    if mode not in BEST_MODES:
        raise ValueError(f"{name} must be 'max' or 'min', got {mode!r}.")


class CheckpointError(RuntimeError):
    """Raised when checkpoints exist but none of them can be restored."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's content does not match the digest recorded when it was saved."""


class CheckpointMismatchError(CheckpointError, ValueError):
    """A readable checkpoint saved with other shapes or dtypes than the state restored into.

    Not damage: ``restore_latest`` raises it at once, trying no older checkpoint and
    moving nothing aside (every checkpoint of the run was saved the same way).
    """


class CheckpointWriteError(CheckpointError, OSError):
    """Checkpoints cannot be written: the folder is not writable, or a save failed."""


DAMAGED_DIR = "damaged"  # in the checkpoint directory: Orbax lists only numeric names
# Tensorstore statuses (error prefixes) of reads that may succeed another time.
_ACCESS = ("PERMISSION_DENIED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED")


def _errno(error: BaseException) -> int | None:
    """The OS error number of ``error``, also of tensorstore's (a ValueError)."""
    code = re.search(r"\[os_error_code='(\d+)'\]", str(error))
    return getattr(error, "errno", None) or (int(code[1]) if code else None)


def _write_error(message: str, cause: BaseException) -> CheckpointWriteError:
    number = _errno(cause)
    why = f"{type(cause).__name__}: {str(cause).split(' [tensorstore_spec=')[0]}"
    if isinstance(cause, OSError) and cause.strerror:
        why = cause.strerror + (f" ({cause.filename})" if cause.filename else "")
    elif number:
        why = f"{os.strerror(number)} ({why})"
    error = CheckpointWriteError(f"{message}: {why}")
    error.errno = number
    return error


def _write_problem(directory: Path) -> OSError | None:
    """Why no file can be written in ``directory`` (None: one can); creates it if missing."""
    probe = directory / f".write-probe-{uuid.uuid4().hex}"
    try:
        if blocker := next((p for p in (directory, *directory.parents) if p.is_file()), None):
            return NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder")
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        return e if e.filename != str(probe) else OSError(e.errno, e.strerror)
    return None


def _is_damage(error: Exception, step_dir: Path) -> bool:
    """Whether ``error`` (restoring ``step_dir``) shows damaged content, not an access problem."""
    if isinstance(error, CorruptCheckpointError):
        return True
    if isinstance(error, MemoryError) or str(error).startswith(_ACCESS):
        return False
    if _errno(error) not in (None, errno.ENOENT) or isinstance(error, PermissionError):
        return False  # an OS error but a missing file: permissions, I/O, resources
    unopened: list[OSError] = []
    for root, _, files in os.walk(step_dir, onerror=unopened.append):
        for name in files:
            try:
                open(os.path.join(root, name), "rb").close()
            except OSError as e:
                unopened.append(e)
    return not unopened


def _one_line(error: BaseException, limit: int = 240) -> str:
    """``Type: message`` cut to its first line and ``limit`` characters, for log lines.

    Orbax appends a whole TensorStore spec (dozens of lines) to a failed read.
    """
    text = f"{type(error).__name__}: {error}".split("\n", 1)[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def _quiet_unraisable(failures: list):
    """Sends 'Exception ignored in ...' reports to the debug log while the block runs.

    When one array of a damaged checkpoint fails to read, Orbax drops its other pending
    reads; collected later, those coroutines print tracebacks on stderr although the
    damage was already reported (one line) and handled. They are collected here, when a
    read failed (``failures`` not empty at the end, or an error leaving the block): a full
    collection costs about 0.2 s in a test process, and most restores read cleanly.
    """
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: log.debug("While reading a checkpoint: %r", u.exc_value)
    failed = True  # until the block ends without an error
    try:
        yield
        failed = bool(failures)
    finally:
        if failed:
            gc.collect()
        sys.unraisablehook = previous


def _close_failed(manager: ocp.CheckpointManager) -> None:
    """Closes ``manager`` after a failed save, dropping the errors its other writes still
    hold (Orbax raises each once), and lets those writes end (5 s at most)."""
    for _ in range(8):
        with contextlib.suppress(Exception):
            manager.close()
            break
    deadline = time.monotonic() + 5.0
    for thread in threading.enumerate():
        if type(thread).__module__.startswith("orbax.") and thread.ident != threading.get_ident():
            threading.Thread.join(thread, max(0.0, deadline - time.monotonic()))


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


def _mismatches(saved: Any, wanted: Any) -> list[str]:
    """``path: saved dtype[shape], here dtype[shape]`` for each leaf of ``wanted`` (shape/dtype
    structs) that ``saved`` (Orbax's metadata of a checkpoint) holds with another shape or
    dtype, the parameters' first. Typed PRNG keys are skipped (stored as their key data)."""
    held = {
        jax.tree_util.keystr(path): leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(saved)[0]
        if hasattr(leaf, "shape") and hasattr(leaf, "dtype")
    }
    out = []
    for path, want in jax.tree_util.tree_flatten_with_path(wanted)[0]:
        have = held.get(jax.tree_util.keystr(path))
        if have is None or jax.dtypes.issubdtype(want.dtype, jax.dtypes.prng_key):
            continue
        if tuple(have.shape) != tuple(want.shape) or np.dtype(have.dtype) != np.dtype(want.dtype):
            shown = [f"{np.dtype(a.dtype)}{list(a.shape)}" for a in (have, want)]
            out.append(f"{jax.tree_util.keystr(path)}: saved {shown[0]}, here {shown[1]}")
    return sorted(out, key=lambda line: not line.startswith("['params']"))  # params first


class Checkpointer:
    """Saves and restores ``TrainState`` + JSON metadata in ``directory``.

    Once ``restore_latest`` has fallen back to an older checkpoint, the newer ones whose
    *content* is damaged (digest mismatch; truncated, undecodable or missing files) move to
    ``directory/damaged/<step>-<UTC time>/`` (kept; never listed as a step): their steps
    are saved again. One unreadable for an *access* reason (an OS error but a missing file,
    a tensorstore PERMISSION_DENIED-like status, a file in it that cannot be opened) stays.

    Write errors raise one ``CheckpointWriteError`` (an ``OSError``) naming the folder and
    the cause: here if ``directory`` cannot be created; in ``save`` if it is read-only
    (restoring works); if a save fails (disk full), in ``save``, ``wait_until_finished`` or
    ``close`` (async: the next of them), the earlier checkpoints left intact.

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
        check_best_mode(best_mode)
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}.")
        self.directory = Path(directory).absolute()
        self._unwritable = _write_problem(self.directory)
        if self._unwritable is not None and not self.directory.is_dir():
            raise _write_error(f"Cannot create {self.directory}", self._unwritable)
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
        self._options = ocp.CheckpointManagerOptions(
            best_fn=(lambda m: m[best_metric]) if best_metric else None,
            best_mode=best_mode,
            preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
            enable_async_checkpointing=async_save,
            # In the caller's thread: created in the background, a failure leaves Orbax's
            # other threads waiting for it for 5 minutes, blocking the process's exit.
            async_options=ocp.AsyncOptions(create_directories_asynchronously=False),
            cleanup_tmp_directories=self._unwritable is None,
        )
        self._pending: int | None = None  # the step of the async save in flight
        self._manager = self._open()

    def _open(self) -> ocp.CheckpointManager:
        return ocp.CheckpointManager(  # handlers named: item_metadata reads "state" at once
            self.directory,
            options=self._options,
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "meta": ocp.JsonCheckpointHandler(),
            },
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

    def check_writable(self) -> None:
        """Raises ``CheckpointWriteError`` if no checkpoint can be written to the folder."""
        if self._unwritable is not None:
            raise _write_error(f"Cannot write checkpoints to {self.directory}", self._unwritable)

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
        self.check_writable()
        self.wait_until_finished()
        state_dict = serialization.to_state_dict(state)
        meta = {**meta, "state_sha256": tree_digest(state_dict)}
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state_dict), meta=ocp.args.JsonSave(meta)
        )
        try:
            saved = self._manager.save(step, args=args, metrics=metrics)
        except Exception as e:
            raise self._failed(step, e) from e
        if not saved:
            log.warning("Checkpoint step %d was not saved: %s holds step %s (only later "
                        "steps are saved).", step, self.directory, self.latest_step())  # fmt: skip
        elif self._options.enable_async_checkpointing:
            self._pending = step

    def _failed(self, step: int | None, error: Exception) -> CheckpointWriteError:
        """Drops the failed write and rereads the folder (the error to raise)."""
        _close_failed(self._manager)
        for tmp in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):  # frees the space
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            self._manager = self._open()  # rereads the steps on disk
        except Exception as e:  # noqa: BLE001 - the folder itself is gone: save raises
            self._unwritable = e
        kept = self.latest_step()
        return _write_error(
            f"Could not save checkpoint step {step} in {self.directory} (the earlier ones "
            f"are intact; newest: {'none' if kept is None else f'step {kept}'})",
            error,
        )

    def restore(self, target: TrainState, step: int) -> tuple[TrainState, dict[str, Any]]:
        """Restores checkpoint ``step`` into the structure and shardings of ``target``.

        Waits for a pending async save first (it may be the step asked for).

        Raises:
          CheckpointMismatchError: the checkpoint holds other shapes or dtypes than
            ``target`` (a changed model or dtype), checked before anything is read.
          CorruptCheckpointError: the content differs from the digest saved with it.
        """
        self.wait_until_finished()
        abstract = _abstract(serialization.to_state_dict(target))
        stored = self._manager.item_metadata(step)
        stored = stored.get("state") if stored is not None else None  # None: not recorded
        if stored is not None and (bad := _mismatches(stored, abstract)):
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise CheckpointMismatchError(
                f"Checkpoint step {step} in {self.directory} does not fit the state to "
                f"restore: {bad[0]}{more}. Restore it into a state built as it was saved (the "
                "run's config), or save this run in another directory."
            )
        saved, meta = self._restore(step, ocp.args.StandardRestore(abstract))
        state = serialization.from_state_dict(target, saved)
        return state, meta

    def restore_raw(self, step: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Checkpoint ``step`` as saved (nested dicts of numpy arrays), without a target.

        For reading another run's variables (transfer learning) whose optimizer and
        shapes this process does not rebuild. Waits for a pending async save first.

        Raises:
          CorruptCheckpointError: the content differs from the digest saved with it.
        """
        self.wait_until_finished()
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

        An unreadable checkpoint is reported with a warning and the previous one is tried;
        once one restores, the damaged newer ones are moved aside (see the class notes).

        Raises:
          CheckpointMismatchError: the newest checkpoint holds other shapes or dtypes than
            ``target``.
          CheckpointError: checkpoints exist but none can be read.
        """
        steps = self.all_steps()
        errors, damaged = [], []
        with _quiet_unraisable(errors):  # Orbax's dropped reads of a damaged one
            for step in reversed(steps):
                try:
                    restored = self.restore(target, step)
                except CheckpointMismatchError:
                    raise  # the run's other checkpoints were saved the same way
                except Exception as e:  # noqa: BLE001 - any read failure: try an older one
                    reason = _one_line(e)
                    errors.append(f"step {step}: {reason}")
                    log.warning(
                        "Checkpoint at step %d is unreadable (%s); trying an older one.",
                        step,
                        reason,
                    )
                    if _is_damage(e, self.directory / str(step)):
                        damaged.append((step, f"{type(e).__name__}: {e}"))
                    else:
                        log.warning(
                            "Checkpoint step %d stays: an access problem, not damage.", step
                        )
                    continue
                for bad, reason in damaged if jax.process_index() == 0 else []:
                    self._move_aside(bad, reason)
                if damaged:
                    self._manager.reload()
                return restored
        if steps:
            raise CheckpointError(
                f"No readable checkpoint in {self.directory}: "
                + "; ".join(errors)
                + ". Delete the directory to start from scratch, or point --workdir elsewhere."
            )
        return None

    def _move_aside(self, step: int, reason: str) -> None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        dest = self.directory / DAMAGED_DIR / f"{step}-{stamp}"
        try:
            dest.parent.mkdir(exist_ok=True)
            (self.directory / str(step)).rename(dest)
        except OSError as e:
            log.warning("Could not move the damaged checkpoint step %d aside (%s).", step, e)
            return
        with contextlib.suppress(OSError):
            dest.with_name(dest.name + ".reason.txt").write_text(reason + "\n")
        log.warning("Moved the damaged checkpoint step %d (%s) to %s; it will be saved again.",
                    step, reason.split("\n", 1)[0][:240], dest)  # fmt: skip

    def wait_until_finished(self) -> None:
        """Blocks until every pending async write is on disk (raises if it failed)."""
        step, self._pending = self._pending, None
        try:
            self._manager.wait_until_finished()
        except Exception as e:
            raise self._failed(step, e) from e

    def close(self) -> None:
        """Finishes pending writes (raises if they failed) and releases resources."""
        try:
            self.wait_until_finished()
        finally:
            self._manager.close()
