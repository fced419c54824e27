"""Importing jaxdl changes no global state: matplotlib's backend, jax.config.

Each check runs in a fresh interpreter (``python -c``), where the import really
happens, rather than in the test process, where jaxdl is already imported.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env: str) -> dict:
    environ = {**os.environ, "JAX_PLATFORMS": "cpu", **env}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_every_module_keeps_the_matplotlib_backend():
    result = _run(
        """
        import importlib, json, pkgutil, sys
        import matplotlib
        import jaxdl

        before = matplotlib.get_backend()
        names = [m.name for m in pkgutil.walk_packages(jaxdl.__path__, "jaxdl.")]
        for name in names:
            importlib.import_module(name)
        print(json.dumps({"before": before, "after": matplotlib.get_backend(),
                          "pyplot": "matplotlib.pyplot" in sys.modules, "modules": names}))
        """,
        MPLBACKEND="svg",
    )
    assert result["before"] == "svg"
    assert result["after"] == "svg"
    assert not result["pyplot"], "jaxdl draws on Figure objects: it never needs pyplot"
    assert "jaxdl.viz.plots" in result["modules"]
    assert "jaxdl.training.loop" in result["modules"]


def test_importing_the_training_loop_keeps_jax_config():
    result = _run(
        """
        import json
        import jax

        keys = ("jax_enable_x64", "jax_default_matmul_precision", "jax_debug_nans",
                "jax_disable_jit", "jax_platforms", "jax_default_prng_impl",
                "jax_numpy_rank_promotion", "jax_log_compiles")
        before = {k: str(getattr(jax.config, k)) for k in keys}
        import jaxdl.training.loop  # noqa: F401
        after = {k: str(getattr(jax.config, k)) for k in keys}
        print(json.dumps({"before": before, "after": after}))
        """
    )
    assert result["after"] == result["before"]
