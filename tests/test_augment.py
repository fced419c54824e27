"""Tests of jaxdl.data.augment: shapes/dtypes, identities, numpy/scipy references, masks."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as ndi

from jaxdl.data import augment as aug


def base_key():
    """``jax.random.key(0)``, made per call: a JAX array made at import would start the
    backend while pytest collects (mutation testing forks test processes after that)."""
    return jax.random.key(0)


B, H, W, C = 6, 12, 10, 3


def _images(dtype=jnp.float32, shape=(B, H, W, C), seed=0):
    x = np.random.default_rng(seed).uniform(0, 1, shape)
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.asarray(np.round(x * 255), dtype)
    return jnp.asarray(x, dtype)


# Every random op with non-trivial settings (so randomness is visible).
RANDOM_OPS = {
    "horizontal_flip": {},
    "random_crop": {"padding": 3},
    "random_crop_reflect": {"padding": 3, "mode": "reflect"},
    "translate": {"max_shift": 3},
    "rotate": {"degrees": 30.0},
    "zoom": {"min_scale": 0.7, "max_scale": 1.4},
    "affine": {"degrees": 20.0, "min_scale": 0.8, "max_scale": 1.2, "max_shift": 2.0},
    "brightness": {"max_delta": 0.2},
    "contrast": {"max_delta": 0.5},
    "gaussian_noise": {"sigma": 0.1},
    "cutout": {"size": 4},
}


@functools.cache
def _jitted(op, kw):
    return jax.jit(lambda k, x, m: op(k, x, masks=m, **dict(kw)))


def _run(op, key, images, masks=None, **kw):
    """Run an op under jit: one compile instead of one per primitive in eager mode."""
    return _jitted(op, tuple(sorted(kw.items())))(key, images, masks)


@functools.cache
def _jitted_many(ops):
    return jax.jit(
        lambda args: [op(k, x, masks=m, **dict(kw)) for (op, kw), (k, x, m) in zip(ops, args)]
    )


def _run_many(*calls):
    """Several ``(op, key, images, masks, kwargs)`` calls under ONE jit: one compile for
    all of them (and the random draws of calls with the same key computed once)."""
    ops = tuple((op, tuple(sorted(kw.items()))) for op, _, _, _, kw in calls)
    return _jitted_many(ops)([(k, x, m) for _, k, x, m, _ in calls])


def _op(name):
    return aug.AUGMENTATIONS[name.replace("_reflect", "")]


@pytest.fixture(scope="module")
def random_ops_outputs():
    """Every op of RANDOM_OPS under one jit (one compile for all of them), called with
    base_key() twice, key(1), and key(2) on identical examples."""
    fn = jax.jit(lambda k, x: {name: _op(name)(k, x, **kw) for name, kw in RANDOM_OPS.items()})
    x = _images()
    same = jnp.broadcast_to(x[:1], x.shape)
    return x, [
        fn(base_key(), x),
        fn(base_key(), x),
        fn(jax.random.key(1), x),
        fn(jax.random.key(2), same),
    ]


@pytest.mark.parametrize("name", RANDOM_OPS)
def test_shape_dtype_range_determinism_and_per_example_randomness(name, random_ops_outputs):
    x, calls = random_ops_outputs
    y, again, other_key, on_same = (out[name] for out in calls)
    assert y.shape == x.shape and y.dtype == x.dtype
    geometric = ("horizontal_flip", "random_crop", "random_crop_reflect", "translate", "rotate")
    if name in (*geometric, "affine"):
        # Geometric ops move/blend pixels and fill with 0: never leave [0, max(x)].
        assert float(y.min()) >= 0 and float(y.max()) <= float(x.max()) + 1e-6
    np.testing.assert_array_equal(np.asarray(again), np.asarray(y))  # same key
    assert not np.array_equal(np.asarray(other_key), np.asarray(y))
    # Identical examples must come out different (one key per example).
    ys = np.asarray(on_same)
    outcomes = len({ys[i].tobytes() for i in range(B)})
    assert outcomes == 2 if name == "horizontal_flip" else outcomes >= B - 1


# Ops with integer-specific arithmetic (rounding, clipping) or none at all; the noise
# and brightness saturation of uint8 is tested on its own below.
CHEAP_OPS = [
    "horizontal_flip", "random_crop_reflect", "translate", "rotate", "zoom", "affine", "contrast"
]  # fmt: skip


@pytest.mark.parametrize("dtype", [jnp.uint8, jnp.bfloat16])
def test_integer_and_bfloat16_pipelines_keep_dtype(dtype):
    spec = [(_op(n).__name__, RANDOM_OPS[n]) for n in CHEAP_OPS]
    x = _images(dtype)
    y = jax.jit(aug.build_augment(spec))(base_key(), x)
    assert y.dtype == dtype and y.shape == x.shape
    yf = np.asarray(y, np.float64)
    assert np.all(np.isfinite(yf)) and not np.array_equal(yf, np.asarray(x, np.float64))
    if dtype == jnp.uint8:  # rounded, not truncated: mid-grey stays put under zero-strength
        zero = [
            ("rotate", {"degrees": 0.0}),
            ("zoom", {"min_scale": 1.0, "max_scale": 1.0}),
            ("contrast", {"max_delta": 0.0}),
            ("brightness", {"max_delta": 0.0}),
        ]
        np.testing.assert_array_equal(
            np.asarray(jax.jit(aug.build_augment(zero))(base_key(), x)), x
        )


ZERO_STRENGTH = [
    ("horizontal_flip", {"p": 0.0}),
    ("random_crop", {"padding": 0}),
    ("random_crop", {"padding": 0, "mode": "reflect"}),
    ("translate", {"max_shift": 0}),
    ("rotate", {"degrees": 0.0}),
    ("rotate", {"degrees": (0.0, 0.0)}),
    ("rotate", {"degrees": np.int64(0)}),
    ("zoom", {"min_scale": 1.0, "max_scale": 1.0}),
    ("affine", {"degrees": 0.0, "min_scale": 1.0, "max_scale": 1.0, "max_shift": 0.0}),
    ("brightness", {"max_delta": 0.0}),
    ("contrast", {"max_delta": 0.0}),
    ("gaussian_noise", {"sigma": 0.0}),
]


@pytest.fixture(scope="module")
def zero_strength_outputs():
    """Every ZERO_STRENGTH case under one jit: one compile for all of them."""
    x = _images()
    fn = jax.jit(lambda k, x: [aug.AUGMENTATIONS[n](k, x, **kw) for n, kw in ZERO_STRENGTH])
    return x, fn(base_key(), x)


@pytest.mark.parametrize("name, kwargs", ZERO_STRENGTH)
def test_zero_strength_is_identity(name, kwargs, zero_strength_outputs):
    x, outputs = zero_strength_outputs
    (y,) = [y for (n, kw), y in zip(ZERO_STRENGTH, outputs) if n == name and kw is kwargs]
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=1e-6)


def test_flip_is_an_involution():
    x = _images()
    big = _images(shape=(64, 4, 5, 1))

    @jax.jit  # one compile for all the flips below
    def flips(key, x, big):
        once = aug.horizontal_flip(key, x, masks=None, p=1.0)
        back = aug.horizontal_flip(key, once, masks=None, p=1.0)
        flipped_big = aug.horizontal_flip(key, big, masks=None)
        return once, back, flipped_big, aug.horizontal_flip(key, flipped_big, masks=None)

    once, back, flipped_big, twice = flips(base_key(), x, big)
    np.testing.assert_array_equal(np.asarray(once), np.asarray(x)[:, :, ::-1])
    np.testing.assert_array_equal(np.asarray(back), x)
    # Same key twice: the same examples flip twice, so nothing changes.
    np.testing.assert_array_equal(np.asarray(twice), np.asarray(big))
    flipped = np.asarray(flipped_big) != np.asarray(big)
    assert 0.3 < flipped.reshape(64, -1).any(1).mean() < 0.7


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_random_crop_windows_match_numpy_pad(mode):
    p = 2
    x = _images()
    y, small = _run_many(  # the second: an ImageNet-style crop
        (aug.random_crop, base_key(), x, None, {"padding": p, "mode": mode}),
        (aug.random_crop, base_key(), x, None, {"padding": 0, "size": (8, 7)}),
    )
    y = np.asarray(y)
    padded = np.pad(np.asarray(x), ((0, 0), (p, p), (p, p), (0, 0)), mode=mode)
    offsets = set()
    for i in range(B):
        hits = [
            (oy, ox)
            for oy in range(2 * p + 1)
            for ox in range(2 * p + 1)
            if np.array_equal(padded[i, oy : oy + H, ox : ox + W], y[i])
        ]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1
    assert small.shape == (B, 8, 7, C)


def test_translate_matches_numpy_shift():
    m = 3
    x = _images()
    y = np.asarray(_run(aug.translate, base_key(), x, max_shift=m))
    xn = np.asarray(x)
    for i in range(B):
        hits = []
        for dy in range(-m, m + 1):
            for dx in range(-m, m + 1):
                ref = np.zeros_like(xn[i])
                ys, yd = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
                xs, xd = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
                ref[yd, xd] = xn[i][ys, xs]  # out[y, x] = in[y - dy, x - dx]
                if np.array_equal(ref, y[i]):
                    hits.append((dy, dx))
        assert len(hits) == 1


@pytest.mark.parametrize("k", [1, -1, 2])
def test_rotate_quarter_turns_equal_rot90(k):
    x = _images(shape=(2, 11, 11, 2))
    deg = 90.0 * k
    xi = _images(jnp.uint8, shape=(2, 11, 11, 2))
    y, yi = map(
        np.asarray,
        _run_many(
            (aug.rotate, base_key(), x, None, {"degrees": (deg, deg)}),
            (aug.rotate, base_key(), xi, None, {"degrees": (deg, deg)}),
        ),
    )
    ref = np.rot90(np.asarray(x), k=k, axes=(1, 2))
    np.testing.assert_allclose(y[:, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], atol=1e-5)
    np.testing.assert_allclose(y, ref, atol=1e-5)  # square image: even the border matches
    np.testing.assert_array_equal(yi, np.rot90(np.asarray(xi), k=k, axes=(1, 2)))


def _scipy_warp(img, A):
    """float64 reference: output pixel p reads input c + A (p - c), bilinear, zero outside."""
    h, w = img.shape[:2]
    c = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), 0).reshape(2, -1)
    src = A @ (grid - c[:, None]) + c[:, None]
    out = [
        ndi.map_coordinates(img[..., ch], src, order=1, mode="grid-constant", cval=0.0)
        for ch in range(img.shape[-1])
    ]
    return np.stack(out, -1).reshape(img.shape)


def test_rotate_and_zoom_match_scipy_bilinear():
    x = _images(shape=(2, H, W, C))
    xn = np.asarray(x, np.float64)
    t = math.radians(30.0)
    A = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    y, *zooms = map(
        np.asarray,
        _run_many(
            (aug.rotate, base_key(), x, None, {"degrees": (30.0, 30.0)}),
            *[
                (aug.zoom, base_key(), x, None, {"min_scale": s, "max_scale": s})
                for s in (1.5, 0.6)
            ],
        ),
    )
    for i in range(2):
        np.testing.assert_allclose(y[i], _scipy_warp(xn[i], A), atol=2e-5)
    for s, z in zip((1.5, 0.6), zooms):
        for i in range(2):
            np.testing.assert_allclose(z[i], _scipy_warp(xn[i], np.eye(2) / s), atol=2e-5)


@pytest.mark.parametrize("deg, s, t", [(30.0, 1.0, 0.0), (-20.0, 1.3, 1.5), (0.0, 0.7, -2.25)])
def test_affine_is_rotate_zoom_shift_in_one_bilinear_warp(deg, s, t):
    """Output pixel p reads input c + R (p - t - c) / s (R: rotate's matrix), t = (t, t)."""
    x = _images(shape=(2, H, W, C))
    xn = np.asarray(x, np.float64)
    kw = {"degrees": (deg, deg), "min_scale": s, "max_scale": s, "max_shift": (t, t)}
    y = np.asarray(_run(aug.affine, base_key(), x, **kw))
    a = math.radians(deg)
    A = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) / s
    h, w = xn.shape[1:3]
    c = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), 0).reshape(2, -1)
    src = A @ (grid - c[:, None] - t) + c[:, None]
    for i in range(2):
        ref = np.stack(
            [
                ndi.map_coordinates(xn[i, ..., ch], src, order=1, mode="grid-constant", cval=0.0)
                for ch in range(C)
            ],
            -1,
        ).reshape(xn.shape[1:])
        np.testing.assert_allclose(y[i], ref, atol=2e-5)


