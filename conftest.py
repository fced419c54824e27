"""Root pytest configuration, shared by the tests and the doctests of jaxdl/.

The environment is set here, at the repository root, so that it is in place before
jax is imported anywhere in the process, whichever of tests/ or jaxdl/ is collected
first: 8 fake CPU devices, so data-parallel code is exercised.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

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
