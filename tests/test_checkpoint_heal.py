"""Checkpoints that heal, and write errors that are clear and prompt.

A damaged newest checkpoint is moved aside when ``restore_latest`` falls back past it,
so that its step is saved again; an unwritable folder or a failing save raises one
``CheckpointWriteError`` within seconds. The write-error cases run in a child process
with a timeout: a hang (Orbax threads waiting for each other) fails the test instead
of hanging the suite.
"""

import gc
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxdl.training import checkpoint
from reliability.fault_injection import damage as damage_checkpoint
from train import workdir as wd

ROOT = Path(__file__).resolve().parents[1]


def _tree(s):  # random values: the data file is the largest one (they barely compress)
    return {"w": np.random.default_rng(s).normal(size=512), "b": np.full(3, s, np.int32)}


def _saved(directory, async_save, steps=(1, 2, 3)):
    ckpt = checkpoint.Checkpointer(directory, max_to_keep=5, async_save=async_save)
    for s in steps:
        ckpt.save(s, _tree(s), {"s": s})
    ckpt.close()


@pytest.mark.parametrize("async_save", [True, False])
@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damaged_newest_is_moved_aside_and_saved_again(tmp_path, caplog, how, async_save):
    ckpt_dir = tmp_path / "checkpoints"
    _saved(ckpt_dir, async_save)
    damage_checkpoint(ckpt_dir / "3", how)
    ckpt = checkpoint.Checkpointer(ckpt_dir, max_to_keep=5, async_save=async_save)
    with caplog.at_level(logging.WARNING):
        restored, meta = ckpt.restore_latest(_tree(0))
    assert meta["s"] == 2 and np.array_equal(restored["w"], _tree(2)["w"])
    moved = list((ckpt_dir / checkpoint.DAMAGED_DIR).glob("3-*Z"))
    assert len(moved) == 1 and (moved[0] / "state").is_dir()
    assert not (ckpt_dir / "3").exists()
    assert ckpt.all_steps() == [1, 2] and ckpt.latest_step() == 2
    assert wd.checkpoint_steps(tmp_path) == [1, 2]
    assert "Checkpoint at step 3 is unreadable" in caplog.text  # reliability/fault_injection.py
    assert "Moved the damaged checkpoint step 3 (" in caplog.text and str(moved[0]) in caplog.text
    assert "3" in moved[0].with_name(moved[0].name + ".reason.txt").read_text()

    ckpt.save(3, _tree(30), {"s": 30})  # the retrained step is saved again
    ckpt.close()
    caplog.clear()
    fresh = checkpoint.Checkpointer(ckpt_dir, async_save=async_save)
    with caplog.at_level(logging.WARNING):
        restored, meta = fresh.restore_latest(_tree(0))
    fresh.close()
    assert meta["s"] == 30 and np.array_equal(restored["w"], _tree(30)["w"])
    assert fresh.all_steps() == [1, 2, 3] and not caplog.text
    assert moved[0].is_dir()  # still kept for inspection


@pytest.mark.parametrize(
    "error",
    [PermissionError(13, "Permission denied"), ValueError("PERMISSION_DENIED: Error reading")],
)
def test_an_access_problem_is_not_damage_and_stays(tmp_path, caplog, monkeypatch, error):
    ckpt_dir = tmp_path / "checkpoints"
    _saved(ckpt_dir, async_save=False)
    ckpt = checkpoint.Checkpointer(ckpt_dir, max_to_keep=5, async_save=False)
    real = checkpoint.Checkpointer._restore

    def flaky(self, step, args):
        if step == 3:
            raise error
        return real(self, step, args)

    monkeypatch.setattr(checkpoint.Checkpointer, "_restore", flaky)
    with caplog.at_level(logging.WARNING):
        _, meta = ckpt.restore_latest(_tree(0))
        ckpt.save(3, _tree(30), {"s": 30})  # not saved: step 3 is still there
    assert meta["s"] == 2 and ckpt.all_steps() == [1, 2, 3]
    assert not (ckpt_dir / checkpoint.DAMAGED_DIR).exists()
    assert "step 3 stays: an access problem" in caplog.text
    assert "Checkpoint step 3 was not saved" in caplog.text
    monkeypatch.undo()
    assert ckpt.restore_latest(_tree(0))[1]["s"] == 3  # the original, readable again
    ckpt.close()


