"""Tests that kill mutants of jaxdl.data.augment.pca_lighting which the other tests let survive.

Found by ``python -m mutation.run --modules pca_lighting`` (docs/testing.md). They pin
the default ``std`` (the paper's 0.1) of both `pca_lighting` and `lighting_alphas`, that
a ``std`` other than 0.1 reaches the draw, that ``std = 0`` is allowed (the identity)
while a negative or NaN one is refused, that each of the two PCA arrays is checked on
its own (missing, or of the wrong shape), that masks are checked, that every error
message is exact and names ``pca_lighting``, and that `lighting_shift` forms
``alpha_i lambda_i`` in float32 even from half-precision inputs. References: AlexNet's
formula written out in float64 NumPy (eigen-decomposition of the RGB covariance of
hand-made training pixels, then ``x + V (alpha * lambda)``), the alphas drawn here as
documented (``std * N(0, 1)`` from key i of ``jax.random.split(key, B)``, not with the
library's `lighting_alphas`), and the error messages written out word for word.
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import augment as aug

_RNG = np.random.default_rng(11)
# Training pixels with correlated channels ([0, 1] scale) and a batch of 4 images 3 x 2.
_MIX = np.array([[1.0, 0.6, 0.3], [0.0, 0.8, 0.2], [0.0, 0.0, 0.5]])
_PIXELS = np.clip(0.5 + 0.2 * _RNG.normal(size=(400, 3)) @ _MIX, 0, 1)
_X = _RNG.uniform(0, 1, (4, 3, 2, 3)).astype(np.float32)
_X8 = np.round(_X * 255).astype(np.uint8)


def _numpy_pca():
    """Eigenvalues (decreasing) and eigenvectors (columns) of the pixels' covariance."""
    lam, vecs = np.linalg.eigh(np.cov(_PIXELS, rowvar=False, bias=True))
    return lam[::-1].copy(), vecs[:, ::-1].copy()


def _draws(key, n, channels):
    """``N(0, 1)`` draws of ``channels`` values from key i of ``jax.random.split(key, n)``."""

    @jax.jit  # one compiled program (eager execution would compile every op on its own)
    def draws(key):
        return [jax.random.normal(k, (channels,)) for k in jax.random.split(key, n)]

    return np.stack([np.asarray(a, np.float64) for a in draws(key)])


def _lighting(x, alphas, lam, vecs):
    """AlexNet: every pixel of image b gets ``V (alpha_b * lambda)``, float64."""
    shift = (vecs @ (alphas * lam).T).T  # [B, C]
    return np.asarray(x, np.float64) + shift[:, None, None, :]


