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
- Every other command is parsed by its own parser without running it (experiments of
  minutes to hours, fault injection, the validation suite, benchmarks): absl programs
  (``train.doctor``, ``train.visualize``, ``train.sweep``) with their flags defined in a
  sandboxed absl ``FLAGS``, argparse ones through their ``parse_args``; every flag the
  doc gives must be one of the parser's.
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
import io
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import processes
import pytest
import smoke_data
from absl import flags
from absl import logging as absl_logging
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
