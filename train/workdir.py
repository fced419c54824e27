"""Workdir safety: a workdir holds one run of one config, written by one process.

A workdir remembers its run's config (``config.json``). Restarting with the same
config resumes; with a different one the run refuses, naming the differing keys,
unless ``--overwrite`` is given (the old run's files are then deleted). Keys that only
change how long or how verbosely a run goes may differ (resuming with more epochs is
fine).

The folder is jaxdl's only where jaxdl made it so: ``prepare`` marks the folders it
creates or adopts with a ``.jaxdl_run`` file, and never writes into, or deletes from,
a folder that holds other files without that marker (a thesis, another tool's
``config.json``). ``--overwrite`` deletes only the files jaxdl writes (``RUN_FILES``,
``RUN_DIRS``); anything else the user put into a run folder stays. Run folders of
jaxdl versions without the marker are adopted when their ``config.json`` is a jaxdl
config.

One process per workdir: ``lock`` holds ``.jaxdl.lock`` (an OS file lock, released
when the process exits, even when killed) for the whole run, and records the holder
in ``.jaxdl.lock.owner`` so that a second process can say who has it.

Training from scratch and experiment folders: ``train.experiment_dirs``.
"""

import contextlib
import datetime
import fnmatch
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import filelock
import ml_collections

from train.validate_ranges import ConfigError

MAY_DIFFER = {"train.num_epochs", "train.max_steps", "train.progress", "train.log_every_steps"}

MARKER = ".jaxdl_run"
MARKER_FORMAT = 1
LOCK_FILE = ".jaxdl.lock"
OWNER_FILE = ".jaxdl.lock.owner"
_LOCK_FILES = frozenset({LOCK_FILE, OWNER_FILE, OWNER_FILE + ".tmp"})

# What the runners (train/*.py, jaxdl.training's hooks) write into a run's workdir:
# the only entries --overwrite deletes.
RUN_DIRS = frozenset({"checkpoints", "tensorboard", "pictures"})
RUN_FILES = frozenset(
    {
        "config.json",
        "config.json.tmp",
        "summary.json",
        "metrics.jsonl",
        "metrics.jsonl.tmp",
        "curves.png",
        "filters.png",
        "scores.jsonl",
        "train_time.json",
        "predictions_test.png",
        "samples.png",
        "eigen_images.png",
        "gaussian.npz",
        "curriculum_scores.npy",
        "deconv_report.json",
        "phase.txt",
        MARKER + ".tmp",
    }
)
RUN_PATTERNS = ("confusion_*.png", "confusion_*.json")

# Top-level keys every jaxdl config has had (train/configs/defaults.py): a marker-less
# folder whose config.json has them all is a run of an older jaxdl, adopted.
_LEGACY_KEYS = ("data", "model", "optimizer", "train")


def checkpoint_steps(workdir: str | Path) -> list[int]:
    """Steps of the committed checkpoints of ``workdir``'s run, ascending.

    Committed ones only: a write still in flight lives under a temporary name.
    """
    ckpt_dir = Path(workdir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return []
    return sorted(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit())


def has_checkpoints(workdir: str | Path) -> bool:
    """Whether ``workdir`` holds a checkpoint of its run (it will resume from it)."""
    return bool(checkpoint_steps(workdir))


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _write_json(path: Path, value) -> None:
    """Writes ``value`` to ``path`` atomically (a reader sees the old or the new file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True))
    tmp.replace(path)


def _read_json(path: Path):
    """``path``'s JSON value, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _is_jaxdl_config(path: Path) -> bool:
    saved = _read_json(path)
    return isinstance(saved, dict) and all(isinstance(saved.get(k), dict) for k in _LEGACY_KEYS)


def _mkdir(workdir: Path) -> None:
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"Cannot create the workdir {workdir} ({e.strerror or e}): pass a --workdir "
            "whose parent folder exists and is writable."
        ) from None


def _kind(workdir: Path) -> str:
    """What ``workdir`` is to jaxdl, without writing anything.

    Returns:
      "missing", "empty" (nothing but a lock), "run" (marked), or "legacy" (a run of a
      jaxdl without the marker).

    Raises:
      ConfigError: ``workdir`` is a file, or a folder with other files that is no run.
    """
    if not workdir.exists() and not workdir.is_symlink():
        return "missing"
    if not workdir.is_dir():
        raise ConfigError(
            f"The workdir {workdir} is a file, not a folder: pass a new, empty or jaxdl "
            "run folder as --workdir."
        )
    if (workdir / MARKER).is_file():
        return "run"
    try:
        others = sorted(p.name for p in workdir.iterdir() if p.name not in _LOCK_FILES)
    except OSError as e:
        raise ConfigError(f"Cannot read the workdir {workdir} ({e.strerror or e}).") from None
    if not others:
        return "empty"
    if "config.json" in others and _is_jaxdl_config(workdir / "config.json"):
        return "legacy"
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    raise ConfigError(
        f"The workdir {workdir} is not a jaxdl run folder (no {MARKER} marker) and holds "
        f"other files ({shown}); jaxdl neither writes into nor deletes from such a folder, "
        "even with --overwrite: pass a new or empty --workdir."
    )


