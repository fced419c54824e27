"""DeconvNet (Zeiler & Fergus 2014): project one feature activation back to pixel space.

The convnet is a stack of stages ``conv -> ReLU -> [LRN] -> [max-pool]`` (AlexNet,
ZFNet). The forward pass records each max-pool's *switches* (where, in the pooled
input, each maximum came from). To see what an activation responds to, every other
activation of its layer is set to zero and the deconvnet runs the stages backwards:

    unpool (put each value back at its recorded switch; zeros elsewhere)
    -> rectify (ReLU)
    -> filter with the transposed filters (the conv's transpose: the gradient of the
       convolution with respect to its input, ``W^T``; stride and padding included)

down to the input, giving an image of the input pattern that drove the activation.
Overlapping pools (3x3/2) can send two outputs to one input position: their values
add, as in the transpose of max-pooling. LRN is not inverted (the paper's deconvnet
is unpooling, rectification and filtering only) and biases are not used on the way
back. The projection of an activation at position (i, j) is nonzero only inside its
receptive field (``receptive_field``), the image patch shown next to it.

Every function is pure JAX; ``project`` is jit-able with the stages static.

References:
  Zeiler, Fergus. Visualizing and understanding convolutional networks. ECCV 2014,
  arXiv:1311.2901 (section 2.1: the deconvnet; figure 2: projections and patches).
  Zeiler, Taylor, Fergus. Adaptive deconvolutional networks for mid and high level
  feature learning. ICCV 2011 (switches).
"""

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.nn.layers import LocalResponseNorm

__all__ = [
    "Stage",
    "alexnet_stages",
    "crop_field",
    "forward",
    "max_pool_with_switches",
    "project",
    "receptive_field",
    "strongest",
    "to_uint8_signed",
    "top_k_images",
    "unpool",
]


class Stage(NamedTuple):
    """One ``conv -> ReLU -> [LRN] -> [max-pool]`` stage.

    Attributes:
      name: params key of the stage's ``ConvBN`` (kernel at ``params[name]['conv']``).
      stride, padding: of the convolution (symmetric padding in pixels).
      lrn: AlexNet's local response normalization after the ReLU.
      pool: ``(window, stride, padding)`` of the max-pool after it, or None.
      groups: feature groups of the convolution (AlexNet's two towers: 2).
    """

    name: str
    stride: int
    padding: int
    lrn: bool = False
    pool: tuple[int, int, int] | None = None
    groups: int = 1


def alexnet_stages(model: Any) -> tuple[Stage, ...]:
    """The five conv stages of a ``jaxdl.models.alexnet`` AlexNet/ZFNet module.

    Example:
      >>> from jaxdl import models
      >>> stages = alexnet_stages(models.create("zfnet"))
      >>> stages[0]  # conv1: 7x7/2 pad 1, LRN, 3x3/2 pool
      Stage(name='conv1', stride=2, padding=1, lrn=True, pool=(3, 2, 1), groups=1)
    """
    g = 2 if model.two_towers else 1
    lrn = getattr(model, "lrn", True)
    p1, p2, p5 = model.pool_padding
    return (
        Stage("conv1", model.conv1[1], model.conv1[2], lrn, (3, 2, p1)),
        Stage("conv2", model.conv2[1], model.conv2[2], lrn, (3, 2, p2), g),
        Stage("conv3", 1, 1),
        Stage("conv4", 1, 1, groups=g),
        Stage("conv5", 1, 1, pool=(3, 2, p5), groups=g),
    )


def _conv(x: jax.Array, kernel: jax.Array, stage: Stage) -> jax.Array:
    p = stage.padding
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (stage.stride, stage.stride),
        ((p, p), (p, p)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=stage.groups,
    )


def _pool_geometry(h: int, w: int, window: int, stride: int, pad: int):
    """Input row/column index of every (output position, window offset): [Ho, k], [Wo, k]."""
    ho, wo = (h + 2 * pad - window) // stride + 1, (w + 2 * pad - window) // stride + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"A {window}x{window} pool does not fit a {h}x{w} input (pad {pad}).")
    rows = np.arange(ho)[:, None] * stride + np.arange(window)[None] - pad
    cols = np.arange(wo)[:, None] * stride + np.arange(window)[None] - pad
    return rows, cols


