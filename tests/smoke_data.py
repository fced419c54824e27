"""Generated stand-ins for the datasets of train/configs, and 2-step overrides (not tests).

Shared by test_config_smoke.py (every config for 2 steps) and test_doc_commands.py
(every documented command line). Only MNIST is embedded in the package; every other
dataset is written here in its original format by the independent writers of
``datafiles.py`` (IDX, CIFAR binary, SVHN .mat, STL-10 binary, image folders), or
mocked (TFDS ImageNet and Oxford-IIIT Pet), with just enough examples for two steps.
``python tests/smoke_data.py CONFIG ROOT`` runs one config so (``main``), for tests
that need a subprocess.
"""

import contextlib
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from datafiles import (
    write_cifar10_binary,
    write_cifar100_binary,
    write_idx,
    write_png_folder,
    write_stl10,
    write_svhn,
)
from PIL import Image

from jaxdl.data.splits import parse_split
from train.validate import TASKS, validate

BATCH = 8  # one example per device of the tests' 8 CPU devices
STEPS = 2
# Registered datasets written as files (data.data_dir); MNIST is embedded, TFDS ones mocked.
NEEDS_FILES = {"fashion_mnist", "cifar10", "cifar100", "svhn", "stl10"}


def _fashion_mnist(root: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    folder = root / "fashion_mnist"
    folder.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))


def write_datasets(root: Path, names: set[str] | None = None, n: int = 24) -> Path:
    """Writes at least ``n`` examples per split of each dataset of ``NEEDS_FILES`` in
    ``names`` (default: all) under ``root``, in layouts ``jaxdl.data.load`` reads with
    ``data_dir=root``; returns ``root``."""
    names = NEEDS_FILES if names is None else set(names) & NEEDS_FILES
    root.mkdir(parents=True, exist_ok=True)
    if "fashion_mnist" in names:
        _fashion_mnist(root, n)
    if "cifar10" in names:
        write_cifar10_binary(root / "cifar-10-batches-bin", n)  # n per batch file
    if "cifar100" in names:
        write_cifar100_binary(root / "cifar-100-binary", n)
    if "svhn" in names:
        write_svhn(root / "train_32x32.mat", n, 0)
        write_svhn(root / "test_32x32.mat", n, 1)
    if "stl10" in names:
        write_stl10(root / "stl10_binary", n)
    return root


def write_image_folder(root: Path, classes: int = 3, per_class: int = 8, size: int = 32) -> Path:
    """``root/<class>/*.png``: RGB images of one size."""
    write_png_folder(root, {f"class{c}": per_class for c in range(classes)}, (size, size))
    return root


def write_paired_folder(root: Path, n: int = 16, side: int = 16) -> Path:
    """pix2pix's layout: ``root/{train,val,test}/*.png``, each ``[A | B]`` side by side."""
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        for i in range(n):
            pair = rng.integers(0, 256, (side, 2 * side, 3), dtype=np.uint8)
            Image.fromarray(pair).save(root / split / f"{i:03d}.png")
    return root


def write_resnet18_pth(path: Path) -> Path:
    """A torchvision-layout ResNet-18 state_dict (random weights), as the download is."""
    import torch

    from benchmarks.peers import torchvision_arch

    torch.manual_seed(0)
    torch.save(torchvision_arch.build("resnet18").state_dict(), path)
    return path


def _pet_examples(n: int, side: int = 8) -> list[dict]:
    """Oxford-IIIT Pet-like examples: trimaps with values 1..3."""
    rng = np.random.default_rng(2)
    return [
        {
            "image": rng.integers(0, 256, (side, side, 3), dtype=np.uint8),
            "segmentation_mask": rng.integers(1, 4, (side, side, 1), dtype=np.uint8),
            "label": 0,
        }
        for _ in range(n)
    ]


