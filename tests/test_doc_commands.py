"""Every command line of README.md and docs/*.md works as written (doc_commands.py finds them).

- ``python -m train`` commands of code blocks run, in the order of their file (a later
  command may use an earlier one's run: transfer, curriculum, TTA), as written plus
  appended overrides that make each 2 steps on the first examples
  (``smoke_data.two_step_overrides``), with ``runs/`` under the test's folder and the
  data the docs point at (``../shared/data``, ``/data/...``, a config's own
  ``data_dir``) generated there. They run in-process through train/__main__.py's
  ``parse_flags`` and ``main`` (fresh absl ``FlagValues`` each), except
  ``SUBPROCESS_DOCS``. README.md's run in the default stage, the other files' in the
  ``heavy`` stage (``pytest -m heavy``: minutes of compiling; docs/testing.md).
- ``RUN_AFTER``: ``python -m train.visualize`` runs on the run docs/visualization.md
  makes (its optional arguments left out: the 2-step run has no step 2000), and
  ``train.experiments.tta_ensemble`` on the three runs of docs/cnn_zoo.md (heavy; the
  table goes into a copy of the doc; one batch of 8 test images).
- Every other command (experiments, fault injection, the validation suite, doctor,
  visualize, benchmarks, mutation testing) is parsed by its own parser: absl programs
  (``train.doctor``, ``train.visualize``, ``train.sweep``) with their flags defined in a
  sandboxed absl ``FLAGS``, argparse ones through their ``parse_args``; every flag the
  doc gives must be one of the parser's. And each one runs (``heavy``,
  ``test_documented_commands_run``; 10-100 s each) in-process through its module's
  ``main``: as written, then its module's ``SMOKE`` flags (a later flag wins: a step or
  two on a few examples; its files under the test's folder, docs/*.md copied there
  first), on one CPU device (``ALL_DEVICES`` aside), on generated data
  (``shared_data``: ``../shared/data`` and ``$JAXDL_DATA_DIR``), after the runs it
  reads (``READS_RUNS``); its result is checked (``EXPECT``: the returned value or the
  files written) and the repository must be left as it was (``git status``, ``runs/``).
  ``NOT_RUN`` would list a command that cannot run, with the reason (none does).
- ``python -m train`` fragments of the prose are parsed and validated.
- ``pip`` and ``pytest`` commands: the extras, packages, paths and markers they name exist.
- Every ``--config.<key>`` the docs mention is a key of train/configs/defaults.py (or
  of one of its free-form dicts), and the inline ``--config.<key>=<value>`` parse.

Not checked, and listed (the test fails on any other): ``TEMPLATES`` (placeholders),
``EXTERNAL`` (the user's own script of docs/multihost.md), and inline mentions of an
entry point's bare name (``python -m train``).
"""

import argparse
import contextlib
import importlib
import importlib.resources
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import processes
import pytest
import smoke_data
from absl import flags
from absl import logging as absl_logging
from datafiles import write_cifar10_binary, write_idx
from doc_commands import DOC_FILES, ROOT, Command, all_commands

import train.__main__ as train_main
from train import cli
from train.configs import defaults
from train.validate import FREE_FORM, validate

COMMANDS = all_commands()
ABSL = {"train.doctor", "train.visualize", "train.sweep"}
TEMPLATES = {  # (file, command) with placeholders
    ("README.md", "python -m train.sweep --config ... --workdir ..."),
    (
        "docs/cnn_zoo.md",
        "python -m train --config 'train/configs/<name>.py' --workdir 'runs/<name>'",
    ),
}
EXTERNAL = {"train_script"}  # docs/multihost.md: the user's own training script
DEFAULT_STAGE_DOCS = {"README.md"}  # the main job's commands; the others: pytest -m heavy


# Files whose commands run as python -m train processes on this machine's one CPU
# device, as a user runs them (none now: the U-Net's prediction pictures no longer
# deadlock an 8-device evaluation, jaxdl/viz/segmentation.py PredictionProbe.flush).
SUBPROCESS_DOCS: set[str] = set()
# Commands run for real on the runs their file's python -m train commands make
RUN_AFTER = {
    "docs/visualization.md": "train.visualize",
    "docs/cnn_zoo.md": "train.experiments.tta_ensemble",
}


def kind(c: Command) -> str:
    """What the test does with ``c``: pip, pytest, template, external, mention (an inline
    name of an entry point that needs flags), train, absl or argparse."""
    if c.argv[0] in ("pip", "pytest"):
        return c.argv[0]
    if any("..." in a or "<" in a for a in c.argv):
        return "template"
    module = c.module
    if module is None or not (
        (ROOT / (module.replace(".", "/") + ".py")).is_file()
        or (ROOT / module.replace(".", "/") / "__main__.py").is_file()
    ):
        return "external"
    if c.inline and not c.args and module in ("train", *ABSL):
        return "mention"
    return "train" if module == "train" else "absl" if module in ABSL else "argparse"


def _ids(commands):
    return [f"{c.where}:{c.module or c.argv[0]}" for c in commands]


