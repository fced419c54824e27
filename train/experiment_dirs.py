"""Training from scratch, and the folders of experiments (many runs and their results).

Code that must train from scratch calls ``fresh_run``: it deletes jaxdl's run in the
folder (a marked one, an older jaxdl's, or an unmarked folder holding nothing but run
entries that look like jaxdl's: the runs of older experiment scripts), keeps the
user's files, refuses any other folder and ``prepare``s it (``train.workdir``). An
experiment's own folder (many runs, its results and caches) is marked with
``.jaxdl_experiment`` naming the experiment (``claim_experiment``);
``clear_experiment`` deletes from it the runs it recognises and the outputs the
experiment names, never anything else. A marked experiment folder keeps the user's
other files; an unmarked folder holding anything jaxdl did not write is refused,
before anything is written or deleted.
"""

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path

import ml_collections

from train.validate_ranges import ConfigError
from train.workdir import (
    _LOCK_FILES,
    MARKER,
    _clear_entries,
    _delete,
    _entries,
    _hold,
    _kind,
    _mark,
    _mkdir,
    _read_json,
    _run_kind,
    _shown,
    prepare,
)

EXPERIMENT_MARKER = ".jaxdl_experiment"


def clear_run(workdir: str | Path) -> Path:
    """Deletes the jaxdl run in ``workdir``, keeping the user's files; creates nothing.

    A marked run, a run of an older jaxdl (a jaxdl ``config.json``) or an unmarked
    folder of run entries only (runs of older experiment scripts) loses the entries
    jaxdl writes (``RUN_FILES``, ``RUN_DIRS``, ``RUN_PATTERNS``); it stays, marked and
    without ``config.json``, so that ``prepare`` (any config) starts a new run there.

    Raises:
      ConfigError: ``workdir`` is a file, a folder holding files that are no jaxdl
        run's (named), or in use by another process (``lock``).
    """
    workdir = Path(workdir)
    if _kind(workdir, older=True) not in ("missing", "empty"):
        with _hold(workdir):
            _clear_entries(workdir)
    return workdir


def fresh_run(workdir: str | Path, config: ml_collections.ConfigDict) -> Path:
    """Makes ``workdir`` a new run of ``config``: training there starts from scratch.

    ``clear_run``, then ``prepare`` (marked, ``config.json`` written), under the
    workdir's lock. The user's files in the folder stay; a folder with files that are
    no jaxdl run's is refused, before anything is written.

    Raises:
      ConfigError: as ``clear_run``.

    Example:
      >>> classification.run(config, fresh_run("runs/exp/lr_0.1", config))  # doctest: +SKIP
    """
    workdir = Path(workdir)
    _kind(workdir, older=True)  # refuses a foreign folder before anything is written
    _mkdir(workdir)
    with _hold(workdir):
        _clear_entries(workdir)  # a new or empty folder: marked, nothing to delete
        return prepare(workdir, config, overwrite=False)


def _patterns(outputs: Iterable[str]) -> list[tuple[str, ...]]:
    return [tuple(str(o).strip("/").split("/")) for o in outputs]


def _matches(rel: tuple[str, ...], patterns: list[tuple[str, ...]]) -> bool:
    """Whether a path relative to the experiment folder matches an output pattern.

    Matched part by part: ``*`` never crosses a ``/`` (``*/sweep.md`` is one level down).
    """
    return any(
        len(p) == len(rel) and all(fnmatch.fnmatchcase(n, q) for n, q in zip(rel, p))
        for p in patterns
    )


def _experiment_of(folder: Path) -> str | None:
    """The experiment named by ``folder``'s marker ("" if unreadable), None if unmarked."""
    path = folder / EXPERIMENT_MARKER
    if not path.exists() and not path.is_symlink():
        return None
    record = _read_json(path)
    name = record.get("experiment") if isinstance(record, dict) else None
    return name if isinstance(name, str) else ""


def _plan(
    root: Path, name: str, patterns: list[tuple[str, ...]], limit: int | None
) -> tuple[list, list[Path]]:
    """Sorts what lies under ``root`` into a plan (deletable) and unknowns (kept).

    The plan holds ("output", path, rel) for the experiment's named outputs, (kind,
    path, rel) for runs (``_run_kind``) and, after its contents, ("group", path, rel)
    for any other folder, which is searched too; links are never followed. A folder
    marked as another experiment is unknown. Stops once ``limit`` unknowns are found.
    """
    plan: list = []
    unknown: list[Path] = []

    def walk(folder: Path, rel: tuple[str, ...]) -> None:
        for path in sorted(folder.iterdir()):
            if limit is not None and len(unknown) >= limit:
                return
            if path.name in _LOCK_FILES or path.name == EXPERIMENT_MARKER:
                continue
            sub = (*rel, path.name)
            if _matches(sub, patterns):
                plan.append(("output", path, sub))
            elif path.is_symlink() or not path.is_dir():
                unknown.append(path)
            elif kind := _run_kind(path):
                plan.append((kind, path, sub))
            elif _experiment_of(path) not in (None, name):
                unknown.append(path)
            else:
                walk(path, sub)
                plan.append(("group", path, sub))

    walk(root, ())
    return plan, unknown


