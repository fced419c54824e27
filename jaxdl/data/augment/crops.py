"""Deterministic test-time crops: centre, five (4 corners + centre) and ten (plus flips).

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional neural
  networks. NIPS 2012 (10-crop testing).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxdl.data.augment._common import _check

__all__ = ["center_crop", "five_crop", "ten_crop"]


def _crop_size(images: jax.Array, size, op: str) -> tuple[int, int]:
    _check(images, None, op)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    H, W = images.shape[1:3]
    if not (0 < h <= H and 0 < w <= W):
        raise ValueError(f"{op}: crop size {(h, w)} must fit in the images' {(H, W)}")
    return h, w


def center_crop(images: jax.Array, size: int | Sequence[int]) -> jax.Array:
    """Central ``size`` crop (top-left corner at ``((H-h)//2, (W-w)//2)``).

    Args:
      images: ``[B, H, W, C]``.
      size: ``(h, w)`` or an int.

    Returns:
      ``[B, h, w, C]``.

    Example:
      >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
      >>> center_crop(x, 2)[0, ..., 0]
      Array([[ 5.,  6.],
             [ 9., 10.]], dtype=float32)
    """
    h, w = _crop_size(images, size, "center_crop")
    top, left = (images.shape[1] - h) // 2, (images.shape[2] - w) // 2
    return images[:, top : top + h, left : left + w]


def five_crop(images: jax.Array, size: int | Sequence[int]) -> jax.Array:
    """The 4 corner crops and the centre crop, stacked on a new leading axis.

    Args:
      images: ``[B, H, W, C]``.
      size: ``(h, w)`` or an int.

    Returns:
      ``[5, B, h, w, C]`` in the order top-left, top-right, bottom-left, bottom-right,
      centre (the crop axis first so a TTA loop can map the model over it).

    Example:
      >>> x = jnp.ones((2, 32, 32, 3))
      >>> five_crop(x, 24).shape
      (5, 2, 24, 24, 3)
      >>> predict = lambda images: jax.nn.softmax(images.mean((1, 2)))  # a stand-in model
      >>> jax.vmap(predict)(five_crop(x, 24)).mean(0).shape  # averaged over the crops
      (2, 3)
    """
    h, w = _crop_size(images, size, "five_crop")
    H, W = images.shape[1:3]
    corners = [images[:, :h, :w], images[:, :h, W - w :], images[:, H - h :, :w]]
    corners.append(images[:, H - h :, W - w :])
    return jnp.stack([*corners, center_crop(images, (h, w))])


def ten_crop(images: jax.Array, size: int | Sequence[int]) -> jax.Array:
    """``five_crop`` plus the horizontal flip of each of the five crops.

    Args:
      images: ``[B, H, W, C]``.
      size: ``(h, w)`` or an int.

    Returns:
      ``[10, B, h, w, C]``: the five crops, then the same five mirrored left-right.

    Example:
      >>> ten_crop(jnp.ones((2, 32, 32, 3)), 24).shape  # AlexNet's 10 test patches
      (10, 2, 24, 24, 3)
    """
    five = five_crop(images, size)  # [5, B, h, w, C]
    return jnp.concatenate([five, five[:, :, :, ::-1]])