def test_affine_draws_cover_their_ranges_per_example():
    """Single-pixel images: where the pixel lands gives each example's shift (no turn/zoom)."""
    n, m = 512, 3.0
    x = jnp.zeros((n, 15, 15, 1)).at[:, 7, 7, 0].set(1.0)
    kw = {"degrees": 0.0, "min_scale": 1.0, "max_scale": 1.0, "max_shift": m}
    y = np.asarray(_run(aug.affine, base_key(), x, **kw))[..., 0]  # bilinear splat of the pixel
    yy, xx = np.meshgrid(np.arange(15), np.arange(15), indexing="ij")
    mass = y.sum((1, 2))
    dy = (y * yy).sum((1, 2)) / mass - 7  # centre of mass = 7 + shift
    dx = (y * xx).sum((1, 2)) / mass - 7
    np.testing.assert_allclose(mass, 1.0, atol=1e-5)
    for d in (dy, dx):  # uniform on [-3, 3]: mean 0, sd 3 / sqrt(3), reaching both ends
        assert np.all(np.abs(d) <= m + 1e-4) and abs(d.mean()) < 0.3
        assert abs(d.std() - m / math.sqrt(3)) < 0.2 and d.min() < -2.8 and d.max() > 2.8
    assert abs(np.corrcoef(dy, dx)[0, 1]) < 0.15  # drawn independently


