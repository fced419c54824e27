"""Random geometric augmentations: flip, crop with padding, translate, rotate, zoom, affine.

Each op moves masks (when given) with the same random parameters as the images, sampling
them by nearest neighbour so labels are never blended; uncovered pixels become 0.

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional neural
  networks. NIPS 2012 (random crops + horizontal flips).
  Simard, Steinkraus, Platt. Best practices for convolutional neural networks applied to
  visual document analysis. ICDAR 2003 (affine distortions: rotation, scaling).
"""

import math
import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxdl.data.augment._common import (
    _check,
    _flip,
    _on_masks,
    _out,
    _per_example,
    _positive_int,
    _restore,
    _to_float,
)

__all__ = ["affine", "horizontal_flip", "random_crop", "rotate", "translate", "zoom"]


def horizontal_flip(key: jax.Array, images: jax.Array, p: float = 0.5, *, masks=None):
    """Mirror each image left-right with probability ``p``.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      p: flip probability in [0, 1].
      masks: optional ``[B, H, W(, K)]`` masks, flipped with their images.

    Returns:
      Flipped images (and masks when given), same shape and dtype.

    Example:
      >>> x = jnp.arange(3.0).reshape(1, 1, 3, 1)
      >>> horizontal_flip(jax.random.key(0), x, p=1.0)[0, 0, :, 0]
      Array([2., 1., 0.], dtype=float32)
    """
    _check(images, masks, "horizontal_flip")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"horizontal_flip: p must be in [0, 1], got {p}")
    flip = _per_example(key, images, lambda k: jax.random.bernoulli(k, p))  # [B]
    sel = flip[:, None, None, None]
    images = jnp.where(sel, _flip(images), images)
    if masks is not None:
        masks = _on_masks(lambda m: jnp.where(sel, _flip(m), m), masks)
    return _out(images, masks)


def _crop_padded(x: jax.Array, pad: int, mode: str, offsets: jax.Array, size) -> jax.Array:
    """Pad ``x`` [B, H, W, C] by ``pad`` then cut ``size`` at per-example ``offsets`` [B, 2]."""
    if pad:
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=mode)
    h, w = size

    def one(xi, off):  # [H + 2 pad, W + 2 pad, C] -> [h, w, C]
        return jax.lax.dynamic_slice(xi, (off[0], off[1], 0), (h, w, xi.shape[-1]))

    return jax.vmap(one)(x, offsets)


def random_crop(
    key: jax.Array,
    images: jax.Array,
    padding: int = 4,
    mode: str = "constant",
    size: int | Sequence[int] | None = None,
    *,
    masks=None,
):
    """Pad by ``padding`` pixels, then crop a ``size`` window at a random position.

    The CIFAR recipe is ``padding=4`` with the original size; ``padding=0`` and a smaller
    ``size`` is the ImageNet-style random crop (e.g. 224 from 256).

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      padding: pixels added on each side (>= 0).
      mode: ``'constant'`` (zeros) or ``'reflect'`` (mirror without repeating the edge,
        like ``numpy.pad``; needs ``padding < H, W``).
      size: output ``(h, w)`` or an int; default the input ``(H, W)``.
      masks: optional masks, cropped at the same positions (padded alike).

    Returns:
      ``[B, h, w, C]`` images (and masks), input dtype.

    Example:
      >>> x = jnp.ones((2, 32, 32, 3))
      >>> random_crop(jax.random.key(0), x, padding=4, mode="reflect").shape
      (2, 32, 32, 3)
    """
    _check(images, masks, "random_crop")
    _positive_int(padding, "padding", "random_crop")
    if mode not in ("constant", "reflect"):
        raise ValueError(f"random_crop: mode must be 'constant' or 'reflect', got {mode!r}")
    B, H, W = images.shape[:3]
    if mode == "reflect" and padding >= min(H, W):
        raise ValueError(f"random_crop: reflect padding {padding} must be < H, W = {H}, {W}")
    h, w = (H, W) if size is None else ((size, size) if isinstance(size, int) else tuple(size))
    if not (0 < h <= H + 2 * padding and 0 < w <= W + 2 * padding):
        raise ValueError(f"random_crop: size {(h, w)} larger than the padded image")
    span = jnp.array([H + 2 * padding - h + 1, W + 2 * padding - w + 1])
    offsets = _per_example(key, images, lambda k: jax.random.randint(k, (2,), 0, span))  # [B, 2]
    images = _crop_padded(images, padding, mode, offsets, (h, w))
    if masks is not None:
        masks = _on_masks(lambda m: _crop_padded(m, padding, mode, offsets, (h, w)), masks)
    return _out(images, masks)


