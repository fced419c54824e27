"""Tests of jaxdl.nn.layers' LRN and residual blocks against float64 numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from jaxdl.nn.layers import BasicBlock, BottleneckBlock, ConvBN, LocalResponseNorm

EPS = 1e-5  # BN epsilon of the course's blocks


def key(seed=0):
    # The 'rbg' PRNG compiles an init ~8x faster than threefry on CPU; the draws differ,
    # nothing tested here depends on them.
    return jax.random.key(seed, impl="rbg")


# ----------------------------------------------------------------------------- references
def np_lrn(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    """Krizhevsky et al. eq. (section 3.3), channels last, written as the paper's sum."""
    a = a.astype(np.float64)
    C = a.shape[-1]
    b = np.empty_like(a)
    for i in range(C):
        lo, hi = max(0, i - n // 2), min(C - 1, i + n // 2)
        s = np.sum(a[..., lo : hi + 1] ** 2, axis=-1)
        b[..., i] = a[..., i] / (k + alpha * s) ** beta
    return b


def np_conv(x, w, stride, pad):
    """Cross-correlation, NHWC input, HWIO kernel, symmetric zero padding."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = w.shape[:2]
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]  # [B,H,W,C,kh,kw]
    return np.einsum("bhwcij,ijco->bhwo", win, w)


def np_bn_train(y, p):
    """Batch norm with batch statistics: beta + alpha (a - mu) / sqrt(var + eps)."""
    mu, var = y.mean(axis=(0, 1, 2)), y.var(axis=(0, 1, 2))
    return p["bias"] + p["scale"] * (y - mu) / np.sqrt(var + EPS), mu, var


def np_conv_bn(x, p, stride, pad, relu=True):
    y, mu, var = np_bn_train(np_conv(x, p["conv"]["kernel"], stride, pad), p["bn"])
    return (np.maximum(y, 0) if relu else y), (mu, var)


def np_option_a(x, out, stride):
    x = x[:, ::stride, ::stride, :]
    return np.concatenate([x, np.zeros(x.shape[:3] + (out - x.shape[-1],))], axis=-1)


# ----------------------------------------------------------------------------- helpers
def random_variables(module, x, seed=0):
    """Parameters drawn on the host (kernels N(0, 2/fan_in); BN scale/bias random)."""
    shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), x, train=False))
    rng = np.random.default_rng(seed)

    def fill(path, s):
        name = path[-1].key
        if name == "kernel":
            return rng.normal(0, np.sqrt(2 / np.prod(s.shape[:-1])), s.shape)
        if name == "scale":
            return rng.uniform(0.5, 1.5, s.shape)
        if name == "var":
            return np.ones(s.shape)
        return rng.normal(0, 0.1, s.shape) if name == "bias" else np.zeros(s.shape)

    return jax.tree_util.tree_map_with_path(fill, shapes)


def apply_train(module, variables, x):
    f64 = jax.tree.map(lambda a: np.asarray(a, np.float32), variables)
    fn = jax.jit(lambda v, x: module.apply(v, x, train=True, mutable=["batch_stats"]))
    y, new = fn(f64, jnp.asarray(x, jnp.float32))
    return np.asarray(y, np.float64), new


# ----------------------------------------------------------------------------- LRN
def test_lrn_matches_paper_formula():
    rng = np.random.default_rng(0)
    # Large activations so the normalization is far from the identity.
    a = rng.normal(0, 40, size=(2, 3, 3, 11))
    # Jitted: one compile (eager execution would compile every op on its own).
    got = jax.jit(LocalResponseNorm().apply)({}, jnp.asarray(a, jnp.float32))
    ref = np_lrn(a)
    assert np.max(np.abs(ref / a - 2**-0.75)) > 0.05  # the window sum matters
    np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=2e-5, atol=1e-6)
    # Other hyperparameters, window 3, incl. edge channels.
    got = jax.jit(LocalResponseNorm(size=3, k=1.0, alpha=0.01, beta=0.5).apply)(
        {}, jnp.asarray(a[..., :4])
    )
    np.testing.assert_allclose(
        np.asarray(got), np_lrn(a[..., :4], n=3, k=1.0, alpha=0.01, beta=0.5), rtol=2e-5
    )


def test_lrn_alpha_is_the_papers_not_pytorchs():
    # Single channel: b = a / (k + alpha a^2)^beta with alpha NOT divided by n.
    a = jnp.full((1, 1, 1, 1), 10.0)
    got = float(jax.jit(LocalResponseNorm(k=2.0, alpha=0.1, beta=1.0).apply)({}, a)[0, 0, 0, 0])
    assert got == pytest.approx(10.0 / (2.0 + 0.1 * 100.0), rel=1e-6)
    assert got != pytest.approx(10.0 / (2.0 + 0.1 / 5 * 100.0), rel=1e-3)


def test_lrn_dtype_and_bad_size():
    y = jax.jit(LocalResponseNorm().apply)({}, jnp.ones((1, 2, 2, 6), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNorm(size=4).apply({}, jnp.ones((1, 2, 2, 6)))


# ----------------------------------------------------------------------------- blocks
@pytest.mark.parametrize("shortcut", ["option_a", "projection", "none"])
def test_basic_block_downsampling_matches_numpy(shortcut):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 6, 3))
    block = BasicBlock(5, strides=2, shortcut=shortcut)
    v = random_variables(block, jnp.zeros(x.shape, jnp.float32))
    y, new = apply_train(block, v, x)
    p = jax.tree.map(np.asarray, v["params"])
    h, (mu1, var1) = np_conv_bn(x, p["conv1"], 2, 1)
    h, _ = np_conv_bn(h, p["conv2"], 1, 1, relu=False)
    if shortcut == "option_a":
        # [B, 3, 3, 3] subsampled identity + 2 zero channels: no parameters.
        assert "shortcut" not in p
        h = h + np_option_a(x, 5, 2)
    elif shortcut == "projection":
        h = h + np_conv_bn(x, p["shortcut"], 2, 0, relu=False)[0]
    ref = np.maximum(h, 0)
    assert y.shape == (4, 3, 3, 5)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    # Running averages with Flax momentum 0.9: 0.9 * init + 0.1 * batch (biased var).
    stats = new["batch_stats"]["conv1"]["bn"]
    np.testing.assert_allclose(np.asarray(stats["mean"]), 0.1 * mu1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(stats["var"]), 0.9 + 0.1 * var1, rtol=1e-4)


def test_option_a_shortcut_is_zero_padded_identity():
    # Residual branch switched off (last BN scale = 0, bias = 0): out = relu(shortcut(x)).
    x = np.abs(np.random.default_rng(2).normal(size=(2, 4, 4, 3)))
    block = BasicBlock(6, strides=2, shortcut="option_a", zero_init_last_bn=True)
    v = jax.jit(lambda: block.init(key(), jnp.zeros(x.shape), train=False))()
    assert np.all(np.asarray(v["params"]["conv2"]["bn"]["scale"]) == 0)
    y, _ = apply_train(block, v, x)
    expect = np.zeros((2, 2, 2, 6))
    expect[..., :3] = x[:, ::2, ::2, :]  # pixels (0, 0), (0, 2), (2, 0), (2, 2)
    np.testing.assert_allclose(y, expect, rtol=1e-6)


def test_identity_shortcut_when_shape_kept():
    x = np.random.default_rng(3).normal(size=(3, 4, 4, 4))
    for shortcut in ("option_a", "projection"):
        block = BasicBlock(4, shortcut=shortcut)
        v = random_variables(block, jnp.zeros(x.shape, jnp.float32), seed=4)
        assert "shortcut" not in v["params"]
        y, _ = apply_train(block, v, x)
        p = jax.tree.map(np.asarray, v["params"])
        h = np_conv_bn(np_conv_bn(x, p["conv1"], 1, 1)[0], p["conv2"], 1, 1, relu=False)[0]
        np.testing.assert_allclose(y, np.maximum(h + x, 0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride_in_3x3", [True, False])
def test_bottleneck_matches_numpy(stride_in_3x3):
    x = np.random.default_rng(5).normal(size=(2, 6, 6, 4))
    block = BottleneckBlock(3, strides=2, stride_in_3x3=stride_in_3x3)  # 4 -> 12 channels
    v = random_variables(block, jnp.zeros(x.shape, jnp.float32), seed=6)
    y, _ = apply_train(block, v, x)
    p = jax.tree.map(np.asarray, v["params"])
    s1, s3 = (1, 2) if stride_in_3x3 else (2, 1)
    h = np_conv_bn(x, p["conv1"], s1, 0)[0]
    h = np_conv_bn(h, p["conv2"], s3, 1)[0]
    h = np_conv_bn(h, p["conv3"], 1, 0, relu=False)[0]
    ref = np.maximum(h + np_conv_bn(x, p["shortcut"], 2, 0, relu=False)[0], 0)
    assert y.shape == (2, 3, 3, 12)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_eval_mode_uses_running_statistics():
    x = np.random.default_rng(7).normal(size=(2, 4, 4, 2))
    layer = ConvBN(3, 3)
    v = random_variables(layer, jnp.zeros(x.shape, jnp.float32), seed=8)
    v = {**v, "batch_stats": {"bn": {"mean": np.full(3, 0.3), "var": np.full(3, 2.0)}}}
    v32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), v)
    y = jax.jit(lambda v, x: layer.apply(v, x, train=False))(v32, jnp.asarray(x, jnp.float32))
    p = v["params"]
    z = np_conv(x, np.asarray(p["conv"]["kernel"]), 1, 1)
    ref = np.maximum(p["bn"]["bias"] + p["bn"]["scale"] * (z - 0.3) / np.sqrt(2.0 + EPS), 0)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-5)


def test_he_init_and_bf16_compute():
    layer = ConvBN(256, 3)
    v = jax.jit(lambda: layer.init(key(1), jnp.zeros((1, 3, 3, 64)), train=False))()
    k = np.asarray(v["params"]["conv"]["kernel"])
    assert "bias" not in v["params"]["conv"]  # BN follows: no conv bias
    assert k.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 64)), rel=0.02)
    assert abs(k.mean()) < 0.05 * k.std()
    block = BasicBlock(8, strides=2, shortcut="projection", dtype=jnp.bfloat16)
    x = jnp.ones((2, 4, 4, 4))
    y, v = jax.eval_shape(lambda: block.init_with_output(jax.random.key(0), x, train=False))
    assert y.dtype == jnp.bfloat16
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(v))


def test_block_bad_arguments():
    x = jnp.zeros((1, 4, 4, 8))

    def init(block):
        return jax.eval_shape(lambda: block.init(jax.random.key(0), x, train=False))

    with pytest.raises(ValueError, match="shortcut must be one of"):
        init(BasicBlock(8, shortcut="B"))
    with pytest.raises(ValueError, match="only add channels"):
        init(BasicBlock(4, shortcut="option_a"))
    with pytest.raises(ValueError, match="strides must be 1 or 2"):
        init(BottleneckBlock(4, strides=3))
