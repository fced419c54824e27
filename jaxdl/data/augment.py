"""On-device data augmentation (course section 3): batched, per-example random, pure, jit-able.

Every random op has the signature ``op(key, images, <hyperparameters>, *, masks=None)``
and draws one key per example from the batch key (``jax.random.split(key, B)``), so each
image gets its own flip/crop/angle. Hyperparameters are Python values (static under jit);
``key`` and ``images`` may be traced, so ops run inside the jitted train step.

Images are NHWC ``[B, H, W, C]``, either integer (``uint8`` in [0, 255]) or floating
(any range: [0, 1] or standardized). The output keeps the input dtype and shape:
arithmetic is done in float32 (or wider) and integer results are rounded and clipped to
the dtype's range; float results are never clipped (standardized data has no fixed
range). Photometric amounts (brightness delta, noise sigma) are fractions of the full
range: 1.0 for floats, 255 for ``uint8``. Geometric ops fill uncovered pixels with 0
(black for [0, 1]/uint8 data, the mean for standardized data).

Joint image + mask augmentation (segmentation): pass ``masks=`` (``[B, H, W]`` or
``[B, H, W, K]``, any dtype) and the op returns ``(images, masks)`` with the SAME random
parameters applied to both. Geometric ops (flip, crop, translate, rotate, zoom) move the
mask like the image but sample it with nearest-neighbour interpolation (labels are never
blended) and fill uncovered pixels with 0; photometric ops and cutout leave masks alone.

``build_augment(spec)`` turns a config list such as
``[("random_crop", {"padding": 4, "mode": "reflect"}), ("horizontal_flip", {}),
("cutout", {"size": 8})]`` into ``fn(key, images, masks=None)``. The deterministic
test-time crops ``center_crop``, ``five_crop`` and ``ten_crop`` serve evaluation (TTA).

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional neural
  networks. NIPS 2012 (random crops + flips, 10-crop testing).
  Simard, Steinkraus, Platt. Best practices for convolutional neural networks applied to
  visual document analysis. ICDAR 2003 (affine distortions: rotation, scaling).
  DeVries, Taylor. Improved regularization of convolutional neural networks with cutout.
  arXiv:1708.04552, 2017.
"""

import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "AUGMENTATIONS",
    "brightness",
    "build_augment",
    "center_crop",
    "contrast",
    "cutout",
    "five_crop",
    "gaussian_noise",
    "horizontal_flip",
    "random_crop",
    "rotate",
    "ten_crop",
    "translate",
    "zoom",
]

# ---------------------------------------------------------------------------- helpers


def _check(images: jax.Array, masks: jax.Array | None, op: str) -> None:
    if jnp.ndim(images) != 4:
        raise ValueError(f"{op}: images must be NHWC [B, H, W, C], got shape {images.shape}")
    dtype = jnp.result_type(images)
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"{op}: images must be float or integer (e.g. uint8), got {dtype}")
    if masks is not None and (masks.ndim not in (3, 4) or masks.shape[:3] != images.shape[:3]):
        raise ValueError(
            f"{op}: masks must be [B, H, W] or [B, H, W, K] matching images {images.shape[:3]}, "
            f"got {masks.shape}"
        )


