"""``restart_from``: successive restarts compound the decay from the CURRENT rate.

The best checkpoint was saved before any restart (scale 1), so after a first restart the
current scale (``decay``) and the best state's (1) differ: the second restart must give
``decay**2`` (hand value), weights and optimizer state from the best state, and the
step and RNG of the current state.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.training import restarts
from jaxdl.training.state import TrainState

LR, DECAY = 0.1, 0.5


def _sgd_state() -> TrainState:
    tx = restarts.with_restarts(optax.sgd(LR, momentum=0.9))
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        model_state={},
        opt_state=tx.init(params),
        rng=jax.random.PRNGKey(0),
        apply_fn=None,
        tx=tx,
    )


def _step(state: TrainState, grad) -> TrainState:
    updates, opt_state = state.tx.update({"w": jnp.asarray(grad)}, state.opt_state, state.params)
    return state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        opt_state=opt_state,
    )


def test_two_restarts_compound_the_decay_from_the_current_scale():
    best = _step(_sgd_state(), [1.0, 1.0, 1.0])  # the best iterate, saved at scale 1
    assert float(best.opt_state.scale) == 1.0
    current = _step(_step(best, [0.5, -1.0, 2.0]), [1.0, 0.0, -1.0])  # a plateau
    first = restarts.restart_from(best, current, DECAY)
    assert float(first.opt_state.scale) == DECAY
    assert int(first.opt_state.restarts) == 1
    current = _step(_step(first, [2.0, 2.0, 2.0]), [-1.0, 0.5, 0.0])  # a second plateau
    assert float(current.opt_state.scale) == DECAY  # the steps keep the scale
    second = restarts.restart_from(best, current, DECAY)  # the same best as before
    assert float(second.opt_state.scale) == pytest.approx(DECAY**2, rel=1e-7)
    assert int(second.opt_state.restarts) == 2
    assert restarts.rate_scale(second.opt_state) == pytest.approx(0.25, rel=1e-7)
    # Weights and the inner optimizer state (momentum) come from the best state ...
    np.testing.assert_array_equal(second.params["w"], best.params["w"])
    for a, b in zip(jax.tree.leaves(second.opt_state.inner), jax.tree.leaves(best.opt_state.inner)):
        np.testing.assert_array_equal(a, b)
    # ... while the step counter and the RNG keep going forward.
    assert int(second.step) == int(current.step) == 5
    np.testing.assert_array_equal(second.rng, current.rng)
    # The next update is the inner SGD-with-momentum update times decay**2 (float64).
    grad = np.array([0.3, -0.6, 0.9])
    # Best state by hand: one SGD step with g = 1 from w0 = [1, -2, 3] and a zero trace,
    # so its momentum trace is [1, 1, 1] and its weights w0 - LR * 1.
    w_best, trace_best = np.array([1.0, -2.0, 3.0]) - LR, np.ones(3)
    np.testing.assert_allclose(np.asarray(best.params["w"], np.float64), w_best, rtol=1e-7)
    want = w_best - DECAY**2 * LR * (0.9 * trace_best + grad)
    after = _step(second, grad)
    np.testing.assert_allclose(np.asarray(after.params["w"], np.float64), want, rtol=1e-6)
