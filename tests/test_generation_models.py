"""Generators and discriminators: shapes, parameter counts, StyleGAN's modulation, PatchGAN's
receptive field, Sobel edges, and the latent/sample-grid tools."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from jaxdl.models import dcgan, pix2pix, stylegan
from jaxdl.models.gan import create_gan
from jaxdl.viz import samples as viz

KEY = jax.random.PRNGKey(0)
RNGS = {"params": KEY, "noise": KEY, "dropout": KEY}


def _count(variables):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))


CASES = [
    ("mlp_gan", (28, 28, 1), {"hidden": (32,)}, {"hidden": (16,)}, (1,)),
    ("dcgan", (28, 28, 1), {"base_width": 8}, {"base_width": 8}, (1,)),
    ("dcgan", (32, 32, 3), {"base_width": 8}, {"base_width": 8}, (1,)),
    (
        "stylegan",
        (32, 32, 1),
        {"w_dim": 16, "base_width": 4, "max_width": 8},
        {"base_width": 4},
        (1,),
    ),
    (
        "pix2pix",
        (32, 32, 1),
        {"depth": 2, "base_width": 4},
        {"base_width": 4, "num_layers": 2},
        (8, 8, 1),
    ),
    (
        "pix2pix",
        (28, 28, 3),
        {"depth": 2, "base_width": 4},
        {"base_width": 4, "num_layers": 1},
        (14, 14, 1),
    ),
]


@pytest.mark.parametrize(("name", "shape", "gk", "dk", "d_out"), CASES)
def test_every_generator_and_discriminator_shape(name, shape, gk, dk, d_out):
    g, d = create_gan(name, shape, latent_dim=10, generator_kwargs=gk, discriminator_kwargs=dk)
    g_in = jnp.zeros((2, *shape[:2], 1)) if name == "pix2pix" else jnp.ones((2, 10))
    # Shapes only (eval_shape traces, computes nothing): fast for every model.
    x, gv = jax.eval_shape(lambda: g.init_with_output(RNGS, g_in, train=False))
    assert x.shape == (2, *shape) and x.dtype == jnp.float32
    x_train, _ = jax.eval_shape(
        lambda v: g.apply(v, g_in, train=True, rngs=RNGS, mutable=["batch_stats"]), gv
    )
    assert x_train.shape == (2, *shape)
    d_in = jnp.zeros((2, *shape[:2], shape[2] + (1 if name == "pix2pix" else 0)))
    logits, _ = jax.eval_shape(lambda: d.init_with_output(RNGS, d_in, train=False))
    assert logits.shape == (2, *d_out) and logits.dtype == jnp.float32


def test_generator_output_is_in_tanh_range():
    g, _ = create_gan("dcgan", (28, 28, 1), latent_dim=10, generator_kwargs={"base_width": 4})
    x, _ = jax.jit(lambda z: g.init_with_output(KEY, z, train=False))(
        10 * jax.random.normal(KEY, (4, 10))
    )
    assert 0 < float(jnp.max(jnp.abs(x))) <= 1.0


def test_dcgan_64_paper_sizes_and_exact_parameter_counts():
    g = dcgan.DCGANGenerator((64, 64, 3), latent_dim=100, base_width=128)
    x, v = jax.eval_shape(lambda: g.init_with_output(KEY, jnp.zeros((1, 100))))
    assert x.shape == (1, 64, 64, 3)
    # Project 100 -> 4x4x1024 (no bias) + BN; convT 1024->512->256->128 (no bias) + BN;
    # convT 128->3 with bias (Radford et al. fig. 1).
    want = 100 * 16 * 1024 + 2 * 1024
    for cin, cout in ((1024, 512), (512, 256), (256, 128)):
        want += 16 * cin * cout + 2 * cout
    want += 16 * 128 * 3 + 3
    assert _count(v) == want
    d = dcgan.DCGANDiscriminator(base_width=64)
    y, vd = jax.eval_shape(lambda: d.init_with_output(KEY, jnp.zeros((1, 64, 64, 3))))
    assert y.shape == (1, 1)
    want_d = 16 * 3 * 64 + 64  # first conv: bias, no BN
    for cin, cout in ((64, 128), (128, 256), (256, 512)):
        want_d += 16 * cin * cout + 2 * cout
    want_d += 4 * 4 * 512 + 1
    assert _count(vd) == want_d
    assert dcgan.dcgan_start_size(28) == (7, 2)
    with pytest.raises(ValueError, match="halve"):
        dcgan.dcgan_start_size(30)


def _np_conv_same(x, w):
    """float64 'SAME' stride-1 conv: x [H, W, I], w [k, k, I, O] -> [H, W, O]."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, ((p, k - 1 - p), (p, k - 1 - p), (0, 0)))
    H, W = x.shape[:2]
    out = np.zeros((H, W, w.shape[3]))
    for i in range(H):
        for j in range(W):
            out[i, j] = np.einsum("abi,abio->o", xp[i : i + k, j : j + k], w)
    return out