def _is_run_entry(name: str) -> bool:
    return (
        name in RUN_FILES
        or name in RUN_DIRS
        or any(fnmatch.fnmatchcase(name, p) for p in RUN_PATTERNS)
    )


def _remove_run(workdir: Path) -> None:
    """Deletes the files jaxdl wrote into ``workdir``; keeps everything else.

    Checkpoints go first and the marker last: an interrupted removal leaves a marked
    folder that never resumes the old run's checkpoints under the new config.
    """
    doomed = sorted(
        (p for p in workdir.iterdir() if _is_run_entry(p.name)),
        key=lambda p: (p.name != "checkpoints", p.name == "config.json"),
    )
    for path in [*doomed, workdir / MARKER]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _mark(workdir: Path, adopted: bool) -> None:
    record = {"format": MARKER_FORMAT, "created": _now(), "tool": "jaxdl"}
    if adopted:
        record["adopted"] = True  # the run was made by a jaxdl without the marker
    _write_json(workdir / MARKER, record)


def prepare(workdir: str | Path, config: ml_collections.ConfigDict, overwrite: bool) -> Path:
    """Creates ``workdir`` or checks it holds a run of the same config; records the config.

    A missing or empty folder becomes a run (marked with ``MARKER``); a run of an older
    jaxdl (no marker, a jaxdl ``config.json``) is adopted. With ``overwrite``, a run of
    another config is replaced: its jaxdl files are deleted, the user's files stay.
    Call it under ``lock(workdir)`` when other processes may use the same workdir.

    Raises:
      ConfigError: the workdir holds a run of another config and ``overwrite`` is
        False; it is a file; or it is a folder with files that is not a jaxdl run.
    """
    workdir = Path(workdir)
    kind = _kind(workdir)
    saved_path = workdir / "config.json"
    current = json.loads(config.to_json_best_effort())
    if kind in ("run", "legacy") and saved_path.exists():
        saved = _read_json(saved_path)
        if not isinstance(saved, dict):
            if not overwrite:
                raise ConfigError(
                    f"The workdir {workdir} holds a run whose config.json is unreadable. "
                    "Use another --workdir, or pass --overwrite to delete that run and "
                    "start afresh."
                )
            diff = ["config.json"]
        else:
            saved, now = _flat(saved), _flat(current)
            diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
            diff = [k for k in diff if k not in MAY_DIFFER]
            if diff and not overwrite:
                shown = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in diff[:5])
                raise ConfigError(
                    f"The workdir {workdir} holds a run of a different config ({shown}"
                    f"{', ...' if len(diff) > 5 else ''}). Use another --workdir, or pass "
                    "--overwrite to delete that run and start afresh."
                )
        if diff:
            _remove_run(workdir)
            kind = "empty"
    _mkdir(workdir)
    if kind != "run":
        _mark(workdir, adopted=kind == "legacy")
    _write_json(saved_path, current)
    return workdir


def _in_use(workdir: Path) -> str:
    owner = _read_json(workdir / OWNER_FILE)
    if isinstance(owner, dict) and "pid" in owner:
        who = (
            f"process {owner['pid']} on host {owner.get('host', '?')} "
            f"(started at {owner.get('started', '?')})"
        )
    else:
        who = f"another process (its record {workdir / OWNER_FILE} is missing or unreadable)"
    return f"The workdir {workdir} is in use by {who}; wait for it or use another --workdir."


@contextlib.contextmanager
def lock(workdir: str | Path) -> Iterator[Path]:
    """Holds ``workdir`` for this process until the ``with`` block ends.

    Takes ``workdir/.jaxdl.lock`` (``filelock``, an OS lock: a killed holder's lock is
    released by the OS, so its stale owner record blocks nobody) without waiting, and
    records this process in ``workdir/.jaxdl.lock.owner``. A file or a foreign folder
    (see ``prepare``) is refused before anything is written into it; a missing folder
    is created.

    Raises:
      ConfigError: another process holds the workdir (naming its pid, host and start),
        or the workdir is a file or a folder that is not a jaxdl run.

    Example:
      >>> with lock(workdir):  # doctest: +SKIP
      ...     task.run(config, prepare(workdir, config, overwrite))
    """
    workdir = Path(workdir)
    _kind(workdir)
    _mkdir(workdir)
    with _hold(workdir):
        yield workdir


@contextlib.contextmanager
def _hold(folder: Path) -> Iterator[Path]:
    """``lock``'s file lock and owner record on the existing ``folder``, unchecked."""
    held = filelock.FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        held.acquire()
    except filelock.Timeout:
        raise ConfigError(_in_use(folder)) from None
    owner = folder / OWNER_FILE
    try:
        _write_json(owner, {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()})
        yield folder
    finally:
        record = _read_json(owner)
        if isinstance(record, dict) and record.get("pid") == os.getpid():
            owner.unlink(missing_ok=True)
        held.release()
