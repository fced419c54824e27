"""The best-practice doctor: each check flags a planted problem and passes a clean setup.

Data come from small generated PNG folders (``datafiles.write_png_folder``) read
through the ``image_folder:`` dataset, and from the embedded MNIST.
"""

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import processes
import pytest
from datafiles import write_png_folder

from jaxdl.training import doctor_checks as dc
from train import doctor
from train.configs import mnist_mlp
from train.sweep import RateResult

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDL_CACHE_DIR", str(tmp_path / "cache"))


def _folder(root: Path, per_class=(12, 12), test_per_class=5, seed=0) -> Path:
    layout = {f"train/c{k}": n for k, n in enumerate(per_class)}
    layout |= {f"test/c{k}": test_per_class for k in range(len(per_class))}
    write_png_folder(root, layout, size=(8, 8), mode="L", seed=seed)
    return root


def _config(root: Path, rate=0.01):
    c = mnist_mlp.get_config()
    c.data.name = f"image_folder:{root}"
    c.data.train_split, c.data.val_split, c.data.test_split = "train", "", "test"
    c.model.kwargs.width = 32
    c.model.kwargs.dropout_rate = 0.0
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = rate
    c.optimizer.schedule = "constant"
    c.optimizer.schedule_kwargs = {}
    c.train.batch_size = 8
    return c


# ------------------------------------------------------------------ data checks


def test_nan_pixels_are_flagged_with_their_count():
    x = np.random.default_rng(0).uniform(0, 255, (10, 4, 4, 1))
    assert dc.check_finite(x).passed
    x[[2, 7], 1, 1, 0] = [np.nan, np.inf]
    v = dc.check_finite(x)
    assert not v.passed and "2 of 10" in v.detail and "index 2" in v.detail


def test_value_range_flags_out_of_scale_and_constant_images():
    x = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 1)).astype(np.uint8)
    assert dc.check_value_range(x).passed
    assert not dc.check_value_range(x.astype(np.float64) * 2.0).passed  # max 510 > 255
    assert not dc.check_value_range(np.full((3, 2, 2, 1), 7, np.uint8)).passed


def test_label_out_of_range_is_flagged():
    y = np.arange(20) % 10
    assert dc.check_labels(y, 10).passed
    y[3] = 10
    v = dc.check_labels(y, 10)
    assert not v.passed and "1 of 20 outside [0, 10)" in v.detail
    assert not dc.check_labels(y.astype(np.float32), 11).passed  # float labels


def test_class_balance_ratio_against_numpy_counts():
    y = np.array([0] * 50 + [1] * 5 + [2] * 20)
    counts = np.bincount(y)
    v = dc.check_class_balance(y, 3, max_ratio=5.0)
    assert f"ratio {counts.max() / counts.min():.2f}" in v.detail and v.passed is False
    assert dc.check_class_balance(y, 3, max_ratio=10.0).passed
    assert not dc.check_class_balance(y, 4).passed  # class 3 has no example: ratio inf


def test_normalization_flags_unstandardized_inputs():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1, (500, 4, 4, 3))
    assert dc.check_normalization(z).passed
    raw = rng.uniform(0, 1, (500, 4, 4, 3))  # [0, 1] pixels: mean .5, std .29
    v = dc.check_normalization(raw)
    assert not v.passed and "0.5" in v.detail


def test_overlap_counts_duplicated_test_images_by_content_hash():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (30, 6, 6, 1), dtype=np.uint8)
    test = rng.integers(0, 256, (10, 6, 6, 1), dtype=np.uint8)
    assert dc.check_overlap(train, test).passed
    test[[1, 4, 9]] = train[[0, 5, 29]]
    v = dc.check_overlap(train, test)
    assert not v.passed and "3 of 10" in v.detail and "[1, 4, 9]" in v.detail
    assert dc.check_overlap(train, test, max_fraction=0.3).passed
    # The hash is SHA-1 of each image's bytes.
    assert dc.content_hashes(train[:1]) == [hashlib.sha1(train[0].tobytes()).hexdigest()]


def test_data_checks_on_generated_splits_flag_planted_duplicates(tmp_path):
    from train.build import load_splits

    root = _folder(tmp_path / "imgs")
    for i, f in enumerate(sorted((root / "test" / "c1").glob("*.png"))[:2]):
        shutil.copy(f, root / "train" / "c1" / f"dup{i}.png")
    splits, names = load_splits(_config(root).data)
    verdicts = {v.name: v for v in doctor.data_checks(splits, len(names))}
    assert not verdicts["train/test overlap"].passed
    assert "2 of 10 test images" in verdicts["train/test overlap"].detail
    others = [v for k, v in verdicts.items() if k != "train/test overlap"]
    assert all(v.passed for v in others), [v.line() for v in others if not v.passed]


# --------------------------------------------------------------- training checks