def _of_kind(*kinds):
    return [c for c in COMMANDS if kind(c) in kinds]


# ----------------------------------------------------------------- the extraction


def test_the_docs_commands_are_found_and_none_is_left_out():
    assert {(c.where.rsplit(":", 1)[0], c.text) for c in _of_kind("template")} == TEMPLATES
    assert {c.module for c in _of_kind("external")} == EXTERNAL
    # every python -m/python benchmarks line of the docs is one of the commands found
    for path in DOC_FILES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in re.finditer(r"python (-m [\w.]+|benchmarks/\w+\.py)", line):
                where = f"{path.relative_to(ROOT)}"
                near = [c for c in COMMANDS if c.where.startswith(where + ":")]
                lines = [int(c.where.rsplit(":", 1)[1]) for c in near]
                assert any(abs(k - n) <= 3 for k in lines), f"{where}:{n}: {m[0]} not found"
    assert len(_of_kind("train")) >= 20 and len(_of_kind("argparse")) >= 25


# ------------------------------------------------------------------ data and paths


def _localize(args: list[str], tmp: Path) -> list[str]:
    """The docs' folders, made under ``tmp``: runs/, ../shared/data, /data/."""
    out = []
    for a in args:
        a = re.sub(r"(?<![\w/.])runs/", f"{tmp}/runs/", a)
        a = a.replace("../shared/data", f"{tmp}/shared_data")
        a = re.sub(r"(^|[:=])/data/", rf"\g<1>{tmp}/data/", a)
        out.append(a)
    return out


def _make_data(tmp: Path, args: list[str]) -> None:
    """The data the localized ``args`` point at (made once per folder)."""
    shared = tmp / "shared_data"
    if not shared.exists():
        smoke_data.write_datasets(shared, n=32)
    text = " ".join(args)
    flowers = tmp / "data" / "flowers"
    if str(flowers) in text and not flowers.exists():
        smoke_data.write_image_folder(flowers)
    pth = tmp / "data" / "resnet18-f37072fd.pth"
    if str(pth) in text and not pth.exists():
        pytest.importorskip("torch", reason="the torchvision .pth is written with PyTorch")
        smoke_data.write_resnet18_pth(pth)


