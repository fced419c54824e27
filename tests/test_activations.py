"""Tests of jaxdl.nn.activations against float64 numpy references (values and gradients)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.nn import activations as act

# Avoid exactly 0 for gradients (kinks); large |a| checks overflow-free evaluation.
X = np.concatenate([np.linspace(-6.0, 6.0, 49) + 0.013, [-80.0, -30.0, 30.0, 80.0]])


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


# name -> (function, value reference, derivative reference), all float64 numpy.
CASES = {
    "relu": (act.relu, lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(float)),
    "softplus": (act.softplus, lambda a: np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0), _sig),
    "leaky_relu": (
        act.leaky_relu,
        lambda a: np.maximum(a, 0.1 * a),
        lambda a: np.where(a > 0, 1.0, 0.1),
    ),
    "leaky_relu_0.3": (
        lambda a: act.leaky_relu(a, negative_slope=0.3),
        lambda a: np.where(a > 0, a, 0.3 * a),
        lambda a: np.where(a > 0, 1.0, 0.3),
    ),
    "elu": (
        act.elu,
        lambda a: np.where(a >= 0, a, np.exp(a) - 1.0),
        lambda a: np.where(a >= 0, 1.0, np.exp(a)),
    ),
    "elu_alpha2": (
        lambda a: act.elu(a, alpha=2.0),
        lambda a: np.where(a >= 0, a, 2.0 * (np.exp(a) - 1.0)),
        lambda a: np.where(a >= 0, 1.0, 2.0 * np.exp(a)),
    ),
    "lecun_tanh": (
        act.lecun_tanh,
        lambda a: 1.7159 * np.tanh(2.0 * a / 3.0),
        lambda a: 1.7159 * (2.0 / 3.0) / np.cosh(2.0 * a / 3.0) ** 2,
    ),
    "sigmoid": (act.sigmoid, _sig, lambda a: _sig(a) * (1.0 - _sig(a))),
    "tanh": (act.tanh, np.tanh, lambda a: 1.0 / np.cosh(a) ** 2),
}


@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients(name):
    f, ref, dref = CASES[name]
    x = jnp.asarray(X, jnp.float32)
    np.testing.assert_allclose(np.asarray(f(x), np.float64), ref(X), rtol=2e-6, atol=1e-6)
    g = jax.vmap(jax.grad(lambda a: f(a)))(x)
    assert np.all(np.isfinite(np.asarray(g)))  # e.g. ELU's exp branch must not overflow
    np.testing.assert_allclose(np.asarray(g, np.float64), dref(X), rtol=2e-5, atol=1e-6)


def test_course_defaults_and_public_names():
    # Course: leaky slope 0.1 (jax.nn.leaky_relu uses 0.01).
    np.testing.assert_allclose(float(act.leaky_relu(jnp.float32(-2.0))), -0.2, rtol=1e-7)
    # Scaled tanh maps +-1 close to +-1.
    np.testing.assert_allclose(float(act.lecun_tanh(jnp.float32(1.0))), 1.0, atol=2e-4)
    assert sorted(act.__all__) == [
        "elu",
        "leaky_relu",
        "lecun_tanh",
        "relu",
        "sigmoid",
        "softplus",
        "tanh",
    ]


def test_dtype_preserved():
    x = jnp.linspace(-3, 3, 7, dtype=jnp.bfloat16)
    for name, (f, _, _) in CASES.items():
        assert f(x).dtype == jnp.bfloat16, name