@contextlib.contextmanager
def data_context(data_name: str) -> Iterator[None]:
    """TFDS mocks for the datasets that TFDS serves: ImageNet and Oxford-IIIT Pet."""
    if data_name == "imagenet2012":
        import tensorflow_datasets as tfds

        with tfds.testing.mock_data(num_examples=2 * BATCH * STEPS):
            yield
    elif data_name.startswith("tfds:"):
        import tensorflow_datasets as tfds

        examples = _pet_examples(BATCH * STEPS)
        with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: examples):
            yield
    else:
        yield


def _head(split: str, n: int) -> str:
    """The first ``n`` examples of ``split``'s first base split: 'train[:90%]' -> 'train[:n]'."""
    return f"{parse_split(split)[0].name}[:{n}]" if split else ""


def two_step_overrides(config) -> dict[str, object]:
    """Dotted config keys -> values that make ``config`` train exactly ``STEPS`` steps,
    cheaply, without changing its model, optimizer, loss or augmentation: batch sizes of
    ``BATCH`` (``BATCH`` x d_steps for GANs), the splits' first examples (4 times more
    when ``data.classes`` keeps a subset of the labels), ``STEPS`` steps, no
    classifier-FID (it would train a second model), quiet logging of every step."""
    batch = BATCH * max(1, config.gan.d_steps) if config.task == "gan" else BATCH
    subset = 4 if tuple(config.data.classes) else 1
    out = {
        "train.batch_size": batch,
        "train.eval_batch_size": BATCH,
        "train.max_steps": STEPS,
        "train.log_every_steps": 1,
        "train.progress": False,
        "data.train_split": _head(config.data.train_split, batch * STEPS * subset),
        "data.val_split": _head(config.data.val_split, BATCH * subset),
        "data.test_split": _head(config.data.test_split, BATCH * subset),
        "gan.fid_classifier": "",
    }
    if config.data.name == "imagenet2012":
        out["data.num_workers"] = 0
    if config.task == "segmentation":
        out["segmentation.num_pictures"] = min(config.segmentation.num_pictures, BATCH)
    return out


def prepare(config, root: Path) -> None:
    """Points ``config`` at generated files under ``root`` (its data, and a torchvision
    ``.pth`` for ``model.init_from``) and applies ``two_step_overrides``."""
    name = config.data.name
    if name in NEEDS_FILES:
        config.data.data_dir = str(write_datasets(root / "data", {name}))
    elif name.startswith("image_folder:"):
        config.data.name = "image_folder:" + str(write_image_folder(root / "images"))
    elif name.startswith("paired_folder:"):
        config.data.name = "paired_folder:" + str(write_paired_folder(root / "pairs"))
    if config.model.init_from:
        config.model.init_from = str(write_resnet18_pth(root / "resnet18.pth"))
    apply(config, two_step_overrides(config))


def run(config, workdir: Path):
    """``train.validate.validate`` then the task's ``run(config, workdir)``, as
    ``python -m train`` does (the runner module named by ``train.validate.TASKS``)."""
    validate(config)
    runner = importlib.import_module(TASKS[config.task])
    with data_context(config.data.name):
        return runner.run(config, workdir)


def apply(config, overrides: dict[str, object]) -> None:
    """Sets dotted ``overrides`` on ``config`` (unlocked or not)."""
    for dotted, value in overrides.items():
        *parents, key = dotted.split(".")
        sub = config
        for p in parents:
            sub = sub[p]
        sub[key] = value


def main(argv: list[str]) -> None:
    """``python tests/smoke_data.py CONFIG ROOT [KEY=JSON ...]``: ``prepare`` the
    ``train/configs`` module CONFIG in ROOT, set the extra dotted keys, and ``run`` it
    in ROOT/run (the caller chooses the devices through ``XLA_FLAGS``)."""
    name, root = argv[0], Path(argv[1])
    config = importlib.import_module(f"train.configs.{name}").get_config()
    prepare(config, root)
    apply(config, {k: json.loads(v) for k, v in (a.split("=", 1) for a in argv[2:])})
    run(config, root / "run")


if __name__ == "__main__":  # from the repository root, PYTHONPATH=.:tests
    main(sys.argv[1:])
