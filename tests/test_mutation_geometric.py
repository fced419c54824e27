"""Tests that kill mutants of jaxdl.data.augment.geometric which the other tests let survive.

Found by ``python -m mutation.run --modules geometric`` (docs/testing.md). They pin:
the input and argument checks of every op, with their exact error messages (which name
the function and the argument); the edges of ``random_crop``'s checks (a window side of
1 allowed, 0 or one past the padded image refused, each side on its own; constant
padding of any width, reflect padding only below H and W); the default strengths
(``random_crop`` pads 4, ``translate`` shifts up to 4, ``rotate`` turns up to 15 degrees,
``zoom`` scales in [0.9, 1.1], ``affine`` 10 degrees, [0.9, 1.1] and 2 pixels); that
``translate`` draws every integer shift in [-m, m] uniformly and nothing else; and that
masks are resampled by nearest neighbour, not bilinearly.

References, all independent of the code under test: error messages written out word for
word; crops of tiny images worked out by hand (``numpy.pad``); shifts read off
single-pixel images; and the random angle, scale and shift of each example read off
"coordinate" images whose two channels hold each pixel's row and column: a bilinear warp
reproduces an affine function exactly, so output pixel p holds the (y, x) it read, and
the map p -> source gives the drawn parameters in closed form (float64 NumPy below).
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import augment as aug

OPS = ["horizontal_flip", "random_crop", "translate", "rotate", "zoom", "affine"]


def _jit(op, **kwargs):
    """``op`` with ``kwargs`` under a fresh jit: one compile, and traced by this test."""
    return jax.jit(lambda key, images, masks=None: op(key, images, masks=masks, **kwargs))


def _raises(exc, msg):
    """``pytest.raises`` matching the whole message ``msg`` word for word."""
    return pytest.raises(exc, match=f"^{re.escape(msg)}$")


@pytest.mark.parametrize("op", OPS)
def test_the_input_checks_name_the_function(op):
    fn = getattr(aug, op)
    key = jax.random.key(0)
    msg = f"{op}: images must be NHWC [B, H, W, C], got shape (4, 5, 1)"
    with _raises(ValueError, msg):
        fn(key, jnp.zeros((4, 5, 1)))  # no batch axis
    msg = f"{op}: images must be float or integer (e.g. uint8), got bool"
    with _raises(TypeError, msg):
        fn(key, jnp.zeros((1, 4, 5, 1), dtype=bool))
    # The masks are checked too: [1, 4, 4] does not match images [1, 4, 5].
    msg = f"{op}: masks must be [B, H, W] or [B, H, W, K] matching images (1, 4, 5), got (1, 4, 4)"
    with _raises(ValueError, msg):
        fn(key, jnp.zeros((1, 4, 5, 1)), masks=jnp.zeros((1, 4, 4), jnp.int32))


# (op, keyword arguments, the exact message of the ValueError)
BAD_ARGUMENTS = [
    ("horizontal_flip", {"p": 1.5}, "horizontal_flip: p must be in [0, 1], got 1.5"),
    ("horizontal_flip", {"p": -0.25}, "horizontal_flip: p must be in [0, 1], got -0.25"),
    ("random_crop", {"padding": -1}, "random_crop: padding must be an int >= 0, got -1"),
    ("random_crop", {"padding": 1.0}, "random_crop: padding must be an int >= 0, got 1.0"),
    (
        "random_crop",
        {"mode": "wrap"},
        "random_crop: mode must be 'constant' or 'reflect', got 'wrap'",
    ),
    # reflect needs padding < H, W = 4, 5: 4 is refused (numpy.pad would repeat the edge)
    (
        "random_crop",
        {"padding": 4, "mode": "reflect"},
        "random_crop: reflect padding 4 must be < H, W = 4, 5",
    ),
    (
        "random_crop",
        {"padding": 7, "mode": "reflect"},
        "random_crop: reflect padding 7 must be < H, W = 4, 5",
    ),
    # padded by 1: 6 x 7. A side of 0, or one past the padded image, each side alone.
    *[
        (
            "random_crop",
            {"padding": 1, "size": size},
            f"random_crop: size {size} larger than the padded image",
        )
        for size in [(0, 2), (2, 0), (7, 2), (2, 8), (7, 7), (-1, 3)]
    ],
    ("translate", {"max_shift": -1}, "translate: max_shift must be an int >= 0, got -1"),
    ("translate", {"max_shift": 1.5}, "translate: max_shift must be an int >= 0, got 1.5"),
    (
        "rotate",
        {"degrees": (10, 5)},
        "rotate: degrees must be d >= 0 or (lo, hi) with lo <= hi, got (10, 5)",
    ),
    (
        "rotate",
        {"degrees": -3.0},
        "rotate: degrees must be d >= 0 or (lo, hi) with lo <= hi, got -3.0",
    ),
    (
        "zoom",
        {"min_scale": 0, "max_scale": 1.0},
        "zoom: need 0 < min_scale <= max_scale, got 0, 1.0",
    ),
    (
        "zoom",
        {"min_scale": 1.2, "max_scale": 1.1},
        "zoom: need 0 < min_scale <= max_scale, got 1.2, 1.1",
    ),
    (
        "affine",
        {"min_scale": 0.0},
        "affine: need 0 < min_scale <= max_scale, got 0.0, 1.1",
    ),
    (
        "affine",
        {"degrees": (5, -5)},
        "affine: degrees must be d >= 0 or (lo, hi) with lo <= hi, got (5, -5)",
    ),
    (
        "affine",
        {"max_shift": (2.0, 1.0)},
        "affine: max_shift must be d >= 0 or (lo, hi) with lo <= hi, got (2.0, 1.0)",
    ),
    (
        "affine",
        {"max_shift": -1.0},
        "affine: max_shift must be d >= 0 or (lo, hi) with lo <= hi, got -1.0",
    ),
]


@pytest.mark.parametrize("op, kwargs, msg", BAD_ARGUMENTS)
def test_bad_arguments_are_refused_word_for_word(op, kwargs, msg):
    with _raises(ValueError, msg):
        getattr(aug, op)(jax.random.key(0), jnp.zeros((1, 4, 5, 1)), **kwargs)


# x[0, i, j, 0] = 5 i + j + 1: H = 4, W = 5 (0 is the constant padding)
_IMAGE = 1.0 + np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1)


def test_random_crop_windows_one_pixel_high_or_wide_and_an_int_size():
    x = jnp.asarray(_IMAGE)
    key = jax.random.key(0)
    rows = np.asarray(aug.random_crop(key, x, padding=0, size=(1, 5)))  # one whole row
    assert rows.shape == (1, 1, 5, 1)
    assert any(np.array_equal(rows[0, 0, :, 0], 5 * i + 1 + np.arange(5)) for i in range(4))
    cols = np.asarray(aug.random_crop(key, x, padding=0, size=(4, 1)))  # one whole column
    assert cols.shape == (1, 4, 1, 1)
    assert any(np.array_equal(cols[0, :, 0, 0], 5 * np.arange(4) + 1 + j) for j in range(5))
    # size=3 means (3, 3); the 2 x 3 top-left corners of the unpadded 4 x 5 image
    sq = np.asarray(aug.random_crop(key, x, padding=0, size=3))
    assert sq.shape == (1, 3, 3, 1)
    windows = [_IMAGE[0, i : i + 3, j : j + 3] for i in range(2) for j in range(3)]
    assert any(np.array_equal(sq[0], w) for w in windows)


def test_random_crop_the_whole_padded_image_in_either_mode():
    x = jnp.asarray(_IMAGE)
    key = jax.random.key(0)
    # Constant padding may be as wide as we like (5 >= H = 4): one window, offset 0.
    full = np.asarray(aug.random_crop(key, x, padding=5, size=(14, 15)))
    expected = np.zeros((14, 15))
    expected[5:9, 5:10] = 1.0 + np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(full[0, :, :, 0], expected)
    # Reflect padding 3 < H = 4 is allowed: mirror without repeating the edge.
    refl = np.asarray(aug.random_crop(key, x, padding=3, mode="reflect", size=(10, 11)))
    rows = [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]  # padded row r reads row rows[r]
    cols = [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]
    expected = np.array([[5 * i + j + 1 for j in cols] for i in rows], dtype=np.float64)
    np.testing.assert_array_equal(refl[0, :, :, 0], expected)


def test_random_crop_pads_4_by_default():
    x = jnp.full((1, 1, 1, 1), 7.0)  # padded by 4: 9 x 9, the pixel at (4, 4)
    key = jax.random.key(0)
    y = np.asarray(aug.random_crop(key, x, size=9))  # the only 9 x 9 window
    expected = np.zeros((9, 9))
    expected[4, 4] = 7.0
    np.testing.assert_array_equal(y[0, :, :, 0], expected)
    with _raises(ValueError, "random_crop: size (10, 10) larger than the padded image"):
        aug.random_crop(key, x, size=10)


def _pixel_shifts(y, centre):
    """(dy, dx) of each example: where the single 1 of a shifted one-pixel image lands."""
    y = np.asarray(y)[..., 0]
    n = len(y)
    assert np.all(np.sum(y == 1.0, axis=(1, 2)) == 1) and np.all(np.sum(y, axis=(1, 2)) == 1)
    flat = y.reshape(n, -1).argmax(1)
    return np.stack(np.unravel_index(flat, y.shape[1:]), 1) - centre  # [N, 2]


def test_translate_draws_every_shift_in_range_uniformly():
    n, m, size = 600, 2, 7  # shifts -2..2: the pixel at (3, 3) stays in the 7 x 7 frame
    x = jnp.zeros((n, size, size, 1)).at[:, 3, 3, 0].set(1.0)
    d = _pixel_shifts(_jit(aug.translate, max_shift=m)(jax.random.key(1), x), 3)
    for axis in range(2):
        counts = np.array([np.sum(d[:, axis] == s) for s in range(-m, m + 1)])
        assert counts.sum() == n, f"axis {axis}: a shift outside [-{m}, {m}]"
        # uniform on 5 values: each count within 5 binomial standard deviations of n / 5
        q = 1.0 / (2 * m + 1)
        np.testing.assert_array_less(np.abs(counts - n * q), 5 * math.sqrt(n * q * (1 - q)))
    assert len({tuple(s) for s in d}) == 25  # all (dy, dx) pairs: the axes drawn apart


def test_translate_shifts_up_to_4_by_default():
    n = 300  # the pixel at (5, 5) of an 11 x 11 image stays in the frame for |shift| <= 5
    x = jnp.zeros((n, 11, 11, 1)).at[:, 5, 5, 0].set(1.0)
    d = _pixel_shifts(_jit(aug.translate)(jax.random.key(2), x), 5)
    assert d.min() == -4 and d.max() == 4
    for axis in range(2):
        assert {-4, 4} <= set(d[:, axis].tolist())


def _coordinate_images(n, size):
    """[n, size, size, 2] float32: channel 0 holds the row index, channel 1 the column."""
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1)
    return jnp.asarray(np.broadcast_to(grid, (n, size, size, 2)).astype(np.float32))


def _source_map(y, c):
    """Output pixel p reads input ``c + A (p - c) + b``: recover A [N, 2, 2] and b [N, 2]
    from a warped coordinate image (float64), with A's columns the steps along y and x."""
    y = np.asarray(y, np.float64)
    centre = y[:, c, c]  # = c + b
    A = np.stack([y[:, c + 1, c] - centre, y[:, c, c + 1] - centre], -1)
    return A, centre - c


