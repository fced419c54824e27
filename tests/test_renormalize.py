"""ZFNet filter renormalization against a float64 numpy reference of the paper's rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import processes
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


def _tiny_config(module: str, steps: int, radius: float = 0.1, **model_kwargs):
    import importlib

    c = importlib.import_module(f"train.configs.{module}").get_config()
    c.data.name = "mnist"  # embedded, always present (Fashion-MNIST may not be)
    c.data.train_split, c.data.val_split, c.data.test_split = "train[:256]", "", ""
    c.data.augment = ""
    c.model.kwargs.update(model_kwargs)
    c.optimizer.renormalize_filters = radius
    c.train.batch_size = c.train.eval_batch_size = 64
    c.train.max_steps, c.train.progress = steps, False
    return c


def _conv_rms(params) -> dict[str, np.ndarray]:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {jax.tree_util.keystr(k): np.asarray(jo.filter_rms(v)) for k, v in flat if v.ndim == 4}


def _check_trained(c, tmp_path, n_convs):
    from train import classification
    from train.validate import validate

    validate(c)
    rms = _conv_rms(classification.run(c, tmp_path).state.params)
    assert len(rms) == n_convs, sorted(rms)
    for name, r in rms.items():
        assert np.all(r <= c.optimizer.renormalize_filters * (1 + 1e-5)), (name, r.max())
    return rms


@pytest.mark.slow  # a ZFNet training run through the config (default suite: under 10 min)
def test_config_key_constrains_the_trained_filters(tmp_path):
    from train import build

    # LeNet-5's C1 filters (5x5x1) start at RMS 0.05-0.065 and C5's at < 0.004: at radius
    # 0.03 the first update projects all six C1 filters onto the radius (the second moves
    # them by well under 1%) and C5 stays inside. C3 (partial connections) is 3-D: unmasked.
    rms = _check_trained(_tiny_config("mnist_lenet5", 2, radius=0.03), tmp_path, 2)
    np.testing.assert_allclose(rms["['C1']['kernel']"], 0.03, rtol=1e-2)
    assert rms["['C5']['kernel']"].max() < 0.01
    off = _tiny_config("mnist_lenet5", 2)
    off.optimizer.renormalize_filters = 0.0
    tx = build.optimizer(off, 4)
    p = {"conv": {"kernel": jnp.ones((7, 7, 1, 2))}}
    u, _ = tx.update(jax.tree.map(jnp.zeros_like, p), tx.init(p), p)
    np.testing.assert_array_equal(u["conv"]["kernel"], 0.0)  # off: no constraint


@pytest.mark.slow
def test_zfnet_config_trains_within_the_radius(tmp_path):
    c = _tiny_config("fashion_mnist_zfnet_renorm", 2, hidden_features=16)
    rms = _check_trained(c, tmp_path, 5)
    np.testing.assert_allclose(rms["['conv1']['conv']['kernel']"], 0.1, rtol=1e-2)


@pytest.mark.slow
def test_cli_accepts_the_key(tmp_path):
    args = [
        "--config=train/configs/fashion_mnist_zfnet_renorm.py",
        "--config.data.name=mnist",
        "--config.data.train_split=train[:256]",
        "--config.data.val_split=",
        "--config.data.test_split=",
        "--config.model.kwargs.hidden_features=16",
        "--config.train.batch_size=64",
        "--config.train.max_steps=1",
        "--config.train.progress=False",
        "--config.optimizer.renormalize_filters=0.05",
    ]
    proc = processes.python_m("train", [f"--workdir={tmp_path}", *args])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "steps=1" in proc.stdout
