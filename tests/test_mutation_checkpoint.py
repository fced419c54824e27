"""Tests that kill mutants of jaxdl.training.checkpoint which the other tests let survive.

Found by ``python -m mutation.run --modules training/checkpoint`` (docs/testing.md). They
pin, against text and listings written here by hand: the write-error messages (and
their ``errno``) built from an ``OSError`` or a tensorstore ``ValueError``; what a failed
save drops (the old manager closed, its step's temporary folders removed, the folder
marked unwritable when it cannot be reopened); how ``_close_failed`` retries ``close``
and waits for Orbax's threads (a fake clock and thread list); the log lines and the
``CheckpointError`` of ``restore_latest`` word for word; where a damaged checkpoint is
moved (its UTC name, its reason file), and that only process 0 moves it; that
``restore`` places arrays like its target; ``restore_raw``; checkpoints saved before
the digest was recorded; and the options: 3 kept by default (1 allowed), saves async by
default (a full disk fails the wait, not the save) with the step's folder created in the
caller's thread, leftovers of killed writes removed on opening, the best step the latest
without a metric, an earlier step not saved (one warning).
"""

import datetime
import errno
import json
import logging
import os
import pathlib
import re
import shutil
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from etils import epath

from jaxdl.training import checkpoint
from jaxdl.training.checkpoint import (
    Checkpointer,
    CheckpointError,
    CheckpointWriteError,
    CorruptCheckpointError,
)

RETRY = ". Delete the directory to start from scratch, or point --workdir elsewhere."


def _tree(s):
    return {"w": np.arange(3, dtype=np.float32) * s, "b": np.full(2, s, np.int32)}


def _saved(directory, steps=(1, 2, 3)):
    ckpt = Checkpointer(directory, max_to_keep=5, async_save=False)
    for s in steps:
        ckpt.save(s, _tree(s), {"s": s})
    return ckpt


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == checkpoint.log.name]


def _failing_restore(monkeypatch, errors):
    """``Checkpointer._restore`` raising ``errors[step]`` for the steps listed."""
    real = Checkpointer._restore

    def restore(self, step, args):
        if step in errors:
            raise errors[step]
        return real(self, step, args)

    monkeypatch.setattr(Checkpointer, "_restore", restore)


# --- error texts ----------------------------------------------------------------------


def test_write_error_texts_and_numbers():
    spec = ' [tensorstore_spec=\'{"driver": "file"}\']'
    cases = [  # cause, the text after "msg: ", errno
        (OSError(28, "No space left on device", "/d/3"), "No space left on device (/d/3)", 28),
        (PermissionError(13, "Permission denied"), "Permission denied", 13),
        (ValueError("DATA_LOSS: write failed [os_error_code='28']" + spec),
         "No space left on device (ValueError: DATA_LOSS: write failed [os_error_code='28'])", 28),
        (ValueError("INTERNAL: no code" + spec), "ValueError: INTERNAL: no code", None),
        (RuntimeError("boom"), "RuntimeError: boom", None),
    ]  # fmt: skip
    for cause, why, number in cases:
        error = checkpoint._write_error("msg", cause)
        assert isinstance(error, CheckpointWriteError) and isinstance(error, OSError)
        assert (str(error), error.errno) == (f"msg: {why}", number), cause


def test_one_line_keeps_the_first_line_and_at_most_240_characters():
    assert checkpoint._one_line(ValueError("two words\nsecond line")) == "ValueError: two words"
    exactly = ValueError("x" * 228)  # "ValueError: " is 12 characters: 240 in all
    assert checkpoint._one_line(exactly) == "ValueError: " + "x" * 228
    longer = ValueError("x" * 229 + "\nmore")
    assert checkpoint._one_line(longer) == "ValueError: " + "x" * 225 + "..."
    assert checkpoint._one_line(ValueError("abcdef"), limit=10) == "ValueEr..."


