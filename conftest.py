"""Root pytest configuration, shared by the tests and the doctests of jaxdl/.

The environment is set here, at the repository root, so that it is in place before
jax is imported anywhere in the process, whichever of tests/ or jaxdl/ is collected
first: 8 fake CPU devices, so data-parallel code is exercised; XLA:CPU's backend at
optimization level 0 (below); and JAX's persistent
compilation cache in ``.jax_cache/`` (git-ignored; ``$JAX_COMPILATION_CACHE_DIR``
overrides it): a program compiled by one test, worker or ``python -m train``
subprocess is loaded, not compiled again, by the next one and by later runs. Only
compilations over 0.2 s are stored (smaller ones cost more to write than to redo).
"""

import os
from pathlib import Path

# XLA:CPU's backend at optimization level 0: the tests' programs are small and run a few
# times, so compiling them is most of their cost (level 0 cut it by about a third,
# measured on tests/test_optim_inject.py + test_hooks.py; the numbers are the same
# IEEE operations, only less optimized machine code). Subprocesses get it too
# (tests/processes.py).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = (
    f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS} --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).parent / ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    """Names every docstring example may use without importing them."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    doctest_namespace.update(np=np, jnp=jnp, jax=jax, optax=optax, nn=nn)
