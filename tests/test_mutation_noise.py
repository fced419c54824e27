"""Tests that kill mutants of jaxdl.optim.noise which the other tests let survive.

Found by ``python -m mutation.run --modules noise`` (docs/testing.md).
"""

import re

import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.optim import add_gradient_noise


def test_default_kappa_anneals_the_std_as_0_55():
    # sigma_t = sigma0 / (1 + t)^0.55: at t = 3, 4^-0.55 = 0.4665 (kappa 1.55: 0.1166)
    tx = add_gradient_noise(1.0, key=0)
    zeros = jnp.zeros(200_000)
    state = tx.init(zeros)
    stds = []
    for _ in range(4):
        noise, state = tx.update(zeros, state)
        stds.append(float(jnp.std(noise)))
    np.testing.assert_allclose(stds, [(1 + t) ** -0.55 for t in range(4)], rtol=0.02)


def test_zero_sigma_adds_nothing():
    tx = add_gradient_noise(0.0, key=0)
    g = jnp.array([1.0, -2.0, 3.0])
    u, _ = tx.update(g, tx.init(g))
    np.testing.assert_array_equal(u, g)


@pytest.mark.parametrize("name", ["sigma0", "kappa"])
def test_bad_values_are_named_word_for_word(name):
    def make(value):
        kwargs = {"sigma0": 1.0, "kappa": 0.55, name: value}
        return add_gradient_noise(kwargs["sigma0"], kwargs["kappa"], key=0)

    with pytest.raises(TypeError, match=f"^{name} must be a real number, got str\\.$"):
        make("1")
    with pytest.raises(ValueError, match=f"^{name} must be finite and >= 0, got -1.0\\.$"):
        make(-1.0)


def test_a_missing_key_names_the_factory():
    message = (
        "add_gradient_noise needs key=jax.random.key(seed) (a typed key), a legacy "
        "jax.random.PRNGKey(seed) (uint32[2]) or an int seed; got None."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        add_gradient_noise(1.0, key=None)