def test_os_errors_other_than_a_missing_file_are_access_problems(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "data").write_bytes(b"x")
    assert checkpoint._is_damage(ValueError("bad bytes"), tmp_path)  # all files open
    assert not checkpoint._is_damage(OSError(errno.EIO, "Input/output error"), tmp_path)
    eio = ValueError("UNKNOWN: read failed [os_error_code='5']")  # tensorstore's form
    assert not checkpoint._is_damage(eio, tmp_path)
    assert checkpoint._is_damage(OSError(errno.ENOENT, "No such file or directory"), tmp_path)
    # A step folder that cannot be listed (here: gone) is not shown to be damaged.
    assert not checkpoint._is_damage(ValueError("bad bytes"), tmp_path / "missing")


# --- a failed save ----------------------------------------------------------------------


class _FullDisk:
    """A manager whose saves fail (the real one does the rest); records ``close``."""

    def __init__(self, real, error):
        self.real, self.error, self.calls = real, error, []

    def save(self, step, args, metrics=None):
        raise self.error

    def close(self):
        self.calls.append("close")
        self.real.close()

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_failed_save_names_the_newest_kept_step_and_closes_the_manager(tmp_path):
    d = tmp_path / "ckpt"
    ckpt = Checkpointer(d, async_save=False)
    cause = OSError(28, "No space left on device", f"{d}/1.orbax-checkpoint-tmp-7/meta")
    ckpt._manager = failing = _FullDisk(ckpt._manager, cause)
    with pytest.raises(CheckpointWriteError) as info:
        ckpt.save(1, _tree(1), {"s": 1})
    assert str(info.value) == (
        f"Could not save checkpoint step 1 in {d} (the earlier ones are intact; newest: "
        f"none): No space left on device ({d}/1.orbax-checkpoint-tmp-7/meta)"
    )
    assert info.value.errno == 28 and info.value.__cause__ is cause
    assert failing.calls == ["close"]  # the failed manager is dropped ...
    ckpt.save(1, _tree(1), {"s": 1})  # ... and a fresh one saves
    assert ckpt.all_steps() == [1]
    ckpt.close()


def test_failed_save_in_a_folder_that_cannot_be_reopened(tmp_path, monkeypatch):
    d = tmp_path / "ckpt"
    ckpt = _saved(d, steps=(1,))  # a real save: Orbax's own cleanup of tmp folders is over
    (d / "2.orbax-checkpoint-tmp-1" / "state").mkdir(parents=True)
    (d / "2.orbax-checkpoint-tmp-2").write_bytes(b"partial")  # not a folder: rmtree fails
    (d / "3.orbax-checkpoint-tmp-1").mkdir()  # another step's
    ckpt._manager = _FullDisk(ckpt._manager, RuntimeError("disk gone"))
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory", str(d))

    def cannot_open(self):
        raise gone

    monkeypatch.setattr(Checkpointer, "_open", cannot_open)
    with pytest.raises(CheckpointWriteError) as info:
        ckpt.save(2, _tree(2), {"s": 2})
    assert str(info.value) == (
        f"Could not save checkpoint step 2 in {d} (the earlier ones are intact; newest: "
        "step 1): RuntimeError: disk gone"
    )
    assert info.value.errno is None
    assert sorted(os.listdir(d)) == ["1", "2.orbax-checkpoint-tmp-2", "3.orbax-checkpoint-tmp-1"]
    with pytest.raises(CheckpointWriteError) as info:  # the next save: at once, clearly
        ckpt.save(3, _tree(3), {"s": 3})
    assert str(info.value) == f"Cannot write checkpoints to {d}: No such file or directory ({d})"
    assert info.value.errno == errno.ENOENT


class _Manager:
    """A manager whose ``close`` raises the errors its writes hold, one per call."""

    def __init__(self, errors):
        self.errors, self.calls = errors, 0

    def close(self):
        self.calls += 1
        if self.calls <= self.errors:
            raise RuntimeError(f"write {self.calls} failed")


class _OrbaxThread:
    __module__ = "orbax.checkpoint._src.futures.future"

    def __init__(self, ident):
        self.ident = ident


class _OtherThread(_OrbaxThread):
    __module__ = "concurrent.futures.thread"


