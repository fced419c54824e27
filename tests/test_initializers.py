"""Tests of jaxdl.nn.initializers: sample std against the course formulas (float64 refs)."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.nn import activations as act
from jaxdl.nn import initializers as init

DENSE = (1024, 128)  # N = 1024
CONV = (3, 3, 64, 256)  # N = 576


def _kumar_sigma(n, g0, d0):
    """sigma = sqrt(1 / (N g'(0)^2 (1 + g(0)^2))) with hand-derived g(0), g'(0)."""
    return math.sqrt(1.0 / (n * d0**2 * (1.0 + g0**2)))


# (name, initializer factory, hand-written (g(0), g'(0)) or gain)
KUMAR_CASES = {
    "sigmoid": (jax.nn.sigmoid, 0.5, 0.25),
    "tanh": (jnp.tanh, 0.0, 1.0),
    "softplus": (act.softplus, math.log(2.0), 0.5),
    "elu": (act.elu, 0.0, 1.0),
    "lecun_tanh": (act.lecun_tanh, 0.0, 1.7159 * 2.0 / 3.0),
}


def _expected_sigma(kind, shape):
    n = int(np.prod(shape[:-1]))
    if kind == "xavier":
        return 1.0 / math.sqrt(n)
    if kind == "he":
        return math.sqrt(2.0 / n)
    _, g0, d0 = KUMAR_CASES[kind]
    return _kumar_sigma(n, g0, d0)


def _make(kind, distribution):
    if kind == "xavier":
        return init.xavier(distribution)
    if kind == "he":
        return init.he(distribution)
    return init.kumar(KUMAR_CASES[kind][0], distribution)


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize("kind", ["xavier", "he", *KUMAR_CASES])
def test_sample_std_matches_formula(kind, shape, distribution):
    w = np.asarray(_make(kind, distribution)(jax.random.key(0), shape), np.float64)
    sigma = _expected_sigma(kind, shape)
    assert w.shape == shape and w.dtype == np.float64
    assert abs(w.std() / sigma - 1.0) < 0.02
    assert abs(w.mean()) < 0.02 * sigma
    if distribution == "uniform":
        bound = math.sqrt(3.0) * sigma
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * bound  # fills the whole interval
        # Uniform excess kurtosis is -1.2 (a Gaussian's is 0).
        assert abs(((w - w.mean()) ** 4).mean() / w.var() ** 2 - 3.0 + 1.2) < 0.05
    else:
        # Untruncated: a Gaussian of 10^5+ samples has values beyond 3 sigma
        # (flax's truncated lecun_normal/he_normal never exceed 2 std / 0.88).
        assert np.abs(w).max() > 3.0 * sigma
        assert abs(((w - w.mean()) ** 4).mean() / w.var() ** 2 - 3.0) < 0.05


def test_kumar_gain_values():
    for g, g0, d0 in KUMAR_CASES.values():
        np.testing.assert_allclose(init.kumar_gain(g), 1.0 / (d0**2 * (1 + g0**2)), rtol=1e-5)
    np.testing.assert_allclose(init.kumar_gain(jax.nn.sigmoid), 12.8, rtol=1e-6)


# The shapes of the tests above (DENSE, CONV): their samplers are compiled already.
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("shape", [DENSE, CONV])
def test_kumar_tanh_is_xavier(distribution, shape):
    key = jax.random.key(42)
    a = init.kumar(jnp.tanh, distribution)(key, shape)
    b = init.xavier(distribution)(key, shape)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_he_is_sqrt2_times_xavier_samples():
    key = jax.random.key(1)
    a = np.asarray(init.he()(key, DENSE), np.float64)
    b = np.asarray(init.xavier()(key, DENSE), np.float64)
    np.testing.assert_allclose(a, math.sqrt(2.0) * b, rtol=1e-6)


@pytest.mark.parametrize(
    "g, match",
    [
        (jax.nn.relu, r"he\(\)"),  # autodiff slope 0 at the kink
        (act.relu, "not differentiable"),  # jnp.maximum: slope 0.5 at the kink
        (act.leaky_relu, "not differentiable"),
        (functools.partial(act.elu, alpha=2.0), "not differentiable"),
        (lambda a: a**2, "g'\\(0\\) = 0"),
        (lambda a: jnp.log(a), "not finite"),
    ],
)
def test_kumar_rejects_unusable_activations(g, match):
    with pytest.raises(ValueError, match=match):
        init.kumar(g)


def test_bad_distribution_and_shapes():
    for factory in (init.xavier, init.he, functools.partial(init.kumar, jnp.tanh)):
        with pytest.raises(ValueError, match="distribution"):
            factory("truncated_normal")
    with pytest.raises(ValueError, match="zeros"):
        init.xavier()(jax.random.key(0), (10,))
    assert init.fan_in((3, 3, 16, 32)) == 144
    assert init.fan_in((7, 5)) == 7
    assert init.fan_in((5, 8, 4)) == 40  # 1-D conv [k, cin, cout]


def test_in_flax_modules_under_jit_and_dtype():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(8, (3, 3), kernel_init=init.he())(x)
            # The Kumar gain is computed while jit traces init: must still work.
            return nn.Dense(4, kernel_init=init.kumar(jax.nn.sigmoid, "uniform"))(x)

    params = jax.jit(Net().init)(jax.random.key(0), jnp.ones((1, 4, 4, 2)))["params"]
    assert params["Conv_0"]["kernel"].shape == (3, 3, 2, 8)
    bound = math.sqrt(3.0) * math.sqrt(12.8 / 8)
    assert np.abs(np.asarray(params["Dense_0"]["kernel"])).max() <= bound
    w = init.xavier()(jax.random.key(0), (4, 4), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16