def test_overfit_check_passes_a_learnable_setup_and_flags_a_frozen_one(tmp_path):
    root = _folder(tmp_path / "imgs")
    cfg = _config(root)
    from train.build import load_splits

    splits, names = load_splits(cfg.data)
    at, losses = doctor.overfit_losses(cfg, splits["train"], len(names), 100, 20)
    assert at == list(range(0, 101, 10)) and len(losses) == 11
    assert losses[0] > 0.3  # an untrained net (log 2 = 0.69 at uniform outputs)
    v = dc.check_overfit(losses, 0.05, 20, at)
    assert v.passed and "(step 100)" in v.detail
    cfg.optimizer.learning_rate = 1e-7  # cannot move the weights in 100 steps
    _, frozen = doctor.overfit_losses(cfg, splits["train"], len(names), 100, 20)
    v = dc.check_overfit(frozen, 0.05)
    assert not v.passed and "cannot fit" in v.detail
    assert frozen[-1] == pytest.approx(frozen[0], rel=1e-3)  # the weights did not move
    assert dc.check_overfit([2.0, 0.5, 0.01], 0.05, steps=[0, 10, 20]).detail.endswith(
        "first below at step 20)"
    )


def test_rate_sweep_verdict_stable_range_and_suggestion():
    def r(lr, loss, diverged=False):
        return RateResult(lr, "", diverged, math.nan if diverged else loss, math.nan, math.nan, 0)

    results = [r(0.3, 0, True), r(0.1, 2.5), r(0.03, 0.4), r(0.01, 0.3)]
    results += [r(0.001, 1.9), r(1e-4, 2.4)]
    chance = math.log(10)
    v = dc.check_rate_sweep(results, 0.01, chance)
    assert v.passed and "suggested 0.01" in v.detail and "stable range [0.001, 0.03]" in v.detail
    assert not dc.check_rate_sweep(results, 0.1, chance).passed  # above chance at 0.1
    assert not dc.check_rate_sweep(results, 1e-4, chance).passed
    assert not dc.check_rate_sweep([r(0.3, 0, True)], 0.3, chance).passed


def test_history_flags_divergence_plateau_and_gap():
    def rows(train, val_acc=None, train_acc=None):
        out = [{"step": 10 * (i + 1), "train_loss": v} for i, v in enumerate(train)]
        if val_acc is not None:
            out[-1] |= {"train_accuracy": train_acc, "val_accuracy": val_acc, "val_loss": 0.5}
        return out

    good = {v.name: v.passed for v in dc.check_history(rows([2.3, 1.0, 0.4, 0.2], 0.9, 0.95))}
    assert good == {"loss divergence": True, "loss plateau": True, "train/val gap": True}
    nan = {v.name: v.passed for v in dc.check_history(rows([2.3, 1.0, "nan"]))}
    assert nan["loss divergence"] is False
    stuck = {v.name: v.passed for v in dc.check_history(rows([2.30, 2.29, 2.31, 2.28]))}
    assert stuck["loss plateau"] is False
    gap = {v.name: v.passed for v in dc.check_history(rows([2.3, 0.1, 0.01], 0.7, 1.0))}
    assert gap["train/val gap"] is False
    assert not dc.check_history([{"step": 1, "val_accuracy": 0.5}])[0].passed


# --------------------------------------------------------------------------- CLI


def _cli(args, tmp_path):
    return processes.python_m("train.doctor", args, JAXDL_CACHE_DIR=str(tmp_path / "cache"))


def _cli_args(root):
    return [
        "--config=train/configs/mnist_mlp.py",
        f"--config.data.name=image_folder:{root}",
        "--config.data.train_split=train",
        "--config.data.val_split=",
        "--config.data.test_split=test",
        "--config.model.kwargs.width=32",
        "--config.model.kwargs.dropout_rate=0.0",
        "--config.optimizer.name=adam",
        "--config.optimizer.learning_rate=0.01",
        "--config.optimizer.schedule=constant",
        "--config.optimizer.schedule_kwargs={}",
        "--config.train.batch_size=8",
        "--skip=sweep",
        "--overfit_steps=100",
    ]


@pytest.mark.slow  # two `python -m train.doctor` processes; the checks are tested above
def test_cli_exit_code_clean_and_planted(tmp_path):
    root = _folder(tmp_path / "imgs")
    clean = _cli(_cli_args(root), tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr[-2000:]
    assert "FAIL" not in clean.stdout and "PASS overfit tiny subset" in clean.stdout
    assert "checks passed" in clean.stdout
    for f in sorted((root / "test" / "c0").glob("*.png"))[:1]:  # plant a test image in train
        shutil.copy(f, root / "train" / "c0" / "leak.png")
    planted = _cli([*_cli_args(root), "--skip=sweep,overfit"], tmp_path)
    assert planted.returncode == 1, planted.stderr[-2000:]
    assert "FAIL train/test overlap: 1 of 10 test images" in planted.stdout
    assert "overfit" not in planted.stdout


def test_unknown_check_name_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="Unknown checks to skip.*valid: data, overfit"):
        doctor.run_doctor(_config(tmp_path), skip=("nothing",))