def _parse_train(argv: list[str]):
    """``python -m train argv``'s flags, parsed by train/__main__.py into fresh FlagValues."""
    fv = flags.FlagValues()
    train_main.define_flags(fv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            rest = cli.parse_flags(["train", *argv], fv)
    except SystemExit:
        pytest.fail(f"python -m train {' '.join(argv)}: {err.getvalue()}")
    return fv, rest


@contextlib.contextmanager
def absl_program(argv: list[str]):
    """absl's global FLAGS as a fresh program's: the flags defined inside are removed on
    exit (config_flags reads its overrides from ``sys.argv``, set to ``argv`` meanwhile);
    absl's logging verbosity, which the programs lower, is restored."""
    fv = flags.FLAGS
    before, was_parsed, saved = set(fv), fv.is_parsed(), sys.argv
    verbosity = absl_logging.get_verbosity()
    sys.argv = list(argv)
    try:
        yield fv
    finally:
        sys.argv = saved
        absl_logging.set_verbosity(verbosity)
        for name in set(fv) - before:
            with contextlib.suppress(AttributeError):
                delattr(fv, name)
        if not was_parsed:
            fv.unparse_flags()


class _Parsed(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the patched ``ArgumentParser.parse_args`` once the arguments parsed."""


def _parse_argparse(module_name: str, args: list[str], monkeypatch) -> argparse.Namespace:
    """``args`` parsed by the module's own argparse parser, without running it."""
    module = importlib.import_module(module_name)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            if hasattr(module, "parse_args"):  # benchmarks and experiments that expose it
                return module.parse_args(args)
            real = argparse.ArgumentParser.parse_args

            def parse_args(self, a=None, namespace=None):
                raise _Parsed(real(self, a, namespace))

            monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
            monkeypatch.setattr(sys, "argv", [module_name, *args])
            try:
                module.main(args) if module.main.__code__.co_argcount else module.main()
            except _Parsed as done:
                return done.args[0]
    except SystemExit:
        pytest.fail(f"{module_name} {' '.join(args)}: {err.getvalue()}")
    pytest.fail(f"{module_name}.main returned without parsing its arguments")


# ------------------------------------------------------------------- parse checks


@pytest.mark.parametrize("c", _of_kind("train"), ids=_ids(_of_kind("train")))
def test_python_m_train_commands_parse(c, tmp_path):
    """Flags and overrides parse; the prose's fragments (not run) also validate. A fragment
    without ``--workdir`` (docs/reliability.md quotes only the config part) gets one."""
    args = _localize(list(c.argv[3:]), tmp_path)
    if not any(a.startswith("--workdir") for a in args):
        assert c.inline, f"{c.where}: a python -m train command needs --workdir"
        args.append(f"--workdir={tmp_path / 'w'}")
    fv, rest = _parse_train(args)
    assert rest == ["train"], f"{c.where}: unexpected arguments {rest[1:]}"
    if c.inline:
        validate(fv.config)


@pytest.mark.parametrize("c", _of_kind("absl"), ids=_ids(_of_kind("absl")))
def test_absl_commands_parse(c, tmp_path):
    module = importlib.import_module(c.module)
    argv = [c.module, *_localize(c.args, tmp_path)]
    with absl_program(argv) as fv:
        module._define_flags()
        rest = cli.parse_flags(argv, fv)
        assert rest == [c.module]
        if "config" in fv and fv["config"].present:
            validate(fv.config)


@pytest.mark.parametrize("module", sorted(ABSL))
def test_every_program_takes_the_config_overrides_of_python_m_train(module, tmp_path):
    """doctor, sweep and visualize parse ``--config`` and its overrides (free-form dict
    keys included) with ``python -m train``'s parser, ``train.cli.parse_flags``."""
    argv = [
        module,
        f"--config={ROOT / 'train/configs/mnist_lenet5.py'}",
        "--config.optimizer.kwargs.key=0",
        "--config.model.kwargs.head=rbf",
        f"--workdir={tmp_path}",
    ]
    with absl_program(argv) as fv:
        importlib.import_module(module)._define_flags()
        assert cli.parse_flags(argv, fv) == [module]
        assert fv.config.optimizer.kwargs.key == 0 and fv.config.model.kwargs.head == "rbf"


@pytest.mark.parametrize("c", _of_kind("argparse"), ids=_ids(_of_kind("argparse")))
def test_argparse_commands_parse(c, tmp_path, monkeypatch):
    namespace = _parse_argparse(c.module, _localize(c.args, tmp_path), monkeypatch)
    given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in c.args if a.startswith("--")}
    assert given <= set(vars(namespace)), f"{c.where}: {given - set(vars(namespace))}"


def test_pip_and_pytest_commands_name_what_exists():
    toml = (ROOT / "pyproject.toml").read_text()  # (tomllib needs Python 3.11)
    section = toml.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^(\w+) = \[", section, re.M))
    markers = set(re.findall(r'^\s*"(\w+): ', toml.split("markers = [", 1)[1], re.M))
    assert "test" in extras and "slow" in markers
    pips, pytests = _of_kind("pip"), _of_kind("pytest")
    assert pips and pytests
    for c in pips:
        assert c.argv[1] == "install", c.text
        if c.argv[2] == "-e":  # this project, with extras that exist
            assert c.argv[3].startswith("."), c.text
            assert set(re.findall(r"\w+", c.argv[3][1:])) <= extras, c.text
        else:  # a pinned dependency the project names (e.g. torch, the peers extra)
            name = re.match(r"[\w-]+", c.argv[2])[0]
            assert "==" in c.argv[2] and f'"{name}' in toml, c.text
    for c in pytests:
        args = list(c.argv[1:])
        for i, a in enumerate(args):
            if a == "-m":
                assert args[i + 1] in markers, c.text
            elif not a.startswith("-") and args[i - 1 : i] != ["-m"]:
                assert (ROOT / a).exists(), c.text


def _config_keys(config=None, prefix: str = "") -> set[str]:
    """Every dotted key of train/configs/defaults.py, sub-dicts included."""
    keys = set()
    for k, v in (defaults.get_config() if config is None else config).items():
        keys |= {prefix + k, *(_config_keys(v, f"{prefix}{k}.") if hasattr(v, "items") else ())}
    return keys


def test_every_config_override_the_docs_mention_exists_and_parses():
    """Keys anywhere in the docs; values of the inline overrides (``--config.k=v`` code
    spans; those inside commands are parsed with their command)."""
    keys = _config_keys()
    texts = [p.read_text() for p in DOC_FILES]
    mentioned = {k.rstrip(".") for t in texts for k in re.findall(r"--config\.([\w.]+)", t)}
    assert len(mentioned) > 20
    for key in sorted(mentioned):
        free = any(key.rsplit(".", 1)[0] == d for d in FREE_FORM)  # a keyword of a free dict
        assert key in keys or free, f"--config.{key} is not a key of train/configs/defaults.py"
    spans = [s for t in texts for s in re.findall(r"`(--config\.[^`]+=[^`]*)`", t)]
    assert spans
    for span in spans:
        if "<" not in span and "..." not in span:  # placeholders
            args = [f"--config={ROOT / 'train/configs/defaults.py'}", "--workdir=w"]
            _parse_train([*args, *shlex.split(span)])


# -------------------------------------------------------------------- real runs

_RUN_FILES = sorted({c.where.rsplit(":", 1)[0] for c in _of_kind("train") if not c.inline})


def _two_step_args(argv: list[str], tmp: Path) -> list[str]:
    """``argv`` plus the overrides of a 2-step run on the generated data."""
    fv, _ = _parse_train(argv)
    config = fv.config
    extra = smoke_data.two_step_overrides(config)
    if config.data.name in smoke_data.NEEDS_FILES:
        extra["data.data_dir"] = str(tmp / "shared_data")
    return [*argv, *(f"--config.{k}={v}" for k, v in extra.items())]


def _run_train(c: Command, tmp: Path, in_process: bool = True) -> None:
    """``c`` for 2 steps: ``train/__main__.py``'s ``parse_flags`` and ``main`` in this
    process, or a ``python -m train`` process (on the machine's one CPU device)."""
    args = _localize(list(c.argv[3:]), tmp)
    _make_data(tmp, args)
    args = _two_step_args(args, tmp)
    fv, rest = _parse_train(args)
    if in_process:
        err, verbosity = io.StringIO(), absl_logging.get_verbosity()
        try:
            with contextlib.redirect_stderr(err):
                train_main.main(rest, fv)
        except SystemExit as e:
            pytest.fail(f"{c.where}: python -m train exited {e.code}: {err.getvalue()[-3000:]}")
        finally:
            absl_logging.set_verbosity(verbosity)  # main lowers it for the whole process
    else:
        proc = processes.python_m("train", args, timeout=600)  # 1 device
        assert proc.returncode == 0, f"{c.where}: {proc.stderr[-3000:]}"
    workdir = Path(fv.workdir)
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["steps"] == smoke_data.STEPS, c.where


def _run_visualize(c: Command, tmp: Path) -> None:
    from train import visualize

    argv = ["train.visualize", *_localize(list(c.bare[3:]), tmp)]
    out = io.StringIO()
    with absl_program(argv) as fv, contextlib.redirect_stdout(out):
        visualize._define_flags()
        visualize.main(cli.parse_flags(argv, fv))
    assert "filters:" in out.getvalue() and "confusion:" in out.getvalue(), out.getvalue()


def _run_tta(c: Command, tmp: Path) -> None:
    from train.experiments import tta_ensemble

    args = _localize(list(c.args), tmp)
    if "--doc" in args:  # it writes its table into the doc: a copy of it here
        i = args.index("--doc") + 1
        args[i] = str(shutil.copy(ROOT / args[i], tmp / Path(args[i]).name))
    # one batch of the 8 test images: the default of 1000 pads them to 1000 x 3 models
    # x 5 views, minutes of 8 fake devices on 2 cores (XLA aborts waiting on them)
    result = tta_ensemble.main([*args, "--batch_size", str(smoke_data.BATCH)])
    assert len(result["runs"]) == 3 and 0 <= result["ensemble_error"] <= 1


@pytest.mark.usefixtures("isolated_data")  # the embedded MNIST, the generated rest
@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(d, marks=[] if d in DEFAULT_STAGE_DOCS else [pytest.mark.heavy])
        for d in _RUN_FILES
    ],
)
def test_documented_training_commands_run(doc, tmp_path, monkeypatch):
    """The file's python -m train commands, in order, 2 steps each; then its visualize /
    TTA commands on those runs."""
    monkeypatch.chdir(ROOT)  # the docs' commands run from the repository root
    done = []
    for c in COMMANDS:
        if c.inline or not c.where.startswith(doc + ":"):
            continue
        if kind(c) == "train":
            _run_train(c, tmp_path, in_process=doc not in SUBPROCESS_DOCS)
            done.append(c.module)
        elif c.module in ("train.visualize", "train.experiments.tta_ensemble"):
            runs = [a for a in _localize(list(c.args), tmp_path) if str(tmp_path / "runs") in a]
            if runs and all(Path(r).is_dir() for r in runs):  # made by this file's commands
                (_run_visualize if c.module == "train.visualize" else _run_tta)(c, tmp_path)
                done.append(c.module)
    assert "train" in done and RUN_AFTER.get(doc, "train") in done