def test_the_default_std_is_the_papers_0_1():
    lam, vecs = _numpy_pca()
    fn = jax.jit(
        lambda k, x: (
            aug.pca_lighting(k, x, eigenvalues=lam, eigenvectors=vecs),
            aug.lighting_alphas(k, x),
        )
    )
    y, alphas = fn(jax.random.key(5), jnp.asarray(_X))
    want = 0.1 * _draws(jax.random.key(5), 4, 3)
    np.testing.assert_allclose(np.asarray(alphas), want, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(np.asarray(y), _lighting(_X, want, lam, vecs), atol=1e-6)
    assert np.abs(np.asarray(y) - _X).max() > 1e-3  # the shift is visible at this tolerance


def test_std_reaches_the_draw_and_zero_is_the_identity():
    lam, vecs = 4 * np.array([0.3, 0.1, 0.02]), np.eye(3)[:, [2, 0, 1]]  # a hand PCA
    fn = jax.jit(
        lambda k, x, x8: (
            aug.pca_lighting(k, x, 0.5, lam, vecs),
            aug.pca_lighting(k, x, 0.0, lam, vecs),
            aug.pca_lighting(k, x8, 0.0, lam, vecs),
        )
    )
    y, same, same8 = fn(jax.random.key(6), jnp.asarray(_X), jnp.asarray(_X8))
    want = _lighting(_X, 0.5 * _draws(jax.random.key(6), 4, 3), lam, vecs)
    np.testing.assert_allclose(np.asarray(y), want, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(same), _X)
    np.testing.assert_array_equal(np.asarray(same8), _X8)


@pytest.mark.parametrize("std", [-0.1, -1e-9, math.nan])
def test_a_negative_or_nan_std_is_refused_word_for_word(std):
    lam, vecs = _numpy_pca()
    msg = f"pca_lighting: std must be >= 0 (the paper uses 0.1), got {std}"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        aug.pca_lighting(jax.random.key(0), _X, std, lam, vecs)


@pytest.mark.parametrize("missing", ["eigenvalues", "eigenvectors", "both"])
def test_each_missing_pca_array_is_refused_word_for_word(missing):
    lam, vecs = _numpy_pca()
    lam = None if missing in ("eigenvalues", "both") else lam
    vecs = None if missing in ("eigenvectors", "both") else vecs
    msg = (
        "pca_lighting needs the training set's pixel PCA: pass eigenvalues and "
        "eigenvectors from jaxdl.data.preprocess.rgb_pca(train_images) (the trainer "
        "does this for data.augment entries 'pca_lighting(...)')."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        aug.pca_lighting(jax.random.key(0), _X, 0.1, lam, vecs)


@pytest.mark.parametrize(
    "lam_shape, vec_shape", [((2,), (3, 3)), ((3,), (2, 3)), ((3,), (3, 2)), ((3, 1), (3, 3))]
)
def test_each_pca_shape_is_checked_on_its_own_word_for_word(lam_shape, vec_shape):
    lam, vecs = np.full(lam_shape, 0.1), np.ones(vec_shape)
    msg = (
        "pca_lighting: images have 3 channels, so eigenvalues must be [3] and eigenvectors "
        f"[3, 3]; got {lam_shape} and {vec_shape}. Compute them with rgb_pca on the same images."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        aug.pca_lighting(jax.random.key(0), _X, 0.1, lam, vecs)


def test_the_input_checks_name_pca_lighting_and_cover_masks():
    lam, vecs = _numpy_pca()
    key = jax.random.key(0)
    msg = "pca_lighting: images must be NHWC [B, H, W, C], got shape (3, 2, 3)"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        aug.pca_lighting(key, _X[0], 0.1, lam, vecs)
    msg = "pca_lighting: images must be float or integer (e.g. uint8), got bool"
    with pytest.raises(TypeError, match=f"^{re.escape(msg)}$"):
        aug.pca_lighting(key, _X > 0.5, 0.1, lam, vecs)
    bad_masks = np.zeros((4, 3, 3), np.int32)  # W = 3, the images' is 2
    msg = (
        "pca_lighting: masks must be [B, H, W] or [B, H, W, K] matching images (4, 3, 2), "
        "got (4, 3, 3)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        aug.pca_lighting(key, _X, 0.1, lam, vecs, masks=bad_masks)


def test_lighting_shift_multiplies_in_float32_even_from_half_precision():
    """float16 alphas and eigenvalues: each product alpha_i lambda_i is exact in float32
    (11-bit significands), but not in float16, whose rounding (2^-11) would show."""
    alphas = np.array([[0.1234, -0.0567, 0.0891], [-0.2011, 0.0333, -0.1517]], np.float16)
    lam = np.array([0.3141, 0.0719, 0.0127], np.float16)
    q, _ = np.linalg.qr(np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [2.0, 0.1, -1.0]]))
    vecs = q.astype(np.float32)
    shift = jax.jit(aug.lighting_shift)(jnp.asarray(alphas), jnp.asarray(lam), vecs)
    assert shift.dtype == jnp.float32
    a, l, v = (np.asarray(t, np.float64) for t in (alphas, lam, vecs))
    want = np.stack([sum(a[b, i] * l[i] * v[:, i] for i in range(3)) for b in range(2)])
    np.testing.assert_allclose(np.asarray(shift), want, rtol=1e-6, atol=1e-7)
