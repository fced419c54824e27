"""Tests that kill mutants of jaxdl.optim.clipping which the other tests let survive.

Found by ``python -m mutation.run --modules clipping`` (docs/testing.md). The expected
values follow the docstring's formulas, computed by hand.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.optim.clipping import clip_by_running_average_norm


def test_defaults_are_decay_0_99_and_factor_1():
    # g0 = (0.6, 0.8), norm 1: m_1 = 0.01, tau_1 = 1 * 0.01 / (1 - 0.99) = 1.0
    # g1 = (0.9, 1.2), norm 1.5 > tau_1: scaled to length 1.0 -> (0.6, 0.8)
    # (factor 2 would give tau_1 = 2 and leave g1 alone)
    tx = clip_by_running_average_norm()
    state = tx.init(jnp.zeros(2))
    u, state = tx.update(jnp.array([0.6, 0.8]), state)
    np.testing.assert_allclose(np.asarray(u), [0.6, 0.8], rtol=1e-6)
    u, state = tx.update(jnp.array([0.9, 1.2]), state)
    np.testing.assert_allclose(np.asarray(u), [0.6, 0.8], rtol=1e-5)
    np.testing.assert_allclose(float(state.norm_ema), 0.99 * 0.01 + 0.01 * 1.5, rtol=1e-6)


@pytest.mark.parametrize("name", ["decay", "factor"])
def test_bool_hyperparameters_are_refused_by_name(name):
    msg = f"{name} must be a real number, got bool."
    with pytest.raises(TypeError, match=f"^{re.escape(msg)}$"):
        clip_by_running_average_norm(**{name: True})


def test_state_is_int32_count_and_float32_average_even_with_x64():
    with jax.enable_x64(True):
        tx = clip_by_running_average_norm()
        state = tx.init(jnp.zeros(2))
        assert (state.count.dtype, state.norm_ema.dtype) == (jnp.int32, jnp.float32)
        _, state = tx.update(jnp.array([3.0, 4.0], jnp.float32), state)
        assert (state.count.dtype, state.norm_ema.dtype) == (jnp.int32, jnp.float32)


def test_updates_keep_their_dtype():
    tx = clip_by_running_average_norm(decay=0.5)
    state = tx.init(jnp.zeros(2, jnp.bfloat16))
    for g in ([3.0, 4.0], [6.0, 8.0]):  # the second one is clipped to length 5
        u, state = tx.update(jnp.array(g, jnp.bfloat16), state)
        assert u.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(u, np.float32), [3.0, 4.0], rtol=1e-2)