# ------------------------------------------------- the other commands, run (heavy)

# Appended to each argparse/absl command as the docs write it (a later flag wins): what
# shrinks it to a step or two on a few examples, and where its files go. ``{tmp}``: the
# test's folder; a ``{tmp}`` flag the command gives itself (localized there) is kept.
SMOKE = {
    # 1 SIGKILL (then SIGTERM, SIGINT, two at once) of 4-epoch runs
    "reliability.fault_injection": "--kills 1 --override=--config.train.num_epochs=4"
    " --workdir {tmp}/runs/fault_injection",
    # the in-process cases only (the others are python -m train processes)
    "reliability.validation_suite": "--fast --workdir {tmp}/runs/validation_suite",
    # 1 seed, 1 epoch of 64 images, a narrow net
    "benchmarks.time_to_accuracy": "--seeds 1 --epochs 1 --widths 4,8 --batch_size 16"
    " --eval_batch 16 --train_subset 64 --test_subset 16 --data_dir {tmp}/shared_data"
    " --out {tmp}/results/tta.json",
    # an MLP, 1 timed step on 1 and 8 devices
    "benchmarks.scaling": "--model mlp --device_counts 1,8 --per_device_batch 2"
    " --global_batch 16 --steps 1 --warmup 0 --out {tmp}/results/scaling.json",
    # 2 steps of 8 images
    "train.experiments.zfnet_renorm": "--steps 2 --batch 8",
    # one pair, 1 seed, 256 training images (small/: the rest, 64, validate), 2 steps an epoch
    "train.experiments.transfer": "--pairs 'mnist 0-4 -> 5-9' --train_size 256 --fractions 1.0"
    " --seeds 1 --min_steps 1 --source_epochs 1 --data_dir {tmp}/shared_data/small"
    " --workdir {tmp}/runs/transfer --doc {tmp}/docs/transfer.md",
    # MNIST, 2 arms, 1 seed, 1 epoch of 2 steps; JAX's compilation cache: the tests' own
    "train.experiments.curriculum": "--datasets mnist --arms curriculum anti-curriculum"
    " --seeds 0 --train 200 --epochs 1 --compile_cache ''"
    " --workdir {tmp}/runs/curriculum --docs {tmp}/docs",
    # 1 seed, 1 epoch of 1-2 steps per variant
    "train.experiments.multitask": "--mnist-train 256 --mnist-epochs 1 --mnist-seeds 0"
    " --cifar-train 128 --cifar-epochs 1 --cifar-seeds 0 --data_dir {tmp}/shared_data"
    " --workdir {tmp}/runs/multitask --doc {tmp}/docs/multitask.md",
    # 2 steps of 8 images, 4 filters a layer, the top image of one map on 8 test images
    "train.experiments.deconvnet": "--train_size 16 --batch_size 8 --epochs 1 --hidden 8"
    " --widths 4,4,4,4,4 --probe_size 8 --features 1 --top_k 1"
    " --workdir {tmp}/runs/deconvnet --out {tmp}/docs/figures",
    # one rate, 1 epoch of 2 steps, with and without BN
    "train.experiments.batchnorm": "--learning-rates 0.1 --num-train 256 --num-epochs 1"
    " --workdir {tmp}/runs/batchnorm --docs {tmp}/docs",
    # the 20-layer nets (the 56-layer ones: the same code, minutes of compiling), 1 step
    "train.experiments.degradation": "--models plain20 resnet20 --steps 1 --batch_size 8"
    " --epochs 1 --log_every 1 --data_dir {tmp}/shared_data --workdir {tmp}/runs/degradation"
    " --doc {tmp}/docs/cnn_zoo.md --figures {tmp}/docs/figures",
    # ResNet-20 (not 56), 1 seed, 2 steps of 8 images in each framework
    "train.experiments.degradation_peer": "--models resnet20 --seeds 0 --steps 2 --batch_size 8"
    " --data_dir {tmp}/shared_data --doc {tmp}/docs/cnn_zoo.md",
    # one width
    "train.experiments.cnn_arguments": "--channels 8 --doc {tmp}/docs/cnn_zoo.md",
    # one config per model (not the same models on Fashion-MNIST, nor StyleGAN + R1),
    # 2 steps each, no classifier-FID
    "train.experiments.generation": "--only mnist_gaussian,mnist_gan,mnist_dcgan,"
    "fashion_mnist_stylegan,pix2pix_edges --steps 2 --runs {tmp}/runs/generation"
    " --docs {tmp}/docs",
    # its own smoke run (512 images, 1 epoch, 2 rates), the MLP task only
    "train.experiments.optimizers": "--quick --tasks mnist_mlp --workdir {tmp}/runs/optimizers"
    " --out {tmp}/docs",
    # none and all together (dropout, L2, augmentation), 1 seed, 1 epoch of 2 steps
    "train.experiments.regularization": "--variants none 'dropout + L2 1e-3 + augmentation'"
    " --num-train 200 --num-epochs 1 --eval-every 1 --seeds 0"
    " --workdir {tmp}/runs/regularization --docs {tmp}/docs",
    # a 3-layer MLP of width 8, 2 steps of 16 images, one rate
    "train.experiments.signal_propagation": "--depth 3 --width 8 --num-train 64 --num-test 32"
    " --stat-batch 16 --steps 2 --batch-size 16 --learning-rates 0.01 --docs {tmp}/docs",
    # one small module, the first mutant of each function, one worker
    "mutation.run": "--modules renormalize --mutants '*__mutmut_1' --max-children 1"
    " --workdir {tmp}/mutation",
    # 2 steps of the overfit check, one rate of 2 steps in the sweep
    "train.doctor": "--overfit_steps=2 --sweep_steps=2 --sweep_rates=0.002",
    "train.visualize": "",  # as written (on a 2-step run)
}
# Modules that cannot run in a test, with the reason (none now).
NOT_RUN: dict[str, str] = {}
# Optional packages a module needs (the 'peers' and 'mutation' extras): skipped without.
NEEDS = {"train.experiments.degradation_peer": "torch", "mutation.run": "mutmut"}
# Modules run on the process's 8 fake devices; the others see one (jax.devices narrowed
# to the first, as on the docs' CPU: the experiments' batches, e.g. curriculum's and
# regularization's 100 or optimizers' batch-1 SGD, need not divide over 8).
ALL_DEVICES = {"benchmarks.scaling", "reliability.validation_suite"}
# Modules whose run folders (runs/NAME) are read: made first, by the docs' command whose
# --workdir is NAME, else by a 2-step run of train/configs/mnist_lenet5.py.
READS_RUNS = {"train.visualize", "train.doctor", "train.experiments.tta_ensemble"}


