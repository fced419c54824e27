"""Tests that kill mutants of jaxdl.optim.weight_decay which the other tests let survive.

Found by ``python -m mutation.run --modules weight_decay`` (docs/testing.md). Expected
values are written by hand or computed in float64 NumPy from the formulas.
"""

import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.optim import weight_decay as wd


class Layer(NamedTuple):  # pytree keys of a NamedTuple are GetAttrKey(name=...)
    kernel: jax.Array
    bias: jax.Array


def test_leaf_names_come_from_dict_keys_attributes_and_indices():
    tu = jax.tree_util
    assert wd._leaf_name(()) == ""
    assert wd._leaf_name((tu.DictKey("a"), tu.DictKey("kernel"))) == "kernel"
    assert wd._leaf_name((tu.GetAttrKey("bias"),)) == "bias"
    assert wd._leaf_name((tu.SequenceKey(3),)) == "3"
    assert wd._leaf_name(("gamma",)) == "gamma"  # any other key: its str


def test_a_named_tuples_2d_bias_is_not_decayed():
    params = Layer(kernel=jnp.ones((2, 3)), bias=jnp.ones((1, 3)))
    assert wd.decay_mask(params) == Layer(kernel=True, bias=False)


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.float32])
def test_a_bare_matrix_is_params_whatever_its_dtype(dtype):
    assert wd.decay_mask(jnp.ones((2, 3), dtype)) is True
    assert wd.decay_mask(jnp.ones((3,), dtype)) is False


def test_an_integer_scalar_is_refused_with_the_fix():
    message = (
        "decay_mask was called with an integer scalar (a step count?), not params. "
        "Under optax.inject_hyperparams, list 'mask' in static_args."
    )
    for step in (3, jnp.asarray(3, jnp.int32)):
        with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
            wd.decay_mask(step)


def test_kappa_zero_and_schedules_are_accepted_and_applied():
    w = {"kernel": jnp.array([[2.0, -4.0]])}
    g = {"kernel": jnp.array([[1.0, 1.0]])}
    tx = wd.add_weight_decay(0.0)
    u, _ = tx.update(g, tx.init(w), w)
    np.testing.assert_array_equal(u["kernel"], g["kernel"])
    tx = wd.add_weight_decay(optax.linear_schedule(0.5, 0.0, 2))  # kappa 0.5, 0.25, 0
    state = tx.init(w)
    for kappa in (0.5, 0.25, 0.0):
        u, state = tx.update(g, state, w)
        np.testing.assert_allclose(u["kernel"], [[1.0 + 2 * kappa, 1.0 - 4 * kappa]])


def test_bad_kappas_are_named_in_the_error():
    with pytest.raises(
        ValueError, match=r"^weight decay kappa must be finite and >= 0, got True\.$"
    ):
        wd.add_weight_decay(True)
    with pytest.raises(TypeError, match=r"^weight decay kappa must be a real number, got str\.$"):
        wd.add_weight_decay("0.1")


def _adamw64(w, grads, lr, b1, b2, eps, kappa):
    """float64 AdamW: m, v moments, bias correction, decoupled decay scaled by lr."""
    m = v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * (m_hat / (np.sqrt(v_hat) + eps) + kappa * w)
    return w


@pytest.mark.parametrize(
    "kwargs, expect",
    [
        ({}, dict(b1=0.9, b2=0.999, eps=1e-8, kappa=1e-4)),  # the defaults
        (dict(b1=0.5, b2=0.9, eps=0.3, weight_decay=0.2), dict(b1=0.5, b2=0.9, eps=0.3, kappa=0.2)),
    ],
)
def test_adamw_against_float64(kwargs, expect):
    w0 = np.array([[1.0, -2.0], [0.5, 3.0]])
    grads = [np.array([[0.3, -0.1], [0.2, 0.4]]), np.array([[-0.5, 0.2], [0.1, -0.3]])]
    tx = wd.adamw(0.1, **kwargs)
    params = {"kernel": jnp.asarray(w0, jnp.float32)}
    state = tx.init(params)
    for g in grads:
        u, state = tx.update({"kernel": jnp.asarray(g, jnp.float32)}, state, params)
        params = optax.apply_updates(params, u)
    want = _adamw64(w0, grads, 0.1, **expect)
    np.testing.assert_allclose(params["kernel"], want, rtol=1e-5, atol=1e-6)
