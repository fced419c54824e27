"""End to end through ``python -m train``: outputs, config errors, SIGKILL and resume."""

import json
import time
from pathlib import Path

import processes
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--config=train/configs/mnist_mlp.py",
    "--config.data.train_split=train[:1024]",
    "--config.data.val_split=train[1024:1280]",
    "--config.data.test_split=test[:500]",
    "--config.model.kwargs.width=32",
    "--config.model.kwargs.dropout_rate=0.0",
    "--config.train.batch_size=64",
    "--config.train.eval_batch_size=128",
    "--config.train.log_every_steps=8",
    "--config.train.progress=False",
]


def _run(args, workdir):
    return processes.python_m("train", [f"--workdir={workdir}", *args])  # the real device


def test_tiny_run_writes_every_artifact(tmp_path):
    proc = _run([*TINY, "--config.train.num_epochs=2"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["finished"] and summary["steps"] == 2 * (1024 // 64)
    assert summary["test_accuracy"] > 0.6  # a trained 32-unit MLP, not chance (0.1)
    assert "summary: model=mlp" in proc.stdout
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("val_accuracy" in r for r in rows) and any("train_loss" in r for r in rows)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "curves.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("--config.train.batchsize=32", "batchsize"),
        ("--config.model.name=lenet6", "Registered models"),
        ("--config.train.batch_size=-4", "batch_size"),
        ("--config.optimizer.name=adamm", "adamm"),
        ("--config.data.name=nosuchset", "nosuchset"),
        ("--config.optimizer.learning_rate=0", "learning_rate must be > 0"),
        ("--config.model.kwargs.dropout_rate=1.5", "dropout_rate must be in [0, 1)"),
        ("--config.data.augment=random_crop(size=64)", "random_crop"),
        ("--config.data.augment=spin()", "unknown op 'spin'"),
        ("--config.train.on_nonfinite=ignore", "on_nonfinite"),
    ],
)
def test_bad_config_fails_fast_with_a_clear_message(tmp_path, override, message):
    """In this process (the real command line's flags and ``main``; the subprocess path
    is ``test_debug_flag_shows_the_traceback``'s and the validation suite's)."""
    t0 = time.perf_counter()
    code, _, err = processes.train_in_process([*TINY, override, f"--workdir={tmp_path}"])
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "checkpoints").exists()  # failed before training started


def test_debug_flag_shows_the_traceback(tmp_path):
    proc = _run([*TINY, "--config.model.name=lenet6", "--debug"], tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.slow  # two `python -m train` processes (about 25 s); in-process: test_loop
def test_same_seed_is_bitwise_reproducible_and_workdirs_are_not_mixed(tmp_path):
    args = [*TINY, "--config.train.num_epochs=1"]
    a, b = _run(args, tmp_path / "a"), _run(args, tmp_path / "b")
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-2000:] + b.stderr[-2000:]
    sa = json.loads((tmp_path / "a" / "summary.json").read_text())
    sb = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert sa["params_sha256"] == sb["params_sha256"]
    other = _run([*args, "--config.optimizer.learning_rate=0.01"], tmp_path / "a")
    assert other.returncode == 2 and "holds a run of a different config" in other.stderr
    assert "optimizer.learning_rate: 0.05 -> 0.01" in other.stderr
    assert json.loads((tmp_path / "a" / "summary.json").read_text()) == sa  # untouched
    forced = _run([*args, "--config.optimizer.learning_rate=0.01", "--overwrite"], tmp_path / "a")
    assert forced.returncode == 0
    assert (
        json.loads((tmp_path / "a" / "summary.json").read_text())["params_sha256"]
        != sa["params_sha256"]
    )