def _flag(args: list[str], name: str) -> str | None:
    """The value of ``name`` in ``args`` (``--f v`` or ``--f=v``; the last one wins)."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1 :]
    return value


def _run_names(c: Command) -> list[str]:
    return [m for a in c.args for m in re.findall(r"(?<![\w/.])runs/[\w.-]+", a)]


def _run_with_its_doc(c: Command) -> bool:
    """Whether test_documented_training_commands_run runs ``c``: a ``RUN_AFTER`` command
    on runs its own file's python -m train commands make."""
    doc = c.where.rsplit(":", 1)[0]
    made = {
        _flag(t.args, "--workdir")
        for t in _of_kind("train")
        if not t.inline and t.where.startswith(doc + ":")
    }
    return RUN_AFTER.get(doc) == c.module and bool(_run_names(c)) and set(_run_names(c)) <= made


_RUN_HERE = [
    c for c in _of_kind("argparse", "absl") if not _run_with_its_doc(c) and c.module not in NOT_RUN
]


def test_every_other_command_runs_in_one_test_or_the_other():
    """The argparse/absl commands: run with their file's training runs, or in
    test_documented_commands_run, each module with its ``SMOKE`` flags; ``NOT_RUN`` only
    with a reason."""
    done = [c for c in _of_kind("argparse", "absl") if _run_with_its_doc(c)]
    assert {c.module for c in done} == set(RUN_AFTER.values())
    assert {c.module for c in _RUN_HERE} == set(SMOKE) == set(EXPECT)
    assert all(NOT_RUN.values())


