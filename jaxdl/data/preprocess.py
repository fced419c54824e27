"""Input preparation: padding once on the host, normalisation on device per batch.

The course's "inputs standardized": pixels are scaled to [0, 1] and standardised per
channel with the TRAINING split's mean and std (never the test split's).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Augment = Callable[[jax.Array, jax.Array], jax.Array]


def pad_to(images: np.ndarray, size: int) -> np.ndarray:
    """Zero-pads [N, H, W, C] images symmetrically to ``size`` x ``size`` (e.g. MNIST 28->32)."""
    h, w = images.shape[1:3]
    if h > size or w > size:
        raise ValueError(f"Cannot pad {h}x{w} images to {size}x{size}: they are larger.")
    top, left = (size - h) // 2, (size - w) // 2
    pads = ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0))
    return np.pad(images, pads)


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 [N, H, W, C] images on the [0, 1] scale (float64)."""
    x = images.reshape(-1, images.shape[-1])
    mean = np.zeros(x.shape[1])
    sq = np.zeros(x.shape[1])
    for start in range(0, len(x), 1 << 22):  # chunks keep float64 memory small
        chunk = x[start : start + (1 << 22)].astype(np.float64) / 255.0
        mean += chunk.sum(0)
        sq += (chunk * chunk).sum(0)
    mean /= len(x)
    std = np.sqrt(np.maximum(sq / len(x) - mean * mean, 0.0))
    return mean, std


def rgb_pca(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA of the pixel colours of uint8 [N, H, W, C] images on the [0, 1] scale (float64).

    The C x C covariance ``S = 1/P sum_p (x_p - m)(x_p - m)^T`` over all P = N H W pixels
    (values / 255, the scale ``image_preprocess`` augments at) and its eigendecomposition,
    for AlexNet's colour augmentation (``jaxdl.data.augment.pca_lighting``).

    Returns:
      ``(eigenvalues [C], eigenvectors [C, C])``, eigenvalues in decreasing order and the
      eigenvector of ``eigenvalues[i]`` in column ``i``.

    Example:
      >>> grey = np.repeat(np.array([0, 255], np.uint8), 8).reshape(16, 1, 1, 1)
      >>> lam, vecs = rgb_pca(np.repeat(grey, 3, axis=-1))  # R = G = B: one direction
      >>> lam.round(4), np.abs(vecs[:, 0]).round(4)  # variance 3 * 0.25 along (1, 1, 1)
      (array([0.75, 0.  , 0.  ]), array([0.5774, 0.5774, 0.5774]))
    """
    x = images.reshape(-1, images.shape[-1])
    total = np.zeros(x.shape[1])
    outer = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, len(x), 1 << 20):  # chunks keep float64 memory small
        chunk = x[start : start + (1 << 20)].astype(np.float64) / 255.0
        total += chunk.sum(0)
        outer += chunk.T @ chunk
    mean = total / len(x)
    cov = outer / len(x) - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)  # ascending
    return np.maximum(eigenvalues[::-1], 0.0), eigenvectors[:, ::-1]


def image_preprocess(
    mean: np.ndarray,
    std: np.ndarray,
    augment: Augment | None = None,
    dtype=jnp.float32,
) -> Callable[[dict, jax.Array, bool], dict]:
    """Builds ``preprocess(batch, key, train)`` for classification steps.

    uint8 images -> float in [0, 1] -> (training only) ``augment(key, images)`` ->
    ``(x - mean) / std``, cast to the compute ``dtype``.

    Example:
      >>> train_images = np.random.default_rng(0).integers(0, 256, (16, 4, 4, 3), np.uint8)
      >>> pre = image_preprocess(*channel_stats(train_images))
      >>> batch = pre({"image": train_images, "label": np.zeros(16)}, jax.random.key(0), True)
      >>> batch["image"].dtype, round(float(batch["image"].mean()), 4)  # standardized
      (dtype('float32'), 0.0)
    """
    mean = jnp.asarray(mean, jnp.float32)
    inv_std = jnp.asarray(1.0 / np.maximum(std, 1e-8), jnp.float32)

    def preprocess(batch: dict, key: jax.Array, train: bool) -> dict:
        x = batch["image"].astype(jnp.float32) / 255.0  # [B, H, W, C]
        if train and augment is not None:
            x = augment(key, x)
        x = (x - mean) * inv_std
        return {**batch, "image": x.astype(dtype)}

    return preprocess
