"""Experiments delete only what jaxdl wrote: ``fresh_run``, ``claim_experiment``,
``clear_experiment`` (train/experiment_dirs.py) on hand-made folders, without training."""

import json
import os
from pathlib import Path

import ml_collections
import pytest

from reliability import fault_injection
from train import experiment_dirs
from train import workdir as wd
from train.validate import ConfigError


def _config(lr: float = 0.1) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {"data": {"name": "mnist"}, "model": {"name": "mlp"}, "optimizer": {"learning_rate": lr},
         "train": {"num_epochs": 1}, "seed": 0}
    )  # fmt: skip


def _older_run(path: Path) -> Path:
    """A run as the experiment scripts made it before the marker: no marker, no config."""
    (path / "checkpoints" / "12" / "state").mkdir(parents=True)
    (path / "checkpoints" / "12" / "state" / "blob").write_bytes(b"x")
    (path / "metrics.jsonl").write_text('{"step": 4, "train_loss": 0.5}\n')
    return path


def _marked_run(path: Path, lr: float = 0.1) -> Path:
    wd.prepare(path, _config(lr), overwrite=False)
    (path / "checkpoints" / "8").mkdir(parents=True)
    (path / "summary.json").write_text('{"steps": 8}')
    return path


def _tree(root: Path) -> set[str]:
    """Everything under ``root`` but the lock files (they stay, as after ``lock``)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.name != wd.LOCK_FILE}


def test_fresh_run_of_a_missing_folder_is_a_marked_run_of_the_config(tmp_path):
    run = experiment_dirs.fresh_run(tmp_path / "a" / "run", _config())
    assert (run / wd.MARKER).is_file()
    assert json.loads((run / "config.json").read_text()) == _config().to_dict()


def test_fresh_run_clears_a_run_of_older_scripts_and_marks_it(tmp_path):
    run = _older_run(tmp_path / "0_seed0")
    experiment_dirs.fresh_run(run, _config())
    assert not (run / "checkpoints").exists() and not (run / "metrics.jsonl").exists()
    assert (run / wd.MARKER).is_file() and (run / "config.json").is_file()
    assert not wd.has_checkpoints(run)  # training there starts from scratch


def test_fresh_run_keeps_the_users_files_of_a_run_of_another_config(tmp_path):
    run = _marked_run(tmp_path / "run", lr=0.3)
    (run / "notes.txt").write_text("mine")
    experiment_dirs.fresh_run(run, _config(0.1))  # another config: no refusal, a fresh run
    assert (run / "notes.txt").read_text() == "mine"
    assert not (run / "checkpoints").exists() and not (run / "summary.json").exists()
    assert json.loads((run / "config.json").read_text())["optimizer"]["learning_rate"] == 0.1
    assert (run / wd.MARKER).is_file()


@pytest.mark.parametrize(
    "files, named",
    [
        ({"thesis.tex": "text", "metrics.jsonl": '{"step": 1}\n'}, "thesis.tex"),  # and more
        ({"config.json": '{"lr": 1}'}, "config.json"),  # another tool's config.json
        ({"pictures/holiday.jpg": "jpg"}, "pictures"),  # a run entry's name, no run
        ({"checkpoints/model.pt": "pt", "metrics.jsonl": '{"step": 1}\n'}, "checkpoints"),
        ({"metrics.jsonl": "epoch,loss\n1,0.5\n"}, "metrics.jsonl"),  # not jaxdl's records
    ],
)
def test_fresh_run_refuses_a_foreign_folder_and_writes_nothing(tmp_path, files, named):
    run = tmp_path / "run"
    for name, text in files.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    before = _tree(run)
    with pytest.raises(ConfigError, match="not a jaxdl run") as e:
        experiment_dirs.fresh_run(run, _config())
    assert named in str(e.value)
    assert _tree(run) == before
    with pytest.raises(ConfigError, match="not a jaxdl run"):
        experiment_dirs.clear_run(run)
    assert _tree(run) == before


def test_fresh_run_refuses_a_file_and_a_run_in_use(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        experiment_dirs.fresh_run(tmp_path / "file", _config())
    run = _marked_run(tmp_path / "run")
    with wd.lock(run), pytest.raises(ConfigError, match="in use"):
        experiment_dirs.fresh_run(run, _config())
    assert wd.has_checkpoints(run)


def _experiment(root: Path) -> None:
    """An optimizers-like folder: outputs, runs, groups of runs, a sweep's files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text("{}")
    (root / "jax_cache" / "sub").mkdir(parents=True)
    (root / "jax_cache" / "sub" / "entry").write_text("compiled")
    _marked_run(root / "task" / "opt_sgd")
    _older_run(root / "task" / "opt_adam")
    legacy = root / "task" / "sweep_sgd" / "lr_0.1"
    legacy.mkdir(parents=True)
    (legacy / "config.json").write_text(json.dumps(_config().to_dict()))  # older jaxdl run
    (legacy / "metrics.jsonl").write_text('{"step": 1}\n')
    (root / "task" / "sweep_sgd" / "sweep.md").write_text("| table |")


OUTPUTS = ("results.json", "jax_cache", "*/sweep_*/sweep.md")


