"""AlexNet's colour augmentation ("PCA lighting"): shift each image along the RGB principal axes.

Krizhevsky et al. (2012, section 4.1) "alter the intensities of the RGB channels": with
``p_i, lambda_i`` the eigenvectors and eigenvalues of the 3x3 covariance of the
TRAINING set's RGB pixel values, each image gets, at every pixel, the same offset

  I_xy <- I_xy + [p_1, p_2, p_3] [alpha_1 lambda_1, alpha_2 lambda_2, alpha_3 lambda_3]^T

with ``alpha_i ~ N(0, 0.1^2)`` drawn once per image (per presentation). Following the
paper, the eigenvalues multiply (not their square roots). The PCA comes from
``jaxdl.data.preprocess.rgb_pca`` (pixels on the [0, 1] scale, i.e. uint8 / 255), and
the offset is in those units: the trainer applies the augmentation to [0, 1] images,
before standardization; on uint8 images it is multiplied by 255 (the package's
full-range convention). Any channel count C works (C x C covariance).

In a config: ``--config.data.augment="pca_lighting(std=0.1)"``; the trainer computes the
PCA with the channel statistics and passes ``eigenvalues``/``eigenvectors``.

Reference:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional neural
  networks. NIPS 2012 (section 4.1, second form of data augmentation).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data.augment._common import _check, _out, _per_example, _range_scale, _restore, _to_float

__all__ = ["lighting_alphas", "lighting_shift", "pca_lighting"]


def lighting_alphas(key: jax.Array, images: jax.Array, std: float = 0.1) -> jax.Array:
    """The per-image coefficients ``alpha ~ N(0, std^2)``, ``[B, C]``, as `pca_lighting` draws them.

    One key per example (``jax.random.split(key, B)``), so ``pca_lighting(key, x, ...)``
    uses exactly ``lighting_alphas(key, x, std)``.

    Example:
      >>> lighting_alphas(jax.random.key(0), jnp.ones((4, 8, 8, 3)), 0.1).shape
      (4, 3)
    """
    channels = images.shape[-1]
    return _per_example(key, images, lambda k: std * jax.random.normal(k, (channels,)))


def lighting_shift(alphas: jax.Array, eigenvalues, eigenvectors) -> jax.Array:
    """``shift_b = sum_i alphas[b, i] eigenvalues[i] eigenvectors[:, i]``, ``[B, C]``.

    Args:
      alphas: ``[B, C]`` coefficients.
      eigenvalues: ``[C]`` covariance eigenvalues ``lambda_i``.
      eigenvectors: ``[C, C]`` with the eigenvector ``p_i`` in COLUMN ``i``
        (``numpy.linalg.eigh``'s convention).

    Returns:
      ``[B, C]`` per-image offsets (same units as the covariance's pixels).
    """
    lam = jnp.asarray(eigenvalues, jnp.float32)
    vecs = jnp.asarray(eigenvectors, jnp.float32)
    return (alphas * lam) @ vecs.T  # [B, C]


def _check_pca(eigenvalues, eigenvectors, channels: int) -> None:
    if eigenvalues is None or eigenvectors is None:
        raise ValueError(
            "pca_lighting needs the training set's pixel PCA: pass eigenvalues and "
            "eigenvectors from jaxdl.data.preprocess.rgb_pca(train_images) (the trainer "
            "does this for data.augment entries 'pca_lighting(...)')."
        )
    lam_shape, vec_shape = np.shape(eigenvalues), np.shape(eigenvectors)
    if lam_shape != (channels,) or vec_shape != (channels, channels):
        raise ValueError(
            f"pca_lighting: images have {channels} channels, so eigenvalues must be "
            f"[{channels}] and eigenvectors [{channels}, {channels}]; got {lam_shape} and "
            f"{vec_shape}. Compute them with rgb_pca on the same images."
        )


def pca_lighting(
    key: jax.Array,
    images: jax.Array,
    std: float = 0.1,
    eigenvalues: Sequence[float] | jax.Array | None = None,
    eigenvectors: Sequence[Sequence[float]] | jax.Array | None = None,
    *,
    masks=None,
):
    """Adds ``sum_i alpha_i lambda_i p_i`` (alpha_i ~ N(0, std^2) per image) to every pixel.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      std: standard deviation of the alphas (0.1 in the paper), >= 0.
      eigenvalues: ``[C]`` eigenvalues of the training pixels' covariance ([0, 1] scale).
      eigenvectors: ``[C, C]`` eigenvectors as columns (`jaxdl.data.preprocess.rgb_pca`).
      masks: passed through unchanged.

    Returns:
      Shifted images (and masks), input dtype (integers rounded and clipped; floats are
      not clipped).

    Example:
      >>> from jaxdl.data import preprocess
      >>> train_images = np.random.default_rng(0).integers(0, 256, (8, 4, 4, 3), np.uint8)
      >>> lam, vecs = preprocess.rgb_pca(train_images)
      >>> x = pca_lighting(jax.random.key(0), train_images[:2], 0.1, lam, vecs)
      >>> x.shape, x.dtype
      ((2, 4, 4, 3), dtype('uint8'))
    """
    _check(images, masks, "pca_lighting")
    if not std >= 0:
        raise ValueError(f"pca_lighting: std must be >= 0 (the paper uses 0.1), got {std}")
    _check_pca(eigenvalues, eigenvectors, images.shape[-1])
    shift = lighting_shift(lighting_alphas(key, images, std), eigenvalues, eigenvectors)
    out = _to_float(images) + _range_scale(images.dtype) * shift[:, None, None, :]
    return _out(_restore(out, images.dtype), masks)