def test_close_failed_retries_close_and_waits_five_seconds_for_orbax_threads(monkeypatch):
    current, mine, other, late, later = (_OrbaxThread(1), _OrbaxThread(2), _OtherThread(3),
                                         _OrbaxThread(4), _OrbaxThread(5))  # fmt: skip
    joined = []

    def join(thread, timeout="none given"):
        joined.append((thread, timeout))

    fake_threading = types.SimpleNamespace(
        enumerate=lambda: [current, mine, other, late, later],
        get_ident=lambda: 1,
        Thread=types.SimpleNamespace(join=join),
    )
    clock = iter([100.0, 101.0, 103.5, 108.0])  # the deadline is 105.0
    monkeypatch.setattr(checkpoint, "threading", fake_threading)
    monkeypatch.setattr(checkpoint, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    manager = _Manager(errors=2)
    checkpoint._close_failed(manager)
    assert manager.calls == 3  # two held errors dropped, then closed
    assert joined == [(mine, 4.0), (late, 1.5), (later, 0.0)]

    joined.clear()
    clock = iter([0.0])
    fake_threading.enumerate = lambda: []
    manager = _Manager(errors=100)
    checkpoint._close_failed(manager)  # gives up after 8 tries, raising nothing
    assert manager.calls == 8 and joined == []


# --- restoring ---------------------------------------------------------------------------


def test_no_readable_checkpoint_error_and_warnings_word_for_word(tmp_path, monkeypatch, caplog):
    d = tmp_path / "ckpt"
    ckpt = _saved(d, steps=(1, 2))
    access = ValueError("PERMISSION_DENIED: read refused\n  'driver': 'zarr'")
    _failing_restore(monkeypatch, {2: access, 1: ValueError("bad read of 1\n  'driver'")})
    with caplog.at_level(logging.WARNING), pytest.raises(CheckpointError) as info:
        ckpt.restore_latest(_tree(0))
    assert str(info.value) == (
        f"No readable checkpoint in {d}: step 2: ValueError: PERMISSION_DENIED: read "
        f"refused; step 1: ValueError: bad read of 1{RETRY}"
    )
    assert _warnings(caplog) == [
        "Checkpoint at step 2 is unreadable (ValueError: PERMISSION_DENIED: read refused); "
        "trying an older one.",
        "Checkpoint step 2 stays: an access problem, not damage.",
        "Checkpoint at step 1 is unreadable (ValueError: bad read of 1); trying an older one.",
    ]
    ckpt.close()


class _FixedClock:
    """``datetime.datetime`` whose ``now`` is 2026-01-02 03:04:05.000006 UTC."""

    NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)

    @classmethod
    def now(cls, tz=None):
        return cls.NOW.astimezone(tz)  # tz=None: local time, as datetime.now


STAMP = "20260102T030405.000006Z"


@pytest.fixture
def fixed_clock_in_tokyo(monkeypatch):
    """The clock above, with the local time zone 9 hours ahead of UTC."""
    clock = types.SimpleNamespace(datetime=_FixedClock, timezone=datetime.timezone)
    monkeypatch.setattr(checkpoint, "datetime", clock)
    old = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_damaged_checkpoints_move_to_utc_named_folders_with_their_reason(
    tmp_path, monkeypatch, caplog, fixed_clock_in_tokyo
):
    d = tmp_path / "ckpt"
    ckpt = _saved(d)
    errors = {3: CorruptCheckpointError("y" * 300 + "\nline two"),
              2: CorruptCheckpointError("digest of step 2 differs\nline two")}  # fmt: skip
    _failing_restore(monkeypatch, errors)
    with caplog.at_level(logging.WARNING):
        _, meta = ckpt.restore_latest(_tree(0))
    assert meta == {"s": 1}
    moved = d / "damaged"
    assert sorted(os.listdir(d)) == ["1", "damaged"] and ckpt.all_steps() == [1]
    assert sorted(os.listdir(moved)) == [f"2-{STAMP}", f"2-{STAMP}.reason.txt",
                                         f"3-{STAMP}", f"3-{STAMP}.reason.txt"]  # fmt: skip
    assert (moved / f"2-{STAMP}.reason.txt").read_text() == (
        "CorruptCheckpointError: digest of step 2 differs\nline two\n"
    )
    assert (moved / f"3-{STAMP}.reason.txt").read_text() == (
        "CorruptCheckpointError: " + "y" * 300 + "\nline two\n"
    )
    assert _warnings(caplog) == [
        f"Checkpoint at step 3 is unreadable (CorruptCheckpointError: {'y' * 213}...); "
        "trying an older one.",
        "Checkpoint at step 2 is unreadable (CorruptCheckpointError: digest of step 2 "
        "differs); trying an older one.",
        f"Moved the damaged checkpoint step 3 (CorruptCheckpointError: {'y' * 216}) to "
        f"{moved / f'3-{STAMP}'}; it will be saved again.",
        "Moved the damaged checkpoint step 2 (CorruptCheckpointError: digest of step 2 "
        f"differs) to {moved / f'2-{STAMP}'}; it will be saved again.",
    ]
    ckpt.close()


