"""Classifier-FID against independent references.

- The Frechet distance of sample statistics vs ``scipy.linalg.sqrtm`` in float64, on small
  Gaussian samples with known means and covariances, and vs the closed form for
  diagonal covariances (``sum (m1 - m2)^2 + (sqrt(s1) - sqrt(s2))^2``).
- The feature extraction vs numpy: a classifier whose feature layer is the identity, so
  the features are the prepared images themselves: zero padding split between both
  sides (the odd pixel at the bottom/right), then ``(x / 255 - mean) / std``.
"""

import flax.linen as nn
import jax
import numpy as np
import pytest
import scipy.linalg

from jaxdl.training import fid


def _np_frechet(x1, x2):
    """float64 reference: sample mean, unbiased covariance, scipy's matrix square root."""
    m1, m2 = x1.mean(0), x2.mean(0)
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    root = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2.0 * root)


def test_frechet_distance_of_gaussian_samples_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    mean1, mean2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, 2.0])
    a1 = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.2, -0.3, 0.5]])
    a2 = np.array([[2.0, 0.0, 0.0], [-0.5, 0.7, 0.0], [0.1, 0.4, 1.2]])
    x1 = mean1 + rng.standard_normal((200, 3)) @ a1.T  # covariance a1 a1^T
    x2 = mean2 + rng.standard_normal((300, 3)) @ a2.T
    got = fid.frechet_distance(fid.feature_stats(x1), fid.feature_stats(x2))
    assert got == pytest.approx(_np_frechet(x1, x2), rel=1e-10)
    # Symmetric, and zero for a sample against itself.
    assert fid.frechet_distance(fid.feature_stats(x2), fid.feature_stats(x1)) == pytest.approx(
        got, rel=1e-9
    )
    same = fid.frechet_distance(fid.feature_stats(x1), fid.feature_stats(x1))
    assert same == pytest.approx(0.0, abs=1e-9)
    # The samples estimate the population distance (known means and covariances).
    c1, c2 = a1 @ a1.T, a2 @ a2.T
    population = np.sum((mean1 - mean2) ** 2) + np.trace(
        c1 + c2 - 2.0 * np.real(scipy.linalg.sqrtm(c1 @ c2))
    )
    assert got == pytest.approx(population, rel=0.25)


def test_frechet_distance_diagonal_closed_form_from_samples():
    rng = np.random.default_rng(1)
    # Independent coordinates: sample covariances are near diagonal, so use the exact
    # diagonal statistics: FID = sum (m1 - m2)^2 + (sqrt(v1) - sqrt(v2))^2.
    m1, m2 = np.array([1.0, -2.0, 0.0, 3.0]), np.array([0.0, 0.5, 0.0, 3.5])
    v1, v2 = np.array([0.25, 4.0, 1.0, 9.0]), np.array([1.0, 1.0, 0.01, 2.25])
    want = np.sum((m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2)
    stats = [fid.FeatureStats(m, np.diag(v), 10) for m, v in ((m1, v1), (m2, v2))]
    assert fid.frechet_distance(*stats) == pytest.approx(want, rel=1e-12)
    # Standardized samples with exactly these means and (diagonal) covariances.
    z = rng.standard_normal((64, 4))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    x1, x2 = m1 + z * np.sqrt(v1), m2 + z[::-1] * np.sqrt(v2)
    np.testing.assert_allclose(np.cov(x1, rowvar=False), np.diag(v1), atol=1e-12)
    np.testing.assert_allclose(np.cov(x2, rowvar=False), np.diag(v2), atol=1e-12)
    got = fid.frechet_distance(fid.feature_stats(x1), fid.feature_stats(x2))
    assert got == pytest.approx(want, rel=1e-9)


class _Identity(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x


class _Classifier(nn.Module):
    """Its 'F6' layer passes the prepared images through: the features are the input."""

    @nn.compact
    def __call__(self, x, train=False):
        h = _Identity(name="F6")(x)
        return nn.Dense(3, name="output")(h.reshape(h.shape[0], -1))


def _np_features(images, mean, std, pad_to):
    """numpy: centre the image in a zero canvas (odd pixel bottom/right), standardize."""
    n, H, W, C = images.shape
    top, left = (pad_to - H) // 2, (pad_to - W) // 2
    canvas = np.zeros((n, pad_to, pad_to, C), np.float64)
    canvas[:, top : top + H, left : left + W] = images
    return ((canvas / 255.0 - mean) / std).reshape(n, -1)


def test_classifier_features_pad_both_sides_and_subtract_the_mean():
    rng = np.random.default_rng(2)
    images = rng.integers(1, 256, (5, 5, 4, 2), dtype=np.uint8)  # no zero pixel
    mean, std = np.array([0.3, 0.6]), np.array([0.2, 0.5])
    pad_to = 8  # rows: 1 on top, 2 at the bottom; columns: 2 and 2
    model = _Classifier()
    variables = model.init(jax.random.PRNGKey(0), np.zeros((1, pad_to, pad_to, 2)))
    feats = fid.classifier_features(
        model.apply, variables, "F6", mean, std, pad_to=pad_to, batch_size=4
    )
    got = feats(images)
    want = _np_features(images, mean, std, pad_to)
    assert got.shape == want.shape == (5, pad_to * pad_to * 2) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # Every padding pixel is (0 - mean) / std: the mean is subtracted there too.
    grid = got.reshape(5, pad_to, pad_to, 2)
    border = np.ones((pad_to, pad_to), bool)
    border[1:6, 2:6] = False  # the image: rows 1..5, columns 2..5
    np.testing.assert_allclose(
        grid[:, border], np.broadcast_to(-mean / std, grid[:, border].shape), rtol=1e-6
    )
    # Unpadded images (pad_to 0) are only standardized.
    plain = fid.classifier_features(model.apply, variables, "F6", mean, std, batch_size=4)
    sq = rng.integers(0, 256, (3, pad_to, pad_to, 2), dtype=np.uint8)
    np.testing.assert_allclose(
        plain(sq), ((sq / 255.0 - mean) / std).reshape(3, -1), rtol=1e-6, atol=1e-6
    )