def test_a_damaged_checkpoint_costs_one_line_and_no_traceback(tmp_path, caplog, monkeypatch):
    """Orbax's many-line TensorStore message is cut to one line per log record, and the
    reads it drops (collected later, each a traceback on stderr in a run) are not reported.
    """
    _saved(tmp_path, async_save=False)
    damage_checkpoint(tmp_path / "3", "truncate")
    ckpt = checkpoint.Checkpointer(tmp_path, max_to_keep=5, async_save=False)
    real = checkpoint.Checkpointer._restore

    class DroppedRead:  # a pending read that fails when collected, as Orbax's coroutines do
        def __del__(self):
            raise RuntimeError("pending read failed")

    def with_dropped_reads(self, step, args):
        if step == 3:  # the shape of Orbax's error on a truncated file (seen in a CI run)
            read = DroppedRead()
            read.cycle = read  # only the cyclic garbage collector frees it
            spec = "TensorStore({\n" + "  'driver': 'zarr',\n" * 40 + "})"
            raise Exception(f"Encountered error while reading array index. See: {spec}.")
        return real(self, step, args)

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    monkeypatch.setattr(checkpoint.Checkpointer, "_restore", with_dropped_reads)
    with caplog.at_level(logging.WARNING):
        _, meta = ckpt.restore_latest(_tree(0))
    ckpt.close()
    gc.collect()
    assert meta["s"] == 2 and not reported
    messages = [r.getMessage() for r in caplog.records]
    assert any("Checkpoint at step 3 is unreadable" in m for m in messages)
    assert all("\n" not in m and len(m) < 600 for m in messages), messages


def test_nothing_is_moved_when_no_checkpoint_restores(tmp_path):
    _saved(tmp_path, async_save=False, steps=(1, 2))
    for step in (1, 2):
        damage_checkpoint(tmp_path / str(step), "truncate")
    ckpt = checkpoint.Checkpointer(tmp_path, async_save=False)
    with pytest.raises(checkpoint.CheckpointError, match="No readable checkpoint"):
        ckpt.restore_latest(_tree(0))
    ckpt.close()
    assert ckpt.all_steps() == [1, 2] and not (tmp_path / checkpoint.DAMAGED_DIR).exists()


def _deny_prefix() -> list[str] | None:
    """A command prefix under which a chmod 0o500 folder refuses writes (None: none here).

    Root ignores permissions, unless its capabilities to do so are dropped (setpriv).
    """
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None:
        return None
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if ok else None


