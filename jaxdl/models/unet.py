"""U-Net (Ronneberger et al. 2015) and a plain full-resolution CNN baseline for segmentation.

The U-Net is a contracting path (``depth`` levels of two 3x3 convs + ReLU, then 2x2 max
pooling that halves H, W; the channels double per level from ``base_width``), a bottom
level, and an expanding path: at each level a 2x2 transposed convolution
("up-convolution") doubles H, W and halves the channels, the skip feature map of the
same level is concatenated (``[skip, up]`` along channels), and two 3x3 convs follow. A
1x1 convolution maps the last features to ``num_classes`` per-pixel logits.

Two variants, chosen by ``padding``:

- ``'valid'`` (the paper): unpadded 3x3 convs lose 2 pixels per conv, so the skip maps
  are larger than the up-sampled maps and are CENTRE-CROPPED before concatenation
  ("crop and copy"). With ``depth=4, base_width=64`` a 572x572 tile gives a 388x388
  output map (fig. 1 of the paper). Only some input sizes are valid (every pooled map
  must have an even side): ``valid_input_size`` gives the input needed for an output
  size, and the paper's overlap-tile strategy mirror-pads an image by
  ``(input - output) / 2`` so the prediction covers it (``overlap_tile_pad``).
- ``'same'`` (padded): every 3x3 conv is zero-padded, so output size == input size
  for any H, W: inputs whose sides are not multiples of ``2**depth`` are
  reflect-padded up to the next multiple inside the model and the logits are cropped
  back.

Weights: He-normal ``N(0, 2 / fan_in)`` as the paper prescribes (section 3), biases
zero. The paper has no batch norm (``batch_norm=False``, default); with
``batch_norm=True`` each 3x3 conv is followed by BN (modern practice, faster training).
The paper's dropout "at the end of the contracting path" is ``dropout_rate`` (applied to
the bottom level's output; the paper does not state the rate).

``PlainSegCNN`` is the baseline without down-up path or skips: a stack of 3x3 convs at
full resolution ending in the same 1x1 classifier.

References:
  Ronneberger, Fischer, Brox. U-Net: convolutional networks for biomedical image
  segmentation. MICCAI 2015 (arXiv:1505.04597), section 2 and figure 1.
  Long, Shelhamer, Darrell. Fully convolutional networks for semantic segmentation.
  CVPR 2015 (per-pixel classification with convolutions only).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn.initializers import he
from jaxdl.nn.layers import ConvBN

__all__ = [
    "PADDINGS",
    "PlainSegCNN",
    "UNet",
    "center_crop_to",
    "overlap_tile_pad",
    "valid_input_size",
    "valid_output_size",
]

PADDINGS = ("valid", "same")


def center_crop_to(x: jax.Array, height: int, width: int) -> jax.Array:
    """Central ``height`` x ``width`` window of ``x`` [B, H, W, ...] (the paper's crop).

    The window starts at ``((H - height) // 2, (W - width) // 2)``.

    Example:
      >>> center_crop_to(jnp.zeros((1, 136, 136, 64)), 104, 104).shape
      (1, 104, 104, 64)
    """
    H, W = x.shape[1:3]
    if height > H or width > W:
        raise ValueError(f"Cannot crop {H}x{W} to the larger {height}x{width}.")
    top, left = (H - height) // 2, (W - width) // 2
    return x[:, top : top + height, left : left + width]


def valid_output_size(size: int, depth: int) -> int:
    """Output side of the valid (unpadded) U-Net for an input side, or raises.

    Each level loses 4 pixels (two 3x3 convs) before a pooling that must see an even
    side; the expanding path doubles then loses 4 per level.

    Example:
      >>> valid_output_size(572, 4)
      388
    """
    s = size
    for level in range(depth):
        s -= 4
        if s <= 0 or s % 2:
            raise ValueError(
                f"Input side {size} is invalid for the valid U-Net of depth {depth}: level "
                f"{level} pools an odd or empty side {s}. Use valid_input_size(...) to pick a "
                "valid size (e.g. 572 for depth 4) or padding='same'."
            )
        s //= 2
    s -= 4  # the bottom level's two convs
    for _ in range(depth):
        s = 2 * s - 4
    if s <= 0:  # the bottom or an expanding level came out empty (a bottom side 2 gives 0)
        raise ValueError(f"Input side {size} is too small for the valid U-Net of depth {depth}.")
    return s


def valid_input_size(output: int, depth: int) -> int:
    """Smallest valid input side whose valid U-Net output side is at least ``output``.

    Example:
      >>> valid_input_size(388, 4), valid_input_size(64, 3)
      (572, 156)
    """
    bottom = 1
    while True:
        s = bottom
        for _ in range(depth):
            s = 2 * s - 4
        if s >= output and s > 0:
            break
        bottom += 1
    s = bottom + 4
    for _ in range(depth):
        s = 2 * s + 4
    return s


def overlap_tile_pad(images: jax.Array, depth: int) -> jax.Array:
    """Mirror-pads [B, H, W, C] images so the valid U-Net's output covers H x W.

    The paper's overlap-tile strategy (fig. 2): the missing context at the border is
    extrapolated by mirroring. The model's output is then at least H x W and its centre
    crop aligns pixel for pixel with the original image.

    Example:
      >>> overlap_tile_pad(jnp.zeros((2, 64, 64, 1)), 3).shape
      (2, 156, 156, 1)
    """
    H, W = images.shape[1:3]
    pads = []
    for side in (H, W):
        total = valid_input_size(side, depth) - side
        pads.append((total // 2, total - total // 2))
    return jnp.pad(images, ((0, 0), pads[0], pads[1], (0, 0)), mode="symmetric")


class UNet(nn.Module):
    """U-Net: contracting path, expanding path with up-convolutions and skip concatenation.

    Attributes:
      num_classes: per-pixel output channels (logits), e.g. 2 for background/crack, or 1
        for a sigmoid (binary cross-entropy) head.
      depth: number of 2x2 poolings (the paper: 4).
      base_width: channels of the first level, doubled per level (the paper: 64).
      max_width: the channels stop doubling here (pix2pix's generator: 8 x base_width);
        None: no cap (the paper's depth 4 ends at 16 x base_width).
      padding: ``'valid'`` (paper, crop-and-concatenate) or ``'same'`` (any input size).
      batch_norm: BN after each 3x3 conv (not in the paper).
      dropout_rate: dropout on the bottom level's output (the paper's "drop-out layers at
        the end of the contracting path"; 0 disables it).
      dtype: compute dtype (parameters stay float32; logits are returned in float32).

    Example:
      >>> model = UNet(num_classes=2)  # the paper's network
      >>> x = jnp.zeros((1, 572, 572, 1))
      >>> y, v = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), x, train=False))
      >>> y.shape  # valid convolutions: 572 -> 388
      (1, 388, 388, 2)
    """

    num_classes: int = 2
    depth: int = 4
    base_width: int = 64
    max_width: int | None = None
    padding: str = "valid"
    batch_norm: bool = False
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    def width(self, level: int) -> int:
        """Channels of ``level`` (0: full resolution): ``base_width * 2**level``, capped."""
        w = self.base_width * 2**level
        return w if self.max_width is None else min(w, self.max_width)

    def _double_conv(self, x: jax.Array, width: int, train: bool, name: str) -> jax.Array:
        pad = 0 if self.padding == "valid" else 1
        for i in (1, 2):
            x = ConvBN(
                width,
                3,
                padding=pad,
                batch_norm=self.batch_norm,
                dtype=self.dtype,
                name=f"{name}_conv{i}",
            )(x, train)
        return x

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.padding not in PADDINGS:
            raise ValueError(f"UNet padding must be one of {PADDINGS}, got {self.padding!r}.")
        if self.depth < 0 or self.base_width < 1:
            raise ValueError(
                f"UNet needs depth >= 0 and base_width >= 1, got {self.depth}, {self.base_width}."
            )
        if self.max_width is not None and self.max_width < self.base_width:
            raise ValueError(
                f"UNet max_width={self.max_width} is below base_width={self.base_width}: give "
                "a cap of at least base_width, or None."
            )
        if x.ndim != 4:
            raise ValueError(f"UNet input must be NHWC [B, H, W, C], got shape {x.shape}.")
        H, W = x.shape[1:3]
        if self.padding == "valid":
            for side in (H, W):
                valid_output_size(side, self.depth)  # raises on an invalid size
        else:  # 'same': pad to a multiple of 2**depth so every pooling halves exactly
            m = 2**self.depth
            ph, pw = -H % m, -W % m
            if ph or pw:
                x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="symmetric")
        x = x.astype(self.dtype)
        skips = []
        for level in range(self.depth):  # contracting path
            x = self._double_conv(x, self.width(level), train, f"down{level}")
            skips.append(x)  # [B, h, w, width(level)]
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = self._double_conv(x, self.width(self.depth), train, "bottom")
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        for level in reversed(range(self.depth)):  # expanding path
            width = self.width(level)
            x = nn.ConvTranspose(
                width,
                (2, 2),
                strides=(2, 2),
                padding="VALID",
                kernel_init=he(),
                dtype=self.dtype,
                name=f"up{level}_upconv",
            )(x)  # [B, 2h, 2w, width]: "up-convolution" halves the channels (until the cap)
            skip = center_crop_to(skips[level], *x.shape[1:3])  # "crop and copy"
            x = jnp.concatenate([skip, x], axis=-1)  # [B, 2h, 2w, 2 width]
            x = self._double_conv(x, width, train, f"up{level}")
        logits = nn.Conv(self.num_classes, (1, 1), kernel_init=he(), dtype=self.dtype, name="head")(
            x
        )
        if self.padding == "same":
            logits = logits[:, :H, :W]
        return logits.astype(jnp.float32)  # [B, H', W', num_classes]


class PlainSegCNN(nn.Module):
    """Baseline: ``num_layers`` 3x3 convs (+ReLU) at full resolution, then a 1x1 classifier.

    No pooling, no up-sampling, no skips: the receptive field is ``2 num_layers + 1``
    pixels, so it sees local evidence only (what the U-Net's down-up path adds is
    context). Zero ('same') padding: output size == input size.

    Attributes:
      num_classes: per-pixel output channels.
      num_layers: number of 3x3 conv layers.
      width: channels of every conv layer.
      batch_norm: BN after each conv.
      dtype: compute dtype (logits returned in float32).

    Example:
      >>> model, x = PlainSegCNN(2), jnp.zeros((1, 64, 64, 1))
      >>> y, v = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), x))
      >>> y.shape  # same size as the input
      (1, 64, 64, 2)
    """

    num_classes: int = 2
    num_layers: int = 6
    width: int = 32
    batch_norm: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.num_layers < 1 or self.width < 1:
            raise ValueError(
                f"PlainSegCNN needs num_layers, width >= 1, got {self.num_layers}, {self.width}."
            )
        x = x.astype(self.dtype)
        for i in range(self.num_layers):
            x = ConvBN(
                self.width, 3, batch_norm=self.batch_norm, dtype=self.dtype, name=f"conv{i}"
            )(x, train)
        logits = nn.Conv(self.num_classes, (1, 1), kernel_init=he(), dtype=self.dtype, name="head")(
            x
        )
        return logits.astype(jnp.float32)  # [B, H, W, num_classes]