def _positive_int(value: Any, name: str, op: str, allow_zero: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{op}: {name} must be an int {bound}, got {value!r}")
    return value


def _range_scale(dtype) -> float:
    """Full range of a dtype: 255 for uint8, 1.0 for floats."""
    return float(jnp.iinfo(dtype).max) if jnp.issubdtype(dtype, jnp.integer) else 1.0


def _to_float(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _restore(y: jax.Array, dtype) -> jax.Array:
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        return jnp.clip(jnp.round(y), info.min, info.max).astype(dtype)
    return y.astype(dtype)


def _per_example(key: jax.Array, images: jax.Array, sample: Callable[[jax.Array], Any]) -> Any:
    """One key per example, split from the batch key; ``sample(key_i)`` -> params of i.

    Under a mesh with explicit axis types (``jax.make_mesh``'s default) the params are
    resharded along the images' batch axis, as vmap and elementwise ops require.
    """
    params = jax.vmap(sample)(jax.random.split(key, images.shape[0]))
    sharding = jax.typeof(images).sharding
    spec = getattr(sharding, "spec", None)
    if not spec or spec[0] is None:  # unsharded, or sharding not in types (auto axes)
        return params
    batch_sharding = NamedSharding(sharding.mesh, P(spec[0]))
    return jax.tree.map(lambda a: jax.sharding.reshard(a, batch_sharding), params)


def _on_masks(fn: Callable[[jax.Array], jax.Array], masks: jax.Array) -> jax.Array:
    """Apply an NHWC function to ``[B, H, W]`` or ``[B, H, W, K]`` masks."""
    return fn(masks[..., None])[..., 0] if masks.ndim == 3 else fn(masks)


def _out(images: jax.Array, masks: jax.Array | None):
    return images if masks is None else (images, masks)


def _flip(x: jax.Array) -> jax.Array:
    return x[:, :, ::-1]  # [B, H, W, C], mirror the W axis


# ---------------------------------------------------------------------------- geometric


def horizontal_flip(key: jax.Array, images: jax.Array, p: float = 0.5, *, masks=None):
    """Mirror each image left-right with probability ``p``.

    Args:
      key, images: batch PRNG key, ``[B, H, W, C]`` images.
      p: flip probability in [0, 1].
      masks: optional ``[B, H, W(, K)]`` masks, flipped with their images.

    Returns:
      Flipped images (and masks when given), same shape and dtype.

    Example:
      >>> x = horizontal_flip(jax.random.key(0), x)
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
      >>> x = random_crop(key, x, padding=4, mode="reflect")  # [B, 32, 32, 3]
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
      >>> x = translate(key, x, max_shift=2)
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


def _warp(x: jax.Array, A: jax.Array, order: int) -> jax.Array:
    """Resample x [H, W, C] so that output pixel p reads input ``c + A (p - c)``.

    ``c`` is the image centre ((H-1)/2, (W-1)/2) in (y, x) order; ``order`` 1 is
    bilinear, 0 nearest neighbour (for label masks). Outside the input reads 0.
    """
    H, W = x.shape[:2]
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    dy, dx = jnp.meshgrid(
        jnp.arange(H, dtype=jnp.float32) - cy, jnp.arange(W, dtype=jnp.float32) - cx, indexing="ij"
    )  # [H, W] each
    sy = A[0, 0] * dy + A[0, 1] * dx + cy
    sx = A[1, 0] * dy + A[1, 1] * dx + cx
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


def _affine(images, masks, mats):
    """Warp images bilinearly and masks by nearest neighbour with per-example mats [B, 2, 2]."""
    images = jax.vmap(lambda x, A: _warp(x, A, 1))(images, mats)
    if masks is not None:
        masks = _on_masks(lambda m: jax.vmap(lambda x, A: _warp(x, A, 0))(m, mats), masks)
    return _out(images, masks)


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
      >>> x = rotate(key, x, degrees=10.0)
    """
    _check(images, masks, "rotate")
    lo, hi = (-degrees, degrees) if isinstance(degrees, numbers.Real) else tuple(degrees)
    if not lo <= hi:
        raise ValueError(f"rotate: degrees must be d >= 0 or (lo, hi) with lo <= hi, got {degrees}")
    lo, hi = math.radians(lo), math.radians(hi)
    theta = _per_example(
        key, images, lambda k: jax.random.uniform(k, (), jnp.float32, lo, hi)
    )  # [B]
    c, s = jnp.cos(theta), jnp.sin(theta)
    # Output offset (dy, dx) reads input (c dy + s dx, -s dy + c dx): inverse of the turn.
    mats = jnp.stack([jnp.stack([c, s], -1), jnp.stack([-s, c], -1)], -2)  # [B, 2, 2]
    return _affine(images, masks, mats)


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
      >>> x = zoom(key, x, 0.8, 1.2)
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


# ---------------------------------------------------------------------------- photometric


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
      >>> x = brightness(key, x, 0.2)
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
      >>> x = contrast(key, x, 0.3)
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
      >>> x = gaussian_noise(key, x, 0.02)
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
      >>> x = cutout(key, x, size=8)  # CIFAR-10 setting of DeVries & Taylor
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


# ---------------------------------------------------------------------------- test time


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
      >>> x = center_crop(x, 224)
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
      >>> probs = jax.vmap(predict)(five_crop(x, 24)).mean(0)
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
      >>> crops = ten_crop(x, 224)  # AlexNet's test-time averaging over 10 patches
    """
    five = five_crop(images, size)  # [5, B, h, w, C]
    return jnp.concatenate([five, five[:, :, :, ::-1]])


# ---------------------------------------------------------------------------- composition

AUGMENTATIONS: dict[str, Callable] = {
    "horizontal_flip": horizontal_flip,
    "random_crop": random_crop,
    "translate": translate,
    "rotate": rotate,
    "zoom": zoom,
    "brightness": brightness,
    "contrast": contrast,
    "gaussian_noise": gaussian_noise,
    "cutout": cutout,
}


def _parse_entry(entry: Any, i: int) -> tuple[str, dict]:
    if hasattr(entry, "to_dict"):  # ml_collections.ConfigDict
        entry = entry.to_dict()
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping):
        kwargs = dict(entry)
        if "name" not in kwargs:
            raise ValueError(f"augmentation #{i} {entry!r}: a dict entry needs a 'name' key")
        return kwargs.pop("name"), kwargs
    if isinstance(entry, Sequence) and len(entry) in (1, 2):
        kwargs = dict(entry[1]) if len(entry) == 2 else {}
        return entry[0], kwargs
    raise ValueError(
        f"augmentation #{i} {entry!r}: expected 'name', (name, kwargs) or "
        "{'name': name, **kwargs}"
    )


def build_augment(spec: Sequence[Any]) -> Callable:
    """Compose augmentations from a config list, applied in order.

    Args:
      spec: entries ``(name, kwargs)``, ``name`` or ``{'name': name, **kwargs}`` with
        names from ``AUGMENTATIONS``; kwargs are the op's hyperparameters. Names and
        keyword names are checked here; values are checked when the function is first
        called (traced).

    Returns:
      ``fn(key, images, masks=None)``: the composed pure function (one subkey per op),
      returning images, or ``(images, masks)`` when masks are given.

    Raises:
      ValueError: unknown op name or malformed entry.
      TypeError: keyword arguments the op does not accept.

    Example:
      >>> aug = build_augment([("random_crop", {"padding": 4}), "horizontal_flip",
      ...                      {"name": "cutout", "size": 8}])
      >>> x = jax.jit(aug)(key, x)
    """
    ops = []
    for i, entry in enumerate(spec):
        name, kwargs = _parse_entry(entry, i)
        if name not in AUGMENTATIONS:
            raise ValueError(
                f"augmentation #{i}: unknown op {name!r}; known ops: {sorted(AUGMENTATIONS)}"
            )
        fn = AUGMENTATIONS[name]
        allowed = [p for p in list(inspect.signature(fn).parameters)[2:] if p != "masks"]
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(
                f"augmentation #{i} {name!r}: unexpected arguments {unknown}; it accepts {allowed}"
            )
        ops.append(lambda k, x, m, fn=fn, kw=kwargs: fn(k, x, masks=m, **kw))

    def augment(key: jax.Array, images: jax.Array, masks: jax.Array | None = None):
        keys = jax.random.split(key, max(len(ops), 1))
        for k, op in zip(keys, ops):
            out = op(k, images, masks)
            images, masks = (out, None) if masks is None else out
        return _out(images, masks)

    return augment