def test_photometric_ops_against_numpy():
    x = _images(shape=(8, 16, 16, 3))
    xn = np.asarray(x, np.float64)
    big = _images(shape=(4, 64, 64, 3))
    bright, contrasted, noisy = (
        np.asarray(y, np.float64)
        for y in _run_many(
            (aug.brightness, base_key(), x, None, {"max_delta": 0.3}),
            (aug.contrast, base_key(), x, None, {"max_delta": 0.5}),
            (aug.gaussian_noise, base_key(), big, None, {"sigma": 0.1}),
        )
    )
    # brightness: one offset per image, within [-d, d].
    d = bright - xn
    per_image = d.reshape(8, -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image), atol=1e-6)
    assert np.all(np.abs(per_image[:, 0]) <= 0.3) and np.std(per_image[:, 0]) > 0.01
    # contrast: channel means kept, deviations scaled by one factor in [1-d, 1+d].
    y = contrasted
    mean = xn.mean((1, 2), keepdims=True)
    np.testing.assert_allclose(y.mean((1, 2), keepdims=True), mean, atol=1e-5)
    dev = xn - mean
    f = ((y - mean) * dev).sum((1, 2, 3)) / (dev**2).sum((1, 2, 3))  # [8], least squares
    np.testing.assert_allclose(y, mean + f[:, None, None, None] * dev, atol=1e-5)
    assert np.all((f >= 0.5 - 1e-6) & (f <= 1.5 + 1e-6)) and np.std(f) > 0.05
    # noise: zero-mean, std sigma, fresh per example.
    n = noisy - np.asarray(big, np.float64)
    assert abs(n.std() / 0.1 - 1) < 0.02 and abs(n.mean()) < 0.005
    assert not np.allclose(n[0], n[1])