def test_rotate_turns_up_to_15_degrees_by_default():
    n, c = 256, 4
    A, b = _source_map(_jit(aug.rotate)(jax.random.key(3), _coordinate_images(n, 2 * c + 1)), c)
    np.testing.assert_allclose(b, 0.0, atol=1e-5)  # about the centre
    np.testing.assert_allclose(A[:, 1, 1], A[:, 0, 0], atol=1e-5)  # [[cos, sin], [-sin, cos]]
    np.testing.assert_allclose(A[:, 1, 0], -A[:, 0, 1], atol=1e-5)
    theta = np.degrees(np.arctan2(A[:, 0, 1], A[:, 0, 0]))
    assert np.all(np.abs(theta) <= 15.0 + 1e-3)
    assert theta.min() < -14.0 and theta.max() > 14.0


def test_zoom_scales_in_0_9_to_1_1_by_default():
    n, c = 256, 4
    A, b = _source_map(_jit(aug.zoom)(jax.random.key(4), _coordinate_images(n, 2 * c + 1)), c)
    np.testing.assert_allclose(b, 0.0, atol=1e-5)
    np.testing.assert_allclose(A[:, 0, 1], 0.0, atol=1e-5)  # no turn
    np.testing.assert_allclose(A[:, 1, 0], 0.0, atol=1e-5)
    np.testing.assert_allclose(A[:, 1, 1], A[:, 0, 0], atol=1e-5)  # the same on both axes
    s = 1.0 / A[:, 0, 0]  # reads input c + (p - c) / s
    assert np.all((s >= 0.9 - 1e-4) & (s <= 1.1 + 1e-4))
    assert s.min() < 0.91 and s.max() > 1.09


