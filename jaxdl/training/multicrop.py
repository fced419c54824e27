"""Multi-scale / multi-crop test views: 10-crop, several scales x 10 crops, GoogLeNet's 144.

Every function works on a device batch ``[B, H, W, C]`` of one static shape and
returns views of ONE size stacked on a leading axis, ``[V, B, crop, crop, C]``, for
``jaxdl.training.evaluation.tta_probabilities`` (which averages the softmax over the
views); scales and crop sizes are Python ints, so everything is jit-able with static
shapes. "Resize the shorter side to Q" keeps the aspect ratio: an ``H x W`` batch
becomes ``Q x round(W Q / H)`` when ``H <= W`` (else ``round(H Q / W) x Q``).

- ``ten_crop`` (``jaxdl.data.augment``): 4 corners + centre, and their mirrors (AlexNet).
- `multiscale_ten_crop`: for each scale Q, shorter side -> Q, then the 10 crops
  (S x 10 views; VGG's multi-crop evaluation with 10 instead of 50 crops per scale).
- `googlenet_views`: the 144-crop protocol. For each of the scales (256, 288, 320,
  352): shorter side -> Q; the left, centre and right Q x Q squares (top, centre,
  bottom for portrait images); from each square the 4 corner and centre ``crop``
  crops and the square resized to ``crop`` (6 views); and the mirror of each:
  4 x 3 x 6 x 2 = 144 views.
- `multicrop_probabilities`: the averaged probabilities over such views, one scale at
  a time (memory: one scale's views, not all of them).

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional neural
  networks. NIPS 2012 (section 4.1: ten 224 patches, averaged softmax).
  Simonyan, Zisserman. Very deep convolutional networks for large-scale image
  recognition. ICLR 2015 (section 3.2: multi-scale, multi-crop evaluation).
  Szegedy et al. Going deeper with convolutions. CVPR 2015 (section 7: 144 crops).
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxdl.data.augment import five_crop, ten_crop
from jaxdl.training.evaluation import tta_probabilities

__all__ = [
    "GOOGLENET_SCALES",
    "googlenet_views",
    "multicrop_probabilities",
    "multiscale_ten_crop",
    "resize_shorter_side",
    "square_crops",
]

GOOGLENET_SCALES = (256, 288, 320, 352)


def _check_images(images: jax.Array) -> None:
    if jnp.ndim(images) != 4:
        raise ValueError(f"images must be [B, H, W, C], got shape {jnp.shape(images)}.")


def _check_scales(scales: Sequence[int], crop: int) -> tuple[int, ...]:
    scales = tuple(scales)
    if not scales or any(isinstance(q, bool) or not isinstance(q, int) for q in scales):
        raise ValueError(f"scales must be a non-empty sequence of ints, got {scales!r}.")
    if min(scales) < crop:
        raise ValueError(
            f"every scale (shorter side) must be >= the crop size {crop}, got {scales}; "
            "lower the crop or raise the scales."
        )
    return scales


def resize_shorter_side(images: jax.Array, size: int, method: str = "bilinear") -> jax.Array:
    """Resizes ``[B, H, W, C]`` so that the shorter side is ``size`` (aspect kept).

    Returns the input itself when it already has that shape.

    Example:
      >>> import jax.numpy as jnp
      >>> resize_shorter_side(jnp.zeros((2, 6, 8, 3)), 3).shape  # landscape
      (2, 3, 4, 3)
      >>> resize_shorter_side(jnp.zeros((2, 8, 6, 3)), 3).shape  # portrait
      (2, 4, 3, 3)
    """
    _check_images(images)
    B, H, W, C = images.shape
    if H <= W:
        h, w = size, max(size, round(W * size / H))
    else:
        h, w = max(size, round(H * size / W)), size
    if (h, w) == (H, W):
        return images
    return jax.image.resize(images, (B, h, w, C), method)


def square_crops(images: jax.Array) -> jax.Array:
    """The first, centre and last squares along the longer side: ``[3, B, S, S, C]``.

    Left/centre/right for landscape (``H <= W``: ``S = H``), top/centre/bottom for
    portrait images; a square image gives three copies of itself.
    """
    _check_images(images)
    H, W = images.shape[1:3]
    s, long = min(H, W), max(H, W)
    offsets = (0, (long - s) // 2, long - s)
    if H <= W:
        return jnp.stack([images[:, :, o : o + s] for o in offsets])
    return jnp.stack([images[:, o : o + s] for o in offsets])


def multiscale_ten_crop(
    images: jax.Array, scales: Sequence[int], crop: int, method: str = "bilinear"
) -> jax.Array:
    """Shorter side -> each scale, then the 10 crops: ``[10 S, B, crop, crop, C]``.

    Order: scale by scale, each the ``ten_crop`` order (4 corners, centre, then mirrors).

    Example:
      >>> import jax.numpy as jnp
      >>> images = jnp.zeros((2, 6, 8, 3))
      >>> multiscale_ten_crop(images, (4, 6), 4).shape  # 2 scales x 10 crops
      (20, 2, 4, 4, 3)
    """
    scales = _check_scales(scales, crop)
    return jnp.concatenate([ten_crop(resize_shorter_side(images, q, method), crop) for q in scales])


def _googlenet_scale(images: jax.Array, scale: int, crop: int, method: str) -> jax.Array:
    x = resize_shorter_side(images, scale, method)
    views = []
    for square in square_crops(x):  # [B, Q, Q, C] each
        views.append(five_crop(square, crop))  # [5, B, crop, crop, C]
        B, _, _, C = square.shape
        views.append(jax.image.resize(square, (B, crop, crop, C), method)[None])
    views = jnp.concatenate(views)  # [18, B, crop, crop, C]
    return jnp.concatenate([views, views[:, :, :, ::-1]])  # [36, ...]: + mirrors


def googlenet_views(
    images: jax.Array,
    scales: Sequence[int] = GOOGLENET_SCALES,
    crop: int = 224,
    method: str = "bilinear",
) -> jax.Array:
    """GoogLeNet's 144 test crops (4 scales x 3 squares x 6 crops x 2 mirrors).

    Args:
      images: ``[B, H, W, C]`` batch.
      scales: shorter sides (GoogLeNet: 256, 288, 320, 352); any ints >= ``crop``.
      crop: the network's input side (224).
      method: ``jax.image.resize`` method.

    Returns:
      ``[36 S, B, crop, crop, C]``: per scale, per square (first, centre, last), the
      crops top-left, top-right, bottom-left, bottom-right, centre, resized square;
      then the mirrors of those 18 in the same order.

    Example:
      >>> import jax.numpy as jnp
      >>> images = jnp.zeros((1, 4, 6, 3))
      >>> googlenet_views(images, scales=(4,), crop=3).shape  # 1 scale x 36 views
      (36, 1, 3, 3, 3)
    """
    scales = _check_scales(scales, crop)
    return jnp.concatenate([_googlenet_scale(images, q, crop, method) for q in scales])


def multicrop_probabilities(
    predict_fn: Callable[[jax.Array], jax.Array],
    images: jax.Array,
    scales: Sequence[int],
    crop: int,
    protocol: str = "ten_crop",
    method: str = "bilinear",
    vectorize: bool = False,
) -> jax.Array:
    """Softmax probabilities averaged over every view of a multi-crop protocol.

    ``p(y|x) = 1/V sum_v softmax(f(view_v(x)))``; every scale has the same number of
    views, so the mean of the per-scale means is the mean over all ``V`` views.

    Args:
      predict_fn: ``images [B, crop, crop, C] -> logits [B, K]``.
      images: ``[B, H, W, C]``.
      scales: shorter sides, ints >= ``crop``.
      crop: the network's input side.
      protocol: ``ten_crop`` (10 per scale) or ``googlenet`` (36 per scale; with
        ``GOOGLENET_SCALES`` and crop 224 the 144-crop protocol).
      method: ``jax.image.resize`` method.
      vectorize: ``vmap`` over one scale's views instead of ``lax.map``.

    Returns:
      ``[B, K]`` float32 probabilities.

    Example:
      >>> import jax
      >>> import numpy as np
      >>> predict = lambda x: x.mean(axis=(1, 2))  # stand-in model: [B, 3] logits
      >>> images = np.ones((2, 4, 6, 3), np.float32)
      >>> images[..., 0] = 2.0
      >>> probs_fn = jax.jit(lambda x: multicrop_probabilities(predict, x, (4, 5), 3))
      >>> p = probs_fn(images)
      >>> p.shape
      (2, 3)
      >>> p[0].round(4)
      Array([0.5761, 0.2119, 0.2119], dtype=float32)
    """
    views_of = {
        "ten_crop": lambda q: multiscale_ten_crop(images, (q,), crop, method),
        "googlenet": lambda q: googlenet_views(images, (q,), crop, method),
    }
    if protocol not in views_of:
        raise ValueError(f"protocol must be one of {sorted(views_of)}, got {protocol!r}.")
    scales = _check_scales(scales, crop)
    per_scale = [tta_probabilities(predict_fn, views_of[protocol](q), vectorize) for q in scales]
    return jnp.mean(jnp.stack(per_scale), axis=0)
