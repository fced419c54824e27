"""The Gaussian model of images: mean, covariance, eigen-images, a linear generator.

Fit: ``mu = mean(x)``, ``Sigma = cov(x)`` over the training images (flattened to D
pixels, float64), eigendecomposition ``Sigma = E Lambda E^T`` (eigenvalues sorted
decreasing). Keep the top k components: the eigen-images are the columns of ``E_k``.

Sample: ``x = mu + E_k Lambda_k^{1/2} z``, ``z ~ N(0, I_k)``: a LINEAR generator from a
k-dimensional latent. With k = D it reproduces the data's mean and covariance exactly;
it knows nothing beyond second-order statistics, so samples are blurry superpositions
of eigen-images (the course's baseline that GANs beat).

Held-out log-likelihood: with k < D the Gaussian ``N(mu, E_k Lambda_k E_k^T)`` is
degenerate (every test image off the k-dimensional subspace has density 0), so the
density used is probabilistic PCA's (Tipping & Bishop 1999): the discarded directions
get the maximum-likelihood isotropic variance ``sigma^2 = mean(discarded eigenvalues)``,
``C = E_k Lambda_k E_k^T + sigma^2 (I - E_k E_k^T)``, and
``log p(x) = -1/2 [D log 2 pi + log|C| + (x - mu)^T C^{-1} (x - mu)]``. ``sigma^2`` is
floored (``min_variance``) because pixels that never change (MNIST's border) have zero
variance. Reported in nats per image and in bits per dimension.

References:
  Turk, Pentland. Eigenfaces for recognition. J. Cognitive Neuroscience 1991.
  Tipping, Bishop. Probabilistic principal component analysis. JRSS-B 1999.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

__all__ = ["GaussianModel", "bits_per_dim", "fit_gaussian", "log_likelihood", "sample"]


class GaussianModel(NamedTuple):
    """A fitted Gaussian image model (float64 numpy arrays).

    Attributes:
      mean: mu, [D].
      components: E_k, the top-k unit eigenvectors (eigen-images), [D, k].
      eigenvalues: Lambda_k, decreasing, [k].
      noise_variance: sigma^2 of the discarded directions (probabilistic PCA), floored.
      image_shape: (H, W, C) of an image (D = H W C).
      explained: fraction of the total variance kept by the k components.
    """

    mean: np.ndarray
    components: np.ndarray
    eigenvalues: np.ndarray
    noise_variance: float
    image_shape: tuple[int, ...]
    explained: float


def fit_gaussian(
    images: np.ndarray, num_components: int | None = None, min_variance: float = 1e-4
) -> GaussianModel:
    """Fits mean and covariance, eigendecomposes, keeps the top ``num_components``.

    Args:
      images: float [N, H, W, C] on any fixed scale (the generators use [-1, 1]).
      num_components: k (None: all D components).
      min_variance: floor of the discarded directions' variance (for the likelihood).

    Returns:
      A ``GaussianModel``.

    Example:
      >>> train_images = np.random.default_rng(0).integers(0, 256, (100, 4, 4, 1))
      >>> model = fit_gaussian(train_images / 127.5 - 1.0, num_components=8)
      >>> model.components.shape, model.image_shape, 0 < model.explained < 1
      ((16, 8), (4, 4, 1), True)
    """
    if images.ndim != 4:
        raise ValueError(f"fit_gaussian expects [N, H, W, C] images, got shape {images.shape}.")
    N = images.shape[0]
    x = images.reshape(N, -1).astype(np.float64)  # [N, D]
    D = x.shape[1]
    k = D if num_components is None else int(num_components)
    if not 1 <= k <= D:
        raise ValueError(f"num_components must be in [1, {D}] (the pixel count), got {k}.")
    if N < 2:
        raise ValueError("fit_gaussian needs at least 2 images to estimate a covariance.")
    mean = x.mean(axis=0)
    xc = x - mean
    cov = xc.T @ xc / (N - 1)  # [D, D], unbiased
    lam, vecs = np.linalg.eigh(cov)  # ascending
    lam, vecs = np.maximum(lam[::-1], 0.0), vecs[:, ::-1]
    discarded = lam[k:]
    noise = float(discarded.mean()) if discarded.size else 0.0
    return GaussianModel(
        mean=mean,
        components=vecs[:, :k].copy(),
        eigenvalues=lam[:k].copy(),
        noise_variance=max(noise, min_variance),
        image_shape=tuple(images.shape[1:]),
        explained=float(lam[:k].sum() / max(lam.sum(), 1e-300)),
    )


def sample(model: GaussianModel, key: jax.Array, num: int) -> np.ndarray:
    """``x = mu + E_k Lambda_k^{1/2} z``, ``z ~ N(0, I_k)``: [num, H, W, C] float64.

    Example:
      >>> train_images = np.random.default_rng(0).integers(0, 256, (100, 4, 4, 1))
      >>> model = fit_gaussian(train_images / 127.5 - 1.0, num_components=8)
      >>> sample(model, jax.random.PRNGKey(0), 64).shape
      (64, 4, 4, 1)
    """
    k = model.eigenvalues.shape[0]
    z = np.asarray(jax.random.normal(key, (num, k)), np.float64)  # [num, k]
    x = model.mean + (z * np.sqrt(model.eigenvalues)) @ model.components.T  # [num, D]
    return x.reshape(num, *model.image_shape)


def log_likelihood(model: GaussianModel, images: np.ndarray) -> np.ndarray:
    """Per-image log-density (nats) under probabilistic PCA's Gaussian, [N] float64.

    Uses the eigen-basis: for ``r = x - mu``, ``a = E_k^T r``,
    ``r^T C^{-1} r = sum a^2 / lambda + (|r|^2 - |a|^2) / sigma^2`` and
    ``log|C| = sum log lambda + (D - k) log sigma^2`` (eigenvalues below ``sigma^2`` are
    raised to it, keeping C positive definite).

    Example:
      >>> rng = np.random.default_rng(0)
      >>> train_images, test_images = rng.normal(size=(2, 500, 2, 2, 1))
      >>> model = fit_gaussian(train_images)  # about N(0, I) in D = 4 dimensions
      >>> ll = log_likelihood(model, test_images).mean()
      >>> round(float(ll), 1)  # -D/2 log(2 pi e) = -5.7 for N(0, I)
      -5.7
    """
    r = images.reshape(len(images), -1).astype(np.float64) - model.mean  # [N, D]
    D, k = r.shape[1], model.eigenvalues.shape[0]
    s2 = model.noise_variance
    lam = np.maximum(model.eigenvalues, s2)
    a = r @ model.components  # [N, k]
    maha = (a * a / lam).sum(axis=1) + ((r * r).sum(axis=1) - (a * a).sum(axis=1)) / s2
    logdet = np.log(lam).sum() + (D - k) * math.log(s2)
    return -0.5 * (D * math.log(2 * math.pi) + logdet + maha)


def bits_per_dim(log_lik: np.ndarray, image_shape: Sequence[int], scale: float) -> float:
    """Mean negative log-likelihood in bits per pixel on the 8-bit [0, 255] scale.

    A density over images scaled by ``x = scale * pixel + offset`` (e.g. ``scale = 1/127.5``
    for [-1, 1]) becomes one over pixels by adding ``D log(scale)``; continuous densities
    of discrete pixels are comparable only this way (uniform dequantisation aside).

    Example:
      >>> import math
      >>> D = 32 * 32  # a uniform density on [-1, 1]^D: log-likelihood -D log 2
      >>> round(bits_per_dim(np.full(5, -D * math.log(2)), (32, 32, 1), 1 / 127.5), 4)
      7.9944
    """
    D = int(np.prod(image_shape))
    nll_pixels = -(np.mean(log_lik) + D * math.log(scale))
    return float(nll_pixels / (D * math.log(2)))
