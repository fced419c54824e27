"""Tests that kill mutants of jaxdl.training.steps which the other tests let survive.

Found by ``python -m mutation.run --modules training/steps`` (docs/testing.md). One
train or eval step of a tiny linear model is checked against a float64 NumPy
reference written here (softmax cross-entropy, label smoothing ``(1 - a) onehot + a / K``,
``sum_t w_t CE_t``, auxiliary loss ``0.3 CE_aux``, the penalty, the SGD / look-ahead
update, top-k ranks with argmax's tie rule, means over the unpadded examples). The
model and ``preprocess`` of the tests use the keys and ``train`` flags the step passes
them, so that the keys (``split(fold_in(rng, step))``, ``PRNGKey(0)`` in eval), the
modes and the model state are pinned too; the keys' uniform draws come from
``jax.random`` itself.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.optim import nesterov_lookahead
from jaxdl.training.state import TrainState
from jaxdl.training.steps import (
    TaskLogits,
    classification_steps,
    cross_entropy,
    single_task,
    split_outputs,
)

# --- the tiny model, preprocess and the NumPy reference -------------------------------


def _apply(variables, x, *, train, rngs=None, mutable=False):
    """Linear model; in train mode the input is scaled by ``1 + U(rngs['dropout'])``."""
    p = variables["params"]
    if train:
        x = x * (1.0 + jax.random.uniform(rngs["dropout"], ()))
    main = x @ p["w"] + p["b"]
    out = (main, x @ p["wa"]) if "wa" in p else main
    if mutable:  # counts the train-mode calls in the model state
        return out, {"stats": {"calls": variables["stats"]["calls"] + 1.0}}
    return out


def _preprocess(batch, key, train):
    """Doubles the images in train mode and adds ``U(key)`` to feature 0."""
    image = batch["image"] * (1.0 + float(train))
    return {**batch, "image": image.at[:, 0].add(jax.random.uniform(key, ()))}


def _uniform(key) -> float:
    return float(jax.random.uniform(key, ()))


def _train_keys(rng, step):
    """(preprocess draw, model draw) of the train step at ``step``."""
    aug, model = jax.random.split(jax.random.fold_in(rng, step))
    return _uniform(aug), _uniform(model)


def _train_input(x, rng, step):
    u_aug, u_model = _train_keys(rng, step)
    x = 2.0 * np.asarray(x, np.float64)
    x[:, 0] += u_aug
    return x * (1.0 + u_model)


def _ce(z, y, alpha=0.0):
    """Per-example cross-entropy [B] and its gradient dCE/dz [B, K] (float64)."""
    z = np.asarray(z, np.float64)
    t = np.eye(z.shape[1])[y] * (1.0 - alpha) + alpha / z.shape[1]
    logp = z - z.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    return -(t * logp).sum(1), np.exp(logp) - t


def _rank(z, y):
    """Rank of the true class (0 = best), lower index first on ties."""
    z, y = np.asarray(z), np.asarray(y)
    true = z[np.arange(len(y)), y][:, None]
    idx = np.arange(z.shape[1])[None, :]
    return ((z > true) | ((z == true) & (idx < y[:, None]))).sum(1)


def _state(params, tx, model_state=None, seed=0):
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        model_state={} if model_state is None else model_state,
        opt_state=tx.init(params),
        rng=jax.random.PRNGKey(seed),
        apply_fn=_apply,
        tx=tx,
    )


def _close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


X = np.array([[0.5, -1.0, 0.25], [1.5, 0.5, -0.5], [-0.75, 1.0, 1.25], [0.2, -0.3, 0.8]])
Y = np.array([2, 2, 1, 1])
W = np.array([[0.3, -0.2, 0.1], [-0.1, 0.4, 0.2], [0.2, 0.1, -0.3]])
B = np.array([0.05, -0.1, 0.02])


# --- the small public helpers ---------------------------------------------------------


def test_single_task_and_split_outputs():
    logits, labels = np.zeros((2, 3), np.float32), np.array([1, 2])
    (task,) = single_task(logits, {"label": labels, "image": None})
    assert task.name == "" and task.weight == 1.0 and type(task.weight) is float
    assert task.logits is logits and task.labels is labels
    a, b, c = np.zeros(1), np.ones(1), np.full(1, 2.0)
    for outputs in [(a, b, c), [a, b, c]]:
        main, aux = split_outputs(outputs)
        assert main is a and type(aux) is tuple and len(aux) == 2
        assert aux[0] is b and aux[1] is c
    assert split_outputs(a)[0] is a and split_outputs(a)[1] == ()


def test_cross_entropy_plain_smoothed_and_float32():
    z = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, -2.0, 3.0, 1.0], [2.0, 2.0, 1.0, 0.0]])
    y = np.array([1, 2, 3])  # B = 3 examples, K = 4 classes
    got = cross_entropy(jnp.asarray(z, jnp.float32), jnp.asarray(y))
    assert got.dtype == jnp.float32 and got.shape == (3,)
    _close(got, _ce(z, y)[0])
    _close(cross_entropy(jnp.asarray(z, jnp.float32), jnp.asarray(y), 0.2), _ce(z, y, 0.2)[0])
    # Smoothing over the last axis of [B, T, K] logits too (one-hot width K = 4, not T = 3).
    z3 = np.stack([z, z[::-1]])  # [2, 3, 4]
    y3 = np.stack([y, y])
    want = _ce(z3.reshape(6, 4), y3.reshape(6), 0.2)[0].reshape(2, 3)
    _close(cross_entropy(jnp.asarray(z3, jnp.float32), jnp.asarray(y3), 0.2), want)
    with jax.enable_x64(True):  # float32 even where the default float is float64
        assert cross_entropy(jnp.asarray(z, jnp.bfloat16), jnp.asarray(y)).dtype == jnp.float32


# --- train step -----------------------------------------------------------------------


def test_train_step_sgd_with_decay_matches_numpy():
    lr, wd = 0.5, 0.1
    tx = optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr))  # update reads params
    state = _state({"w": W, "b": B}, tx, model_state={"stats": {"calls": jnp.float32(0.0)}})
    train_step, _ = classification_steps(_preprocess)
    batch = {"image": jnp.asarray(X, jnp.float32), "label": jnp.asarray(Y)}
    new, metrics = train_step(state, batch)

    xin = _train_input(X, state.rng, 0)
    z = xin @ W + B
    ce, dz = _ce(z, Y)
    dw, db = xin.T @ dz / len(Y), dz.mean(0)
    ranks = _rank(z, Y)
    assert (ranks < 1).mean() != (ranks < 2).mean()  # the data tell top-1 from top-2
    assert int(new.step) == 1
    _close(new.params["w"], W - lr * (dw + wd * W))
    _close(new.params["b"], B - lr * (db + wd * B))
    assert jax.tree.map(float, new.model_state) == {"stats": {"calls": 1.0}}
    assert sorted(metrics) == ["accuracy", "grad_norm", "loss"]
    _close(metrics["loss"], ce.mean())
    _close(metrics["accuracy"], (ranks < 1).mean())
    _close(metrics["grad_norm"], np.sqrt((dw**2).sum() + (db**2).sum()))


def test_train_step_aux_head_label_smoothing_and_penalty():
    lr, c, alpha = 0.5, 0.05, 0.2
    wa = np.array([[0.2, 0.1, -0.4], [0.3, -0.3, 0.1], [-0.2, 0.2, 0.5]])
    state = _state({"w": W, "b": B, "wa": wa}, optax.sgd(lr))
    train_step, _ = classification_steps(
        _preprocess, penalty=lambda p: c * jnp.sum(p["w"] ** 2), label_smoothing=alpha
    )  # default aux_loss_weight: 0.3
    batch = {"image": jnp.asarray(X, jnp.float32), "label": jnp.asarray(Y)}
    new, metrics = train_step(state, batch)

    xin = _train_input(X, state.rng, 0)
    ce, dz = _ce(xin @ W + B, Y, alpha)
    _, dza = _ce(xin @ wa, Y, alpha)
    n = len(Y)
    _close(new.params["w"], W - lr * (xin.T @ dz / n + 2 * c * W))
    _close(new.params["b"], B - lr * dz.mean(0))
    _close(new.params["wa"], wa - lr * 0.3 * xin.T @ dza / n)
    assert sorted(metrics) == ["accuracy", "grad_norm", "loss"]
    _close(metrics["loss"], ce.mean())  # the main head's smoothed CE only


def test_train_step_takes_the_gradient_at_the_lookahead_point_and_keeps_its_state():
    lr, rho = 0.5, 0.5
    state = _state({"w": W, "b": B}, nesterov_lookahead(lr, rho=rho))
    train_step, _ = classification_steps(_preprocess)
    batch = {"image": jnp.asarray(X, jnp.float32), "label": jnp.asarray(Y)}
    for _ in range(2):
        state, _ = train_step(state, batch)

    w, b = W.copy(), B.copy()
    vw, vb = np.zeros_like(W), np.zeros_like(B)
    for step in range(2):  # V' = lr grad(W - rho V) + rho V, W' = W - V'
        xin = _train_input(X, jax.random.PRNGKey(0), step)
        _, dz = _ce(xin @ (w - rho * vw) + (b - rho * vb), Y)
        vw = lr * xin.T @ dz / len(Y) + rho * vw
        vb = lr * dz.mean(0) + rho * vb
        w, b = w - vw, b - vb
    assert int(state.step) == 2
    _close(state.params["w"], w)
    _close(state.params["b"], b)


def _freeze_w(params):
    return {**params, "w": jax.lax.stop_gradient(params["w"])}


def test_train_step_with_freeze_trains_the_unfrozen_leaves():
    lr = 0.5
    state = _state({"w": W, "b": B}, optax.sgd(lr))
    train_step, _ = classification_steps(_preprocess, freeze=_freeze_w)
    batch = {"image": jnp.asarray(X, jnp.float32), "label": jnp.asarray(Y)}
    new, metrics = train_step(state, batch)

    xin = _train_input(X, state.rng, 0)
    ce, dz = _ce(xin @ W + B, Y)
    _close(new.params["b"], B - lr * dz.mean(0))
    _close(metrics["loss"], ce.mean())


def test_train_step_freeze_zeroes_the_frozen_gradient():
    """Found by mutation testing: ``freeze`` was applied to the point before ``jax.grad``,
    where ``stop_gradient`` does nothing, so the frozen leaves got their gradient."""
    lr = 0.5
    state = _state({"w": W, "b": B}, optax.sgd(lr))
    train_step, _ = classification_steps(_preprocess, freeze=_freeze_w)
    batch = {"image": jnp.asarray(X, jnp.float32), "label": jnp.asarray(Y)}
    new, metrics = train_step(state, batch)

    _, dz = _ce(_train_input(X, state.rng, 0) @ W + B, Y)
    _close(metrics["grad_norm"], np.linalg.norm(dz.mean(0)))  # the head's gradient only
    np.testing.assert_array_equal(new.params["w"], state.params["w"])


def _two_tasks(logits, batch):
    return (
        TaskLogits("a", 2.0, logits[:, :4], batch["label"]),
        TaskLogits("b", 0.5, logits[:, 4:], batch["label_b"]),
    )


XT = np.array([[0.6, -0.4, 0.9], [-1.2, 0.7, 0.3], [0.4, 1.1, -0.8], [1.0, 0.2, 0.5]])
WT = np.array(
    [
        [0.5, -0.3, 0.2, 0.1, 0.4, -0.2, 0.3],
        [-0.2, 0.6, 0.1, -0.4, 0.1, 0.5, -0.3],
        [0.3, 0.2, -0.5, 0.4, -0.3, 0.2, 0.6],
    ]
)
BT = np.array([0.1, 0.0, -0.1, 0.05, 0.0, 0.1, -0.05])
YA, YB = np.array([3, 1, 0, 2]), np.array([1, 2, 1, 0])


def test_train_step_named_tasks_report_each_task():
    state = _state({"w": WT, "b": BT}, optax.sgd(0.1))
    train_step, _ = classification_steps(_preprocess, tasks=_two_tasks)
    batch = {"image": jnp.asarray(XT, jnp.float32), "label": YA, "label_b": YB}
    _, metrics = train_step(state, batch)

    z = _train_input(XT, state.rng, 0) @ WT + BT
    ce_a, ce_b = _ce(z[:, :4], YA)[0].mean(), _ce(z[:, 4:], YB)[0].mean()
    ra, rb = _rank(z[:, :4], YA), _rank(z[:, 4:], YB)
    assert (rb < 1).mean() != (rb < 2).mean() and (ra < 1).mean() != (rb < 1).mean()
    assert sorted(metrics) == sorted(
        ["loss", "accuracy", "a_loss", "a_accuracy", "b_loss", "b_accuracy", "grad_norm"]
    )
    _close(metrics["loss"], 2.0 * ce_a + 0.5 * ce_b)
    _close(metrics["accuracy"], (ra < 1).mean())
    _close(metrics["a_loss"], ce_a)
    _close(metrics["a_accuracy"], (ra < 1).mean())
    _close(metrics["b_loss"], ce_b)
    _close(metrics["b_accuracy"], (rb < 1).mean())


# --- eval step ------------------------------------------------------------------------


def _eval_input(x):
    x = np.array(x, np.float64)
    x[:, 0] += _uniform(jax.random.PRNGKey(0))  # eval: fixed key, images not doubled
    return x


def _check_average(metric, values, mask):
    assert int(metric.count) == int(mask.sum())
    _close(metric.total, (values * mask).sum())


def test_eval_step_masks_padding_and_ranks_top5():
    # Identity model: the logits are the preprocessed images. Labels' ranks 1, 4, 5
    # (top-2, top-5 and top-6 hits), then a padded example that top-1 gets right.
    x = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 5.0, 6.0, 0.0],
            [-9.0, 8.0, 7.0, 4.0, 6.0, 5.0, -9.0],
            [9.0, 3.5, 8.0, 7.0, 6.0, 5.0, 2.0],
            [20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    y, mask = np.array([4, 3, 1, 0]), np.array([1, 1, 1, 0])
    state = _state({"w": np.eye(7), "b": np.zeros(7)}, optax.sgd(0.1), seed=3)
    _, eval_step = classification_steps(_preprocess)
    batch = {"image": jnp.asarray(x, jnp.float32), "label": jnp.asarray(y), "mask": mask}
    metrics = eval_step(state, batch)

    z = _eval_input(x)
    ranks = _rank(z, y)
    np.testing.assert_array_equal(ranks, [1, 4, 5, 0])
    assert sorted(metrics) == ["accuracy", "loss", "top5_accuracy"]
    _check_average(metrics["loss"], _ce(z, y)[0], mask)
    _check_average(metrics["accuracy"], ranks < 1, mask)
    _check_average(metrics["top5_accuracy"], ranks < 5, mask)


def test_eval_step_named_tasks_weight_and_mask():
    state = _state({"w": WT, "b": BT}, optax.sgd(0.1), seed=5)
    _, eval_step = classification_steps(_preprocess, tasks=_two_tasks)
    mask = np.array([1, 1, 1, 0])
    batch = {"image": jnp.asarray(XT, jnp.float32), "label": YA, "label_b": YB, "mask": mask}
    metrics = eval_step(state, batch)

    z = _eval_input(XT) @ WT + BT
    ce_a, ce_b = _ce(z[:, :4], YA)[0], _ce(z[:, 4:], YB)[0]
    ra, rb = _rank(z[:, :4], YA), _rank(z[:, 4:], YB)
    assert ((rb < 1) * mask).sum() != ((rb < 2) * mask).sum()
    assert ((ra < 1) * mask).sum() != ((rb < 1) * mask).sum()
    assert sorted(metrics) == sorted(
        ["loss", "accuracy", "top5_accuracy", "a_loss", "a_accuracy", "b_loss", "b_accuracy"]
    )
    _check_average(metrics["loss"], 2.0 * ce_a + 0.5 * ce_b, mask)
    _check_average(metrics["accuracy"], ra < 1, mask)
    _check_average(metrics["top5_accuracy"], ra < 4, mask)  # min(5, K = 4): all
    _check_average(metrics["a_loss"], ce_a, mask)
    _check_average(metrics["a_accuracy"], ra < 1, mask)
    _check_average(metrics["b_loss"], ce_b, mask)
    _check_average(metrics["b_accuracy"], rb < 1, mask)


def test_eval_step_refuses_an_unbatched_example_with_the_shape_message():
    # logits [K] (no batch axis), a scalar label and a [1] mask: the loss averages, then
    # the accuracy's shape check speaks (not an IndexError on the logits' shape).
    state = _state({"w": W, "b": B}, optax.sgd(0.1))
    _, eval_step = classification_steps(lambda batch, key, train: batch)
    batch = {"image": jnp.asarray(X[0], jnp.float32), "label": jnp.asarray(1),
             "mask": np.ones(1, np.int32)}  # fmt: skip
    message = (
        "logits must be [B, num_classes], got shape (3,); "
        "flatten extra axes (e.g. pixels) into the batch axis first."
    )
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        eval_step(state, batch)
