"""Tests that kill mutants of jaxdl.training.restarts which the other tests let survive.

Found by ``python -m mutation.run --modules restarts`` (docs/testing.md); the expected
values are written by hand.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.training.restarts import rate_scale, restart_from, with_restarts
from jaxdl.training.state import TrainState


def _state(tx, w, bn, step, seed, scale=None, restarts=None):
    params = {"w": jnp.full((2,), w)}
    opt_state = tx.init(params)
    if scale is not None:
        opt_state = opt_state._replace(
            scale=jnp.float32(scale), restarts=jnp.int32(restarts)
        )  # fmt: skip
    return TrainState(
        step=jnp.int32(step), params=params, model_state={"mean": jnp.full((2,), bn)},
        opt_state=opt_state, rng=jax.random.key(seed), apply_fn=None, tx=tx,
    )  # fmt: skip


def test_restart_from_takes_weights_model_state_and_optimizer_state_of_the_best():
    tx = with_restarts(optax.sgd(0.1, momentum=0.9))
    best = _state(tx, 1.0, 10.0, step=3, seed=1, scale=1.0, restarts=0)
    current = _state(tx, 5.0, 50.0, step=9, seed=2, scale=0.5, restarts=1)
    out = restart_from(best, current, 0.1)
    np.testing.assert_array_equal(np.asarray(out.params["w"]), [1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(out.model_state["mean"]), [10.0, 10.0])
    assert int(out.step) == 9  # the step counter and the key go forward
    assert jnp.array_equal(jax.random.key_data(out.rng), jax.random.key_data(current.rng))
    assert float(out.opt_state.scale) == pytest.approx(0.05)  # current 0.5 x decay 0.1
    assert int(out.opt_state.restarts) == 2


def test_restart_from_refuses_an_optimizer_without_restarts():
    tx = optax.sgd(0.1)
    plain = _state(tx, 1.0, 0.0, step=0, seed=0)
    msg = "restart_from needs an optimizer built with jaxdl.training.restarts.with_restarts."
    with pytest.raises(TypeError, match=f"^{re.escape(msg)}$"):
        restart_from(plain, plain, 0.5)
    assert rate_scale(plain.opt_state) == 1.0


def test_with_restarts_state_dtypes_and_update_dtype():
    tx = with_restarts(optax.sgd(1.0))
    with jax.enable_x64(True):  # documented float32/int32, whatever JAX's defaults are
        s = tx.init({"w": jnp.zeros(2, jnp.float32)})
        assert (s.scale.dtype, s.restarts.dtype) == (jnp.float32, jnp.int32)
    s = tx.init({"w": jnp.zeros(2, jnp.bfloat16)})
    assert (s.scale.dtype, s.restarts.dtype) == (jnp.float32, jnp.int32)
    s = s._replace(scale=jnp.float32(0.5))
    u, _ = tx.update({"w": jnp.array([2.0, -4.0], jnp.bfloat16)}, s)
    assert u["w"].dtype == jnp.bfloat16  # the scale does not promote the updates
    np.testing.assert_array_equal(np.asarray(u["w"], np.float32), [-1.0, 2.0])


def test_with_restarts_passes_the_params_to_the_inner_optimizer():
    # sgd(1) on g + 0.5 w, times the scale 0.5: -0.5 (g + 0.5 w)
    tx = with_restarts(optax.chain(optax.add_decayed_weights(0.5), optax.sgd(1.0)))
    params = {"w": jnp.array([2.0, 4.0])}
    s = tx.init(params)._replace(scale=jnp.float32(0.5))
    u, _ = tx.update({"w": jnp.array([1.0, 1.0])}, s, params)
    np.testing.assert_allclose(np.asarray(u["w"]), [-1.0, -1.5])
