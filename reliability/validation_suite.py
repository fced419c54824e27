"""Validation suite: every kind of bad input must give one clear paragraph, no traceback.

  python -m reliability.validation_suite [--workdir runs/validation_suite] [--fast]

Each case gives ``python -m train``'s command line one invalid input: unknown or
mistyped config keys, out-of-range values (every rule of ``train.validate_ranges``
has a case), a ``train.best_metric`` the task does not report, a missing or broken
config file, impossible augmentations, corrupted or truncated dataset files, a wrong
``data.data_dir``, empty image folders, unreadable images, missing datasets,
unreadable checkpoints, a workdir that is a file, a foreign folder or another run.

Most cases are config values that ``train.validate.validate`` refuses: they are checked
in-process (the command line parsed by the same absl/ml_collections flags, then
``validate``), fast. The others run ``python -m train`` (on 8 fake CPU devices, so
batch divisibility is exercised). A case passes when the error comes within the time
limit, without a traceback, as one ``error ...`` line naming the field or file (an
expected substring); a subprocess must also exit non-zero. ``--fast``: in-process only.
"""

import argparse
import contextlib
import gzip
import io
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
from absl import flags
from PIL import Image

from train import cli
from train.__main__ import define_flags
from train.validate import validate

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
IN_PROCESS_SECONDS = 30  # an in-process case must be refused within this time


@dataclass
class Case:
    """One invalid input and the text its error must contain.

    ``process``: run ``python -m train`` (False: parse and validate in-process).
    ``base``: prefix ``BASE``. ``{tmp}`` in ``extra`` and ``expect`` is the case's folder.
    ``pending``: the change this case waits for (reported with its result).
    """

    name: str
    args: list[str]
    expect: str
    setup: Callable[[Path], None] | None = None
    extra: list[str] = field(default_factory=list)
    process: bool = True
    base: bool = True
    pending: str = ""


def _v(name: str, overrides: str, expect: str, **kw) -> Case:
    """An in-process case: space-separated ``key=value`` config overrides."""
    args = [f"--config.{o}" for o in overrides.split()]
    return Case(name, args, expect, process=False, **kw)


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


def _files(files: dict[str, str]) -> Callable[[Path], None]:
    """A setup writing ``{tmp}/<relative path>`` text files."""

    def setup(root: Path) -> None:
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)

    return setup


_PENDING = "pending: train/__main__.py's parse_flags must catch "
_WHOLE = [f"--config.data.{s}" for s in ("train_split=train", "val_split=", "test_split=")]
SEG = "task=segmentation data.name=cracks model.name=unet"
GAN = "task=gan model.name=mlp_gan"
MT = "multitask.tasks=label,parity:0.5"
WARM = "optimizer.warmup_epochs=2 optimizer.warmup_learning_rate"