def test_clear_experiment_adopts_a_folder_of_older_scripts_and_empties_it(tmp_path):
    root = tmp_path / "exp"
    _experiment(root)
    experiment_dirs.clear_experiment(root, "optimizers", OUTPUTS)
    assert _tree(root) == {experiment_dirs.EXPERIMENT_MARKER}
    record = json.loads((root / experiment_dirs.EXPERIMENT_MARKER).read_text())
    assert record["experiment"] == "optimizers" and record["adopted"]


def test_clear_experiment_keeps_the_users_files_in_the_root_and_in_a_run(tmp_path):
    root = experiment_dirs.claim_experiment(tmp_path / "exp", "optimizers", OUTPUTS)
    _experiment(root)
    (root / "my_notes.txt").write_text("mine")
    (root / "task" / "opt_sgd" / "plot_by_hand.png").write_text("mine")
    (root / "mine" / "deep").mkdir(parents=True)
    (root / "mine" / "deep" / "data.csv").write_text("1,2")
    (root / "mine" / "results.json").write_text("not the root's")  # patterns are per level
    (tmp_path / "outside").mkdir()
    _older_run(tmp_path / "outside" / "run")
    os.symlink(tmp_path / "outside", root / "link")  # never followed
    experiment_dirs.clear_experiment(root, "optimizers", OUTPUTS)
    assert _tree(root) == {
        experiment_dirs.EXPERIMENT_MARKER,
        "my_notes.txt",
        "link",
        "mine",
        "mine/deep",
        "mine/deep/data.csv",
        "mine/results.json",
        "task",
        "task/opt_sgd",
        "task/opt_sgd/plot_by_hand.png",
        "task/opt_sgd/" + wd.MARKER,  # still jaxdl's run folder: the next run goes there
    }
    assert wd.has_checkpoints(tmp_path / "outside" / "run")
    experiment_dirs.fresh_run(root / "task" / "opt_sgd", _config())  # adopted, the user's file kept
    assert (root / "task" / "opt_sgd" / "plot_by_hand.png").exists()


def test_an_unmarked_folder_with_other_files_is_refused_untouched(tmp_path):
    root = tmp_path / "exp"
    _experiment(root)
    (root / "task" / "sweep_sgd" / "thesis.tex").write_text("mine")
    before = _tree(root)
    for call in (experiment_dirs.claim_experiment, experiment_dirs.clear_experiment):
        with pytest.raises(ConfigError, match=r"task/sweep_sgd/thesis\.tex"):
            call(root, "optimizers", OUTPUTS)
        assert _tree(root) == before


def test_another_experiments_folder_and_a_run_are_refused(tmp_path):
    other = experiment_dirs.claim_experiment(tmp_path / "bn", "batchnorm")
    _older_run(other / "bn0_lr0.1")
    with pytest.raises(ConfigError, match="'batchnorm', not of 'regularization'"):
        experiment_dirs.clear_experiment(other, "regularization")
    assert wd.has_checkpoints(other / "bn0_lr0.1")
    run = _marked_run(tmp_path / "run")
    with pytest.raises(ConfigError, match="single jaxdl run"):
        experiment_dirs.clear_experiment(run, "regularization")
    assert wd.has_checkpoints(run)
    with pytest.raises(ConfigError, match="is a file"):
        experiment_dirs.claim_experiment(run / "summary.json", "regularization")


def test_a_sub_run_in_use_is_not_cleared(tmp_path):
    root = experiment_dirs.claim_experiment(tmp_path / "exp", "degradation")
    run = _marked_run(root / "resnet20")
    with wd.lock(run), pytest.raises(ConfigError, match="in use"):
        experiment_dirs.clear_experiment(root, "degradation")
    assert wd.has_checkpoints(run)


def test_fault_injection_outputs_clear_its_folder(tmp_path):
    root = tmp_path / "fi"
    _marked_run(root / "reference")
    (root / "logs").mkdir()  # the script's own files: each process's stderr, the phase
    (root / "logs" / "stderr_1.txt").write_text("log")
    (root / "logs" / "phase.txt").write_text("train 3")
    (root / "report.json").write_text("{}")
    (root / "README").write_text("mine")
    with pytest.raises(ConfigError, match="README"):  # unmarked, and not all jaxdl's
        experiment_dirs.clear_experiment(root, "fault_injection", fault_injection.OUTPUTS)
    (root / "README").unlink()
    experiment_dirs.clear_experiment(root, "fault_injection", fault_injection.OUTPUTS)
    assert _tree(root) == {experiment_dirs.EXPERIMENT_MARKER}
    (root / "README").write_text("mine")  # now marked: a file of the user's stays
    _marked_run(root / "killed")
    (root / "logs").mkdir()
    (root / "logs" / "stderr_2.txt").write_text("log")
    experiment_dirs.clear_experiment(root, "fault_injection", fault_injection.OUTPUTS)
    assert _tree(root) == {experiment_dirs.EXPERIMENT_MARKER, "README"}


def test_claim_experiment_marks_a_new_folder_and_keeps_its_marker(tmp_path):
    root = experiment_dirs.claim_experiment(tmp_path / "new", "multitask")
    first = (root / experiment_dirs.EXPERIMENT_MARKER).read_text()
    assert json.loads(first)["experiment"] == "multitask"
    _older_run(root / "mnist" / "0_seed0")
    assert experiment_dirs.claim_experiment(root, "multitask") == root
    assert (root / experiment_dirs.EXPERIMENT_MARKER).read_text() == first
    assert wd.has_checkpoints(root / "mnist" / "0_seed0")  # claiming deletes nothing
