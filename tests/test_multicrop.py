"""Multi-scale / multi-crop views: counts, exact pixels vs numpy slicing, averaged softmax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.training import multicrop as mc

B, C = 2, 3


def _images(h, w, seed=0):
    return np.random.default_rng(seed).normal(size=(B, h, w, C)).astype(np.float32)


def _np_corners_centre(x, c):
    """Numpy slicing of the 4 corner crops and the centre crop of [B, H, W, C]."""
    H, W = x.shape[1:3]
    t, l = (H - c) // 2, (W - c) // 2
    return [x[:, :c, :c], x[:, :c, W - c :], x[:, H - c :, :c], x[:, H - c :, W - c :],
            x[:, t : t + c, l : l + c]]  # fmt: skip


def test_ten_crop_per_scale_exact_pixels_and_counts():
    x = _images(16, 24)
    views = np.asarray(jax.jit(lambda x: mc.multiscale_ten_crop(x, (16, 20), 8))(x))
    assert views.shape == (20, B, 8, 8, C)
    want = _np_corners_centre(x, 8)  # scale 16 = the shorter side: no resize
    for i in range(5):
        np.testing.assert_array_equal(views[i], want[i])
        np.testing.assert_array_equal(views[5 + i], want[i][:, :, ::-1])  # mirrors
    # Scale 20: shorter side 16 -> 20, longer 24 -> 30 (aspect kept).
    r = np.asarray(jax.jit(lambda x: mc.resize_shorter_side(x, 20))(x))
    assert r.shape == (B, 20, 30, C)
    for i, crop in enumerate(_np_corners_centre(r, 8)):
        np.testing.assert_allclose(views[10 + i], crop, atol=1e-6)
    shape = jax.eval_shape(lambda: mc.resize_shorter_side(jnp.zeros((1, 30, 20, 1)), 10)).shape
    assert shape == (1, 15, 10, 1)


@pytest.mark.parametrize("portrait", [False, True])
def test_googlenet_views_exact_pixels(portrait):
    x = _images(16, 24, seed=1)
    if portrait:
        x = np.ascontiguousarray(np.swapaxes(x, 1, 2))  # 24 x 16
    views = np.asarray(jax.jit(lambda x: mc.googlenet_views(x, (16,), 8))(x))
    assert views.shape == (36, B, 8, 8, C)  # 3 squares x 6 x 2 mirrors at one scale
    # Left/centre/right (top/centre/bottom) 16x16 squares at offsets 0, 4, 8.
    squares = [x[:, o : o + 16] if portrait else x[:, :, o : o + 16] for o in (0, 4, 8)]
    for s, sq in enumerate(squares):
        crops = _np_corners_centre(sq, 8)
        resized = np.asarray(jax.image.resize(sq, (B, 8, 8, C), "bilinear"))
        for i, want in enumerate([*crops, resized]):
            np.testing.assert_allclose(views[6 * s + i], want, atol=1e-6)
            np.testing.assert_allclose(views[18 + 6 * s + i], want[:, :, ::-1], atol=1e-6)
    # A spot check written out by hand: bottom-right crop of the right square.
    if not portrait:
        np.testing.assert_array_equal(views[6 * 2 + 3], x[:, 8:16, 16:24])


def test_googlenet_144_crop_protocol_shape_small_scale():
    x = jnp.asarray(_images(20, 26, seed=2))
    scales = (16, 18, 20, 22)  # stands for (256, 288, 320, 352) with crop 14 for 224
    views = jax.jit(lambda x: mc.googlenet_views(x, scales, 14))(x)
    assert views.shape == (4 * 3 * 6 * 2, B, 14, 14, C)
    assert views.shape[0] == 144 and mc.GOOGLENET_SCALES == (256, 288, 320, 352)
    assert np.all(np.isfinite(np.asarray(views)))


def _np_softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("protocol, per_scale", [("ten_crop", 10), ("googlenet", 36)])
def test_multicrop_probabilities_average_the_softmax(protocol, per_scale):
    x = jnp.asarray(_images(16, 20, seed=3))
    w = np.random.default_rng(4).normal(size=(8 * 8 * C, 5)).astype(np.float32)

    def predict(v):  # a linear classifier on the flattened crop
        return v.reshape(v.shape[0], -1) @ w

    scales = (16, 18)
    make = mc.multiscale_ten_crop if protocol == "ten_crop" else mc.googlenet_views
    # The probabilities and the views (for the reference) in one compiled program.
    p, views = jax.jit(
        lambda x: (mc.multicrop_probabilities(predict, x, scales, 8, protocol), make(x, scales, 8))
    )(x)
    views = np.asarray(views, np.float64)
    assert len(views) == per_scale * len(scales)
    logits = views.reshape(len(views), B, -1) @ w.astype(np.float64)  # [V, B, 5]
    np.testing.assert_allclose(p, _np_softmax(logits).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(p).sum(-1), 1.0, rtol=1e-6)


def test_bad_input_is_named():
    x = jnp.zeros((1, 16, 16, 3))
    with pytest.raises(ValueError, match="must be >= the crop size"):
        mc.googlenet_views(x, (12,), 14)
    with pytest.raises(ValueError, match="protocol must be one of"):
        mc.multicrop_probabilities(lambda v: v[:, 0, 0], x, (16,), 8, protocol="vgg")
    with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
        mc.resize_shorter_side(jnp.zeros((16, 16, 3)), 8)