def max_pool_with_switches(
    x: jax.Array, window: int, stride: int, pad: int = 0
) -> tuple[jax.Array, jax.Array]:
    """Max-pooling that also returns the switches.

    Args:
      x: ``[B, H, W, C]``; padding counts as -inf (never the max).

    Returns:
      ``(pooled [B, Ho, Wo, C], switches [B, Ho, Wo, C])``, a switch being the flat
      index ``row * W + col`` in ``x`` of the window's maximum (first one on ties).
    """
    B, H, W, C = x.shape
    rows, cols = _pool_geometry(H, W, window, stride, pad)
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-jnp.inf)
    # [B, Ho, k, Wo, k, C] -> [B, Ho, Wo, k*k, C]
    patches = xp[:, (rows + pad)[:, :, None, None], (cols + pad)[None, None], :]
    patches = patches.transpose(0, 1, 3, 2, 4, 5).reshape(B, len(rows), len(cols), -1, C)
    arg = jnp.argmax(patches, axis=3)  # [B, Ho, Wo, C] offset within the window
    r = jnp.asarray(rows)[jnp.arange(len(rows))[:, None, None], arg // window]
    c = jnp.asarray(cols)[jnp.arange(len(cols))[None, :, None], arg % window]
    return jnp.max(patches, axis=3), r * W + c


def unpool(y: jax.Array, switches: jax.Array, input_hw: tuple[int, int]) -> jax.Array:
    """Places each pooled value at its switch in a zero ``[B, H, W, C]`` map (sums on overlap)."""
    B, Ho, Wo, C = y.shape
    H, W = input_hw
    flat = jnp.zeros((B, H * W, C), y.dtype)
    b = jnp.arange(B)[:, None, None, None]
    ch = jnp.arange(C)[None, None, None, :]
    flat = flat.at[b, switches, ch].add(y)
    return flat.reshape(B, H, W, C)


class Record(NamedTuple):
    """What the deconvnet needs of one stage's forward pass."""

    input_shape: tuple[int, ...]  # the stage's input [B, H, W, C]
    features: jax.Array  # after ReLU (and LRN), before pooling
    switches: jax.Array | None  # of the pool after it
    pooled_hw: tuple[int, int] | None  # spatial size before pooling (unpool target)


def forward(params: Any, stages: Sequence[Stage], x: jax.Array) -> list[Record]:
    """Runs the stages on ``x`` [B, H, W, C], recording features and pool switches."""
    records = []
    lrn = LocalResponseNorm()
    for s in stages:
        p = params[s.name]["conv"]
        in_shape = x.shape
        x = _conv(x, p["kernel"].astype(x.dtype), s)
        if "bias" in p:
            x = x + p["bias"]
        x = jax.nn.relu(x)
        if s.lrn:
            x = lrn.apply({}, x)
        feats, switches, hw = x, None, None
        if s.pool is not None:
            hw = x.shape[1:3]
            x, switches = max_pool_with_switches(x, *s.pool)
        records.append(Record(in_shape, feats, switches, hw))
    return records


def strongest(features: jax.Array, feature: int) -> jax.Array:
    """Keeps only the largest activation of map ``feature`` per image; all else zero."""
    B, H, W, C = features.shape
    fmap = features[..., feature].reshape(B, -1)
    idx = jnp.argmax(fmap, axis=1)
    keep = jax.nn.one_hot(idx, H * W, dtype=features.dtype) * fmap  # [B, H*W]
    out = jnp.zeros_like(features)
    return out.at[..., feature].set(keep.reshape(B, H, W))


@partial(jax.jit, static_argnames=("stages", "layer"))
def project(
    params: Any, stages: tuple[Stage, ...], images: jax.Array, layer: int, feature: int | jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Projects the strongest activation of ``feature`` in stage ``layer`` to pixels.

    Args:
      params: the model's params (``params[stage.name]['conv']['kernel']``).
      stages: the conv stages (``alexnet_stages``), a tuple (static).
      images: model inputs [B, H, W, C] (preprocessed as in training).
      layer: index of the stage whose rectified feature maps are probed (0 = conv1).
      feature: the feature map (traced: one compilation serves every map of a layer).

    Returns:
      ``(projection [B, H, W, C], activation [B], position [B, 2])``: the pixel-space
      reconstruction, the strongest activation's value and its (row, col) in the map.

    Example:
      >>> from jaxdl import models
      >>> rng = np.random.default_rng(0)
      >>> params = {  # a small ZFNet-like conv1 (4 maps) and conv2 (8 maps)
      ...     "conv1": {"conv": {"kernel": rng.normal(size=(7, 7, 3, 4)).astype(np.float32)}},
      ...     "conv2": {"conv": {"kernel": rng.normal(size=(5, 5, 4, 8)).astype(np.float32)}},
      ... }
      >>> x = jnp.asarray(rng.normal(size=(2, 64, 64, 3)), jnp.float32)
      >>> model = models.create("zfnet")
      >>> proj, act, pos = project(params, alexnet_stages(model), x, layer=1, feature=7)
      >>> proj.shape, act.shape, pos.shape  # a picture per image, in pixel space
      ((2, 64, 64, 3), (2,), (2, 2))
    """
    records = forward(params, stages[: layer + 1], images)
    feats = records[layer].features
    y = strongest(feats, feature)
    W_ = feats.shape[2]
    idx = jnp.argmax(feats[..., feature].reshape(len(feats), -1), axis=1)
    act = jnp.max(feats[..., feature].reshape(len(feats), -1), axis=1)
    for i in range(layer, -1, -1):
        s, rec = stages[i], records[i]
        if i < layer and rec.switches is not None:  # the probed layer's pool comes after it
            y = unpool(y, rec.switches, rec.pooled_hw)
        y = jax.nn.relu(y)
        kernel = params[s.name]["conv"]["kernel"].astype(y.dtype)
        zeros = jnp.zeros(rec.input_shape, y.dtype)
        _, transpose = jax.vjp(lambda x, k=kernel, st=s: _conv(x, k, st), zeros)
        (y,) = transpose(y)
    return y, act, jnp.stack([idx // W_, idx % W_], axis=1)


def receptive_field(
    stages: Sequence[Stage], kernel_sizes: Sequence[int], layer: int, row: int, col: int
) -> tuple[int, int, int, int]:
    """Input-pixel box ``(top, left, bottom, right)`` (inclusive) seen by one unit.

    The unit is at ``(row, col)`` of stage ``layer``'s features (before its pool).
    Walking back, a conv (k, s, p) maps ``[a, b]`` to ``[a s - p, b s - p + k - 1]``,
    and so does a pool. The box may extend past the image (padding).
    """
    top, bottom, left, right = row, row, col, col
    for i in range(layer, -1, -1):
        if i < layer and stages[i].pool is not None:
            k, s, p = stages[i].pool
            top, bottom = top * s - p, bottom * s - p + k - 1
            left, right = left * s - p, right * s - p + k - 1
        k, s, p = kernel_sizes[i], stages[i].stride, stages[i].padding
        top, bottom = top * s - p, bottom * s - p + k - 1
        left, right = left * s - p, right * s - p + k - 1
    return top, left, bottom, right


def top_k_images(
    params: Any,
    stages: tuple[Stage, ...],
    images: jax.Array,
    layer: int,
    feature: int,
    k: int = 9,
    batch_size: int = 256,
) -> np.ndarray:
    """Indices of the ``k`` images with the largest activation of the map, largest first."""
    fn = jax.jit(
        lambda x: forward(params, stages[: layer + 1], x)[layer].features[..., feature].max((1, 2))
    )
    acts = np.concatenate(
        [np.asarray(fn(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    )
    return np.argsort(-acts, kind="stable")[:k]


def crop_field(array: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``array[top:bottom+1, left:right+1]`` of an [H, W, C] image, zero outside it."""
    top, left, bottom, right = box
    H, W = array.shape[:2]
    out = np.zeros((bottom - top + 1, right - left + 1, array.shape[2]), array.dtype)
    t, lft, b, r = max(top, 0), max(left, 0), min(bottom, H - 1), min(right, W - 1)
    if t <= b and lft <= r:
        out[t - top : b - top + 1, lft - left : r - left + 1] = array[t : b + 1, lft : r + 1]
    return out


def to_uint8_signed(projection: np.ndarray) -> np.ndarray:
    """Zero -> grey 128, the largest magnitude -> 0 or 255 (one scale per image)."""
    p = np.asarray(projection, np.float64)
    m = np.abs(p).max()
    return np.round(127.5 + 127.5 * p / (m if m > 0 else 1.0)).astype(np.uint8)
