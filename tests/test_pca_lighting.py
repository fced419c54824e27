"""AlexNet's PCA colour augmentation: the pixel PCA and the per-image shift vs float64 numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import augment as aug
from jaxdl.data import preprocess
from train import augment_spec


def base_key():
    """``jax.random.key(3)``, made per call: a JAX array made at import would start the
    backend while pytest collects (mutation testing forks test processes after that)."""
    return jax.random.key(3)


def _correlated_images(n=300, size=64, seed=0) -> np.ndarray:
    """uint8 RGB images with strongly correlated channels (like natural images)."""
    rng = np.random.default_rng(seed)
    mix = np.array([[0.9, 0.3, 0.1], [0.8, 0.5, -0.2], [0.6, 0.2, 0.4]])
    z = rng.normal(size=(n, size, size, 3)) @ mix.T
    return np.clip(128 + 40 * z, 0, 255).astype(np.uint8)


def _np_pca(images):
    px = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    cov = np.cov(px, rowvar=False, bias=True)  # population covariance, as documented
    lam, vecs = np.linalg.eigh(cov)
    return lam[::-1], vecs[:, ::-1]


def test_rgb_pca_matches_numpy_eigendecomposition():
    images = _correlated_images()  # 1.2M pixels: more than one 2^20-pixel chunk
    lam, vecs = preprocess.rgb_pca(images)
    want_lam, want_vecs = _np_pca(images)
    np.testing.assert_allclose(lam, want_lam, rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(lam) <= 0)  # decreasing
    # Eigenvectors up to sign: |<v_i, w_i>| = 1, and orthonormal columns.
    np.testing.assert_allclose(np.abs(np.sum(vecs * want_vecs, axis=0)), 1.0, atol=1e-9)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-12)
    # Reconstructs the covariance.
    px = images.reshape(-1, 3).astype(np.float64) / 255.0
    np.testing.assert_allclose(vecs @ np.diag(lam) @ vecs.T, np.cov(px.T, bias=True), atol=1e-12)


def _np_lighting(x, alphas, lam, vecs):
    """I_xy + sum_i alpha_i lambda_i p_i at every pixel, per image (float64)."""
    out = np.asarray(x, np.float64).copy()
    for b in range(len(out)):
        shift = sum(alphas[b, i] * lam[i] * vecs[:, i] for i in range(len(lam)))
        out[b] += shift
    return out


def _independent_alphas(key, n, channels, std):
    """The documented draw, built here: key i of ``jax.random.split(key, n)`` gives the
    ``channels`` alphas of image i, ``std * N(0, 1)``."""

    @jax.jit  # one compiled program (eager execution would compile every op on its own)
    def draws(key):
        return [jax.random.normal(k, (channels,)) for k in jax.random.split(key, n)]

    return np.stack([std * np.asarray(a, np.float64) for a in draws(key)])


def test_shift_equals_the_paper_formula_for_the_same_alphas():
    images = _correlated_images(n=8, size=8, seed=1)
    lam, vecs = _np_pca(images)  # numpy's eigendecomposition, not the library's rgb_pca
    x = jnp.asarray(images, jnp.float32) / 255.0
    fn = jax.jit(lambda k, x: aug.pca_lighting(k, x, 0.1, lam, vecs))
    y = np.asarray(fn(base_key(), x))
    alphas = _independent_alphas(base_key(), 8, 3, 0.1)
    assert np.unique(alphas[:, 0]).size == 8  # per image
    # The documented draw is what the library's helper returns too.
    library_alphas = jax.jit(lambda k, x: aug.lighting_alphas(k, x, 0.1))(base_key(), x)
    np.testing.assert_allclose(np.asarray(library_alphas), alphas, rtol=1e-6)
    np.testing.assert_allclose(y, _np_lighting(np.asarray(x), alphas, lam, vecs), atol=1e-6)
    # The same offset at every pixel of an image.
    d = y - np.asarray(x)
    np.testing.assert_allclose(d, np.broadcast_to(d[:, :1, :1], d.shape), atol=1e-6)
    # uint8: offsets in 255 units, rounded and clipped.
    y8 = np.asarray(
        jax.jit(lambda k, x: aug.pca_lighting(k, x, 0.1, lam, vecs))(base_key(), images)
    )
    want8 = _np_lighting(images, alphas * 255.0, lam, vecs)
    assert y8.dtype == np.uint8
    assert np.max(np.abs(y8.astype(np.float64) - np.clip(np.round(want8), 0, 255))) <= 1


def test_alpha_statistics_over_many_images():
    n = 20000
    x = jnp.zeros((n, 1, 1, 3), jnp.float32)
    # A hand PCA: eigenvalues (1, 1/2, 1/4) along the columns of a rotation.
    lam = np.array([1.0, 0.5, 0.25])
    vecs, _ = np.linalg.qr(np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [2.0, 0.1, -1.0]]))
    y = np.asarray(jax.jit(lambda k, x: aug.pca_lighting(k, x, 0.1, lam, vecs))(base_key(), x))
    # The alphas the op drew, recovered from its output: shift = V (alpha * lam).
    a = (y.reshape(n, 3).astype(np.float64) @ vecs) / lam  # [n, 3]
    # 5 standard errors: mean s.e. 0.1/sqrt(n) = 7e-4, std s.e. 0.1/sqrt(2n) = 5e-4.
    np.testing.assert_array_less(np.abs(a.mean(0)), 5 * 0.1 / np.sqrt(n))
    np.testing.assert_array_less(np.abs(a.std(0) - 0.1), 5 * 0.1 / np.sqrt(2 * n))
    corr = np.corrcoef(a.T)[np.triu_indices(3, 1)]  # independent components
    np.testing.assert_array_less(np.abs(corr), 5 / np.sqrt(n))
    # Gaussian, not merely zero-mean with std 0.1: kurtosis 3 (s.e. sqrt(24 / n) = 0.035)
    # and P(|alpha| < std) = 0.6827 (s.e. 0.0033).
    kurtosis = np.mean((a - a.mean(0)) ** 4, 0) / a.var(0) ** 2
    np.testing.assert_array_less(np.abs(kurtosis - 3.0), 5 * np.sqrt(24 / n))
    inside = np.mean(np.abs(a) < 0.1, 0)
    np.testing.assert_array_less(np.abs(inside - 0.682689), 5 * np.sqrt(0.6827 * 0.3173 / n))


def test_config_spec_gets_the_pca_and_bad_input_is_named():
    images = _correlated_images(n=4, size=8, seed=2)
    lam, vecs = preprocess.rgb_pca(images)
    spec = "pca_lighting(std=0.1), horizontal_flip(p=0.0)"
    assert augment_spec.needs_pca(spec) and not augment_spec.needs_pca("horizontal_flip()")
    fn = augment_spec.from_config(spec, pca=(lam, vecs))
    x = jnp.asarray(images, jnp.float32) / 255.0
    y = np.asarray(jax.jit(fn)(base_key(), x))
    assert y.shape == x.shape and not np.allclose(y, x)
    with pytest.raises(ValueError, match="rgb_pca"):
        augment_spec.from_config("pca_lighting()")(base_key(), x)
    with pytest.raises(ValueError, match="3 channels"):
        aug.pca_lighting(base_key(), x, 0.1, lam[:2], vecs[:2, :2])
    masks = jnp.ones(x.shape[:3], jnp.int32)
    out, m = aug.pca_lighting(base_key(), x, 0.1, lam, vecs, masks=masks)
    assert m is masks


def test_trainer_computes_the_pca_for_the_spec(tmp_path):
    from train import classification
    from train.configs import mnist_mlp
    from train.validate import validate

    c = mnist_mlp.get_config()
    c.data.train_split, c.data.val_split, c.data.test_split = "train[:128]", "", ""
    c.data.augment = "pca_lighting(std=0.1)"  # 1 grey channel: a 1x1 "PCA" (the variance)
    c.model.kwargs.width = 8
    c.train.batch_size = c.train.eval_batch_size = 64
    c.train.max_steps, c.train.progress = 1, False
    validate(c)
    assert int(classification.run(c, tmp_path).state.step) == 1