def translate(key: jax.Array, images: jax.Array, max_shift: int = 4, *, masks=None):
    """Shift each image by integer (dy, dx) drawn uniformly in [-max_shift, max_shift]^2.

    Uncovered pixels become 0: ``out[y, x] = in[y - dy, x - dx]``.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      max_shift: largest shift in pixels along each axis (>= 0).
      masks: optional masks shifted alike.

    Returns:
      Shifted images (and masks), same shape and dtype.

    Example:
      >>> translate(jax.random.key(0), jnp.ones((2, 8, 8, 1)), max_shift=2).shape
      (2, 8, 8, 1)
    """
    _check(images, masks, "translate")
    m = _positive_int(max_shift, "max_shift", "translate")
    shifts = _per_example(
        key, images, lambda k: jax.random.randint(k, (2,), -m, m + 1)
    )  # [B, 2] = (dy, dx)
    # Shifting by d is cropping the zero-padded image at offset m - d.
    offsets, size = m - shifts, images.shape[1:3]
    images = _crop_padded(images, m, "constant", offsets, size)
    if masks is not None:
        masks = _on_masks(lambda x: _crop_padded(x, m, "constant", offsets, size), masks)
    return _out(images, masks)


def _gather(x: jax.Array, iy: jax.Array, ix: jax.Array) -> jax.Array:
    """``x[iy, ix]`` for x [H, W, C] and integer-valued grids [H', W']; 0 outside x."""
    H, W = x.shape[:2]
    iy, ix = iy.astype(jnp.int32), ix.astype(jnp.int32)
    inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
    vals = x[jnp.clip(iy, 0, H - 1), jnp.clip(ix, 0, W - 1)]  # [H', W', C]
    return jnp.where(inside[..., None], vals, jnp.zeros((), x.dtype))


def _warp(x: jax.Array, A: jax.Array, order: int, b: jax.Array) -> jax.Array:
    """Resample x [H, W, C] so that output pixel p reads input ``c + A (p - c) + b``.

    ``c`` is the image centre ((H-1)/2, (W-1)/2) in (y, x) order, ``b`` [2] an offset;
    ``order`` 1 is bilinear, 0 nearest neighbour (for label masks). Outside the input
    reads 0.
    """
    H, W = x.shape[:2]
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    dy, dx = jnp.meshgrid(
        jnp.arange(H, dtype=jnp.float32) - cy, jnp.arange(W, dtype=jnp.float32) - cx, indexing="ij"
    )  # [H, W] each
    sy = A[0, 0] * dy + A[0, 1] * dx + cy + b[0]
    sx = A[1, 0] * dy + A[1, 1] * dx + cx + b[1]
    if order == 0:
        return _gather(x, jnp.round(sy), jnp.round(sx))
    y0, x0 = jnp.floor(sy), jnp.floor(sx)
    wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]  # [H, W, 1]
    xf = _to_float(x)
    out = (
        (1 - wy) * (1 - wx) * _gather(xf, y0, x0)
        + (1 - wy) * wx * _gather(xf, y0, x0 + 1)
        + wy * (1 - wx) * _gather(xf, y0 + 1, x0)
        + wy * wx * _gather(xf, y0 + 1, x0 + 1)
    )
    return _restore(out, x.dtype)


def _affine(images, masks, mats, offsets=None):
    """Warp images bilinearly and masks by nearest neighbour with per-example mats
    [B, 2, 2] and offsets [B, 2] (default 0)."""
    offsets = jnp.zeros_like(mats[:, :, 0]) if offsets is None else offsets  # mats' sharding
    images = jax.vmap(lambda x, A, b: _warp(x, A, 1, b))(images, mats, offsets)
    if masks is not None:
        warp = jax.vmap(lambda x, A, b: _warp(x, A, 0, b))
        masks = _on_masks(lambda m: warp(m, mats, offsets), masks)
    return _out(images, masks)


def _rotation(theta: jax.Array) -> jax.Array:
    """[B] angles -> [B, 2, 2]: output offset (dy, dx) reads input (c dy + s dx, -s dy + c dx),
    the inverse of a counter-clockwise turn (as displayed, row 0 at the top)."""
    c, s = jnp.cos(theta), jnp.sin(theta)
    return jnp.stack([jnp.stack([c, s], -1), jnp.stack([-s, c], -1)], -2)


def _interval(value, name: str, op: str) -> tuple[float, float]:
    """``d`` -> (-d, d); ``(lo, hi)`` kept; lo <= hi checked."""
    lo, hi = (-value, value) if isinstance(value, numbers.Real) else tuple(value)
    if not lo <= hi:
        raise ValueError(f"{op}: {name} must be d >= 0 or (lo, hi) with lo <= hi, got {value}")
    return float(lo), float(hi)


