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

import mmap
import os
from importlib.util import find_spec
from pathlib import Path

# 8 fake CPU devices. Slower code (below) makes them reach a collective further apart:
# XLA's 40 s rendezvous limit, which aborts the process, is raised (nothing waits that
# long in a passing test).
TEST_XLA_FLAGS = " --xla_force_host_platform_device_count=8"
TEST_XLA_FLAGS += " --xla_cpu_collective_call_terminate_timeout_seconds=600"
TEST_XLA_FLAGS += " --xla_cpu_collective_timeout_seconds=600"


def xla_knows(flag: str) -> bool:
    """Whether the installed XLA (jaxlib's libraries) defines ``flag``: XLA aborts the
    process on an unknown flag in XLA_FLAGS, and flags come and go between versions."""
    spec = find_spec("jaxlib")
    for lib in Path(spec.origin).parent.glob("*.so") if spec and spec.origin else []:
        with open(lib, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m.find(flag.encode() + b"\0") >= 0:  # the flag's name, as a C string
                return True
    return False


# XLA:CPU's backend at optimization level 0, unless XLA_FLAGS sets a level: the tests'
# programs are small and run a few times, so compiling them is most of their cost, and
# level 0 compiles them about twice as fast (the default stage on a cold cache: 316 s
# against 578 s, same machine and load; docs/testing.md). The numbers are the same IEEE
# operations in less optimized machine code. `.ci/run`'s slow stage sets XLA's default
# level (3), so the code users run is tested too.
# For the same reason, XLA:CPU's fusion emitters (its default code generator for fused
# operations) and LLVM's costliest passes are turned off where the installed XLA has
# these flags: the same tests (test_optim_contract, test_hooks, test_gan; one process,
# cold cache) took 49.5 s with them and 33.7 s without (docs/testing.md).
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    TEST_XLA_FLAGS += " --xla_backend_optimization_level=0"
    for flag in ("xla_cpu_use_fusion_emitters=false", "xla_llvm_disable_expensive_passes=true"):
        if xla_knows(flag.split("=")[0]):
            TEST_XLA_FLAGS += f" --{flag}"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + TEST_XLA_FLAGS).strip()
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
