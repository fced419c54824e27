"""Root pytest configuration, shared by the tests and the doctests of jaxdl/.

The environment is set here, at the repository root, so that it is in place before
jax is imported anywhere in the process, whichever of tests/ or jaxdl/ is collected
first: 8 fake CPU devices, so data-parallel code is exercised; and JAX's persistent
compilation cache in ``.jax_cache/`` (git-ignored; ``$JAX_COMPILATION_CACHE_DIR``
overrides it): a program compiled by one test, worker or ``python -m train``
subprocess is loaded, not compiled again, by the next one and by later runs. Only
compilations over 0.2 s are stored (smaller ones cost more to write than to redo).
"""

import os
from pathlib import Path

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
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
