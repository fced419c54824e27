"""Random photometric augmentations (brightness, contrast, Gaussian noise) and cutout.

Amounts are fractions of the full range (1.0 for floats, 255 for uint8); masks pass
through unchanged.

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional neural
  networks. NIPS 2012 (photometric jitter).
  DeVries, Taylor. Improved regularization of convolutional neural networks with cutout.
  arXiv:1708.04552, 2017.
"""

import jax
import jax.numpy as jnp

from jaxdl.data.augment._common import (
    _check,
    _out,
    _per_example,
    _positive_int,
    _range_scale,
    _restore,
    _to_float,
)

__all__ = ["brightness", "contrast", "cutout", "gaussian_noise"]


def _uniform(key, images, lo, hi):
    return _per_example(key, images, lambda k: jax.random.uniform(k, (), jnp.float32, lo, hi))


def brightness(key: jax.Array, images: jax.Array, max_delta: float = 0.1, *, masks=None):
    """Add a per-image offset uniform in [-max_delta, max_delta] times the full range.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      max_delta: largest offset as a fraction of the range (>= 0): the offset is ``delta``
        for floats, ``255 delta`` for uint8.
      masks: passed through unchanged.

    Returns:
      Brightened images (and masks), input dtype (integers clipped to their range).

    Example:
      >>> x = jnp.full((2, 4, 4, 3), 0.5)
      >>> y = brightness(jax.random.key(0), x, 0.2)
      >>> y.shape, bool((jnp.abs(y - x) <= 0.2).all())
      ((2, 4, 4, 3), True)
    """
    _check(images, masks, "brightness")
    if not max_delta >= 0:
        raise ValueError(f"brightness: max_delta must be >= 0, got {max_delta}")
    delta = _uniform(key, images, -max_delta, max_delta)  # [B]
    scale = _range_scale(images.dtype)
    out = _to_float(images) + (scale * delta)[:, None, None, None]
    return _out(_restore(out, images.dtype), masks)


def contrast(key: jax.Array, images: jax.Array, max_delta: float = 0.2, *, masks=None):
    """Scale each channel's deviation from its spatial mean by a factor in [1-d, 1+d].

    ``out = mean + f (x - mean)`` with ``mean`` over H, W per image and channel
    (``tf.image.adjust_contrast``'s rule).

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      max_delta: d, in [0, 1].
      masks: passed through unchanged.

    Returns:
      Images with new contrast (and masks), input dtype.

    Example:
      >>> contrast(jax.random.key(0), jnp.ones((2, 4, 4, 3)), 0.3).shape
      (2, 4, 4, 3)
    """
    _check(images, masks, "contrast")
    if not 0 <= max_delta <= 1:
        raise ValueError(f"contrast: max_delta must be in [0, 1], got {max_delta}")
    f = _uniform(key, images, 1.0 - max_delta, 1.0 + max_delta)[:, None, None, None]
    x = _to_float(images)
    mean = x.mean(axis=(1, 2), keepdims=True)  # [B, 1, 1, C]
    return _out(_restore(mean + f * (x - mean), images.dtype), masks)


def gaussian_noise(key: jax.Array, images: jax.Array, sigma: float = 0.05, *, masks=None):
    """Add i.i.d. N(0, (sigma * range)^2) noise to every pixel.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      sigma: noise std as a fraction of the range (>= 0): ``sigma`` for floats,
        ``255 sigma`` for uint8.
      masks: passed through unchanged.

    Returns:
      Noisy images (and masks), input dtype.

    Example:
      >>> gaussian_noise(jax.random.key(0), jnp.zeros((2, 4, 4, 3)), 0.02).shape
      (2, 4, 4, 3)
    """
    _check(images, masks, "gaussian_noise")
    if not sigma >= 0:
        raise ValueError(f"gaussian_noise: sigma must be >= 0, got {sigma}")
    noise = _per_example(
        key, images, lambda k: jax.random.normal(k, images.shape[1:], jnp.float32)
    )  # [B, H, W, C]
    out = _to_float(images) + (sigma * _range_scale(images.dtype)) * noise
    return _out(_restore(out, images.dtype), masks)


def cutout(key: jax.Array, images: jax.Array, size: int = 8, *, masks=None):
    """Zero a ``size`` x ``size`` square at a uniformly random centre (may leave the frame).

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      size: side of the square in pixels (>= 1).
      masks: passed through unchanged (labels under the patch stay valid).

    Returns:
      Images with one zeroed patch each (and masks), input dtype.

    Example:
      >>> x = jnp.ones((2, 32, 32, 3))
      >>> y = cutout(jax.random.key(0), x, size=8)  # CIFAR-10 setting of DeVries & Taylor
      >>> y.shape, bool((y == 0).any())  # an 8x8 square per image (clipped at the edges)
      ((2, 32, 32, 3), True)
    """
    _check(images, masks, "cutout")
    _positive_int(size, "size", "cutout", allow_zero=False)
    B, H, W = images.shape[:3]
    centre = _per_example(
        key, images, lambda k: jax.random.randint(k, (2,), 0, jnp.array([H, W]))
    )  # [B, 2]
    top = (centre[:, 0] - size // 2)[:, None]  # [B, 1]
    left = (centre[:, 1] - size // 2)[:, None]
    rows = (jnp.arange(H) >= top) & (jnp.arange(H) < top + size)  # [B, H]
    cols = (jnp.arange(W) >= left) & (jnp.arange(W) < left + size)  # [B, W]
    hole = rows[:, :, None, None] & cols[:, None, :, None]  # [B, H, W, 1]
    return _out(jnp.where(hole, jnp.zeros((), images.dtype), images), masks)
