"""Annealed gradient noise: empirical std against sigma_t = sigma0 / (1 + t)^kappa."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl.optim as jo

N_STEPS = 25
N_DRAWS = 40_000  # relative standard error of the std estimate: 1/sqrt(2n) = 0.35%


def _noise_updates(tx, grads, n_steps=N_STEPS, jit=True):
    state = tx.init(grads)
    update = jax.jit(tx.update) if jit else tx.update  # eager: no compile for 2-5 steps
    out = []
    for _ in range(n_steps):
        u, state = update(grads, state)
        out.append(np.asarray(u["w"], np.float64))
    return out, state


@pytest.mark.parametrize("sigma0, kappa", [(0.3, 0.55), (2.0, 1.0)])
def test_empirical_std_matches_sigma_t(sigma0, kappa):
    grads = {"w": jnp.full((N_DRAWS,), 1.5, jnp.float32)}
    out, _ = _noise_updates(jo.add_gradient_noise(sigma0, kappa, key=jax.random.key(3)), grads)
    for t, u in enumerate(out):
        sigma_t = sigma0 / (1.0 + t) ** kappa
        noise = u - 1.5  # noise is ADDED to the gradient
        assert np.std(noise) == pytest.approx(sigma_t, rel=0.02), t
        assert abs(np.mean(noise)) < 5 * sigma_t / np.sqrt(N_DRAWS), t
    # Fresh noise every step (the key is split each update), not a repeated draw.
    assert np.corrcoef(out[0], out[1])[0, 1] < 0.05


def test_mapping_to_optax_add_noise():
    """eta = sigma0^2, gamma = 2 kappa: identical draws for the same key."""
    grads = {"w": jnp.zeros((64,), jnp.float32)}
    ours, state = _noise_updates(jo.add_gradient_noise(0.4, 0.55, key=7), grads, 5, jit=False)
    ref, _ = _noise_updates(optax.add_noise(eta=0.4**2, gamma=1.1, key=7), grads, 5, jit=False)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert isinstance(state, jo.AddNoiseState) and int(state.count) == 5


def test_same_key_same_noise_different_key_different_noise():
    grads = {"w": jnp.zeros((32,), jnp.float32)}
    a, _ = _noise_updates(jo.add_gradient_noise(1.0, key=jax.random.key(0)), grads, 2, jit=False)
    b, _ = _noise_updates(jo.add_gradient_noise(1.0, key=jax.random.key(0)), grads, 2, jit=False)
    c, _ = _noise_updates(jo.add_gradient_noise(1.0, key=jax.random.key(1)), grads, 2, jit=False)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[1], c[1])


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"sigma0": -1.0, "key": 0}, ValueError),
        ({"sigma0": 1.0, "kappa": -0.5, "key": 0}, ValueError),
        ({"sigma0": float("inf"), "key": 0}, ValueError),
        ({"sigma0": "1", "key": 0}, TypeError),
        ({"sigma0": 1.0, "key": None}, ValueError),
    ],
)
def test_argument_errors(kwargs, err):
    with pytest.raises(err):
        jo.add_gradient_noise(**kwargs)


def test_key_is_required_keyword():
    with pytest.raises(TypeError):
        jo.add_gradient_noise(0.1)  # pylint: disable=missing-kwoa
