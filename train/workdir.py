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
from collections.abc import Iterable, Iterator
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
RUN_PATTERNS = ("confusion_*.png", "confusion_*.json", "samples_psi*.png")

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


def _mkdir(workdir: Path) -> None:
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"Cannot create the workdir {workdir} ({e.strerror or e}): pass a --workdir "
            "whose parent folder exists and is writable."
        ) from None


def _entries(folder: Path) -> list[str]:
    """The names in ``folder`` other than the lock's files, sorted."""
    return sorted(n for n in os.listdir(folder) if n not in _LOCK_FILES)


def _shown(names: list[str]) -> str:
    """The first three of ``names`` for a message, then "..." when there are more."""
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _is_run_entry(name: str) -> bool:
    return (
        name in RUN_FILES
        or name in RUN_DIRS
        or any(fnmatch.fnmatchcase(name, p) for p in RUN_PATTERNS)
    )


def _first_record(path: Path):
    """The first JSON value of a JSON-lines file; "" when it is empty; None if unreadable."""
    try:
        with path.open() as f:
            for line in f:
                if line.strip():
                    return json.loads(line)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return ""


def _older_run(folder: Path, names: list[str]) -> bool:
    """Whether an unmarked folder without ``config.json`` is a run of older scripts.

    Experiment scripts once trained without ``prepare``: their runs hold run entries
    only (no marker, no config). Every name must be a run entry, and what is there must
    look like jaxdl's: step-named checkpoints, a metrics.jsonl of records with a step,
    a JSON summary; at least one of the three holds something. A folder holding only,
    say, ``pictures/`` is not taken for a run.
    """
    if not names or "config.json" in names or not all(_is_run_entry(n) for n in names):
        return False
    signs = False
    if "checkpoints" in names:
        ckpt = folder / "checkpoints"
        if ckpt.is_symlink() or not ckpt.is_dir():
            return False
        steps = os.listdir(ckpt)
        if not all(n[:1].isdigit() for n in steps):  # "12", "12.orbax-checkpoint-tmp-..."
            return False
        signs = signs or bool(steps)
    if "metrics.jsonl" in names:
        record = _first_record(folder / "metrics.jsonl")
        if record != "" and not (isinstance(record, dict) and "step" in record):
            return False
        signs = signs or record != ""
    if "summary.json" in names:
        if not isinstance(_read_json(folder / "summary.json"), dict):
            return False
        signs = True
    return signs


def _run_kind(folder: Path, older: bool = True) -> str | None:
    """The run ``folder`` holds: "run" (marked), "legacy" (a run of a jaxdl without the
    marker), "older" (``_older_run``, when ``older`` is True), or None."""
    if (folder / MARKER).is_file():
        return "run"
    names = _entries(folder)
    saved = _read_json(folder / "config.json") if "config.json" in names else None
    if isinstance(saved, dict) and all(isinstance(saved.get(k), dict) for k in _LEGACY_KEYS):
        return "legacy"
    return "older" if older and _older_run(folder, names) else None


def _kind(workdir: Path, older: bool = False) -> str:
    """What ``workdir`` is to jaxdl, without writing anything.

    Returns:
      "missing", "empty" (nothing but a lock), or ``_run_kind``'s kind: "run",
      "legacy", and with ``older`` "older" (``train.experiment_dirs`` clears those).

    Raises:
      ConfigError: ``workdir`` is a file, or a folder with other files that is no run
        (the files jaxdl did not write named first).
    """
    if not workdir.exists() and not workdir.is_symlink():
        return "missing"
    if not workdir.is_dir():
        raise ConfigError(
            f"The workdir {workdir} is a file, not a folder: pass a new, empty or jaxdl "
            "run folder as --workdir."
        )
    try:
        names = _entries(workdir)
        kind = _run_kind(workdir, older) if names else "empty"
    except OSError as e:
        raise ConfigError(f"Cannot read the workdir {workdir} ({e.strerror or e}).") from None
    if kind is not None:
        return kind
    others = [n for n in names if not _is_run_entry(n) or n == "config.json"] or names
    raise ConfigError(
        f"The workdir {workdir} is not a jaxdl run folder (no {MARKER} marker) and holds "
        f"files jaxdl did not write ({_shown(others)}); jaxdl neither writes into nor "
        "deletes from such a folder, even with --overwrite: move those files away or pass "
        "another --workdir."
    )


def _delete(path: Path) -> None:
    """Deletes a file, a link (not its target) or a whole folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _mark(path: Path, adopted: bool, **extra: str) -> None:
    """Writes the marker file ``path``: a run's, or with ``extra`` an experiment's."""
    record = {"format": MARKER_FORMAT, "created": _now(), "tool": "jaxdl", **extra}
    if adopted:
        record["adopted"] = True  # made by a jaxdl (or its scripts) without the marker
    _write_json(path, record)


def _clear_entries(workdir: Path, also: Iterable[Path] = ()) -> None:
    """Deletes the files jaxdl wrote into ``workdir`` (and ``also``); keeps everything else.

    The folder is marked anew first and checkpoints go first: an interrupted removal
    leaves a marked folder that never resumes the old run's checkpoints.
    """
    _mark(workdir / MARKER, adopted=False)
    doomed = {p for p in workdir.iterdir() if _is_run_entry(p.name)} | set(also)
    for path in sorted(doomed, key=lambda p: (p.name != "checkpoints", p.name == "config.json")):
        _delete(path)


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
        if isinstance(saved, dict):
            old, now = _flat(saved), _flat(current)
            diff = sorted(k for k in set(old) | set(now) if old.get(k) != now.get(k))
            diff = [k for k in diff if k not in MAY_DIFFER]
            shown = ", ".join(f"{k}: {old.get(k)!r} -> {now.get(k)!r}" for k in diff[:5])
            what = f"a run of a different config ({shown}{', ...' if len(diff) > 5 else ''})"
        else:
            diff, what = ["config.json"], "a run whose config.json is unreadable"
        if diff and not overwrite:
            raise ConfigError(
                f"The workdir {workdir} holds {what}. Use another --workdir, or pass "
                "--overwrite to delete that run and start afresh."
            )
        if diff:
            _clear_entries(workdir)
            kind = "run"
    _mkdir(workdir)
    if kind != "run":
        _mark(workdir / MARKER, adopted=kind == "legacy")
    _write_json(saved_path, current)
    return workdir


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
    owner = folder / OWNER_FILE
    try:
        held.acquire()
    except filelock.Timeout:
        record = _read_json(owner)
        if isinstance(record, dict) and "pid" in record:
            who = (
                f"process {record['pid']} on host {record.get('host', '?')} "
                f"(started at {record.get('started', '?')})"
            )
        else:
            who = f"another process (its record {owner} is missing or unreadable)"
        raise ConfigError(
            f"The workdir {folder} is in use by {who}; wait for it or use another --workdir."
        ) from None
    try:
        _write_json(owner, {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()})
        yield folder
    finally:
        record = _read_json(owner)
        if isinstance(record, dict) and record.get("pid") == os.getpid():
            owner.unlink(missing_ok=True)
        held.release()
