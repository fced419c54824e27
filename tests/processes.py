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