CASES = [
    Case("unknown key (typo)", ["--config.train.batchsize=64"], 'Did you mean "batch_size"'),
    Case("wrong type", ["--config.train.batch_size=abc"], "batch_size"),
    Case("unknown top-level key in override", ["--config.optimiser.name=sgd"], "optimiser"),
    Case("learning rate <= 0", ["--config.optimizer.learning_rate=-0.1"], "learning_rate"),
    _v("dropout outside [0,1)", "model.kwargs.dropout_rate=1.0", "dropout_rate"),
    Case("batch not divisible by devices", ["--config.train.batch_size=60"], "multiple of the 8"),
    Case("crop larger than image", ["--config.data.augment=random_crop(size=40)"], "random_crop"),
    Case("unknown augmentation", ["--config.data.augment=twirl()"], "twirl"),
    Case("num_classes against the dataset", ["--config.model.kwargs.num_classes=3"], "num_classes"),
    Case("unknown model", ["--config.model.name=resnet9000"], "resnet9000"),
    Case("unknown model field", ["--config.model.kwargs.widht=3"], "widht"),
    Case("unknown optimizer", ["--config.optimizer.name=adamax2"], "adamax2"),
    Case("unknown schedule", ["--config.optimizer.schedule=cosinus"], "cosinus"),
    Case("bad split string", ["--config.data.train_split=train[:150%]"], "150%"),
    _v("bad dtype", "model.dtype=float8", "model.dtype"),
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
        _WHOLE,
        "No .png",
        setup=lambda r: _folder(r, empty=True),
        extra=["--config.data.name=image_folder:{tmp}/imgs"],
    ),
    Case(
        "unreadable image file",
        _WHOLE,
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
    # Data folders, workdirs and --config files (python -m train).
    Case("data_dir does not exist", ["--config.data.data_dir={tmp}/nope"], "{tmp}/nope"),
    Case(
        "data_dir without the dataset",
        ["--config.data.data_dir={tmp}/empty"],
        "{tmp}/empty",
        setup=_files({"empty/notes.txt": "not a dataset"}),
    ),
    Case(
        "workdir is a regular file",
        ["--workdir={tmp}/run_file"],
        "is a file",
        setup=_files({"run_file": "some notes"}),
    ),
    Case(
        "foreign folder with --overwrite",
        ["--workdir={tmp}/thesis", "--overwrite"],
        "not a jaxdl run",
        setup=_files({"thesis/chapter1.tex": "\\chapter{One}"}),
    ),
    Case("config file does not exist", ["--config={tmp}/nope.py"], "nope.py", base=False),
    Case(
        "config file does not exist, with an override",
        ["--config={tmp}/nope.py", "--config.train.num_epochs=1"],
        "nope.py",
        base=False,
        pending=_PENDING + "OSError",
    ),
    Case(
        "config file with a syntax error",
        ["--config={tmp}/broken.py"],
        "broken.py",
        setup=_files({"broken.py": "def get_config(:\n    pass\n"}),
        base=False,
        pending=_PENDING + "SyntaxError",
    ),
    Case(
        "config file without get_config",
        ["--config={tmp}/no_get.py"],
        "get_config",
        setup=_files({"no_get.py": "X = 1\n"}),
        base=False,
    ),
    # Values refused by train.validate (in-process).
    Case(
        "config file missing", ["--config={tmp}/x.py"], "--config file", process=False, base=False
    ),
    _v("label smoothing 1", "loss.label_smoothing=1.0", "loss.label_smoothing must be in [0, 1)"),
    _v("negative l1", "loss.l1=-0.1", "loss.l1 must be >= 0"),
    _v("NaN l2", "loss.l2=nan", "loss.l2 must be a finite number"),
    _v("negative aux loss weight", "loss.aux_loss_weight=-0.3", "loss.aux_loss_weight"),
    _v("infinite learning rate", "optimizer.learning_rate=inf", "optimizer.learning_rate"),
    _v("NaN in schedule kwargs", "optimizer.schedule_kwargs.kappa=nan", "kappa must be a finite"),
    _v("negative accumulate_steps", "optimizer.accumulate_steps=-1", "accumulate_steps"),
    _v("negative warmup epochs", "optimizer.warmup_epochs=-1", "optimizer.warmup_epochs"),
    _v("warm-up at rate 0", f"{WARM}=0.0", "warmup_learning_rate must be > 0"),
    _v("zero batch", "train.batch_size=0", "train.batch_size must be >= 1"),
    _v("zero eval batch", "train.eval_batch_size=0", "train.eval_batch_size must be >= 1"),
    _v("zero epochs", "train.num_epochs=0", "train.num_epochs must be >= 1"),
    _v("zero log interval", "train.log_every_steps=0", "train.log_every_steps must be >= 1"),
    _v("zero eval interval", "train.eval_every_epochs=0", "train.eval_every_epochs"),
    _v("keep no checkpoint", "train.max_to_keep=0", "train.max_to_keep must be >= 1"),
    _v("max_steps 0", "train.max_steps=0", "train.max_steps must be -1 or >= 1"),
    _v("early stopping patience -2", "train.early_stopping_patience=-2", "-1 or >= 0"),
    _v("negative min_delta", "train.early_stopping_min_delta=-0.01", "min_delta must be >= 0"),
    _v("negative restart patience", "train.restart_patience=-1", "train.restart_patience"),
    _v("negative max_restarts", "train.max_restarts=-1", "train.max_restarts must be >= 0"),
    _v("restart decay 0", "train.restart_decay=0", "train.restart_decay must be in (0, 1]"),
    _v("restart decay > 1", "train.restart_decay=1.5", "train.restart_decay must be in (0, 1]"),
    _v("negative skip budget", "train.max_skipped_steps=-1", "max_skipped_steps must be >= 0"),
    _v("negative seed", "seed=-1", "seed must be in [0,"),
    _v("seed past 32 bits", "seed=4294967296", "seed must be in [0,"),
    _v("negative padding", "data.pad_to=-4", "data.pad_to must be >= 0"),
    _v("zero crop side", "data.image_size=0", "data.image_size must be >= 1"),
    _v("negative grain workers", "data.num_workers=-1", "data.num_workers must be >= 0"),
    _v("eval resize below the crop", "data.eval_resize=100", "data.eval_resize=100 must be >="),
    _v("scale range reversed", "data.scale_range=(512,256)", "data.scale_range"),
    _v("negative class label", "data.classes=(1,-2)", "data.classes"),
    _v("curriculum start 0", "data.curriculum.start=0.0", "data.curriculum.start"),
    _v("curriculum full_at > 1", "data.curriculum.full_at=1.5", "data.curriculum.full_at"),
    _v("negative trunk factor", "transfer.trunk_lr_factor=-1.0", "trunk_lr_factor must be >= 0"),
    _v("NaN dropout", "model.kwargs.dropout_rate=nan", "dropout_rate must be a finite"),
    _v("GAN beta1 = 1", f"{GAN} gan.beta1=1.0", "gan.beta1 must be in [0, 1)"),
    _v("GAN beta2 < 0", f"{GAN} gan.beta2=-0.1", "gan.beta2 must be in [0, 1)"),
    _v("GAN G rate 0", f"{GAN} gan.g_learning_rate=0.0", "gan.g_learning_rate must be > 0"),
    _v("GAN D rate < 0", f"{GAN} gan.d_learning_rate=-1e-4", "gan.d_learning_rate"),
    _v("GAN zero latent", f"{GAN} gan.latent_dim=0", "gan.latent_dim must be >= 1"),
    _v("R1 weight < 0", f"{GAN} gan.r1_gamma=-1.0", "gan.r1_gamma must be >= 0"),
    _v("lazy R1 every 0 steps", f"{GAN} gan.r1_every=0", "gan.r1_every must be >= 1"),
    _v("w_avg decay = 1", f"{GAN} gan.w_avg_beta=1.0", "gan.w_avg_beta must be in [0, 1)"),
    _v("GAN zero d_steps", f"{GAN} gan.d_steps=0", "gan.d_steps must be >= 1"),
    _v("GAN batch vs d_steps", f"{GAN} gan.d_steps=3", "multiple of gan.d_steps=3"),
    _v("GAN one FID sample", f"{GAN} gan.fid_samples=1", "gan.fid_samples must be >= 2"),
    _v("GAN edge threshold 1", f"{GAN} gan.edge_threshold=1.0", "gan.edge_threshold"),
    _v("GAN negative L1 weight", f"{GAN} gan.l1_weight=-1.0", "gan.l1_weight must be >= 0"),
    _v("GAN negative components", f"{GAN} gan.gaussian_components=-1", "gaussian_components"),
    _v("GAN no samples", f"{GAN} gan.num_samples=0", "gan.num_samples must be >= 1"),
    _v("GAN no FID sets", f"{GAN} gan.fid_seeds=0", "gan.fid_seeds must be >= 1"),
    _v("GAN L1 without condition", f"{GAN} gan.l1_weight=100.0", "needs a conditional GAN"),
    _v("GAN unknown condition", f"{GAN} gan.condition=edges", "gan.condition must be"),
    _v("GAN paired without folder", f"{GAN} gan.condition=paired", "paired_folder"),
    _v("seg negative dice weight", f"{SEG} segmentation.dice_weight=-1.0", "dice_weight"),
    _v("seg negative CE weight", f"{SEG} segmentation.ce_weight=-1.0", "ce_weight must be >= 0"),
    _v("seg no loss", f"{SEG} segmentation.ce_weight=0.0", "both 0"),
    _v("seg crack images too small", f"{SEG} segmentation.image_size=8", "must be >= 16"),
    _v("seg negative data seed", f"{SEG} segmentation.data_seed=-1", "data_seed"),
    _v("seg negative class weight", f"{SEG} segmentation.class_weights=(1.0,-1.0)", "weights"),
    _v("seg negative pictures", f"{SEG} segmentation.num_pictures=-1", "num_pictures"),
    _v("seg pictures over batch", f"{SEG} segmentation.num_pictures=999", "first evaluation"),
    _v("best_metric typo", "train.best_metric=val_acc", "val_accuracy"),
    _v("best_metric of another task", f"{SEG} train.best_metric=val_top5_accuracy", "val_miou"),
    _v("best_metric class typo", f"{SEG} train.best_metric=val_iou_cracks", "val_iou_crack"),
    _v("best_metric of no task", f"{MT} train.best_metric=val_parity_acc", "val_parity_accuracy"),
    _v("best_mode maximum", "train.best_mode=maximum", "train.best_mode"),
    _v("on_nonfinite ignore", "train.on_nonfinite=ignore", "train.on_nonfinite"),
    _v("unknown task", "task=regression", "task must be one of"),
]