def _smoke_args(c: Command, tmp: Path) -> list[str]:
    """``c``'s arguments, localized, then its module's ``SMOKE`` flags."""
    args = _localize(c.args, tmp)
    groups: list[list[str]] = []
    for a in shlex.split(SMOKE[c.module]):
        if a.startswith("--"):
            groups.append([])
        groups[-1].append(a)
    for group in groups:
        given = _flag(args, group[0].split("=")[0])
        if any("{tmp}" in a for a in group) and given and given.startswith(str(tmp)):
            continue  # the command's own output path, already in tmp
        args += [a.format(tmp=tmp) for a in group]
    return args


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory) -> Path:
    """``../shared/data``'s stand-in, written once: smoke_data's generated datasets; a
    CIFAR-10 of 49,200 training images as ``cifar10_jpeg/`` (the folder the docs name;
    deconvnet validates on ``train[49000:]``); the embedded MNIST's first 56,000 training
    and 2,000 test images as ``mnist/`` and as ``fashion_mnist/`` (the scripts'
    validation splits start at 54,000-55,000, e.g. ``train[55000:56000]``); ``small/``:
    their first 320 and 64 (transfer validates on all of ``train[N:]``)."""
    from jaxdl.data.readers.idx import read_idx_dataset

    shared = tmp_path_factory.mktemp("shared_data")
    smoke_data.write_datasets(shared, smoke_data.NEEDS_FILES - {"fashion_mnist"}, n=32)
    write_cifar10_binary(shared / "cifar10_jpeg" / "cifar-10-batches-bin", 9_840)  # x 5
    embedded = importlib.resources.files("jaxdl.data") / "files" / "mnist"
    for split, prefix, big, small in (("train", "train", 56_000, 320), ("test", "t10k", 2_000, 64)):
        arrays = read_idx_dataset(embedded, split)
        for folder, n in ((shared, big), (shared / "small", small)):
            for name in ("mnist", "fashion_mnist"):
                (folder / name).mkdir(parents=True, exist_ok=True)
                images, labels = arrays["image"][:n, ..., 0], arrays["label"][:n]
                write_idx(folder / name / f"{prefix}-images-idx3-ubyte", images, gz=False)
                write_idx(folder / name / f"{prefix}-labels-idx1-ubyte", labels, gz=False)
    return shared


def _make_runs(c: Command, tmp: Path) -> None:
    """The run folders ``c`` reads (``READS_RUNS``), made by the docs' command that
    writes each, else by a 2-step LeNet-5 run."""
    for name in _run_names(c) if c.module in READS_RUNS else []:
        if (tmp / name).is_dir():
            continue
        makers = [t for t in COMMANDS if kind(t) in ("train", "argparse") and not t.inline
                  and _flag(t.args, "--workdir") == name]  # fmt: skip
        maker = makers[0] if makers else Command(
            "(a run for the test)",
            ("python", "-m", "train", "--config", "train/configs/mnist_lenet5.py",
             "--workdir", name),
            False,
        )  # fmt: skip
        if kind(maker) == "train":
            _run_train(maker, tmp)
        else:
            _run_command(maker, tmp)
        assert (tmp / name).is_dir(), f"{maker.where} made no {name}"