def test_a_reason_that_cannot_be_written_does_not_stop_the_move(
    tmp_path, monkeypatch, caplog, fixed_clock_in_tokyo
):
    d = tmp_path / "ckpt"
    ckpt = _saved(d, steps=(1, 2))
    (d / "damaged" / f"2-{STAMP}.reason.txt").mkdir(parents=True)  # taken: not writable
    _failing_restore(monkeypatch, {2: CorruptCheckpointError("changed")})
    with caplog.at_level(logging.WARNING):
        _, meta = ckpt.restore_latest(_tree(0))
    assert meta == {"s": 1} and ckpt.all_steps() == [1]
    assert sorted(os.listdir(d / "damaged")) == [f"2-{STAMP}", f"2-{STAMP}.reason.txt"]
    assert os.listdir(d / "damaged" / f"2-{STAMP}.reason.txt") == []
    assert _warnings(caplog)[-1] == (
        "Moved the damaged checkpoint step 2 (CorruptCheckpointError: changed) to "
        f"{d / 'damaged' / f'2-{STAMP}'}; it will be saved again."
    )
    ckpt.close()


def test_a_damaged_checkpoint_that_cannot_be_moved_stays(tmp_path, monkeypatch, caplog):
    d = tmp_path / "ckpt"
    ckpt = _saved(d, steps=(1, 2))
    (d / "damaged").write_text("a file where the folder goes")
    _failing_restore(monkeypatch, {2: CorruptCheckpointError("changed")})
    with caplog.at_level(logging.WARNING):
        _, meta = ckpt.restore_latest(_tree(0))
    assert meta == {"s": 1} and ckpt.all_steps() == [1, 2]
    assert sorted(os.listdir(d)) == ["1", "2", "damaged"]
    assert _warnings(caplog)[-1] == (
        "Could not move the damaged checkpoint step 2 aside ([Errno 17] File exists: "
        f"'{d / 'damaged'}')."
    )
    ckpt.close()


class _Process1:
    """The ``jax`` module as seen by the second process of a multi-host run."""

    def __getattr__(self, name):
        return getattr(jax, name)

    @staticmethod
    def process_index():
        return 1


def test_only_process_zero_moves_a_damaged_checkpoint(tmp_path, monkeypatch):
    d = tmp_path / "ckpt"
    ckpt = _saved(d, steps=(1, 2))
    _failing_restore(monkeypatch, {2: CorruptCheckpointError("changed")})
    monkeypatch.setattr(checkpoint, "jax", _Process1())
    _, meta = ckpt.restore_latest(_tree(0))
    assert meta == {"s": 1}
    assert sorted(os.listdir(d)) == ["1", "2"]
    ckpt.close()


def test_restore_places_arrays_like_the_target(tmp_path):
    ckpt = _saved(tmp_path / "ckpt", steps=(2,))
    target = {"w": jnp.zeros(3, jnp.float32), "b": jnp.zeros(2, jnp.int32)}
    restored, meta = ckpt.restore(target, 2)
    assert meta == {"s": 2}
    for name, want in (("w", [0.0, 2.0, 4.0]), ("b", [2, 2])):
        assert isinstance(restored[name], jax.Array), type(restored[name])
        assert restored[name].sharding == target[name].sharding
        assert restored[name].dtype == target[name].dtype
        np.testing.assert_array_equal(np.asarray(restored[name]), want)
    ckpt.close()