def test_uint8_saturates_and_scales_by_255():
    x = jnp.full((64, 2, 2, 1), 128, jnp.uint8).at[:, 0, 0, 0].set(250).at[:, 0, 1, 0].set(3)
    grey = jnp.full((2, 64, 64, 1), 128, jnp.uint8)
    y, n = map(
        np.asarray,
        _run_many(
            (aug.brightness, base_key(), x, None, {"max_delta": 0.2}),
            (aug.gaussian_noise, base_key(), grey, None, {"sigma": 0.05}),
        ),
    )
    y = y.astype(np.float64)
    delta = y[:, 1, 1, 0] - 128  # unclipped pixel gives the offset
    assert np.abs(delta).max() <= 0.2 * 255 + 0.5 and np.abs(delta).max() > 20
    np.testing.assert_allclose(y[:, 0, 0, 0], np.clip(250 + delta, 0, 255), atol=1)
    np.testing.assert_allclose(y[:, 0, 1, 0], np.clip(3 + delta, 0, 255), atol=1)
    assert y.max() == 255 and y.min() == 0  # saturated, not wrapped around
    assert abs((n.astype(np.float64) - 128).std() / (0.05 * 255) - 1) < 0.03


def test_cutout_zeroes_one_clipped_square():
    size = 5
    x = jnp.ones((32, H, W, C))
    y = np.asarray(_run(aug.cutout, base_key(), x, size=size))
    corners = set()
    for i in range(32):
        zero = y[i, :, :, 0] == 0
        assert np.array_equal(zero[..., None].repeat(C, -1), y[i] == 0)  # all channels
        rows, cols = np.where(zero.any(1))[0], np.where(zero.any(0))[0]
        top, left = rows[0], cols[0]
        h, w = rows[-1] - top + 1, cols[-1] - left + 1
        assert zero.sum() == h * w and 1 <= h <= size and 1 <= w <= size  # one rectangle
        assert h == size or top == 0 or rows[-1] == H - 1  # cut only by the border
        assert w == size or left == 0 or cols[-1] == W - 1
        corners.add((top, left))
    assert len(corners) > 10


