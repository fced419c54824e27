"""The tests' subprocesses: ``python -m <module>`` of this repository, on a chosen number
of fake CPU devices, with the tests' XLA flags and compilation cache (conftest.py).
Not a test module."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def env(devices: int = 1, **extra: str) -> dict[str, str]:
    """``os.environ`` for a subprocess on ``devices`` fake CPU devices (1: the machine's
    real device), keeping the tests' other XLA flags; ``extra`` variables added."""
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", os.environ["XLA_FLAGS"])
    if devices > 1:
        flags += f" --xla_force_host_platform_device_count={devices}"
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags.strip(), **extra}


def python_m(
    module: str, args: list[str], devices: int = 1, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess:
    """``python -m module args`` run from the repository root; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env(devices, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def train_in_process(args: list[str]) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``python -m train args`` run in this process:
    its own flags (fresh absl ``FlagValues``), ``train.cli.parse_flags`` and
    ``train.__main__.main`` (on this process's 8 fake devices). Paths ``train/...`` are
    taken from the repository root; absl's logging level, which ``main`` lowers, is
    restored."""
    import contextlib
    import io

    from absl import flags
    from absl import logging as absl_logging

    import train.__main__ as train_main
    from train import cli

    fv = flags.FlagValues()
    train_main.define_flags(fv)
    argv = ["train", *(re.sub(r"(=|^)train/", rf"\g<1>{ROOT}/train/", a) for a in args)]
    out, err, verbosity = io.StringIO(), io.StringIO(), absl_logging.get_verbosity()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            train_main.main(cli.parse_flags(argv, fv), fv)
    except SystemExit as e:
        code = e.code
    finally:
        absl_logging.set_verbosity(verbosity)
    return code, out.getvalue(), err.getvalue()
