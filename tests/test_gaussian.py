"""The Gaussian image model: fit, eigen-images, sampling statistics, PPCA log-likelihood."""

import math

import jax
import numpy as np
import pytest
import scipy.stats

from jaxdl.models import gaussian


def _data(n=4000, seed=0):
    """Correlated Gaussian 'images' [n, 2, 3, 1] with a known covariance."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(6, 6))
    cov = A @ A.T + 0.5 * np.eye(6)
    mu = rng.normal(size=6)
    x = rng.multivariate_normal(mu, cov, size=n)
    return x.reshape(n, 2, 3, 1), mu, cov


def test_fit_recovers_sample_mean_and_covariance_and_sorted_eigenvectors():
    x, _, _ = _data()
    m = gaussian.fit_gaussian(x)
    flat = x.reshape(len(x), -1)
    np.testing.assert_allclose(m.mean, flat.mean(0), atol=1e-12)
    cov = np.cov(flat, rowvar=False)  # numpy's unbiased covariance
    E, lam = m.components, m.eigenvalues
    np.testing.assert_allclose(E @ np.diag(lam) @ E.T, cov, atol=1e-10)  # Sigma = E L E^T
    np.testing.assert_allclose(E.T @ E, np.eye(6), atol=1e-10)  # orthonormal eigen-images
    assert np.all(np.diff(lam) <= 0)  # decreasing
    np.testing.assert_allclose(lam, np.sort(np.linalg.eigvalsh(cov))[::-1], rtol=1e-10)
    assert m.image_shape == (2, 3, 1) and m.explained == pytest.approx(1.0)


def test_top_k_keeps_the_largest_components_and_their_variance_fraction():
    x, _, _ = _data()
    full = gaussian.fit_gaussian(x)
    m = gaussian.fit_gaussian(x, num_components=2)
    np.testing.assert_allclose(m.eigenvalues, full.eigenvalues[:2])
    np.testing.assert_allclose(
        np.abs(m.components.T @ full.components[:, :2]), np.eye(2), atol=1e-8
    )
    assert m.explained == pytest.approx(full.eigenvalues[:2].sum() / full.eigenvalues.sum())
    assert m.noise_variance == pytest.approx(full.eigenvalues[2:].mean())


def test_samples_reproduce_the_mean_and_covariance():
    x, _, _ = _data()
    m = gaussian.fit_gaussian(x)
    s = gaussian.sample(m, jax.random.PRNGKey(0), 100_000)
    assert s.shape == (100_000, 2, 3, 1)
    flat = s.reshape(len(s), -1)
    cov = m.components @ np.diag(m.eigenvalues) @ m.components.T
    scale = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(flat.mean(0), m.mean, atol=0.02 * scale.max())
    # Correlation-scale tolerance: sampling error of a covariance is ~ s_i s_j / sqrt(N).
    err = (np.cov(flat, rowvar=False) - cov) / np.outer(scale, scale)
    assert np.abs(err).max() < 0.02


def test_log_likelihood_full_rank_equals_scipy_multivariate_normal():
    x, _, _ = _data()
    m = gaussian.fit_gaussian(x[:3000])
    test = x[3000:3050]
    cov = np.cov(x[:3000].reshape(3000, -1), rowvar=False)
    want = scipy.stats.multivariate_normal(m.mean, cov).logpdf(test.reshape(50, -1))
    np.testing.assert_allclose(gaussian.log_likelihood(m, test), want, rtol=1e-9)


def test_log_likelihood_top_k_is_probabilistic_pca():
    x, _, _ = _data()
    k = 3
    m = gaussian.fit_gaussian(x[:3000], num_components=k)
    cov = np.cov(x[:3000].reshape(3000, -1), rowvar=False)
    lam, E = np.linalg.eigh(cov)
    lam, E = lam[::-1], E[:, ::-1]
    s2 = lam[k:].mean()  # Tipping & Bishop's ML noise variance
    C = E[:, :k] @ np.diag(lam[:k]) @ E[:, :k].T + s2 * (np.eye(6) - E[:, :k] @ E[:, :k].T)
    test = x[3000:3050].reshape(50, -1)
    want = scipy.stats.multivariate_normal(m.mean, C).logpdf(test)
    np.testing.assert_allclose(gaussian.log_likelihood(m, x[3000:3050]), want, rtol=1e-9)


def test_bits_per_dim_changes_variables_to_8_bit_pixels():
    ll = np.array([-100.0, -120.0])
    D, scale = 6, 1 / 127.5
    want = -(ll.mean() + D * math.log(scale)) / (D * math.log(2))
    assert gaussian.bits_per_dim(ll, (2, 3, 1), scale) == pytest.approx(want)


def test_bad_inputs_raise_clear_errors():
    x, _, _ = _data(50)
    with pytest.raises(ValueError, match="num_components"):
        gaussian.fit_gaussian(x, num_components=7)
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        gaussian.fit_gaussian(x.reshape(50, 6))