def test_restore_raw_reads_any_step_of_another_run_as_numpy_without_the_digest(tmp_path):
    _saved(tmp_path / "ckpt", steps=(1, 2)).close()
    ckpt = Checkpointer(tmp_path / "ckpt", async_save=False)  # this process saved nothing
    state, meta = ckpt.restore_raw(1)
    assert meta == {"s": 1} and sorted(state) == ["b", "w"]
    assert type(state["w"]) is np.ndarray and type(state["b"]) is np.ndarray
    np.testing.assert_array_equal(state["w"], np.array([0.0, 1.0, 2.0], np.float32))
    np.testing.assert_array_equal(state["b"], np.array([1, 1], np.int32))
    assert (state["w"].dtype, state["b"].dtype) == (np.float32, np.int32)
    ckpt.close()


def test_a_missing_digest_is_not_checked_and_a_wrong_one_is_named(tmp_path):
    """Checkpoints written before the digest was recorded restore unchecked."""
    d = tmp_path / "ckpt"
    _saved(d, steps=(1, 2)).close()
    (d / "1" / "meta" / "metadata").write_text(json.dumps({"s": 1}))
    (d / "2" / "meta" / "metadata").write_text(json.dumps({"s": 2, "state_sha256": "0" * 64}))
    ckpt = Checkpointer(d, async_save=False)
    wrong = ("checkpoint step 2: the restored state does not match the SHA-256 digest "
             "recorded when it was saved (the files changed on disk).")  # fmt: skip
    with pytest.raises(CorruptCheckpointError, match=f"^{re.escape(wrong)}$"):
        ckpt.restore(_tree(0), 2)
    restored, meta = ckpt.restore_latest(_tree(0))
    assert meta == {"s": 1}
    np.testing.assert_array_equal(restored["b"], [1, 1])
    ckpt.close()


# --- opening, options, writing -------------------------------------------------------------


def test_an_earlier_step_is_not_saved_and_says_so(tmp_path, caplog):
    d = tmp_path / "ckpt"
    with caplog.at_level(logging.WARNING):
        ckpt = _saved(d, steps=(1, 3))
        assert _warnings(caplog) == []  # a saved step: no warning
        ckpt.save(2, _tree(2), {"s": 2})
    assert _warnings(caplog) == [
        f"Checkpoint step 2 was not saved: {d} holds step 3 (only later steps are saved)."
    ]
    assert ckpt.all_steps() == [1, 3]
    ckpt.close()


def test_max_to_keep_is_three_by_default_and_may_be_one(tmp_path):
    for keep, kept in ((None, [3, 4, 5]), (1, [5])):
        kwargs = {} if keep is None else {"max_to_keep": keep}
        ckpt = Checkpointer(tmp_path / f"keep{keep}", async_save=False, **kwargs)
        for s in (1, 2, 3, 4, 5):
            ckpt.save(s, _tree(s), {"s": s})
        assert ckpt.all_steps() == kept and sorted(map(int, os.listdir(ckpt.directory))) == kept
        ckpt.close()
    with pytest.raises(ValueError, match=r"^max_to_keep must be >= 1, got 0\.$"):
        Checkpointer(tmp_path / "none", max_to_keep=0)


def test_without_a_best_metric_the_best_step_is_the_latest(tmp_path):
    ranked = Checkpointer(tmp_path / "ranked", best_metric="val_accuracy", async_save=False)
    assert ranked.best_metric == "val_accuracy"  # read by the training loop
    plain = Checkpointer(tmp_path / "plain", async_save=False)
    assert plain.best_metric is None
    for s, accuracy in ((1, 0.9), (2, 0.5)):
        for ckpt in (ranked, plain):
            ckpt.save(s, _tree(s), {"s": s}, metrics={"val_accuracy": accuracy})
    assert (ranked.best_step(), plain.best_step()) == (1, 2)
    ranked.close()
    plain.close()


