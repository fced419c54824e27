"""Gradient clipping (fixed and running-average threshold) against float64 numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl.optim as jo

N_STEPS = 30


def _grads(seed=0):
    """A sequence of 2-leaf gradients with norms varying over 3 orders, incl. spikes."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.1, 3.0, N_STEPS)
    scales[[0, 7, 19]] = [10.0, 80.0, 200.0]  # a huge first gradient and two spikes
    return [{"w": rng.normal(size=(4, 3)) * s, "b": rng.normal(size=(3,)) * s} for s in scales]


def _norm(tree):
    return np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in tree.values()))


def _run(tx, grads):
    params = {k: jnp.zeros(v.shape, jnp.float32) for k, v in grads[0].items()}
    state = tx.init(params)
    update = jax.jit(tx.update)
    out = []
    for g in grads:
        u, state = update({k: jnp.asarray(v, jnp.float32) for k, v in g.items()}, state, params)
        out.append({k: np.asarray(v, np.float64) for k, v in u.items()})
    return out


@pytest.mark.parametrize("decay, factor", [(0.99, 1.0), (0.8, 2.0), (0.0, 1.5)])
def test_running_average_clip_matches_reference(decay, factor):
    grads = _grads()
    got = _run(jo.clip_by_running_average_norm(decay, factor), grads)
    ema, n_clipped = 0.0, 0
    for t, (g, u) in enumerate(zip(grads, got)):
        norm = _norm(g)
        if t == 0:
            expected = g  # nothing seen yet: never clipped
        else:
            tau = factor * ema / (1.0 - decay**t)
            if norm > tau:
                expected = {k: v * tau / norm for k, v in g.items()}
                n_clipped += 1
                np.testing.assert_allclose(_norm(u), tau, rtol=1e-5)
            else:
                expected = g
        for k in g:
            np.testing.assert_allclose(u[k], expected[k], rtol=2e-5, atol=1e-6, err_msg=f"t={t}")
        ema = decay * ema + (1.0 - decay) * norm  # raw (unclipped) norm
    assert 2 <= n_clipped <= N_STEPS - 5, n_clipped  # both branches exercised


def test_first_update_unclipped_and_direction_kept():
    grads = _grads()
    got = _run(jo.clip_by_running_average_norm(0.9, 1.0), grads)
    np.testing.assert_allclose(got[0]["w"], grads[0]["w"], rtol=1e-6)
    # The spike at t=7 is clipped: same direction, smaller norm.
    g, u = grads[7], got[7]
    cos = sum(np.sum(g[k] * u[k]) for k in g) / (_norm(g) * _norm(u))
    assert cos == pytest.approx(1.0, abs=1e-6) and _norm(u) < 0.2 * _norm(g)


def test_global_norm_clip_matches_course():
    grads = _grads(1)
    tau = 2.0
    got = _run(jo.clip_by_global_norm(tau), grads)
    for g, u in zip(grads, got):
        scale = 1.0 if _norm(g) <= tau else tau / _norm(g)
        for k in g:
            np.testing.assert_allclose(u[k], g[k] * scale, rtol=2e-5, atol=1e-7)


def test_zero_gradients_stay_zero():
    tx = jo.clip_by_running_average_norm()
    params = {"w": jnp.zeros((3,))}
    state = tx.init(params)
    for _ in range(3):
        u, state = tx.update(params, state, params)
        assert np.all(np.isfinite(u["w"])) and np.all(u["w"] == 0)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"decay": 1.0}, ValueError, r"\[0, 1\)"),
        ({"decay": -0.1}, ValueError, r"\[0, 1\)"),
        ({"factor": 0.0}, ValueError, "factor"),
        ({"factor": "2"}, TypeError, "factor"),
    ],
)
def test_running_average_argument_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        jo.clip_by_running_average_norm(**kwargs)