def test_modulated_conv_equals_per_sample_modulated_demodulated_weights():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 5, 3))
    w = jax.random.normal(jax.random.PRNGKey(2), (2, 4))
    for demod in (True, False):
        layer = stylegan.ModulatedConv(6, 3, demodulate=demod)
        y, v = layer.init_with_output(KEY, x, w)
        p = jax.tree.map(lambda a: np.asarray(a, np.float64), v["params"])
        A = p["affine"]
        s = np.asarray(w, np.float64) @ (A["kernel"] / math.sqrt(4)) + A["bias"]  # [B, I]
        weight = p["kernel"] / math.sqrt(3 * 3 * 3)
        for b in range(2):
            wb = weight * s[b][None, None, :, None]  # w'_ijk = s_i w_ijk
            if demod:
                wb = wb / np.sqrt((wb**2).sum(axis=(0, 1, 2)) + 1e-8)
            want = _np_conv_same(np.asarray(x[b], np.float64), wb)
            np.testing.assert_allclose(np.asarray(y[b]), want, rtol=1e-4, atol=1e-4)


def test_stylegan_mapping_synthesis_noise_and_style_mixing():
    kw = dict(latent_dim=8, w_dim=8, base_width=4, max_width=4)
    g = stylegan.StyleGenerator((8, 8, 1), **kw)
    assert g.num_ws == 4  # 4x4 conv, 2 at 8x8, toRGB
    z = jax.random.normal(jax.random.PRNGKey(3), (3, 8))
    v = g.init(RNGS, z)
    gm = stylegan.StyleGenerator((8, 8, 1), mixing_prob=1.0, **kw)
    loud = jax.tree_util.tree_map_with_path(
        lambda path, x: x + 1.0 if "noise_strength" in jax.tree_util.keystr(path) else x, v
    )

    @jax.jit  # one compiled program: eager Flax dispatch is slow on a busy CPU
    def outputs(v, loud, z):
        w, w2 = g.apply(v, jnp.concatenate([z, -z]), method="map")[:, None].reshape(2, 3, 1, 8)
        ws = jnp.broadcast_to(w, (3, 4, 8))
        mixed = ws.at[:, 2:].set(jnp.broadcast_to(w2, (3, 2, 8)))  # styles 2, 3 from w2
        synth = g.apply(v, jnp.concatenate([ws, mixed]), noise=False, method="synthesize")
        zz, k5 = jnp.concatenate([z, z]), {"noise": jax.random.PRNGKey(5)}
        return {
            "a": synth[:3],
            "b": synth[3:],
            "direct": g.apply(v, z, train=False, noise=False),
            # Training mixes styles (probability 1 here).
            "train": gm.apply(v, z, train=True, noise=False, rngs={"noise": KEY}),
            "quiet": g.apply(v, zz, rngs=k5),
            "noisy": g.apply(loud, zz, rngs=k5),
        }

    o = outputs(v, loud, z)
    a = o["a"]
    np.testing.assert_allclose(a, o["direct"], rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(a - o["b"]).max()) > 1e-4  # swapping the fine styles changes it
    assert float(jnp.abs(o["train"] - a).max()) > 1e-4  # mixed styles differ from w alone
    # Noise inputs: no effect at init (strengths 0); with strengths set, per-example noise.
    np.testing.assert_allclose(o["quiet"], jnp.concatenate([a, a]), rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(o["noisy"][:3] - o["noisy"][3:]).max()) > 1e-3
    with pytest.raises(ValueError, match="4 \\* 2\\^n"):
        jax.eval_shape(lambda: stylegan.StyleGenerator((28, 28, 1)).init(RNGS, z))