def test_leftovers_of_a_killed_write_are_removed_on_opening(tmp_path):
    d = tmp_path / "ckpt"
    _saved(d, steps=(1,)).close()
    (d / "2.orbax-checkpoint-tmp" / "state").mkdir(parents=True)  # a write killed midway
    ckpt = Checkpointer(d, async_save=False)
    ckpt.save(3, _tree(3), {"s": 3})  # waits for the cleanup begun on opening
    assert sorted(os.listdir(d)) == ["1", "3"]
    ckpt.close()


def test_a_folder_under_a_file_or_a_dangling_link_cannot_be_created(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(CheckpointWriteError) as info:
        Checkpointer(tmp_path / "a_file" / "checkpoints")
    assert str(info.value) == (
        f"Cannot create {tmp_path / 'a_file' / 'checkpoints'}: {tmp_path / 'a_file'} is a "
        "file, not a folder"
    )
    assert info.value.errno == errno.ENOTDIR
    link = tmp_path / "scratch"  # a link to a disk that is gone
    link.symlink_to(tmp_path / "unmounted" / "checkpoints")
    with pytest.raises(CheckpointWriteError) as info:
        Checkpointer(link)
    assert str(info.value) == f"Cannot create {link}: File exists ({link})"
    assert info.value.errno == errno.EEXIST
    assert sorted(os.listdir(tmp_path)) == ["a_file", "scratch"]


def test_a_read_only_folder_is_named_without_the_probe_file(tmp_path, monkeypatch):
    """What ``open`` raises in a folder without write permission (root bypasses chmod)."""
    d = tmp_path / "ckpt"
    d.mkdir()
    write_bytes = pathlib.Path.write_bytes

    def refuse(self, data):
        if self.name.startswith(".write-probe-"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return write_bytes(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", refuse)
    ckpt = Checkpointer(d, async_save=False)  # readable: it opens
    for attempt in (ckpt.check_writable, lambda: ckpt.save(1, _tree(1), {"s": 1})):
        with pytest.raises(CheckpointWriteError) as info:
            attempt()
        assert str(info.value) == f"Cannot write checkpoints to {d}: Permission denied"
        assert info.value.errno == errno.EACCES
    assert os.listdir(d) == []
    ckpt.close()


@pytest.mark.parametrize("async_save", [None, False])  # None: the default, async
def test_a_full_disk_fails_the_save_or_the_wait_when_async(tmp_path, monkeypatch, async_save):
    d = tmp_path / "ckpt"
    ckpt = Checkpointer(d) if async_save is None else Checkpointer(d, async_save=async_save)
    ckpt.save(1, _tree(1), {"s": 1})
    ckpt.wait_until_finished()

    def full(self, *args, **kwargs):  # the lowest Python write Orbax uses
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    for name in ("write_text", "write_bytes"):
        monkeypatch.setattr(type(epath.Path(d)), name, full)
    if async_save is None:
        ckpt.save(2, _tree(2), {"s": 2})  # returns: the write fails in the background
        failing = ckpt.wait_until_finished
    else:
        failing = lambda: ckpt.save(2, _tree(2), {"s": 2})  # noqa: E731
    with pytest.raises(CheckpointWriteError) as info:
        failing()
    assert str(info.value).startswith(
        f"Could not save checkpoint step 2 in {d} (the earlier ones are intact; newest: step "
        f"1): No space left on device ({d}/2.orbax-checkpoint-tmp"
    )
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    ckpt.close()
    assert sorted(os.listdir(d)) == ["1"]


def test_a_folder_removed_during_training_fails_the_async_save_at_once(tmp_path):
    """Orbax creates the step's folder in the caller's thread: the save raises, no wait."""
    d = tmp_path / "ckpt"
    ckpt = Checkpointer(d)
    ckpt.save(1, _tree(1), {"s": 1})
    ckpt.wait_until_finished()
    shutil.rmtree(d)
    d.write_text("a file where the folder was")
    with pytest.raises(CheckpointWriteError) as info:
        ckpt.save(2, _tree(2), {"s": 2})
    assert str(info.value) == (
        f"Could not save checkpoint step 2 in {d} (the earlier ones are intact; newest: none): "
        f"Not a directory ({d}/2.orbax-checkpoint-tmp)"
    )
    assert info.value.errno == errno.ENOTDIR