def _run(args: list[str], devices: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    command = [sys.executable, "-m", "train", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _in_process(argv: list[str]) -> tuple[int, str]:
    """``(exit code, stderr)`` of ``python -m train argv`` up to ``validate``: the flags
    parsed by the command line's own ``train.cli.parse_flags`` (flag errors need a
    subprocess case)."""
    argv = ["python -m train"] + [
        f"--config={ROOT / a[9:]}" if a.startswith("--config=train/") else a for a in argv
    ]
    fv = flags.FlagValues()
    define_flags(fv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            cli.parse_flags(argv, fv)
    except SystemExit:  # reported, not raised
        return -1, f"flag parsing failed (run this case as a subprocess): {err.getvalue()}"
    try:
        with contextlib.redirect_stderr(err), cli.user_errors(debug=False):
            validate(fv.config)
    except SystemExit as e:
        return e.code, err.getvalue()
    except Exception as e:  # the command line shows a traceback
        return 1, f"Traceback (most recent call last):\n{type(e).__name__}: {e}"
    return 0, "validate accepted it"


def check(case: Case, tmp: Path) -> dict:
    """Runs one case in ``tmp``; returns its verdict."""
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if case.setup is not None:
        case.setup(tmp)
    args = [a.format(tmp=tmp) for a in [*(BASE if case.base else []), *case.args, *case.extra]]
    expect = case.expect.format(tmp=tmp)
    workdir = [] if any(a.startswith("--workdir") for a in args) else [f"--workdir={tmp}/w"]
    t0 = time.perf_counter()
    if case.process:
        proc = _run([*args, *workdir], devices=8)
        code, err = proc.returncode, proc.stderr.strip()
    else:
        code, err = _in_process([*args, *workdir])
    seconds = time.perf_counter() - t0
    lines = [x for x in err.splitlines() if x.startswith("error")]
    clear = code > 0 and "Traceback" not in err and expect in err and len(lines) == 1
    if not case.process:  # validate's messages are single lines, given promptly
        clear = clear and len(err.splitlines()) == 2 and seconds < IN_PROCESS_SECONDS
    return {
        "case": case.name,
        "mode": "subprocess" if case.process else "in-process",
        "exit": code,
        "seconds": round(seconds, 1),
        "clear": clear,
        "message": lines[0] if lines else err[-300:],
        **({"pending": case.pending} if case.pending else {}),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/validation_suite", type=Path)
    parser.add_argument("--fast", action="store_true", help="in-process cases only")
    args = parser.parse_args(argv)
    cases = [(i, c) for i, c in enumerate(CASES) if not (args.fast and c.process)]
    results = [check(c, args.workdir / f"case_{i:02d}") for i, c in cases]
    for r in results:
        note = f" [{r['pending']}]" if "pending" in r and not r["clear"] else ""
        ok = "ok" if r["clear"] else "FAIL"
        print(f"[{ok}] {r['case']} ({r['seconds']} s): {r['message']}{note}")
    n_clear = sum(r["clear"] for r in results)
    print(f"invalid inputs tried: {len(results)} | clear errors given: {n_clear}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "report.json").write_text(json.dumps(results, indent=2))
    sys.exit(0 if n_clear == len(results) else 1)


if __name__ == "__main__":
    main()