def test_test_time_crops_match_numpy_slicing():
    x = _images(shape=(2, 9, 8, 3))
    xn = np.asarray(x)
    h, w = 5, 4
    np.testing.assert_array_equal(aug.center_crop(x, (h, w)), xn[:, 2:7, 2:6])
    np.testing.assert_array_equal(aug.center_crop(x, 8)[:, :, :], xn[:, 0:8, 0:8])
    refs = [xn[:, :h, :w], xn[:, :h, -w:], xn[:, -h:, :w], xn[:, -h:, -w:], xn[:, 2:7, 2:6]]
    five = np.asarray(aug.five_crop(x, (h, w)))
    ten = np.asarray(jax.jit(aug.ten_crop, static_argnums=1)(x, (h, w)))
    assert five.shape == (5, 2, h, w, 3) and ten.shape == (10, 2, h, w, 3)
    for j, r in enumerate(refs):
        np.testing.assert_array_equal(five[j], r)
        np.testing.assert_array_equal(ten[j], r)
        np.testing.assert_array_equal(ten[5 + j], r[:, :, ::-1])
    with pytest.raises(ValueError, match="fit"):
        aug.center_crop(x, 10)


MASK_OPS = {
    "horizontal_flip": {},
    "random_crop": {"padding": 2, "mode": "reflect"},
    "random_crop_zero": {"padding": 2},
    "translate": {"max_shift": 3},
}


@pytest.mark.parametrize("name", MASK_OPS)
def test_masks_follow_images_exactly_for_integer_ops(name):
    labels = jnp.asarray(np.random.default_rng(0).integers(1, 5, (B, H, W)), jnp.int32)
    img = labels.astype(jnp.float32)[..., None].repeat(2, -1)
    fn = aug.AUGMENTATIONS[name.replace("_zero", "")]
    key = jax.random.key(3)
    (y, m), y2 = _run_many(  # y2: same params without masks
        (fn, key, img, labels, MASK_OPS[name]), (fn, key, img, None, MASK_OPS[name])
    )
    assert m.shape == labels.shape and m.dtype == labels.dtype
    np.testing.assert_array_equal(np.asarray(y[..., 0]), np.asarray(m))
    np.testing.assert_array_equal(np.asarray(y2), np.asarray(y))


@pytest.mark.parametrize(
    "name, kwargs", [("rotate", {"degrees": 40.0}), ("zoom", {}), ("affine", {"degrees": 40.0})]
)
def test_masks_use_nearest_with_the_same_params(name, kwargs):
    labels = jnp.asarray(
        np.kron(np.random.default_rng(0).integers(1, 4, (B, 4, 4)), np.ones((1, 4, 4))), jnp.int32
    )  # [B, 16, 16], blocks of 4x4 labels
    onehot = jax.nn.one_hot(labels, 4)  # [B, 16, 16, 4]
    y, m = _run(aug.AUGMENTATIONS[name], base_key(), onehot, masks=labels[..., None], **kwargs)
    assert m.shape == (B, 16, 16, 1) and m.dtype == jnp.int32
    assert set(np.unique(np.asarray(m))) <= {0, 1, 2, 3}  # labels never blended
    covered = np.asarray(y).sum(-1) > 0.999  # pixels fully inside the source image
    agree = np.asarray(jnp.argmax(y, -1) == m[..., 0])[covered]
    assert agree.mean() > 0.9
    _, m_other = _run(
        aug.AUGMENTATIONS[name], jax.random.key(9), onehot, masks=labels[..., None], **kwargs
    )
    if name in ("rotate", "affine"):  # a different key rotates by other angles
        assert np.asarray(m_other != m).mean() > 0.05
