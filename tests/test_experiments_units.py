"""Fast checks of train/experiments (issue 4) and the MLP's batch_norm option.

The measurements of the signal-propagation experiment are compared with a float64
numpy forward/backward pass written here; the regularization and batch-norm configs are
checked key by key; the BN MLP against the course's BN formula in numpy.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.models.mlp import MLP
from train import experiments as ex
from train.experiments import batchnorm, regularization
from train.experiments import signal_propagation as sp


def _random_params(model, x, seed=0):
    """Init, then random non-zero biases so every term of the reference matters."""
    params = model.init(jax.random.key(seed), x)["params"]
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: jnp.asarray(p + 0.1 * rng.standard_normal(p.shape)), params)


def _reference_stats(params, x, y, depth):
    """float64 forward + hand-written backprop of mean cross-entropy through tanh layers."""
    p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in params.items()}
    h = [np.asarray(x, np.float64).reshape(len(x), -1)]
    pre = []
    for i in range(depth):
        pre.append(h[-1] @ p[f"Dense_{i}"]["kernel"] + p[f"Dense_{i}"]["bias"])
        h.append(np.tanh(pre[-1]))
    logits = h[-1] @ p[f"Dense_{depth}"]["kernel"] + p[f"Dense_{depth}"]["bias"]
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    delta = (prob - np.eye(logits.shape[1])[y]) / len(x)  # dE/dlogits
    dh = delta @ p[f"Dense_{depth}"]["kernel"].T
    grad_norm = [0.0] * depth
    for i in reversed(range(depth)):
        da = dh * (1 - np.tanh(pre[i]) ** 2)
        grad_norm[i] = np.linalg.norm(h[i].T @ da)
        dh = da @ p[f"Dense_{i}"]["kernel"].T
    return {
        "pre_var": np.array([a.var() for a in pre]),
        "act_var": np.array([np.tanh(a).var() for a in pre]),
        "grad_norm": np.array(grad_norm),
    }


def test_layer_statistics_match_float64_numpy():
    depth = 3
    model = MLP(depth=depth, width=8, activation="tanh", num_classes=4)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((16, 3, 3, 1)), jnp.float32)
    y = np.random.default_rng(2).integers(0, 4, 16)
    params = _random_params(model, x)
    got = sp.layer_statistics(model, params, x, jnp.asarray(y))
    want = _reference_stats(params, x, y, depth)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, err_msg=k)


def test_make_init_notes_and_kumar_sigmoid_variance():
    assert sp.make_init("kumar", "relu")[1] == "= He"  # Kumar undefined at ReLU's kink
    assert sp.make_init("kumar", "tanh")[1] == "= Xavier"
    assert sp.make_init("kumar", "elu")[1] == "= Xavier"  # elu(0) = 0, elu'(0) = 1
    init, note = sp.make_init("kumar", "sigmoid")
    assert note == ""
    n = 400
    w = np.asarray(init(jax.random.key(0), (n, 500)), np.float64)
    # sigma^2 = 1 / (N g'(0)^2 (1 + g(0)^2)) with g(0) = 1/2, g'(0) = 1/4.
    np.testing.assert_allclose(w.var(), 1 / (n * 0.25**2 * (1 + 0.5**2)), rtol=0.02)
    w = np.asarray(sp.make_init("N(0,0.01^2)", "tanh")[0](jax.random.key(1), (n, 500)))
    np.testing.assert_allclose(w.std(), 0.01, rtol=0.02)
    with pytest.raises(ValueError, match="unknown initialization"):
        sp.make_init("lecun", "tanh")


def _np_mean_ce(params, x, y):
    """float64 mean cross-entropy of the MLP (ReLU hidden layers) on x [N, ...], y [N]."""
    p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in params.items()}
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    layers = sorted(p, key=lambda name: int(name.split("_")[1]))
    for name in layers[:-1]:
        h = np.maximum(h @ p[name]["kernel"] + p[name]["bias"], 0.0)
    logits = h @ p[layers[-1]]["kernel"] + p[layers[-1]]["bias"]
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(y)), np.asarray(y)].mean()


def test_run_cell_tiny_end_to_end(monkeypatch):
    # Record every training run's arguments and final parameters (run_cell returns
    # only the losses), to check the learning-rate-0 run exactly.
    calls = []
    train_fn = sp._train_fn

    def recording_train_fn(model, momentum):
        fn = train_fn(model, momentum)

        def run(params, images, labels, index, lr):
            out_params, losses = fn(params, images, labels, index, lr)
            calls.append((float(lr), params, np.asarray(index), out_params))
            return out_params, losses

        return run

    monkeypatch.setattr(sp, "_train_fn", recording_train_fn)
    rng = np.random.default_rng(0)
    data = {
        "x_train": jnp.asarray(rng.standard_normal((64, 4, 4, 1)), jnp.float32),
        "y_train": jnp.asarray(rng.integers(0, 10, 64)),
        "x_test": jnp.asarray(rng.standard_normal((32, 4, 4, 1)), jnp.float32),
        "y_test": jnp.asarray(rng.integers(0, 10, 32)),
    }
    kw = dict(depth=2, width=8, stat_batch=32, steps=20, batch_size=16, momentum=0.9)
    cell = sp.run_cell(data, "relu", "kumar", learning_rates=(0.05, 0.0), **kw)
    assert cell.note == "= He" and cell.pre_var.shape == cell.grad_norm.shape == (2,)
    good, frozen = cell.runs
    assert good.losses.shape == (20,) and good.losses[-1] < good.losses[0]  # it learns
    # Learning rate 0 (with momentum 0.9): the parameters never move, bit for bit, so
    # every minibatch loss and the final training loss are those of the initial weights.
    assert [c[0] for c in calls] == pytest.approx([0.05, 0.0])
    _, params0, index, params_end = calls[1]
    for a, b in zip(jax.tree.leaves(params_end), jax.tree.leaves(params0), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x, y = np.asarray(data["x_train"]), np.asarray(data["y_train"])
    want = [_np_mean_ce(params0, x[idx], y[idx]) for idx in index]
    np.testing.assert_allclose(frozen.losses, want, rtol=1e-5)
    np.testing.assert_allclose(frozen.train_loss, _np_mean_ce(params0, x, y), rtol=1e-5)
    assert sp.best_run(cell) is good
    # A NaN loss is reported as diverged ("div"), never chosen as the best run.
    nan_run = good._replace(train_loss=math.nan)
    cell = cell._replace(runs=(nan_run, frozen))
    assert sp.best_run(cell) is frozen and "div" in sp.report([cell], {"depth": 2}, 1.0)


def test_regularization_configs():
    base = regularization.base_config(num_train=1000, num_epochs=100)
    assert base.data.train_split == base.data.val_split == "train[:1000]"
    assert base.data.test_split == "test" and base.model.kwargs.dropout_rate == 0.0
    assert base.loss.l1 == base.loss.l2 == 0.0 and base.data.augment == ""
    both = ex.with_overrides(base, regularization.VARIANTS["dropout + L2 1e-3 + augmentation"])
    assert both.model.kwargs.input_dropout_rate == 0.2 and both.loss.l2 == 1e-3
    assert base.loss.l2 == 0.0  # the base is not modified
    with pytest.raises(KeyError, match="unknown config key"):
        ex.with_overrides(base, {"loss.l3": 1.0})
    from train import augment_spec

    assert [name for name, _ in augment_spec.parse(regularization.AUGMENT)] == [
        "translate",
        "rotate",
        "zoom",
    ]


def test_batchnorm_config_and_status():
    cfg = batchnorm.make_config(True, 0.3, depth=4)
    assert cfg.model.kwargs.batch_norm and cfg.model.kwargs.depth == 4
    assert cfg.optimizer.learning_rate == 0.3 and cfg.model.kwargs.dropout_rate == 0.0
    r = batchnorm.Result(True, 0.3, None, 0.1, 0.05, [], 1.0)
    assert r.status == "yes" and r._replace(test_error=0.85).status == "no"
    assert r._replace(diverged_at=12).status == "diverged"


def test_mlp_batch_norm_matches_formula_and_keeps_default():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((32, 2, 3, 1)), jnp.float32)
    plain = models.create("mlp", depth=2, width=5, num_classes=3)
    bn = models.create("mlp", depth=2, width=5, num_classes=3, batch_norm=True)
    n_plain = sum(v.size for v in jax.tree.leaves(plain.init(jax.random.key(0), x)["params"]))
    assert n_plain == (6 * 5 + 5) + (5 * 5 + 5) + (5 * 3 + 3)  # unchanged by the new field
    variables = bn.init(jax.random.key(0), x)
    # Dense without bias + BN scale and bias (2 x width) per hidden layer.
    assert sum(v.size for v in jax.tree.leaves(variables["params"])) == (
        (6 * 5 + 2 * 5) + (5 * 5 + 2 * 5) + (5 * 3 + 3)
    )
    params = jax.tree.map(lambda p: p + 0.3, variables["params"])  # scale != 1, beta != 0
    _, state = bn.apply(
        {"params": params, "batch_stats": variables["batch_stats"]},
        x,
        train=True,
        mutable=["batch_stats", "intermediates"],
        capture_intermediates=True,
    )
    a = np.asarray(x, np.float64).reshape(32, 6) @ np.asarray(params["Dense_0"]["kernel"])
    mu, var = a.mean(0), a.var(0)
    scale, beta = (np.asarray(params["BatchNorm_0"][k]) for k in ("scale", "bias"))
    want = beta + scale * (a - mu) / np.sqrt(var + 1e-5)  # course: beta + alpha (a-mu)/sigma
    got = state["intermediates"]["BatchNorm_0"]["__call__"][0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # Running mean after one step from 0 with momentum 0.9: 0.1 * batch mean.
    np.testing.assert_allclose(state["batch_stats"]["BatchNorm_0"]["mean"], 0.1 * mu, rtol=1e-4)


def test_write_generated_keeps_hand_written_text(tmp_path):
    path = tmp_path / "doc.md"
    skeleton = f"# T\n{ex.BEGIN}\n{ex.END}\n"
    ex.write_generated(path, "first", skeleton)
    path.write_text(path.read_text().replace("# T\n", "# T\nintro\n") + "discussion\n")
    ex.write_generated(path, "second", skeleton)
    text = path.read_text()
    assert "intro" in text and "discussion" in text and "second" in text
    assert "first" not in text
    with pytest.raises(ValueError, match="markers"):
        ex.write_generated(tmp_path / "new.md", "x", "# no markers")
    assert ex.markdown_table(["a", "b"], [[1, "x"]]) == "| a | b |\n|---|---|\n| 1 | x |"
    assert ex.fmt(float("nan")) == "nan" and ex.fmt(1e-5) == "1.00e-05"
    assert ex.fmt(0.5) == "0.5"
