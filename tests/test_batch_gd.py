"""Batch GD / SGD / mini-batch SGD as configured by the trainer.

Batch GD is ``optimizer.accumulate_steps=0``: ``train.build.optimizer``
wraps the optimizer in ``optax.MultiSteps`` over a whole epoch, so one update uses the
mean gradient of the epoch's N // B * B examples (the loop drops the last partial
batch). These tests run the trainer's real pieces (``build.optimizer``, the
classification ``train_step``, the loader's batches, the 8-device mesh) on a linear
softmax model and compare with float64 numpy references of the course's formulas:

    batch GD:  W <- W - gamma * mean_n grad E_n(W)
    Nesterov:  V <- gamma * grad E(W - rho V) + rho V,  W <- W - V   (full-batch grad)
    SGD:       W <- W - gamma * grad E_n(W), one shuffled example at a time
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.data import loader
from jaxdl.optim import evaluation_point
from jaxdl.training import parallel, steps
from jaxdl.training.state import TrainState
from train import build
from train.configs import defaults

N, D, K, B = 44, 6, 3, 8  # 44 // 8 = 5 micro-batches per epoch; 4 examples dropped


def data_key():
    """``jax.random.PRNGKey(1)``, made per call: a JAX array made at import would start the
    backend while pytest collects (mutation testing forks test processes after that)."""
    return jax.random.PRNGKey(1)


def _data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, 1, D, 1)).astype(np.float32)  # [N, H=1, W=D, C=1]
    labels = rng.integers(0, K, size=n).astype(np.int32)
    return {"image": images, "label": labels}


def _identity(batch, key, train):
    return batch  # inputs are already standardized floats


def _optimizer_config(name, rate, accumulate, **kwargs):
    cfg = defaults.get_config().optimizer
    cfg.name, cfg.learning_rate, cfg.accumulate_steps = name, rate, accumulate
    cfg.kwargs = kwargs
    return cfg


def _train(opt_cfg, epochs, data, batch=B, mesh=None, schedule=None):
    """Runs the real train step over the loader's batches; params after every step."""
    mesh = mesh or parallel.make_mesh()
    n = len(data["label"])
    spe = loader.steps_per_epoch(n, batch)
    if schedule is not None:
        opt_cfg.schedule, opt_cfg.schedule_kwargs = schedule
    config = defaults.get_config()
    config.optimizer = opt_cfg
    tx = build.optimizer(config, spe)
    model = models.create("mlp", num_classes=K, depth=0)  # linear softmax: Dense_0
    train_step, _ = steps.classification_steps(_identity)
    state = parallel.create_sharded(
        lambda: TrainState.create(
            model=model, tx=tx, rng=jax.random.PRNGKey(0), example_input=jnp.zeros((1, 1, D, 1))
        ),
        mesh,
    )
    split = loader.to_device(data, mesh)

    @jax.jit
    def step(s, perm, i):
        return train_step(s, loader.train_batch(split.arrays, perm, i, batch, mesh))

    params, perms = [_params(state)], []
    for epoch in range(epochs):
        perm = loader.epoch_permutation(data_key(), epoch, n)  # the loop's data order
        perms.append(np.asarray(perm))
        for i in range(spe):
            state, _ = step(state, perm, jnp.asarray(i, jnp.int32))
            params.append(_params(state))
    return state, params, perms


def _params(state):
    p = state.params["Dense_0"]
    return np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64)


def _grad(W, b, x, y):
    """Float64 gradient of the mean softmax cross-entropy of a linear model."""
    x = x.reshape(len(x), -1).astype(np.float64)  # [n, D]
    z = x @ W + b  # [n, K]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(K)[y]) / len(x)  # [n, K]
    return x.T @ g, g.sum(0)