def test_affine_defaults_10_degrees_0_9_to_1_1_and_2_pixels():
    n, c = 256, 7  # |source - c| <= 1.12 |p - c| + 1.12 * 2 * sqrt(2) < 5: inside 15 x 15
    A, b = _source_map(_jit(aug.affine)(jax.random.key(5), _coordinate_images(n, 2 * c + 1)), c)
    # A = R / s, b = -A t (output pixel p reads input c + R (p - t - c) / s)
    np.testing.assert_allclose(A[:, 1, 1], A[:, 0, 0], atol=1e-5)
    np.testing.assert_allclose(A[:, 1, 0], -A[:, 0, 1], atol=1e-5)
    theta = np.degrees(np.arctan2(A[:, 0, 1], A[:, 0, 0]))
    s = 1.0 / np.hypot(A[:, 0, 0], A[:, 0, 1])
    t = -np.linalg.solve(A, b[:, :, None])[:, :, 0]  # [N, 2] = (dy, dx)
    assert np.all(np.abs(theta) <= 10.0 + 1e-3) and theta.min() < -9.0 and theta.max() > 9.0
    assert np.all((s >= 0.9 - 1e-4) & (s <= 1.1 + 1e-4)) and s.min() < 0.91 and s.max() > 1.09
    assert np.all(np.abs(t) <= 2.0 + 1e-3)
    for axis in range(2):
        assert t[:, axis].min() < -1.9 and t[:, axis].max() > 1.9


