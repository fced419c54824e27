"""Workdir safety: never mix two different runs' results in one directory.

A workdir remembers its run's config (``config.json``). Restarting with the same
config resumes; with a different one the run refuses, naming the differing keys,
unless ``--overwrite`` is given (the old run is then deleted). Keys that only change
how long or how verbosely a run goes may differ (resuming with more epochs is fine).
"""

import json
import shutil
from pathlib import Path

import ml_collections

from train.validate import ConfigError

MAY_DIFFER = {"train.num_epochs", "train.max_steps", "train.progress", "train.log_every_steps"}


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


def prepare(workdir: str | Path, config: ml_collections.ConfigDict, overwrite: bool) -> Path:
    """Creates ``workdir`` or checks it holds a run of the same config; records the config.

    Raises:
      ConfigError: the workdir holds a run of another config and ``overwrite`` is False.
    """
    workdir = Path(workdir)
    saved_path = workdir / "config.json"
    current = json.loads(config.to_json_best_effort())
    if saved_path.exists():
        saved = _flat(json.loads(saved_path.read_text()))
        now = _flat(current)
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
            shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = saved_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True))
    tmp.replace(saved_path)
    return workdir
