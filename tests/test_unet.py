"""U-Net and the plain segmentation CNN: paper size and parameter count, shapes, alignment.

The paper's network (572x572 -> 388x388) is only traced (``jax.eval_shape``); the
parameter count is derived here from the layer table of Ronneberger et al. (fig. 1).
Small instances check the padded variant on arbitrary sizes, bf16 compute, and that
the valid variant's centre crop aligns the skip path with the output pixel for pixel.
"""

import contextlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.models.unet import (
    UNet,
    center_crop_to,
    overlap_tile_pad,
    valid_input_size,
    valid_output_size,
)


def init_np(model, x, seed=0):
    """Variables from numpy (He-scaled kernels, zero biases, unit BN): only the structure is
    traced, so no init computation is compiled (threefry inits compile slowly on CPU); numpy
    arrays, so neither does filling them (eager jnp.ones/zeros compile per shape)."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    rng = np.random.default_rng(seed)

    def leaf(path, s):
        name = jax.tree_util.keystr(path)
        if "kernel" in name:
            std = np.sqrt(2.0 / np.prod(s.shape[:-1]))
            return (rng.normal(size=s.shape) * std).astype(np.float32)
        fill = 1.0 if ("scale" in name or "var" in name) else 0.0
        return np.full(s.shape, fill, np.float32)

    return jax.tree_util.tree_map_with_path(leaf, shapes)


def n_params(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def conv(k, cin, cout):
    return k * k * cin * cout + cout


def paper_unet_params(in_ch=1, classes=2, base=64, depth=4):
    """Fig. 1: two 3x3 convs per level, 2x2 up-convs halving channels, 1x1 head."""
    total, c = 0, in_ch
    for level in range(depth + 1):  # contracting levels and the bottom
        w = base * 2**level
        total += conv(3, c, w) + conv(3, w, w)
        c = w
    for level in reversed(range(depth)):
        w = base * 2**level
        total += conv(2, c, w)  # up-convolution
        total += conv(3, 2 * w, w) + conv(3, w, w)  # after concatenating the skip
        c = w
    return total + conv(1, c, classes)


def test_paper_configuration_572_to_388_and_parameter_count():
    model = models.create("unet", num_classes=2)
    x = jax.ShapeDtypeStruct((1, 572, 572, 1), jnp.float32)
    out, variables = jax.eval_shape(
        lambda x: model.init_with_output(jax.random.key(0), x, train=False), x
    )
    assert out.shape == (1, 388, 388, 2) and out.dtype == jnp.float32
    assert set(variables) == {"params"}  # the paper has no batch norm
    assert n_params(variables) == paper_unet_params() == 31_030_658


def test_valid_sizes_follow_the_paper_figure():
    # Fig. 1 sizes: 572 -> 568 -> (pool) 284 -> 280 -> 140 -> 136 -> 68 -> 64 -> 32 -> 28,
    # then 56 -> 52 -> 104 -> 100 -> 200 -> 196 -> 392 -> 388.
    assert valid_output_size(572, 4) == 388
    assert valid_input_size(388, 4) == 572
    assert valid_input_size(389, 4) == 572 + 16  # next valid tile
    with pytest.raises(ValueError, match="valid_input_size"):
        valid_output_size(570, 4)  # 566 is odd: cannot pool
    for depth in (1, 2, 3):
        for out in (1, 17, 64):
            size = valid_input_size(out, depth)
            assert valid_output_size(size, depth) >= out
            with pytest.raises(ValueError):
                valid_output_size(size - 1, depth)  # odd side at the first pooling
            previous = size - 2**depth  # the next smaller valid input, if any
            if previous > 0:
                with contextlib.suppress(ValueError):  # too small to be valid at all
                    assert valid_output_size(previous, depth) < out  # size is the smallest


def test_padded_variant_keeps_any_size():
    plain = models.create("unet_padded", num_classes=3, depth=2, base_width=4)
    shapes = jax.eval_shape(plain.init, jax.random.key(0), jnp.ones((1, 5, 7, 1)))
    assert set(shapes) == {"params"}  # no BN unless asked (the paper has none)
    model = plain.clone(batch_norm=True)
    # 13 x 22 is no multiple of 2**depth: padded inside, cropped back.
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 13, 22, 3)), jnp.float32)
    variables = init_np(model, x)
    assert set(variables) == {"params", "batch_stats"}
    y = jax.jit(model.apply)(variables, x)
    assert y.shape == (2, 13, 22, 3)
    train_apply = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
    y_train, updates = train_apply(variables, x)
    assert y_train.shape == y.shape and set(updates) == {"batch_stats"}
    assert not np.allclose(y_train, y)  # batch statistics in training, running ones in eval


def test_valid_variant_small_and_overlap_tile():
    model = UNet(num_classes=2, depth=2, base_width=4)
    x = jnp.ones((1, 16, 16, 1))
    padded = overlap_tile_pad(x, 2)
    assert padded.shape[1] == valid_input_size(16, 2)
    y, _ = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), padded, train=False))
    assert y.shape[1:3] == (valid_output_size(padded.shape[1], 2),) * 2
    assert y.shape[1] >= 16
    with pytest.raises(ValueError, match="invalid"):
        jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.ones((1, 30, 30, 1))))


def test_overlap_tile_mirrors_the_border():
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(1, 6, 6, 2)  # [1, 6, 6, 2]
    y = np.asarray(overlap_tile_pad(jnp.asarray(x), 1))
    total = valid_input_size(6, 1) - 6
    lo = total // 2
    np.testing.assert_array_equal(y[:, lo : lo + 6, lo : lo + 6], x)  # centre is the image
    np.testing.assert_array_equal(y[:, lo - 1, lo : lo + 6], x[:, 0])  # mirrored first row
    np.testing.assert_array_equal(y[:, lo - 2, lo : lo + 6], x[:, 1])


def test_center_crop_matches_numpy_slicing():
    x = np.random.default_rng(0).normal(size=(2, 11, 9, 3)).astype(np.float32)
    got = np.asarray(center_crop_to(jnp.asarray(x), 5, 4))
    np.testing.assert_array_equal(got, x[:, 3:8, 2:6])
    with pytest.raises(ValueError, match="larger"):
        center_crop_to(jnp.asarray(x), 12, 4)


def _positive(variables):
    return jax.tree.map(np.abs, variables)  # numpy: nothing compiled per leaf shape


def test_crop_and_concat_aligns_the_skip_path():
    """Only the skip path open: an impulse at input p lights output p - margin +- 4 exactly.

    The deep path is closed by zeroing the up-convolution; with positive weights and a
    positive impulse every ReLU is the identity, so the response is the full receptive
    field of the four 3x3 convs on the skip path (a 9x9 square) centred on the pixel that
    the crop must align: a crop off by one pixel shifts the square.
    """
    depth, size = 2, valid_input_size(12, 2)
    model = UNet(num_classes=1, depth=depth, base_width=2)
    x = jnp.zeros((1, size, size, 1))
    variables = _positive(init_np(model, x, seed=1))
    params = jax.tree_util.tree_map_with_path(  # biases are 0 already: close the deep path
        lambda path, a: np.zeros_like(a) if "upconv" in jax.tree_util.keystr(path) else a,
        variables["params"],
    )
    out_size = valid_output_size(size, depth)
    margin = (size - out_size) // 2
    p = (margin + 7, margin + 5)  # an input pixel whose response stays inside the output
    impulse = x.at[0, p[0], p[1], 0].set(1.0)
    y = jax.jit(model.apply)({"params": params}, impulse)[0, ..., 0]  # [out, out]
    rows, cols = np.nonzero(np.asarray(y) > 0)
    assert (rows.min(), rows.max()) == (p[0] - margin - 4, p[0] - margin + 4)
    assert (cols.min(), cols.max()) == (p[1] - margin - 4, p[1] - margin + 4)


def test_bf16_compute_float32_params_and_logits():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 16, 16, 1)), jnp.float32)
    m32 = UNet(num_classes=2, depth=2, base_width=4, padding="same")
    m16 = m32.clone(dtype=jnp.bfloat16)
    variables = init_np(m32, x)
    y32 = jax.jit(m32.apply)(variables, x)
    y16 = jax.jit(m16.apply)(variables, x)
    assert y16.dtype == jnp.float32
    shapes = jax.eval_shape(m16.init, jax.random.key(0), x)
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(shapes))
    assert not np.array_equal(np.asarray(y16), np.asarray(y32))  # computed in bf16 ...
    np.testing.assert_allclose(y16, y32, atol=0.1 * float(jnp.abs(y32).max()))  # ... closely


def test_dropout_only_in_training():
    model = UNet(num_classes=2, depth=1, base_width=4, padding="same", dropout_rate=0.5)
    x = jnp.ones((1, 8, 8, 1))
    variables = init_np(model, x)
    apply = jax.jit(model.apply, static_argnames="train")
    a = apply(variables, x, train=False)
    np.testing.assert_array_equal(a, apply(variables, x, train=False))
    b = apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)})
    assert not np.allclose(a, b)


def test_plain_cnn_baseline_count_and_shape():
    model = models.create("seg_plain_cnn", num_classes=2, num_layers=3, width=5)
    y, variables = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0), jnp.ones((2, 10, 7, 1)), train=False)
    )
    assert y.shape == (2, 10, 7, 2)
    assert n_params(variables) == conv(3, 1, 5) + 2 * conv(3, 5, 5) + conv(1, 5, 2)
    # No pooling: the receptive field is 2 * num_layers + 1 = 7 pixels wide.
    impulse = jnp.zeros((1, 15, 15, 1)).at[0, 7, 7, 0].set(1.0)
    variables = _positive(init_np(model, impulse))  # zero biases, positive kernels
    resp = np.asarray(jax.jit(model.apply)(variables, impulse))[0, ..., 0]
    rows, cols = np.nonzero(resp > 0)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 10, 4, 10)


def test_bad_fields_raise():
    with pytest.raises(ValueError, match="padding"):
        jax.eval_shape(UNet(padding="full").init, jax.random.key(0), jnp.ones((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="NHWC"):
        jax.eval_shape(UNet(padding="same").init, jax.random.key(0), jnp.ones((8, 8, 1)))
    assert isinstance(models.create("unet_padded", num_classes=2), nn.Module)