def claim_experiment(root: str | Path, name: str, outputs: Iterable[str] = ()) -> Path:
    """Makes ``root`` the folder of experiment ``name`` (marked), deleting nothing.

    A missing or empty folder is created and marked; a folder marked for ``name`` is
    kept as it is. An unmarked folder is adopted (a folder of older versions of the
    experiment) only when everything in it is jaxdl's: runs (``clear_run``'s kinds),
    folders of those, and ``outputs``.

    Args:
      root: the experiment's folder (its ``--workdir``).
      name: the experiment, recorded in ``root/.jaxdl_experiment``.
      outputs: what the experiment itself writes there, as paths relative to ``root``
        with shell wildcards matched part by part (``"results.json"``, ``"jax_cache"``,
        ``"*/sweep_*/sweep.md"``); a matching folder counts as a whole.

    Raises:
      ConfigError: ``root`` is a file or a run folder, is marked for another
        experiment, or is unmarked and holds anything else (the first ones named).
    """
    root = Path(root)
    if not root.exists() and not root.is_symlink():
        _mkdir(root)  # then marked below, as an empty folder
    elif not root.is_dir():
        raise ConfigError(f"The experiment folder {root} is a file: pass a new or empty --workdir.")
    owner = _experiment_of(root)
    if owner == name:
        return root
    if owner is not None:
        held = f"experiment {owner!r}" if owner else "an experiment (unreadable marker)"
        raise ConfigError(
            f"The folder {root} holds the runs of {held}, not of {name!r}: pass another --workdir."
        )
    if _run_kind(root):
        raise ConfigError(
            f"The folder {root} is a single jaxdl run, not an experiment's folder: pass "
            "another --workdir."
        )
    try:
        plan, unknown = _plan(root, name, _patterns(outputs), limit=4)
    except OSError as e:
        raise ConfigError(f"Cannot read the folder {root} ({e.strerror or e}).") from None
    if unknown:
        shown = _shown([str(p.relative_to(root)) for p in unknown])
        raise ConfigError(
            f"The folder {root} is not a jaxdl experiment folder (no {EXPERIMENT_MARKER} "
            f"marker) and holds files jaxdl did not write ({shown}); jaxdl neither writes "
            "into nor deletes from such a folder: pass a new or empty --workdir."
        )
    _mark(root / EXPERIMENT_MARKER, adopted=bool(plan), experiment=name)
    return root


def _clear_sub_run(path: Path, rel: tuple[str, ...], patterns) -> None:
    """Clears one run of an experiment; deletes the folder unless the user's files remain."""
    with _hold(path):
        _clear_entries(path, [p for p in path.iterdir() if _matches((*rel, p.name), patterns)])
        if _entries(path) == [MARKER]:  # nothing of the user's left: the folder goes
            (path / MARKER).unlink()
    _remove_empty(path)


def _remove_empty(path: Path) -> None:
    """Removes ``path`` if nothing but lock files or an experiment marker is left in it."""
    try:
        rest = os.listdir(path)
        if all(n in _LOCK_FILES or n == EXPERIMENT_MARKER for n in rest):
            for n in rest:
                (path / n).unlink(missing_ok=True)
            path.rmdir()
    except OSError:
        pass  # something appeared meanwhile: it stays


def clear_experiment(root: str | Path, name: str, outputs: Iterable[str] = ()) -> Path:
    """Deletes what experiment ``name`` wrote in ``root``; everything else stays.

    ``claim_experiment`` first (a foreign folder is refused before anything is deleted;
    a missing one is created), then, under the folder's lock: the ``outputs`` the
    experiment names, and every run found at any depth, each under its own lock
    (``clear_run``'s kinds: marked runs, older jaxdl runs, unmarked folders of run
    entries only). A run folder that still holds the user's files stays, marked and
    emptied of jaxdl's files; folders left empty are removed. Unknown files and
    folders, links, and folders marked for another experiment are left untouched.
    The arguments are ``claim_experiment``'s; returns ``root``.

    Raises:
      ConfigError: as ``claim_experiment``, or a run or ``root`` is in use.

    Example:
      >>> clear_experiment("runs/x", "optimizers", ["results.json"])  # doctest: +SKIP
    """
    root = claim_experiment(root, name, outputs)
    patterns = _patterns(outputs)
    with _hold(root):
        for kind, path, rel in _plan(root, name, patterns, limit=None)[0]:
            if kind == "output":
                _delete(path)
            elif kind == "group":
                _remove_empty(path)
            else:
                _clear_sub_run(path, rel, patterns)
    return root