def _used(data, perm, batch=B):
    idx = perm[: len(perm) // batch * batch]  # the loop drops the last partial batch
    return data["image"][idx], data["label"][idx]


def test_batch_gd_update_is_one_full_batch_gradient_step():
    data, gamma = _data(), 0.5
    _, params, perms = _train(_optimizer_config("sgd", gamma, 0), 2, data)
    spe = N // B
    W, b = params[0]
    for epoch, perm in enumerate(perms):
        start = epoch * spe
        for i in range(1, spe):  # accumulating: the parameters do not move
            np.testing.assert_array_equal(params[start + i][0], params[start][0])
        gW, gb = _grad(W, b, *_used(data, perm))
        W, b = W - gamma * gW, b - gamma * gb
        np.testing.assert_allclose(params[start + spe][0], W, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(params[start + spe][1], b, rtol=1e-5, atol=1e-6)
    # The reference is sharp: using all N examples (no drop) gives another step.
    W0, b0 = params[0]
    gW_all, _ = _grad(W0, b0, data["image"], data["label"])
    assert np.abs((W0 - gamma * gW_all) - params[spe][0]).max() > 1e-4


def test_mini_batch_differs_from_batch_gd():
    data = _data()
    _, gd, _ = _train(_optimizer_config("sgd", 0.5, 0), 1, data)
    _, mini, _ = _train(_optimizer_config("sgd", 0.5, 1), 1, data)
    assert np.abs(gd[-1][0] - mini[-1][0]).max() > 1e-3  # 5 updates vs 1


def test_batch_gd_with_literal_nesterov_uses_the_full_batch_lookahead_gradient():
    data, gamma, rho = _data(), 0.3, 0.9
    cfg = _optimizer_config("nesterov_lookahead", gamma, 0, rho=rho)
    state, params, perms = _train(cfg, 3, data)
    spe = N // B
    W, b = params[0]
    VW, Vb = np.zeros_like(W), np.zeros_like(b)
    for epoch, perm in enumerate(perms):
        gW, gb = _grad(W - rho * VW, b - rho * Vb, *_used(data, perm))
        VW, Vb = gamma * gW + rho * VW, gamma * gb + rho * Vb
        W, b = W - VW, b - Vb
        got = params[(epoch + 1) * spe]
        np.testing.assert_allclose(got[0], W, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], b, rtol=1e-5, atol=1e-6)
    # evaluation_point finds the look-ahead state inside MultiSteps' state.
    at = evaluation_point(state.opt_state, state.params)["Dense_0"]["kernel"]
    np.testing.assert_allclose(np.asarray(at, np.float64), W - rho * VW, rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(at) - params[-1][0]).max() > 1e-3


def test_sgd_with_batch_size_one_follows_per_example_updates():
    data, gamma = _data(n=6), 0.2
    mesh = parallel.make_mesh(jax.devices()[:1])  # batch 1 needs a 1-device mesh
    _, params, perms = _train(_optimizer_config("sgd", gamma, 1), 2, data, batch=1, mesh=mesh)
    W, b = params[0]
    step = 0
    for perm in perms:
        for n in perm:  # every example once per epoch, in the shuffled order
            gW, gb = _grad(W, b, data["image"][n : n + 1], data["label"][n : n + 1])
            W, b = W - gamma * gW, b - gamma * gb
            step += 1
            np.testing.assert_allclose(params[step][0], W, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(params[step][1], b, rtol=1e-5, atol=1e-6)
    assert sorted(perms[0]) == list(range(6)) and list(perms[0]) != list(perms[1])


def test_batch_size_one_on_eight_devices_is_refused_clearly():
    assert jax.device_count() == 8
    with pytest.raises(ValueError, match="multiple of the 8 devices"):
        parallel.check_batch_size(1, parallel.make_mesh())


def test_batch_gd_schedule_decays_once_per_epoch():
    data, gamma, kappa = _data(), 0.5, 0.5
    cfg = _optimizer_config("sgd", gamma, 0)
    _, params, perms = _train(cfg, 2, data, schedule=("exponential", {"kappa": kappa}))
    W, b = params[0]
    for epoch, perm in enumerate(perms):
        rate = gamma * np.exp(-kappa * epoch)  # gamma_t = gamma_0 exp(-kappa t), t = epoch
        gW, gb = _grad(W, b, *_used(data, perm))
        W, b = W - rate * gW, b - rate * gb
    np.testing.assert_allclose(params[-1][0], W, rtol=1e-5, atol=1e-6)
