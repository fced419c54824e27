"""The workdir is jaxdl's alone: run markers, --overwrite's reach, one process per workdir.

Fast: the ``train.workdir`` functions are called directly (no training); the
two-process cases use a small ``python -c`` holder of the lock.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from train import workdir as wd
from train.configs import mnist_mlp
from train.validate import ConfigError

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import sys, time
from train.workdir import lock
with lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def _config(learning_rate: float = 0.05):
    cfg = mnist_mlp.get_config()
    cfg.optimizer.learning_rate = learning_rate
    return cfg


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.fixture
def holder():
    """Starts ``python -c HOLDER <path>``, returns it once it holds the lock; kills it after."""
    procs = []

    def start(path: Path) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        line = proc.stdout.readline()
        assert line.strip() == "held", proc.stderr.read() if proc.poll() is not None else line
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def test_a_folder_that_is_not_a_run_is_refused_even_with_overwrite(tmp_path):
    p = tmp_path / "p"
    p.mkdir()
    (p / "config.json").write_text('{"model_type":"bert"}')
    (p / "thesis.tex").write_text("\\documentclass{book}")
    before = _snapshot(p)
    for overwrite in (True, False):
        with pytest.raises(ConfigError) as e:
            wd.prepare(p, _config(), overwrite=overwrite)
        message = _one_line_error(e)
        assert str(p) in message and "not a jaxdl run" in message and "--workdir" in message
    with pytest.raises(ConfigError, match="not a jaxdl run"), wd.lock(p):
        pass
    assert _snapshot(p) == before  # nothing written (no lock file either), nothing deleted
    assert sorted(x.name for x in p.iterdir()) == ["config.json", "thesis.tex"]


def test_missing_and_empty_folders_become_marked_runs(tmp_path):
    for path in (tmp_path / "new" / "run", tmp_path / "empty"):
        if path.name == "empty":
            path.mkdir()
        with wd.lock(path):
            assert wd.prepare(path, _config(), overwrite=False) == path
        marker = json.loads((path / wd.MARKER).read_text())
        assert marker["format"] == wd.MARKER_FORMAT and marker["created"]
        assert json.loads((path / "config.json").read_text())["optimizer"]["learning_rate"] == 0.05
        wd.prepare(path, _config(), overwrite=False)  # the same config: resumes


def test_overwrite_of_a_run_deletes_only_what_jaxdl_wrote(tmp_path):
    run = wd.prepare(tmp_path / "run", _config(), overwrite=False)
    (run / "checkpoints" / "12" / "state").mkdir(parents=True)
    (run / "checkpoints" / "12" / "state" / "data").write_bytes(b"x")
    (run / "tensorboard").mkdir()
    (run / "tensorboard" / "events.out.tfevents.1").write_bytes(b"x")
    for name in (
        "metrics.jsonl",
        "summary.json",
        "curves.png",
        "confusion_test.png",
        "samples_psi0.7.png",
    ):
        (run / name).write_text("{}")
    (run / "notes.md").write_text("my notes")
    (run / "mine").mkdir()
    (run / "mine" / "data.csv").write_text("1,2")
    before = _snapshot(run)

    with pytest.raises(ConfigError) as e:
        wd.prepare(run, _config(0.01), overwrite=False)
    assert "optimizer.learning_rate: 0.05 -> 0.01" in _one_line_error(e)
    assert _snapshot(run) == before

    wd.prepare(run, _config(0.01), overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == [wd.MARKER, "config.json", "mine", "notes.md"]
    assert (run / "notes.md").read_text() == "my notes"
    assert (run / "mine" / "data.csv").read_text() == "1,2"
    assert json.loads((run / "config.json").read_text())["optimizer"]["learning_rate"] == 0.01
    assert not wd.has_checkpoints(run)


def test_a_run_of_an_older_jaxdl_is_adopted_and_a_foreign_config_is_not(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(_config().to_json_best_effort())  # no marker
    (old / "checkpoints" / "30").mkdir(parents=True)
    wd.prepare(old, _config(), overwrite=False)
    assert json.loads((old / wd.MARKER).read_text())["adopted"] is True
    assert wd.checkpoint_steps(old) == [30]  # resumes

    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model": {}, "train": {}}))
    with pytest.raises(ConfigError, match="not a jaxdl run"):
        wd.prepare(other, _config(), overwrite=True)
    assert not (other / wd.MARKER).exists()


def test_a_file_as_workdir_is_a_one_line_error(tmp_path):
    f = tmp_path / "results.txt"
    f.write_text("keep me")
    with pytest.raises(ConfigError) as e:
        wd.prepare(f, _config(), overwrite=True)
    assert str(f) in _one_line_error(e) and "is a file" in str(e.value)
    with pytest.raises(ConfigError, match="is a file"), wd.lock(f):
        pass
    assert f.read_text() == "keep me"


def test_a_second_process_is_refused_naming_the_holder(tmp_path, holder):
    run = tmp_path / "run"
    proc = holder(run)
    with pytest.raises(ConfigError) as e, wd.lock(run):
        pass
    message = _one_line_error(e)
    assert f"process {proc.pid} on host {socket.gethostname()}" in message
    assert str(run) in message and "wait for it or use another --workdir" in message
    assert proc.poll() is None  # the holder keeps its lock


def test_the_lock_of_a_killed_process_is_recovered(tmp_path, holder):
    run = tmp_path / "run"
    proc = holder(run)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    owner = run / wd.OWNER_FILE
    assert json.loads(owner.read_text())["pid"] == proc.pid  # its stale record stays
    with wd.lock(run):
        assert json.loads(owner.read_text())["pid"] == os.getpid()
        wd.prepare(run, _config(), overwrite=False)
    assert not owner.exists()
    with wd.lock(run):  # released on leaving the block
        pass


@pytest.mark.slow  # two `python -m train` start-ups (jax imports); both refuse before training
def test_cli_refuses_a_foreign_folder_and_a_held_workdir(tmp_path, holder):
    args = [
        "--config=train/configs/mnist_mlp.py",
        "--config.train.num_epochs=1",
        "--config.data.train_split=train[:256]",
        "--config.data.val_split=train[256:320]",
        "--config.data.test_split=test[:64]",
        "--config.train.batch_size=64",
        "--config.train.eval_batch_size=64",
        "--config.train.progress=False",
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}

    def cli(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "train", f"--workdir={workdir}", *args, *extra]
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    p = tmp_path / "p"
    p.mkdir()
    (p / "config.json").write_text('{"model_type":"bert"}')
    (p / "thesis.tex").write_text("\\documentclass{book}")
    out = cli(p, "--overwrite")
    assert out.returncode == 2 and "not a jaxdl run" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert sorted(x.name for x in p.iterdir()) == ["config.json", "thesis.tex"]

    run = tmp_path / "run"
    proc = holder(run)
    out = cli(run)
    assert out.returncode == 2 and f"in use by process {proc.pid}" in out.stderr, out.stderr
    assert not (run / "config.json").exists()
