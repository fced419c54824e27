"""Loaded by the mutation runs only (``-p mutation.pytest_plugin`` in [tool.mutmut]).

mutmut learns which tests call a function from its trampoline being called, during one
"stats" run of the test subset. Under ``jax.jit`` a function is called when it is traced,
and a second test that jits it with the same shapes reuses the trace: that test would not
be mapped to the function, and so never run against its mutants. Clearing JAX's in-memory
caches after each test of the stats run makes every test trace (and so call) what it uses;
the persistent compilation cache keeps the recompilation cheap.

mutmut's copy of a module holds every mutant as a function of its own
(``x_fit__mutmut_121``), each with the original's docstring: pytest's doctest collection
finds each copy's examples again. They run the same text through the same trampoline as
the function's own doctest, which stays; the copies are deselected (in
``training/loop.py`` they were 212 of 247 tests and 162 s of the 207 s each surviving
mutant took).

The tests then run quickest first (below): the verdicts do not change, only the time.
"""

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _retrace_in_every_test():
    yield
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        import jax

        jax.clear_caches()


def pytest_collection_modifyitems(config, items):
    copy = [isinstance(i, pytest.DoctestItem) and "__mutmut_" in i.name for i in items]
    if any(copy):
        config.hook.pytest_deselected(items=[i for i, c in zip(items, copy) if c])
        items[:] = [i for i, c in zip(items, copy) if not c]
    # Quickest tests first, by the durations of mutmut's stats run (cwd: the copy's
    # mutants/): mutmut runs each mutant's tests with -x, so a killed mutant costs the
    # tests up to the first that fails. In loop.py's run, 76 tests took 51 s in all, the
    # quickest 0.01 s; in file order a killed mutant cost about half of them.
    stats = Path("mutmut-stats.json")
    if stats.is_file():
        duration = json.loads(stats.read_text()).get("duration_by_test", {})
        items.sort(key=lambda i: duration.get(i.nodeid, 0.0))


def pytest_collection_finish(session):
    """mutmut forks each mutant's test process from a server that has only collected the
    tests; if collecting started JAX's backend (a JAX array made at a test module's import
    or in a ``parametrize`` list), its threads do not survive the fork and every mutant
    hangs until its time limit, counted as killed. Refuse the run instead."""
    from jax._src import xla_bridge

    if xla_bridge._backends:
        raise pytest.UsageError(
            "collecting the tests started JAX's backend (a JAX array made at a test module's"
            " import or in a parametrize list): every forked mutant would hang. Make those"
            " arrays inside the tests (or with NumPy), e.g. tests/test_augment.py's base_key()."
        )