def _run_command(c: Command, tmp: Path) -> SimpleNamespace:
    """``c`` with its ``SMOKE`` flags, through its module's ``main`` in this process:
    ``main(argv)``, or absl's flags then ``main`` for the absl programs. Returns the
    arguments, main's return value, the exit code (SystemExit) and the printed text."""
    args = _smoke_args(c, tmp)
    module = importlib.import_module(c.module)
    out, result, code = io.StringIO(), None, 0
    try:
        with contextlib.redirect_stdout(out):
            if c.module in ABSL:
                argv = [c.module, *args]
                with absl_program(argv) as fv:
                    module._define_flags()
                    result = module.main(cli.parse_flags(argv, fv))
            else:
                result = module.main(args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    return SimpleNamespace(args=args, result=result, code=code, out=out.getvalue())


def _rewritten(tmp: Path, name: str) -> str:
    """The text of ``tmp/docs/name``, which the command changed (from the repo's copy)."""
    text = (tmp / "docs" / name).read_text()
    assert text != (ROOT / "docs" / name).read_text(), f"docs/{name} was not rewritten"
    return text


def _json(path: Path):
    return json.loads(path.read_text())


def _pngs(folder: Path, *names: str) -> bool:
    return all((folder / name).stat().st_size > 500 for name in names)


def _doctor_ran(run, tmp: Path) -> bool:
    """PASS/FAIL lines, the summary and the exit status agree; the checks --skip leaves
    out are not run; the planted problem of docs/doctor.md is reported."""
    lines = [ln for ln in run.out.splitlines() if ln.startswith(("PASS ", "FAIL "))]
    m = re.search(r"doctor: (\d+) of (\d+) checks passed", run.out)
    assert m and int(m[2]) == len(lines) > 0, run.out
    assert int(m[1]) == sum(ln.startswith("PASS") for ln in lines)
    assert run.code == (0 if int(m[1]) == len(lines) else 1)
    skipped = set((_flag(run.args, "--skip") or "").split(","))
    assert ("data" in skipped) != any(" images range" in ln for ln in lines)
    assert ("--workdir" in " ".join(run.args)) == any("loss plateau" in ln for ln in lines)
    planted = "--config.data.test_split=train[:1000]" in run.args
    return not planted or any(ln.startswith("FAIL train/test overlap") for ln in lines)


# What each run must have done: main's return value, its printed text, its files.
EXPECT = {
    "reliability.fault_injection": lambda run, tmp: (
        run.code == 0 and _json(tmp / "runs/fault_injection/report.json")["passed"]
    ),
    "reliability.validation_suite": lambda run, tmp: (
        run.code == 0 and all(r["clear"] for r in _json(tmp / "runs/validation_suite/report.json"))
    ),
    "benchmarks.time_to_accuracy": lambda run, tmp: (
        len(run.result["rows"]) == 1
        and _json(tmp / "results/tta.json")["rows"][0]["epochs_run"] == 1
    ),
    "benchmarks.scaling": lambda run, tmp: (
        {(r["mode"], r["devices"]) for r in run.result["rows"] if "error" not in r}
        == {("weak", 1), ("weak", 8), ("strong", 1), ("strong", 8)}
        and (tmp / "results/scaling.md").is_file()
    ),
    "train.experiments.zfnet_renorm": lambda run, tmp: all(
        f"| {n} |" in run.out for n in ("conv1", "conv2", "conv3", "conv4", "conv5")
    ),
    "train.experiments.transfer": lambda run, tmp: (
        "**mnist 0-4 -> 5-9**\n\n| data | n (before class filter) | S (steps) |"
        in _rewritten(tmp, "transfer.md")
    ),
    "train.experiments.curriculum": lambda run, tmp: (
        set(run.result["mnist"]["runs"]) == {"curriculum", "anti-curriculum"}
        and "generated: curriculum_1ep begin" in _rewritten(tmp, "curriculum.md")
    ),
    "train.experiments.multitask": lambda run, tmp: all(
        f"generated: multitask-{d} begin" in _rewritten(tmp, "multitask.md")
        for d in ("mnist", "cifar10")
    ),
    "train.experiments.deconvnet": lambda run, tmp: (
        len(_json(Path(_flag(run.args, "--workdir")) / "deconv_report.json")["layers"]) == 5
        and any((tmp / "docs/figures").glob("deconv_*conv5.png"))
    ),
    "train.experiments.batchnorm": lambda run, tmp: (
        "| 0.1 |" in _rewritten(tmp, "batchnorm.md")
        and _pngs(tmp / "docs/figures", "bn_lr_sweep.png", "bn_curves.png")
    ),
    "train.experiments.degradation": lambda run, tmp: (
        all(len(r["curve"]) == 1 for r in run.result.values())
        and f"| {next(iter(run.result))} |" in _rewritten(tmp, "cnn_zoo.md")
    ),
    "train.experiments.degradation_peer": lambda run, tmp: (
        {f for _, f, _ in run.result} == {"jaxdl", "torch"}
        and all(len(losses) == 2 for losses in run.result.values())
        and "| resnet20 | torch | 0 |" in _rewritten(tmp, "cnn_zoo.md")
    ),
    "train.experiments.cnn_arguments": lambda run, tmp: (
        "| 8 |" in run.result and run.result in _rewritten(tmp, "cnn_zoo.md")
    ),
    "train.experiments.generation": lambda run, tmp: (
        _rewritten(tmp, "generation.md").count(" | 2 (") == 4  # steps (batch) of the GANs
        and _pngs(
            tmp / "docs/figures",
            "gen_mnist_dcgan_interpolation.png",
            "gen_fmnist_stylegan_mixing.png",
            "gen_fmnist_pix2pix_samples.png",
        )
    ),
    "train.experiments.optimizers": lambda run, tmp: (
        "Adam" in _rewritten(tmp, "optimizers.md")
        and _json(tmp / "runs/optimizers/info.json")["quick"]
    ),
    "train.experiments.regularization": lambda run, tmp: (
        _rewritten(tmp, "regularization.md") and _pngs(tmp / "docs/figures", "reg_gap.png")
    ),
    "train.experiments.signal_propagation": lambda run, tmp: (
        _rewritten(tmp, "units_and_init.md")
        and _pngs(tmp / "docs/figures", "units_variance.png", "units_training.png")
    ),
    "mutation.run": lambda run, tmp: (
        _json(tmp / "mutation/summary.json")["jaxdl/optim/renormalize.py"]["killed"] > 0
    ),
    "train.doctor": _doctor_ran,
    "train.visualize": lambda run, tmp: "filters:" in run.out and "confusion:" in run.out,
}


@pytest.fixture
def process_state():
    """What the scripts change for the whole process, restored: the environment
    (``JAXDL_DATA_DIR``, mutation's cache variables), JAX's compilation-cache settings
    (optimizers, curriculum), absl's logging level, ``sys.argv``."""
    from jax._src import compilation_cache

    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")  # fmt: skip
    config = {k: getattr(jax.config, k) for k in keys}
    environ, argv, verbosity = dict(os.environ), list(sys.argv), absl_logging.get_verbosity()
    yield
    if any(getattr(jax.config, k) != v for k, v in config.items()):
        for k, v in config.items():
            jax.config.update(k, v)
        compilation_cache.reset_cache()  # set up again, from the settings, at next use
    os.environ.clear()
    os.environ.update(environ)
    sys.argv[:] = argv
    absl_logging.set_verbosity(verbosity)


def _untracked_outputs() -> set[str]:
    """What the git-ignored folders the commands write by default hold (runs/, mutants/;
    the top level: other runs may be writing deeper meanwhile)."""
    return {
        str(p) for d in ("runs", "mutants") if (ROOT / d).is_dir() for p in (ROOT / d).iterdir()
    }


@pytest.mark.heavy
@pytest.mark.usefixtures("isolated_data", "process_state")
@pytest.mark.parametrize("c", _RUN_HERE, ids=_ids(_RUN_HERE))
def test_documented_commands_run(c, tmp_path, monkeypatch, shared_data):
    """The command as written, then its module's ``SMOKE`` flags, through its ``main`` in
    this process, on one device (``ALL_DEVICES`` aside), on generated data
    (``$JAXDL_DATA_DIR`` and ``../shared/data``: ``shared_data``); its outputs go under
    ``tmp_path`` (docs/*.md copied there first): the repository is left as it was."""
    if c.module in NEEDS:
        pytest.importorskip(NEEDS[c.module], reason=f"{c.module} needs {NEEDS[c.module]}")
    monkeypatch.chdir(ROOT)  # the docs' commands run from the repository root
    git = ["git", "-C", str(ROOT), "status", "--porcelain"]
    before = (subprocess.run(git, capture_output=True, text=True).stdout, _untracked_outputs())
    (tmp_path / "shared_data").symlink_to(shared_data)
    monkeypatch.setenv("JAXDL_DATA_DIR", str(tmp_path / "shared_data"))
    if c.module not in ALL_DEVICES:  # one CPU device, as on the docs' machine
        devices = jax.devices
        monkeypatch.setattr(jax, "devices", lambda *a, **k: devices(*a, **k)[:1])
        monkeypatch.setattr(jax, "device_count", lambda *a, **k: 1)
    (tmp_path / "docs").mkdir()
    for doc in (ROOT / "docs").glob("*.md"):
        shutil.copy(doc, tmp_path / "docs" / doc.name)
    _make_runs(c, tmp_path)
    run = _run_command(c, tmp_path)
    assert EXPECT[c.module](run, tmp_path), f"{c.where}: {shlex.join(run.args)}\n{run.out[-3000:]}"
    after = (subprocess.run(git, capture_output=True, text=True).stdout, _untracked_outputs())
    changed = set(after[0].splitlines()) - set(before[0].splitlines()) | after[1] - before[1]
    assert not changed, f"{c.where} changed the repository: {sorted(changed)}"
