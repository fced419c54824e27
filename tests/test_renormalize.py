"""ZFNet filter renormalization against a float64 numpy reference of the paper's rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl.optim as jo

R = 0.1


def _np_renorm(w: np.ndarray, r: float) -> np.ndarray:
    """Zeiler & Fergus: a filter W[..., o] with RMS > r is scaled to RMS r (float64)."""
    w = np.asarray(w, np.float64)
    out = w.copy()
    for o in range(w.shape[-1]):
        f = w[..., o]
        rms = np.sqrt(np.sum(f**2) / f.size)
        if rms > r:
            out[..., o] = f * (r / rms)
    return out


def _params():
    rng = np.random.default_rng(0)
    # 8 filters of 3x3x4: even ones far above the radius (RMS ~0.5), odd ones below (~0.02).
    k = rng.normal(size=(3, 3, 4, 8)) * np.where(np.arange(8) % 2 == 0, 0.5, 0.02)
    return {
        "conv": {"kernel": jnp.asarray(k, jnp.float32), "bias": jnp.full((8,), 3.0, jnp.float32)},
        "dense": {"kernel": jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)},
    }


def _apply(tx, params, updates):
    state = tx.init(params)
    u, state = jax.jit(tx.update)(updates, state, params)
    return optax.apply_updates(params, u), state


def test_above_and_below_radius_match_numpy():
    params = _params()
    zero = jax.tree.map(jnp.zeros_like, params)
    new, _ = _apply(jo.renormalize_filters(R), params, zero)
    want = _np_renorm(params["conv"]["kernel"], R)
    np.testing.assert_allclose(new["conv"]["kernel"], want, rtol=1e-6, atol=1e-7)
    rms = np.sqrt(np.mean(np.asarray(new["conv"]["kernel"], np.float64) ** 2, axis=(0, 1, 2)))
    np.testing.assert_allclose(rms[::2], R, rtol=1e-6)  # projected onto the radius
    assert np.all(rms[1::2] < R)  # below it: untouched (checked exactly above)
    # Default mask: only the 4-D conv kernel; dense kernel (RMS ~1) and bias untouched.
    np.testing.assert_array_equal(new["dense"]["kernel"], params["dense"]["kernel"])
    np.testing.assert_array_equal(new["conv"]["bias"], params["conv"]["bias"])
    np.testing.assert_allclose(jo.filter_rms(params["conv"]["kernel"]), np.sqrt(
        np.mean(np.asarray(params["conv"]["kernel"], np.float64) ** 2, axis=(0, 1, 2))
    ), rtol=1e-6)  # fmt: skip


def test_acts_on_params_after_the_update_chained_after_sgd():
    params = _params()
    rng = np.random.default_rng(1)
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
    lr = 0.3
    tx = optax.chain(optax.sgd(lr), jo.renormalize_filters(R))
    new, _ = _apply(tx, params, grads)
    p64 = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
    g64 = jax.tree.map(lambda x: np.asarray(x, np.float64), grads)
    stepped = jax.tree.map(lambda p, g: p - lr * g, p64, g64)
    np.testing.assert_allclose(
        new["conv"]["kernel"], _np_renorm(stepped["conv"]["kernel"], R), rtol=1e-5, atol=1e-6
    )
    for path in (("conv", "bias"), ("dense", "kernel")):  # plain SGD elsewhere
        np.testing.assert_allclose(new[path[0]][path[1]], stepped[path[0]][path[1]], rtol=1e-6)


def test_custom_mask_and_state_type():
    params = _params()
    zero = jax.tree.map(jnp.zeros_like, params)
    mask = {"conv": {"kernel": False, "bias": False}, "dense": {"kernel": True}}
    tx = jo.renormalize_filters(0.5, mask=mask)
    new, state = _apply(tx, params, zero)
    np.testing.assert_allclose(
        new["dense"]["kernel"], _np_renorm(params["dense"]["kernel"], 0.5), rtol=1e-6
    )
    np.testing.assert_array_equal(new["conv"]["kernel"], params["conv"]["kernel"])
    # optax.masked(EmptyState): NamedTuples all the way down (checkpointable pytrees).
    assert isinstance(state, tuple) and hasattr(state, "_fields")
    assert isinstance(state.inner_state, optax.EmptyState)
    callable_mask = jo.renormalize_filters(0.5, mask=lambda p: jax.tree.map(lambda _: False, p))
    same, _ = _apply(callable_mask, params, zero)
    jax.tree.map(np.testing.assert_array_equal, same, params)


def test_jit_compiles_once_and_bad_input():
    params = _params()
    tx = optax.chain(optax.sgd(0.1), jo.renormalize_filters(R))
    traces = []

    @jax.jit
    def step(p, s, g):
        traces.append(1)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    s = tx.init(params)
    for _ in range(3):
        params, s = step(params, s, jax.tree.map(jnp.ones_like, params))
    assert len(traces) == 1
    assert np.all(np.asarray(jo.filter_rms(params["conv"]["kernel"])) <= R * (1 + 1e-6))
    with pytest.raises(ValueError, match="needs the params"):
        jo.renormalize_filters(R).update(params, jo.renormalize_filters(R).init(params))
    with pytest.raises(ValueError, match="max_rms must be a number > 0"):
        jo.renormalize_filters(0.0)
    with pytest.raises(ValueError, match="ndim >= 2"):
        _apply(jo.renormalize_filters(R, mask=lambda p: jax.tree.map(lambda _: True, p)),
               params, jax.tree.map(jnp.zeros_like, params))  # fmt: skip