CHILD = r"""
import errno, json, os, sys, time
from pathlib import Path
import numpy as np
from etils import epath
from jaxdl.training import checkpoint as C
from jaxdl.training import store as S

def tree(s):  # as _tree in the test module
    return {"w": np.random.default_rng(s).normal(size=512), "b": np.full(3, s, np.int32)}

def attempt(fn):
    t = time.time()
    try:
        fn()
        return {"error": None, "seconds": time.time() - t}
    except C.CheckpointWriteError as e:
        return {"error": str(e), "errno": e.errno, "oserror": isinstance(e, OSError),
                "seconds": time.time() - t}

def unwritable(base, readonly):
    out = {}
    blocked = base / "a_file" / "checkpoints"
    blocked.parent.write_text("not a folder")
    out["init"] = attempt(lambda: C.Checkpointer(blocked))
    opts = S.CheckpointOptions()
    out["open_store"] = attempt(lambda: S.open_store(base / "a_file", opts, None, "max"))
    if readonly:  # a read-only folder: readable (restore works), not writable
        ckpt = C.Checkpointer(readonly, async_save=False)
        out["restored"] = ckpt.restore_latest(tree(0))[1]["s"]
        out["save"] = attempt(lambda: ckpt.save(2, tree(2), {"s": 2}))
        ckpt.close()
        out["ro_open_store"] = attempt(lambda: S.open_store(readonly.parent, opts, None, "max"))
    return out

def failing(base, async_save, kind):
    d = base / f"{kind}-{async_save}"
    ckpt = C.Checkpointer(d, max_to_keep=2, async_save=async_save)
    for s in (1, 2):
        ckpt.save(s, tree(s), {"s": s})
    ckpt.wait_until_finished()
    cls = type(epath.Path(d))
    saved = cls.write_text, cls.write_bytes
    if kind == "enospc":  # the lowest Python write Orbax uses (meta, metadata files)
        def full(self, *a, **k):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        cls.write_text = cls.write_bytes = full
    else:
        d.chmod(0o500)

    def save_and_wait():
        ckpt.save(3, tree(3), {"s": 3})
        ckpt.wait_until_finished()

    out = attempt(save_and_wait)
    out["latest"] = ckpt.latest_step()
    cls.write_text, cls.write_bytes = saved
    d.chmod(0o700)
    out["close"] = attempt(ckpt.close)
    fresh = C.Checkpointer(d, async_save=False)
    restored, meta = fresh.restore_latest(tree(0))
    out["restored"] = meta["s"]
    out["same"] = bool(np.array_equal(restored["w"], tree(2)["w"]))
    fresh.close()
    return out

mode, base = sys.argv[1], Path(sys.argv[2])
t0 = time.time()
if mode == "unwritable":
    out = unwritable(base, Path(sys.argv[3]) if len(sys.argv) > 3 else None)
else:
    out = {k: failing(base, mode == "async", k) for k in sys.argv[3:]}
print("RESULT " + json.dumps({"t0": t0, **out}), flush=True)
"""


def _child(tmp_path, prefix, *args):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, str(script), *map(str, args)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the child process hung:\n{(e.stderr or b'')[-3000:]!r}")
    ended = time.time()
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert ended - result.pop("t0") < 10, "the process did not exit within seconds"
    return result


def _clear(attempt, *words):
    assert attempt["error"] is not None and attempt["oserror"], attempt
    assert attempt["seconds"] < 10
    assert all(w in attempt["error"] for w in words), attempt["error"]


def test_unwritable_directory_is_one_clear_prompt_error(tmp_path):
    prefix = _deny_prefix()
    args = []
    if prefix is not None:
        _saved(tmp_path / "ro" / "checkpoints", async_save=False, steps=(1,))
        (tmp_path / "ro" / "checkpoints").chmod(0o500)
        args = [tmp_path / "ro" / "checkpoints"]
    try:
        out = _child(tmp_path, prefix or [], "unwritable", tmp_path, *args)
    finally:
        if args:
            args[0].chmod(0o700)
    blocked = str(tmp_path / "a_file" / "checkpoints")
    _clear(out["init"], blocked, "is a file, not a folder")
    _clear(out["open_store"], blocked)
    if prefix is None:
        pytest.skip("running as root without setpriv: chmod cannot deny writes here")
    assert out["restored"] == 1
    _clear(out["save"], str(args[0]), "Permission denied")
    _clear(out["ro_open_store"], str(args[0]), "Permission denied")


@pytest.mark.parametrize("async_save", [True, False])
def test_failed_save_is_one_clear_error_and_keeps_earlier_checkpoints(tmp_path, async_save):
    prefix = _deny_prefix()
    kinds = ["enospc"] + (["readonly"] if prefix is not None else [])
    out = _child(tmp_path, prefix or [], "async" if async_save else "sync", tmp_path, *kinds)
    _clear(out["enospc"], "step 3", "No space left on device", "intact")
    assert out["enospc"]["errno"] == 28
    if "readonly" in out:
        _clear(out["readonly"], "step 3", "Permission denied", "intact")
    for kind in kinds:
        assert out[kind]["latest"] == 2 and out[kind]["close"]["error"] is None
        assert out[kind]["restored"] == 2 and out[kind]["same"]