def test_masks_are_resampled_by_nearest_neighbour():
    # A 6 x 6 zoom by 4/3 reads input c + 0.75 (p - c), c = 2.5: rows and columns
    # 0.625, 1.375, 2.125, 2.875, 3.625, 4.375 (no ties), nearest 1, 1, 2, 3, 4, 4.
    labels = np.add.outer(10 * np.arange(6), np.arange(6)).astype(np.int32)  # 10 i + j
    masks = jnp.asarray(np.stack([labels, labels + 100]))  # [2, 6, 6]
    images = _coordinate_images(2, 6)
    zoom = _jit(aug.zoom, min_scale=4 / 3, max_scale=4 / 3)
    y, m = zoom(jax.random.key(6), images, masks)
    near = np.array([1, 1, 2, 3, 4, 4])
    expected = 10 * near[:, None] + near[None, :]
    assert m.dtype == jnp.int32 and m.shape == (2, 6, 6)
    np.testing.assert_array_equal(np.asarray(m), np.stack([expected, expected + 100]))
    # The images, bilinear, hold the exact source coordinates.
    src = 2.5 + 0.75 * (np.arange(6) - 2.5)
    np.testing.assert_allclose(np.asarray(y[0, :, :, 0]), src[:, None] * np.ones(6), atol=1e-5)
    np.testing.assert_allclose(np.asarray(y[1, :, :, 1]), np.ones(6)[:, None] * src, atol=1e-5)
