"""Tests that kill mutants of jaxdl.optim.momentum which the other tests let survive.

Found by ``python -m mutation.run --modules momentum`` (docs/testing.md). Expected
values follow the docstrings' formulas, worked out by hand.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.optim import evaluation_point, lookahead_velocity, momentum, nesterov_lookahead
from jaxdl.optim.momentum import LookaheadVelocityState


@pytest.mark.parametrize("name, make", [("rho", lambda v: momentum(0.1, rho=v)),
                                        ("learning_rate", lambda v: momentum(v))])  # fmt: skip
def test_a_string_hyperparameter_is_named(name, make):
    with pytest.raises(TypeError, match=f"^{name} must be a real number, got str\\.$"):
        make("0.5")


def test_a_bool_learning_rate_is_refused_word_for_word():
    with pytest.raises(ValueError, match=r"^learning_rate must be finite and >= 0, got True\.$"):
        momentum(True)


def test_zero_rho_is_sgd_and_zero_rate_does_nothing():
    params, g = jnp.ones(2), jnp.array([1.0, -2.0])
    tx = momentum(0.1, rho=0.0)
    state = tx.init(params)
    for _ in range(2):  # V_t = 0.1 g every step: no memory
        u, state = tx.update(g, state, params)
        np.testing.assert_allclose(u, [-0.1, 0.2], rtol=1e-6)
    tx = momentum(0.0)
    u, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_array_equal(u, [0.0, 0.0])


def test_a_numpy_float64_rho_keeps_float32_updates_with_x64():
    with jax.enable_x64(True):
        params = jnp.ones(2, jnp.float32)
        tx = momentum(0.1, rho=np.float64(0.5))
        state = tx.init(params)
        for _ in range(2):
            u, state = tx.update(jnp.ones(2, jnp.float32), state, params)
        assert u.dtype == jnp.float32


def test_bfloat16_velocity_and_evaluation_point_stay_bfloat16():
    params = jnp.ones(3, jnp.bfloat16)
    tx = nesterov_lookahead(0.1, rho=0.5)
    state = tx.init(params)
    _, state = tx.update(jnp.ones(3, jnp.bfloat16), state, params)
    assert state.velocity.dtype == jnp.bfloat16
    point = evaluation_point(state, params)
    assert point.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(point, np.float32), 1 - 0.5 * 0.1, rtol=1e-2)


def test_lookahead_velocity_defaults_and_errors():
    tx = lookahead_velocity(optax.scale_by_learning_rate(0.1))
    params = jnp.ones(1)
    assert float(tx.init(params).rho) == pytest.approx(0.9)
    message = "lookahead_velocity needs params: call optimizer.update(grads, state, params)."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tx.update(jnp.ones(1), tx.init(params))


def test_extra_arguments_reach_the_inner_transformation():
    def update(updates, state, params=None, *, scale, **_):
        return jax.tree.map(lambda g: -scale * g, updates), state

    inner = optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)
    tx = lookahead_velocity(inner, rho=0.5)
    params = jnp.ones(1)
    u, _ = tx.update(jnp.ones(1), tx.init(params), params, scale=3.0)  # d = -3: V = 3
    np.testing.assert_allclose(u, [-3.0])


def test_two_lookahead_states_are_ambiguous_even_behind_inject_hyperparams():
    injected = optax.inject_hyperparams(nesterov_lookahead)(learning_rate=0.1, rho=0.5)
    tx = optax.chain(nesterov_lookahead(0.1), injected)
    state = tx.init(jnp.ones(1))
    message = (
        "The optimizer state holds 2 look-ahead states (['LookaheadVelocityState', "
        "'LookaheadVelocityState']); the evaluation point is ambiguous. Use at most one "
        "look-ahead transformation per optimizer."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        evaluation_point(state, jnp.ones(1))


def test_an_outer_injected_rho_reaches_through_an_inner_inject_without_one():
    def inner_injected(learning_rate, rho):  # the inner inject has no 'rho' of its own
        make = lambda learning_rate: nesterov_lookahead(learning_rate, rho=rho)  # noqa: E731
        return optax.inject_hyperparams(make)(learning_rate=learning_rate)

    tx = optax.inject_hyperparams(inner_injected)(learning_rate=0.1, rho=0.5)
    params = jnp.ones(2)
    state = tx.init(params)
    _, state = tx.update(jnp.ones(2), state, params)  # V_1 = 0.1
    stored = jax.tree.leaves(state, is_leaf=lambda n: isinstance(n, LookaheadVelocityState))
    assert any(isinstance(s, LookaheadVelocityState) for s in stored)
    np.testing.assert_allclose(evaluation_point(state, params), [0.95, 0.95], rtol=1e-6)
    state.hyperparams["rho"] = 0.0  # the outer rho: takes effect at once
    np.testing.assert_allclose(evaluation_point(state, params), [1.0, 1.0], rtol=1e-6)