def rotate(
    key: jax.Array, images: jax.Array, degrees: float | Sequence[float] = 15.0, *, masks=None
):
    """Rotate each image about its centre by a random angle (bilinear, zero fill).

    Positive angles turn the picture counter-clockwise as displayed (row 0 at the top):
    +90 degrees equals ``numpy.rot90(image)``.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      degrees: ``d`` for angles uniform in [-d, d], or ``(lo, hi)`` for [lo, hi]
        (``(90, 90)`` is a fixed quarter turn).
      masks: optional masks rotated by the same angles (nearest neighbour).

    Returns:
      Rotated images (and masks), same shape and dtype.

    Example:
      >>> rotate(jax.random.key(0), jnp.ones((2, 8, 8, 3)), degrees=10.0).shape
      (2, 8, 8, 3)
    """
    _check(images, masks, "rotate")
    lo, hi = map(math.radians, _interval(degrees, "degrees", "rotate"))
    theta = _per_example(
        key, images, lambda k: jax.random.uniform(k, (), jnp.float32, lo, hi)
    )  # [B]
    return _affine(images, masks, _rotation(theta))


def zoom(
    key: jax.Array,
    images: jax.Array,
    min_scale: float = 0.9,
    max_scale: float = 1.1,
    *,
    masks=None,
):
    """Rescale each image about its centre by a factor uniform in [min_scale, max_scale].

    A factor > 1 zooms in (the centre is magnified, borders leave the frame); < 1 zooms
    out (the image shrinks, borders are zero). Bilinear interpolation, same output size.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      min_scale: smallest factor (> 0).
      max_scale: largest factor (>= min_scale).
      masks: optional masks rescaled by the same factors (nearest neighbour).

    Returns:
      Rescaled images (and masks), same shape and dtype.

    Example:
      >>> zoom(jax.random.key(0), jnp.ones((2, 8, 8, 3)), 0.8, 1.2).shape
      (2, 8, 8, 3)
    """
    _check(images, masks, "zoom")
    if not 0 < min_scale <= max_scale:
        raise ValueError(f"zoom: need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
    scale = _per_example(
        key,
        images,
        lambda k: jax.random.uniform(k, (), jnp.float32, min_scale, max_scale),
    )  # [B]
    mats = jnp.eye(2, dtype=jnp.float32) / scale[:, None, None]  # [B, 2, 2]
    return _affine(images, masks, mats)


def affine(
    key: jax.Array,
    images: jax.Array,
    degrees: float | Sequence[float] = 10.0,
    min_scale: float = 0.9,
    max_scale: float = 1.1,
    max_shift: float | Sequence[float] = 2.0,
    *,
    masks=None,
):
    """Rotate, rescale and shift each image in ONE bilinear warp (random affine distortion).

    Per example: an angle uniform in [-degrees, degrees] (``rotate``'s convention), a
    factor ``s`` uniform in [min_scale, max_scale] (``zoom``'s), and a shift ``t =
    (dy, dx)`` with each component uniform in [-max_shift, max_shift] pixels (not
    rounded). The picture is turned and rescaled about its centre ``c``, then moved by
    ``t``: output pixel p reads input ``c + R (p - t - c) / s``. Equal to ``rotate``,
    ``zoom`` and a shift applied in turn, but interpolated once: sharper, and on XLA:CPU
    one warp instead of a chain (a warp of a warp's output ran about 4x slower than
    both alone). The distortions of LeCun et al. (1998) and Simard et al. (2003).

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      degrees: ``d`` for angles in [-d, d], or ``(lo, hi)``.
      min_scale, max_scale: range of the factor (0 < min_scale <= max_scale).
      max_shift: ``m`` for shifts in [-m, m] pixels along each axis, or ``(lo, hi)``.
      masks: optional masks moved alike (nearest neighbour).

    Returns:
      Distorted images (and masks), same shape and dtype.

    Example:
      >>> affine(jax.random.key(0), jnp.ones((2, 8, 8, 1)), 10.0, 0.9, 1.1, 2.0).shape
      (2, 8, 8, 1)
    """
    _check(images, masks, "affine")
    if not 0 < min_scale <= max_scale:
        raise ValueError(f"affine: need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
    lo, hi = map(math.radians, _interval(degrees, "degrees", "affine"))
    slo, shi = _interval(max_shift, "max_shift", "affine")

    def sample(k):
        u = jax.random.uniform(k, (4,), jnp.float32)  # angle, scale, dy, dx
        return u * jnp.array([hi - lo, max_scale - min_scale, shi - slo, shi - slo]) + jnp.array(
            [lo, min_scale, slo, slo]
        )

    draws = _per_example(key, images, sample)  # [B, 4]
    mats = _rotation(draws[:, 0]) / draws[:, 1, None, None]  # [B, 2, 2] = R / s
    offsets = -jnp.einsum("bij,bj->bi", mats, draws[:, 2:])  # -R t / s
    return _affine(images, masks, mats, offsets)
