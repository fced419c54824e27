"""Validation suite: every kind of bad input must give one clear paragraph, no traceback.

  python -m train.validation_suite [--workdir runs/validation_suite]

Each case runs ``python -m train`` (on 8 fake CPU devices, so batch divisibility is
exercised) with one invalid input: unknown or mistyped config keys, out-of-range
values, impossible augmentations, corrupted or truncated dataset files, empty image
folders, unreadable images, missing datasets, unreadable checkpoints, a workdir that
holds another run. A case passes when the run exits non-zero within the time limit,
prints no traceback, and its error names the field or file (an expected substring).
"""

import argparse
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BASE = [
    "--config=train/configs/mnist_mlp.py",
    "--config.data.train_split=train[:512]",
    "--config.data.val_split=train[512:640]",
    "--config.data.test_split=test[:128]",
    "--config.model.kwargs.width=16",
    "--config.train.batch_size=64",
    "--config.train.eval_batch_size=64",
    "--config.train.num_epochs=1",
    "--config.train.progress=False",
]


@dataclass
class Case:
    """One invalid input and the text its error must contain."""

    name: str
    args: list[str]
    expect: str
    setup: Callable[[Path], None] | None = None
    extra: list[str] = field(default_factory=list)


def _idx(path: Path, array: np.ndarray, magic_type=0x08, truncate=0, bad_magic=False):
    header = struct.pack(">BBBB", 0, 0, magic_type, array.ndim)
    if bad_magic:
        header = b"\x12\x34" + header[2:]
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(data[: len(data) - truncate] if truncate else data)


def _mnist_files(root: Path, **damage) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 700), ("t10k", 200)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        _idx(root / "mnist" / f"{split}-images-idx3-ubyte.gz", images, **damage)
        _idx(root / "mnist" / f"{split}-labels-idx1-ubyte.gz", labels)


def _folder(root: Path, unreadable=False, empty=False) -> None:
    for cls in ("a", "b"):
        d = root / "imgs" / cls
        d.mkdir(parents=True, exist_ok=True)
        if empty:
            continue
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(d / f"{i}.png")
    if unreadable:
        (root / "imgs" / "a" / "broken.png").write_bytes(b"not a png at all")


def _corrupt_checkpoints(root: Path) -> None:
    ok = _run([*BASE, f"--workdir={root / 'run'}"])
    assert ok.returncode == 0, ok.stderr[-2000:]
    for f in (root / "run" / "checkpoints").rglob("*"):
        if f.is_file() and "state" in f.parts and f.stat().st_size > 1000:
            f.write_bytes(f.read_bytes()[:100])


def _other_run(root: Path) -> None:
    ok = _run([*BASE, f"--workdir={root / 'run'}", "--config.optimizer.learning_rate=0.2"])
    assert ok.returncode == 0, ok.stderr[-2000:]


CASES = [
    Case("unknown key (typo)", ["--config.train.batchsize=64"], 'Did you mean "batch_size"'),
    Case("wrong type", ["--config.train.batch_size=abc"], "batch_size"),
    Case("unknown top-level key in override", ["--config.optimiser.name=sgd"], "optimiser"),
    Case("learning rate <= 0", ["--config.optimizer.learning_rate=-0.1"], "learning_rate"),
    Case("dropout outside [0,1)", ["--config.model.kwargs.dropout_rate=1.0"], "dropout_rate"),
    Case("batch not divisible by devices", ["--config.train.batch_size=60"], "multiple of the 8"),
    Case("crop larger than image", ["--config.data.augment=random_crop(size=40)"], "random_crop"),
    Case("unknown augmentation", ["--config.data.augment=twirl()"], "twirl"),
    Case("num_classes against the dataset", ["--config.model.kwargs.num_classes=3"], "num_classes"),
    Case("unknown model", ["--config.model.name=resnet9000"], "resnet9000"),
    Case("unknown model field", ["--config.model.kwargs.widht=3"], "widht"),
    Case("unknown optimizer", ["--config.optimizer.name=adamax2"], "adamax2"),
    Case("unknown schedule", ["--config.optimizer.schedule=cosinus"], "cosinus"),
    Case("bad split string", ["--config.data.train_split=train[:150%]"], "150%"),
    Case("bad dtype", ["--config.model.dtype=float8"], "model.dtype"),
    Case("missing dataset", ["--config.data.name=svhn"], "svhn"),
    Case(
        "IDX with bad magic",
        [],
        "is not an IDX file",
        setup=lambda r: _mnist_files(r / "data", bad_magic=True),
        extra=["--config.data.data_dir={tmp}/data"],
    ),
    Case(
        "truncated IDX",
        [],
        "train-images-idx3-ubyte.gz",
        setup=lambda r: _mnist_files(r / "data", truncate=500),
        extra=["--config.data.data_dir={tmp}/data"],
    ),
    Case(
        "image folder without images",
        [
            "--config.data.train_split=train",
            "--config.data.val_split=",
            "--config.data.test_split=",
        ],
        "No .png",
        setup=lambda r: _folder(r, empty=True),
        extra=["--config.data.name=image_folder:{tmp}/imgs"],
    ),
    Case(
        "unreadable image file",
        [
            "--config.data.train_split=train",
            "--config.data.val_split=",
            "--config.data.test_split=",
        ],
        "broken.png",
        setup=lambda r: _folder(r, unreadable=True),
        extra=["--config.data.name=image_folder:{tmp}/imgs"],
    ),
    Case(
        "every checkpoint corrupted",
        [],
        "No readable checkpoint",
        setup=_corrupt_checkpoints,
        extra=["--workdir={tmp}/run", "--config.train.num_epochs=2"],
    ),
    Case(
        "workdir holds another config's run",
        [],
        "holds a run of a different config",
        setup=_other_run,
        extra=["--workdir={tmp}/run"],
    ),
]


def _run(args: list[str], devices: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return subprocess.run(
        [sys.executable, "-m", "train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def check(case: Case, tmp: Path) -> dict:
    """Runs one case in ``tmp``; returns its verdict."""
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if case.setup is not None:
        case.setup(tmp)
    extra = [a.format(tmp=tmp) for a in case.extra]
    workdir = [] if any(a.startswith("--workdir") for a in extra) else [f"--workdir={tmp}/w"]
    t0 = time.perf_counter()
    proc = _run([*BASE, *case.args, *extra, *workdir], devices=8)
    seconds = time.perf_counter() - t0
    err = proc.stderr.strip()
    lines = [x for x in err.splitlines() if x.startswith("error")]
    clear = (
        proc.returncode != 0 and "Traceback" not in err and case.expect in err and len(lines) == 1
    )
    return {
        "case": case.name,
        "exit": proc.returncode,
        "seconds": round(seconds, 1),
        "clear": clear,
        "message": lines[0] if lines else err[-300:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/validation_suite", type=Path)
    args = parser.parse_args()
    results = [check(c, args.workdir / f"case_{i:02d}") for i, c in enumerate(CASES)]
    for r in results:
        print(f"[{'ok' if r['clear'] else 'FAIL'}] {r['case']} ({r['seconds']} s): {r['message']}")
    n_clear = sum(r["clear"] for r in results)
    print(f"invalid inputs tried: {len(results)} | clear errors given: {n_clear}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "report.json").write_text(json.dumps(results, indent=2))
    sys.exit(0 if n_clear == len(results) else 1)


if __name__ == "__main__":
    main()
