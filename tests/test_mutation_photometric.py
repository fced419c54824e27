"""Tests that kill mutants of jaxdl.data.augment.photometric which the other tests let survive.

Found by ``python -m mutation.run --modules photometric`` (docs/testing.md). They pin
the exact error messages of the input and amount checks (each names the function
called; ``contrast`` takes ``max_delta = 1``, ``cutout`` refuses ``size = 0``), that
masks come back unchanged next to the images, the default amounts, that ``cutout``
keeps the images' dtype, and the draws themselves: example ``i`` uses key ``i`` of
``jax.random.split(key, B)`` (``_per_example``), with float32 draws even when
``jax_enable_x64`` is on, so a key gives the same augmentation either way.

References: the error messages written out word for word; the course's formulas in
float64 NumPy (``x + range * delta``, ``mean + f (x - mean)``, ``x + range * sigma * n``,
rounded and clipped for uint8; a ``size`` x ``size`` square from ``centre - size // 2``
zeroed); the random draws made with ``jax.random`` directly (uniform, normal, randint on
the per-example keys), never by the functions under test.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data.augment import brightness, contrast, cutout, gaussian_noise

OPS = {"brightness": brightness, "contrast": contrast, "gaussian_noise": gaussian_noise,
       "cutout": cutout}  # fmt: skip

# 4 images 5 x 6 x 2 in [0, 1), and the same in uint8 with both ends of the range present
_X = np.random.default_rng(0).uniform(0, 1, (4, 5, 6, 2)).astype(np.float32)
_X8 = np.round(_X * 255).astype(np.uint8)
_X8[:, 0, 0, 0], _X8[:, 0, 1, 0] = 0, 255


def _keys(seed, n):
    return jax.random.split(jax.random.key(seed), n)


@pytest.mark.parametrize("op", OPS)
def test_the_input_checks_name_the_function_word_for_word(op):
    fn = OPS[op]
    key = jax.random.key(0)
    msg = f"{op}: images must be NHWC [B, H, W, C], got shape (4, 5, 1)"
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        fn(key, jnp.zeros((4, 5, 1)))
    msg = f"{op}: images must be float or integer (e.g. uint8), got bool"
    with pytest.raises(TypeError, match="^" + re.escape(msg) + "$"):
        fn(key, jnp.zeros((1, 4, 5, 1), dtype=bool))
    msg = f"{op}: masks must be [B, H, W] or [B, H, W, K] matching images (1, 4, 5), got (1, 4, 6)"
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        fn(key, jnp.zeros((1, 4, 5, 1)), masks=jnp.zeros((1, 4, 6), jnp.int32))


@pytest.mark.parametrize(
    "op, kwargs, msg",
    [
        ("brightness", {"max_delta": -0.1}, "brightness: max_delta must be >= 0, got -0.1"),
        ("brightness", {"max_delta": float("nan")}, "brightness: max_delta must be >= 0, got nan"),
        ("contrast", {"max_delta": 1.5}, "contrast: max_delta must be in [0, 1], got 1.5"),
        ("contrast", {"max_delta": -0.25}, "contrast: max_delta must be in [0, 1], got -0.25"),
        ("gaussian_noise", {"sigma": -0.01}, "gaussian_noise: sigma must be >= 0, got -0.01"),
        ("cutout", {"size": 0}, "cutout: size must be an int >= 1, got 0"),
        ("cutout", {"size": 2.0}, "cutout: size must be an int >= 1, got 2.0"),
    ],
)
def test_bad_amounts_are_refused_word_for_word(op, kwargs, msg):
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        OPS[op](jax.random.key(0), jnp.zeros((2, 4, 4, 1)), **kwargs)


@pytest.mark.parametrize("op", OPS)
def test_masks_come_back_unchanged(op):
    labels = np.arange(4 * 5 * 6).reshape(4, 5, 6) % 7
    masks = jnp.asarray(labels, jnp.int32)
    out = OPS[op](jax.random.key(1), jnp.asarray(_X), masks=masks)
    assert isinstance(out, tuple) and len(out) == 2
    images, m = out
    assert images.shape == _X.shape and images.dtype == jnp.float32
    assert m.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(m), labels)


def test_default_amounts():
    """brightness 0.1, contrast 0.2, gaussian_noise 0.05, cutout 8 (DeVries & Taylor)."""
    key, n = jax.random.key(2), 64
    # brightness: every offset in [-0.1, 0.1]
    y = np.asarray(brightness(key, jnp.full((n, 1, 1, 1), 0.5)), np.float64).ravel()
    assert np.all(np.abs(y - 0.5) <= 0.1 + 1e-7) and np.abs(y - 0.5).max() > 0.09
    # contrast: pixels 0.25 and 0.75, mean 0.5, so f = (y - 0.5) / 0.25 in [0.8, 1.2]
    x = np.zeros((n, 1, 2, 1)) + [[[0.25], [0.75]]]
    y = np.asarray(contrast(key, jnp.asarray(x, jnp.float32)), np.float64)
    f = (y[:, 0, 1, 0] - 0.5) / 0.25
    np.testing.assert_allclose((y[:, 0, 0, 0] - 0.5) / -0.25, f, atol=1e-5)
    assert np.all((f >= 0.8 - 1e-6) & (f <= 1.2 + 1e-6)) and f.max() - f.min() > 0.3
    # gaussian_noise: std 0.05
    y = np.asarray(gaussian_noise(key, jnp.zeros((4, 32, 32, 3))), np.float64)
    assert abs(y.std() / 0.05 - 1) < 0.03
    # cutout: 8 x 8 squares, the largest ones (inside the frame) exactly 8 x 8
    zero = np.asarray(cutout(key, jnp.ones((n, 32, 32, 1))))[..., 0] == 0
    heights, widths = zero.any(2).sum(1), zero.any(1).sum(1)
    assert heights.max() == 8 and widths.max() == 8
    assert np.all(zero.sum((1, 2)) == heights * widths)


@pytest.mark.parametrize("x64", [False, True])
def test_brightness_and_contrast_draw_float32_uniforms_per_example_key(x64):
    """Same key, same result with jax_enable_x64 on; contrast takes max_delta = 1."""
    with jax.enable_x64(x64):
        keys = _keys(7, 4)
        d = 0.3
        delta = np.asarray(
            jax.vmap(lambda k: jax.random.uniform(k, (), jnp.float32, -d, d))(keys), np.float64
        )[:, None, None, None]
        x = _X.astype(np.float64)
        y = brightness(jax.random.key(7), jnp.asarray(_X), d)
        assert y.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(y, np.float64), x + delta, atol=1e-6)
        y8 = brightness(jax.random.key(7), jnp.asarray(_X8), d)
        assert y8.dtype == jnp.uint8
        ref = np.clip(np.round(_X8.astype(np.float64) + 255 * delta), 0, 255)
        np.testing.assert_allclose(np.asarray(y8, np.float64), ref, atol=1)
        assert np.asarray(y8).min() == 0 and np.asarray(y8).max() == 255

        f = np.asarray(
            jax.vmap(lambda k: jax.random.uniform(k, (), jnp.float32, 0.0, 2.0))(keys), np.float64
        )[:, None, None, None]
        y = contrast(jax.random.key(7), jnp.asarray(_X), 1.0)
        mean = x.mean((1, 2), keepdims=True)
        np.testing.assert_allclose(np.asarray(y, np.float64), mean + f * (x - mean), atol=1e-5)


@pytest.mark.parametrize("x64", [False, True])
def test_gaussian_noise_draws_float32_normals_per_example_key(x64):
    with jax.enable_x64(x64):
        keys = _keys(4, 4)
        noise = np.asarray(
            jax.vmap(lambda k: jax.random.normal(k, _X.shape[1:], jnp.float32))(keys), np.float64
        )
        sigma = 0.2
        y = gaussian_noise(jax.random.key(4), jnp.asarray(_X), sigma)
        assert y.dtype == jnp.float32
        ref = _X.astype(np.float64) + sigma * noise
        np.testing.assert_allclose(np.asarray(y, np.float64), ref, atol=1e-6)
        y8 = gaussian_noise(jax.random.key(4), jnp.asarray(_X8), sigma)
        assert y8.dtype == jnp.uint8
        ref = np.clip(np.round(_X8.astype(np.float64) + 255 * sigma * noise), 0, 255)
        np.testing.assert_allclose(np.asarray(y8, np.float64), ref, atol=1)
        assert np.asarray(y8).min() == 0 and np.asarray(y8).max() == 255


@pytest.mark.parametrize("size", [4, 5])
def test_cutout_zeroes_the_square_from_centre_minus_half_the_size(size):
    B, H, W = 16, 7, 6
    keys = _keys(3, B)
    centre = np.asarray(
        jax.vmap(lambda k: jax.random.randint(k, (2,), 0, np.array([H, W])))(keys)
    )  # [B, 2] = (row, column)
    assert centre.min(0).tolist() == [0, 0] and centre.max(0).tolist() == [H - 1, W - 1]  # edges
    x = np.arange(1, B * H * W * 2 + 1).reshape(B, H, W, 2) % 250 + 1  # no zero pixel
    ref = x.copy()
    for i, (r, c) in enumerate(centre):
        top, left = max(r - size // 2, 0), max(c - size // 2, 0)
        ref[i, top : r - size // 2 + size, left : c - size // 2 + size] = 0
    for dtype in (np.float32, np.uint8):
        y = cutout(jax.random.key(3), jnp.asarray(x.astype(dtype)), size)
        assert y.dtype == dtype
        np.testing.assert_array_equal(np.asarray(y), ref.astype(dtype))
