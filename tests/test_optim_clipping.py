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


def _reference_running_average(grads, decay, factor):
    """float64 course rule: (clipped gradients, thresholds tau_t or None, clip count)."""
    ema, n_clipped, out, taus = 0.0, 0, [], []
    for t, g in enumerate(grads):
        norm = _norm(g)
        tau = None if t == 0 else factor * ema / (1.0 - decay**t)  # t = 0: never clipped
        if tau is not None and norm > tau:
            out.append({k: v * tau / norm for k, v in g.items()})
            n_clipped += 1
        else:
            out.append(g)
        taus.append(tau)
        ema = decay * ema + (1.0 - decay) * norm  # raw (unclipped) norm
    return out, taus, n_clipped


def _assert_updates(got, expected, scale=1.0):
    for t, (u, e) in enumerate(zip(got, expected, strict=True)):
        for k in e:
            np.testing.assert_allclose(
                u[k], scale * e[k], rtol=2e-5, atol=1e-6 * abs(scale), err_msg=f"t={t}"
            )


@pytest.mark.parametrize("decay, factor", [(0.99, 1.0), (0.8, 2.0), (0.0, 1.5)])
def test_running_average_clip_matches_reference(decay, factor):
    grads = _grads()
    got = _run(jo.clip_by_running_average_norm(decay, factor), grads)
    expected, taus, n_clipped = _reference_running_average(grads, decay, factor)
    _assert_updates(got, expected)
    for g, u, tau in zip(grads, got, taus):
        if tau is not None and _norm(g) > tau:
            np.testing.assert_allclose(_norm(u), tau, rtol=1e-5)
    assert 2 <= n_clipped <= N_STEPS - 5, n_clipped  # both branches exercised


def test_first_update_unclipped_and_direction_kept():
    grads = _grads()
    got = _run(jo.clip_by_running_average_norm(0.9, 1.0), grads)
    np.testing.assert_allclose(got[0]["w"], grads[0]["w"], rtol=1e-6)
    # The spike at t=7 is clipped: same direction, smaller norm.
    g, u = grads[7], got[7]
    cos = sum(np.sum(g[k] * u[k]) for k in g) / (_norm(g) * _norm(u))
    assert cos == pytest.approx(1.0, abs=1e-6) and _norm(u) < 0.2 * _norm(g)


def _reference_global_norm(grads, tau):
    return [
        {k: v * (1.0 if _norm(g) <= tau else tau / _norm(g)) for k, v in g.items()} for g in grads
    ]


def test_clippings_by_name_match_the_course_rules():
    """jaxdl's name table (``create_clipping``) passes each argument to the right place."""
    grads = _grads(1)
    tau = 2.0
    expected = _reference_global_norm(grads, tau)
    assert any(_norm(g) > tau for g in grads) and any(_norm(g) <= tau for g in grads)
    _assert_updates(_run(jo.create_clipping("global_norm", max_norm=tau), grads), expected)
    _assert_updates(_run(jo.clip_by_global_norm(tau), grads), expected)  # the re-export
    # decay and factor differ (0.8 vs 2.0), so swapping them changes the result.
    expected, _, n_clipped = _reference_running_average(grads, decay=0.8, factor=2.0)
    got = _run(jo.create_clipping("running_average", decay=0.8, factor=2.0), grads)
    assert n_clipped >= 2
    _assert_updates(got, expected)
    defaults, _, _ = _reference_running_average(grads, decay=0.99, factor=1.0)
    _assert_updates(_run(jo.create_clipping("running_average"), grads), defaults)
    _assert_updates(_run(jo.create_clipping("none"), grads), grads)


@pytest.mark.parametrize(
    "clipping, kwargs, reference",
    [
        ("global_norm", {"max_norm": 2.0}, lambda g: _reference_global_norm(g, 2.0)),
        (
            "running_average",
            {"decay": 0.8, "factor": 2.0},
            lambda g: _reference_running_average(g, 0.8, 2.0)[0],
        ),
    ],
)
def test_optimizer_clips_the_raw_gradient_first(clipping, kwargs, reference):
    """``create(..., clipping=...)``: plain SGD steps by -lr times the CLIPPED raw gradient."""
    grads = _grads(2)
    lr = 0.1
    got = _run(jo.create("sgd", lr, clipping=clipping, clipping_kwargs=kwargs), grads)
    _assert_updates(got, reference(grads), scale=-lr)


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
