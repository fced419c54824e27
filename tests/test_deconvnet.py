"""DeconvNet: switches and unpooling, transposed-conv projection, shapes, receptive fields.

References are float64 numpy loops written here from the definitions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.viz import deconvnet as dn


def _np_pool_switches(x, k, s, p):
    """Loop reference: max and flat argmax index (row * W + col) of every window."""
    B, H, W, C = x.shape
    ho, wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    pooled = np.full((B, ho, wo, C), -np.inf)
    sw = np.zeros((B, ho, wo, C), np.int64)
    for b in range(B):
        for i in range(ho):
            for j in range(wo):
                for c in range(C):
                    for di in range(k):
                        for dj in range(k):
                            r, q = i * s + di - p, j * s + dj - p
                            if 0 <= r < H and 0 <= q < W and x[b, r, q, c] > pooled[b, i, j, c]:
                                pooled[b, i, j, c] = x[b, r, q, c]
                                sw[b, i, j, c] = r * W + q
    return pooled, sw


@pytest.mark.parametrize(("k", "s", "p", "size"), [(3, 2, 0, 9), (2, 2, 0, 8), (3, 2, 1, 7)])
def test_switches_and_unpooling_against_numpy(k, s, p, size):
    rng = np.random.default_rng(k + s + p)
    x = rng.normal(size=(2, size, size, 3))
    # Jitted: one compile per case (eager execution would compile every op on its own).
    pooled, sw = jax.jit(dn.max_pool_with_switches, static_argnums=(1, 2, 3))(
        jnp.asarray(x, jnp.float32), k, s, p
    )
    ref_pooled, ref_sw = _np_pool_switches(x, k, s, p)
    np.testing.assert_allclose(np.asarray(pooled), ref_pooled, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(sw), ref_sw)
    y = rng.normal(size=ref_pooled.shape)
    want = np.zeros_like(x)  # unpool: each value back at its switch, overlaps summed
    for b, i, j, c in np.ndindex(*y.shape):
        r, q = divmod(ref_sw[b, i, j, c], size)
        want[b, r, q, c] += y[b, i, j, c]
    got = jax.jit(dn.unpool, static_argnums=2)(jnp.asarray(y, jnp.float32), sw, (size, size))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)
    if k > s:  # overlapping pooling: some input position won two windows
        assert np.any(np.bincount(ref_sw[0, ..., 0].ravel()) > 1)


def test_transposed_conv_projection_against_numpy():
    """Stage 0 alone: the projection is the chosen activation times its filter, placed
    at (i s - p, j s - p) and cropped to the image (the transpose of the convolution)."""
    rng = np.random.default_rng(0)
    k, s, p, C, F = 3, 2, 1, 2, 4
    kernel = rng.normal(size=(k, k, C, F))
    params = {"c": {"conv": {"kernel": jnp.asarray(kernel, jnp.float32)}}}
    stages = (dn.Stage("c", s, p),)
    x = rng.normal(size=(3, 9, 9, C))
    proj, act, pos = dn.project(params, stages, jnp.asarray(x, jnp.float32), 0, 2)
    assert proj.shape == x.shape
    # Forward reference (no bias), ReLU, argmax of map 2.
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    ho = (9 + 2 * p - k) // s + 1
    feats = np.zeros((3, ho, ho, F))
    for i in range(ho):
        for j in range(ho):
            patch = xp[:, i * s : i * s + k, j * s : j * s + k, :]
            feats[:, i, j] = np.einsum("bhwc,hwcf->bf", patch, kernel)
    feats = np.maximum(feats, 0)
    for b in range(3):
        i, j = np.unravel_index(np.argmax(feats[b, ..., 2]), (ho, ho))
        a = feats[b, i, j, 2]
        want = np.zeros((9 + 2 * p, 9 + 2 * p, C))
        want[i * s : i * s + k, j * s : j * s + k] += a * kernel[..., 2]
        want = want[p : p + 9, p : p + 9]
        np.testing.assert_allclose(np.asarray(proj[b]), want, atol=1e-4)
        assert float(act[b]) == pytest.approx(a, rel=1e-5)
        assert tuple(np.asarray(pos[b])) == (i, j)


def _small_stages_and_params(rng):
    stages = (
        dn.Stage("conv1", 2, 1, lrn=True, pool=(3, 2, 1)),
        dn.Stage("conv2", 2, 0, lrn=True, pool=(3, 2, 1)),
        dn.Stage("conv3", 1, 1),
        dn.Stage("conv4", 1, 1),
    )
    shapes = {
        "conv1": (7, 7, 1, 8),
        "conv2": (5, 5, 8, 12),
        "conv3": (3, 3, 12, 6),
        "conv4": (3, 3, 6, 5),
    }
    params = {
        n: {
            "conv": {
                "kernel": jnp.asarray(rng.normal(0, 0.3, s), jnp.float32),
                "bias": jnp.zeros(s[-1]),
            }
        }  # fmt: skip
        for n, s in shapes.items()
    }
    return stages, params, [s[0] for s in shapes.values()]


def test_projection_shapes_and_support_inside_the_receptive_field():
    rng = np.random.default_rng(1)
    stages, params, ks = _small_stages_and_params(rng)
    x = jnp.asarray(rng.normal(size=(4, 64, 64, 1)), jnp.float32)
    # One compiled forward (eager execution would compile every op on its own).
    forward = jax.jit(lambda p, x: [(r.features, r.switches) for r in dn.forward(p, stages, x)])
    records = forward(params, x)
    shapes = [features.shape for features, _ in records]
    assert shapes == [(4, 30, 30, 8), (4, 6, 6, 12), (4, 3, 3, 6), (4, 3, 3, 5)]
    assert records[0][1].shape == (4, 15, 15, 8) and records[2][1] is None
    proj, act, pos = dn.project(params, stages, x, 3, 3)  # back through a pool-less stage
    assert proj.shape == (4, 64, 64, 1) and act.shape == (4,) and pos.shape == (4, 2)
    for b in range(4):
        top, left, bottom, right = dn.receptive_field(stages, ks, 3, *map(int, pos[b]))
        # Extent, by r <- (r - 1) s + k from the unit back: 3, 5, 11, 25, 51, 107 pixels.
        assert bottom - top + 1 == 107 and right - left + 1 == 107
        nz = np.argwhere(np.abs(np.asarray(proj[b, ..., 0])) > 0)
        if float(act[b]) > 0:
            assert len(nz) > 0
            assert nz[:, 0].min() >= top and nz[:, 0].max() <= bottom
            assert nz[:, 1].min() >= left and nz[:, 1].max() <= right
    top = dn.top_k_images(params, stages, x, 3, 3, k=2, batch_size=3)
    np.testing.assert_array_equal(top, np.argsort(-np.asarray(act))[:2])


def test_receptive_field_of_a_single_conv_and_of_a_pool():
    one = (dn.Stage("a", 2, 1),)
    assert dn.receptive_field(one, [3], 0, 4, 0) == (7, -1, 9, 1)
    two = (dn.Stage("a", 1, 0, pool=(2, 2, 0)), dn.Stage("b", 1, 0))
    # b's unit (0, 0) sees a 3x3 window of pooled a, i.e. 6x6 of a, i.e. 7x7 pixels (a: 2x2).
    assert dn.receptive_field(two, [2, 3], 1, 0, 0) == (0, 0, 6, 6)


def test_forward_matches_zfnet_feature_maps():
    model = models.create("zfnet", num_classes=10, hidden_features=8, widths=(8, 8, 8, 8, 8))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 64, 64, 1)), jnp.float32)
    # Variables drawn on the host (kernels N(0, 2 / fan_in), biases N(0, 0.1)): no init
    # to compile; the model and the DeconvNet forward in one compiled program.
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(1), x, train=False))
    variables = jax.tree_util.tree_map_with_path(
        lambda path, s: rng.normal(
            0, np.sqrt(2 / np.prod(s.shape[:-1])) if path[-1].key == "kernel" else 0.1, s.shape
        ).astype(np.float32),
        shapes,
    )
    stages = dn.alexnet_stages(model)
    assert stages[0] == dn.Stage("conv1", 2, 1, True, (3, 2, 1))

    @jax.jit
    def conv3_and_conv5(v, x):  # conv3 and conv5 outputs (after ReLU; no LRN there)
        _, inter = model.apply(v, x, train=False, capture_intermediates=True)
        records = dn.forward(v["params"], stages, x)
        refs = [inter["intermediates"][f"conv{i + 1}"]["__call__"][0] for i in (2, 4)]
        return [records[i].features for i in (2, 4)], refs

    for got, ref in zip(*conv3_and_conv5(variables, x), strict=True):
        assert np.max(np.abs(np.asarray(ref))) > 0.1  # a non-degenerate comparison
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), atol=1e-4)


def test_crop_field_zero_fills_outside_and_signed_display_scale():
    img = np.arange(5 * 6, dtype=np.float64).reshape(5, 6, 1) + 1
    crop = dn.crop_field(img, (-1, 4, 2, 7))  # rows -1..2, cols 4..7 of a 5x6 image
    want = np.zeros((4, 4, 1))
    want[1:, :2] = img[0:3, 4:6]
    np.testing.assert_array_equal(crop, want)
    shown = dn.to_uint8_signed(np.array([[-2.0, 0.0, 1.0]]))
    np.testing.assert_array_equal(shown, [[0, 128, 191]])  # 127.5 * (1 + x / max|x|)
