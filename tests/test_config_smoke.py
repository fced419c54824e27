"""Every config of train/configs/ trains 2 steps (smoke test), found by globbing the folder.

Each config runs as ``python -m train`` runs it: ``train.validate.validate`` then the
``run(config, workdir)`` of the runner ``train.validate.TASKS`` names, with overrides
that keep it cheap without changing the model, optimizer, loss or augmentation
(``smoke_data.two_step_overrides``: batch 8 = one example per test device, the first
examples of each split, ``train.max_steps=2``, classifier-FID off). Data: the embedded
MNIST; every other dataset generated in its original format, or mocked (TFDS ImageNet,
Oxford-IIIT Pet); see smoke_data.py. Checked: exactly 2 optimizer steps (the final
state and summary.json), a training loss logged at each step, every logged loss finite.
The Gaussian model is fitted in closed form (no steps): its fit and likelihood must be
finite.

Cost (2 shared CPU cores, 8 devices): compiling is most of it, 1 to 55 s a config. The
main job's config and the smallest run in the default stage (``DEFAULT_STAGE``); every
other one, and any config added later, in the ``heavy`` stage (``pytest -m heavy``,
about 10 minutes: beyond the slow stage's budget; docs/testing.md). The ImageNet
models run at a reduced crop in a subprocess on one device (``SUBPROCESS``, which says
why); ``BROKEN`` names the configs that cannot run, and why.
"""

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import processes
import pytest
import smoke_data

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(
    p.stem
    for p in (ROOT / "train" / "configs").glob("*.py")
    if p.stem not in ("__init__", "defaults")
)
DEFAULT_STAGE = {"mnist_mlp", "mnist_lenet5"}  # the main job's config and the smallest
# Configs run in a subprocess (``python tests/smoke_data.py``): config -> (devices,
# overrides). ImageNet models on one device at a reduced crop (AlexNet's valid
# convolutions need 96 px): 8 replicas of their parameters and optimizer state exceed a
# CI machine's memory.
SUBPROCESS = {
    "imagenet_alexnet": (1, {"data.image_size": 96, "data.eval_resize": 108}),
    "pix2pix_facades": (1, {}),  # a 59M-parameter generator: 8 replicas, 8 x its memory
    "imagenet_googlenet": (1, {"data.image_size": 64, "data.eval_resize": 72}),
    "imagenet_resnet50": (1, {"data.image_size": 64, "data.eval_resize": 72}),
    "imagenet_vgg16": (1, {"data.image_size": 64, "data.eval_resize": 72}),
    "imagenet_zfnet": (1, {"data.image_size": 64, "data.eval_resize": 72}),
}
BROKEN: dict[str, str] = {}  # config -> why it cannot run here (none now)


def _marks(name: str) -> list:
    if name in BROKEN:  # run=False: running it would exhaust the machine's memory
        return [pytest.mark.xfail(reason=BROKEN[name], run=False, strict=True)]
    marks = [] if name in DEFAULT_STAGE else [pytest.mark.heavy]
    return marks


def _run_subprocess(name: str, root: Path) -> None:
    """The same preparation and run in ``python tests/smoke_data.py``."""
    devices, extra = SUBPROCESS[name]
    env = processes.env(devices, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    args = [f"{k}={json.dumps(v)}" for k, v in extra.items()]
    proc = subprocess.run(
        [sys.executable, "tests/smoke_data.py", name, str(root), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,  # pix2pix_facades: 2 steps of its 59M-parameter generator take ~210 s
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def _logged(workdir: Path) -> list[dict]:
    path = workdir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.usefixtures("isolated_data")  # no $JAXDL_DATA_DIR, TFDS or system copies
@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in CONFIGS])
def test_config_trains_two_steps(name, tmp_path):
    workdir = tmp_path / "run"
    config = importlib.import_module(f"train.configs.{name}").get_config()
    if config.model.init_from:
        pytest.importorskip("torch", reason="the torchvision .pth is written with PyTorch")
    if name in SUBPROCESS:
        _run_subprocess(name, tmp_path)
        state = None
    else:
        smoke_data.prepare(config, tmp_path)
        result = smoke_data.run(config, workdir)
        state = result.state
    summary = json.loads((workdir / "summary.json").read_text())
    if config.model.name == "gaussian":  # fitted in closed form: no training steps
        assert state is None and not (workdir / "checkpoints").exists()
        assert summary["components"] >= 1
        assert math.isfinite(summary["test_log_likelihood_nats"])
        return
    if state is not None:
        assert int(state.step) == smoke_data.STEPS
    assert summary["steps"] == smoke_data.STEPS
    rows = _logged(workdir)
    losses = [v for r in rows for k, v in r.items() if "loss" in k]
    assert losses and all(math.isfinite(v) for v in losses), rows
    train_steps = {r["step"] for r in rows if any(k.startswith("train_") for k in r)}
    assert train_steps == set(range(1, smoke_data.STEPS + 1))


@pytest.mark.parametrize("name", CONFIGS)
def test_config_validates_and_builds_its_optimizer(name):
    """The default stage's cheap check of every config (the 2-step runs are heavy): it
    validates and its optimizer and schedule build (e.g. a config derived from another
    must not inherit a schedule whose arguments it replaced)."""
    from train import build
    from train.validate import validate

    config = importlib.import_module(f"train.configs.{name}").get_config()
    config.model.init_from = ""  # a weights file that is not here (the 2-step run writes one)
    validate(config)
    if config.task != "gan":  # GANs build their two Adam optimizers from gan.*
        tx = build.optimizer(config, steps_per_epoch=12)
        assert callable(tx.init) and callable(tx.update)