def test_patchgan_receptive_field_matches_the_formula():
    assert [pix2pix.patch_size(n) for n in (1, 2, 3)] == [16, 34, 70]
    d = pix2pix.PatchDiscriminator(base_width=2, num_layers=2)
    x = jnp.zeros((1, 96, 96, 2))
    v = d.init(KEY, x)
    # Gradient of one central patch logit w.r.t. the input: nonzero on its receptive field.
    grad = jax.jit(jax.grad(lambda x: d.apply(v, x)[0, 12, 12, 0]))(x + 0.1)
    rows = np.nonzero(np.abs(np.asarray(grad)).sum(axis=(0, 2, 3)))[0]
    assert rows.max() - rows.min() + 1 == pix2pix.patch_size(2)


def test_pix2pix_generator_reuses_the_unet():
    g = pix2pix.Pix2PixGenerator(1, depth=2, base_width=4)
    v = jax.eval_shape(lambda: g.init(RNGS, jnp.zeros((1, 16, 16, 1))))
    assert list(v["params"]) == ["UNet_0"]


def test_sobel_edges_match_scipy_gradient_magnitude():
    rng = np.random.default_rng(0)
    img = np.zeros((2, 12, 12, 1), np.uint8)
    img[0, :, 6:] = 200  # vertical step: edges on columns 5 and 6 only
    img[1] = rng.integers(0, 256, (12, 12, 1))
    e = pix2pix.sobel_edges(img, threshold=0.3)
    assert e.shape == (2, 12, 12, 1) and e.dtype == np.uint8
    cols = np.nonzero(e[0, 6, :, 0])[0]
    np.testing.assert_array_equal(cols, [5, 6])
    g = img[1, ..., 0].astype(np.float64)
    mag = np.hypot(
        scipy.ndimage.sobel(g, 0, mode="nearest"), scipy.ndimage.sobel(g, 1, mode="nearest")
    )
    np.testing.assert_array_equal(e[1, ..., 0] > 0, mag > 0.3 * mag.max())
    assert not pix2pix.sobel_edges(np.zeros((1, 4, 4, 1), np.uint8)).any()


def test_create_gan_rejects_unknown_names_and_fields():
    with pytest.raises(ValueError, match="registered"):
        create_gan("vae", (32, 32, 1))
    with pytest.raises(ValueError, match="base_widht"):
        create_gan("dcgan", (32, 32, 1), generator_kwargs={"base_widht": 3})


def test_grids_interpolation_arithmetic_and_nearest_neighbours(tmp_path):
    imgs = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3, 1) * 8
    grid = viz.image_grid(imgs, ncols=2, pad=1, pad_value=7)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1, 1)
    np.testing.assert_array_equal(grid[4:6, 5:8], imgs[3])  # row 1, column 1
    assert (grid[7:9, 5:8] == 7).all()  # missing 6th cell
    path = viz.save_png(grid, tmp_path / "g.png", scale=2)
    assert np.asarray(Image.open(path)).shape == (20, 18)

    z0, z1 = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    t = np.linspace(0, 1, 5)
    sl = viz.slerp(z0, z1, t)
    np.testing.assert_allclose(sl[0], z0, atol=1e-12)
    np.testing.assert_allclose(sl[-1], z1, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(sl, axis=1), 3.0)  # stays on the circle
    np.testing.assert_allclose(sl[2], 3 * np.array([1, 1]) / np.sqrt(2))
    np.testing.assert_allclose(viz.lerp(z0, z1, t)[2], [1.5, 1.5])
    rows = viz.interpolation_latents(np.stack([z0, z0]), np.stack([z1, -z0]), steps=4)
    assert rows.shape == (8, 2)
    np.testing.assert_allclose(rows[5], viz.lerp(z0, -z0, np.array([1 / 3]))[0], atol=1e-6)

    A, B, C = np.ones((3, 2)), np.full((2, 2), 2.0), np.array([[0.0, 4.0]])
    np.testing.assert_allclose(viz.latent_arithmetic([(1, A), (-1, B), (1, C)]), [-1.0, 3.0])

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (300, 4, 4, 1), dtype=np.uint8)
    q = ref[[7, 123]].astype(np.int64) + rng.integers(-3, 4, (2, 4, 4, 1))
    idx, d2 = viz.nearest_neighbours(q, ref, k=3, chunk=64)
    brute = ((q.reshape(2, 1, -1) - ref.reshape(1, 300, -1).astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_array_equal(idx, np.argsort(brute, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(d2, np.sort(brute, axis=1)[:, :3], rtol=1e-5)
    panel = viz.neighbour_panel(ref[:2], ref, k=2)
    assert panel.shape == (2 * 5 + 1, 4 * 5 + 1, 1)
    np.testing.assert_array_equal(panel[1:5, 11:15], ref[0])  # a training image is its own NN
