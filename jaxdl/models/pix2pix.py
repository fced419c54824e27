"""pix2pix (Isola et al. 2017): U-Net generator, PatchGAN discriminator, and the edge task.

- ``Pix2PixGenerator``: the project's U-Net (``jaxdl.models.unet.UNet``, padded variant,
  reused as is) mapping the input image to ``out_channels`` maps, squashed by tanh.
  pix2pix's only source of randomness is dropout, active in training ("noise in the
  form of dropout", section 3.1): here the U-Net's dropout on its bottom level. Unlike
  the paper's encoder (4x4 stride-2 convs, LeakyReLU) the U-Net blocks are
  Ronneberger's (two 3x3 convs + max pooling per level); the skip connections between
  mirrored levels, the point of the paper's generator, are the same.
- ``PatchDiscriminator``: a fully convolutional D on the (input, output) PAIR
  (channel concatenation) that classifies each overlapping N x N patch as real or fake
  and returns a map of logits [B, h, w, 1]; the loss averages over patches. With
  ``num_layers`` stride-2 convs (4x4) followed by two stride-1 4x4 convs its receptive
  field is ``patch_size(num_layers)``: 70 for the paper's C64-C128-C256-C512 (3), 34
  for 2, 16 for 1.
- ``sobel_edges``: the offline edges -> image task's input, a binary edge map from the
  Sobel gradient magnitude of each image.

The objective (``jaxdl.training.gan.gan_steps(conditional=True, l1_weight=100)``):
``G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G)``, lambda = 100, with the
non-saturating generator loss and Adam (2e-4, beta1 = 0.5). The paper halves D's
objective; with Adam that factor changes nothing (Adam is invariant to the loss scale
up to its epsilon), so it is left out.

References:
  Isola, Zhu, Zhou, Efros. Image-to-image translation with conditional adversarial
  networks. CVPR 2017 (arXiv:1611.07004), sections 2-3 and appendix 6.1.2.
  Ronneberger, Fischer, Brox. U-Net. MICCAI 2015.
  Sobel, Feldman. A 3x3 isotropic gradient operator for image processing. 1968.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.models.dcgan import gan_batch_norm
from jaxdl.models.unet import UNet

__all__ = ["PatchDiscriminator", "Pix2PixGenerator", "patch_size", "sobel_edges"]

_INIT = jax.nn.initializers.normal(0.02)


class Pix2PixGenerator(nn.Module):
    """Input image -> U-Net (padded, BN, dropout) -> tanh output image, same H x W.

    Attributes:
      out_channels: channels of the generated image.
      depth: U-Net poolings.
      base_width: U-Net channels at full resolution, doubled per level up to 8 x
        base_width (pix2pix's encoder: 64, 128, 256, 512, 512, ...).
      dropout_rate: dropout at the U-Net's bottom level in training (pix2pix's noise).
      batch_norm: BN after each 3x3 conv (pix2pix uses BN throughout).
      dtype: compute dtype (output float32).

    Example:
      >>> g, x = Pix2PixGenerator(1, depth=2, base_width=8), jnp.zeros((2, 32, 32, 1))
      >>> y, v = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), x, train=False))
      >>> y.shape  # same H x W as the input
      (2, 32, 32, 1)
    """

    out_channels: int = 3
    depth: int = 3
    base_width: int = 32
    dropout_rate: float = 0.5
    batch_norm: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        y = UNet(
            num_classes=self.out_channels,
            depth=self.depth,
            base_width=self.base_width,
            max_width=8 * self.base_width,
            padding="same",
            batch_norm=self.batch_norm,
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
        )(x, train)  # [B, H, W, out_channels] float32
        return jnp.tanh(y)


def patch_size(num_layers: int, kernel_size: int = 4) -> int:
    """Receptive field of ``PatchDiscriminator``: ``num_layers`` stride-2 convs + 2 stride-1.

    ``r = 1 + (k - 1) * sum_l prod_{m<l} stride_m``.

    Example:
      >>> patch_size(3), patch_size(2), patch_size(1)
      (70, 34, 16)
    """
    strides = [2] * num_layers + [1, 1]
    r, jump = 1, 1
    for s in strides:
        r += (kernel_size - 1) * jump
        jump *= s
    return r


class PatchDiscriminator(nn.Module):
    """PatchGAN: C(w)-C(2w)-... 4x4 stride-2 convs, a stride-1 conv, a 1-channel conv.

    BN on every conv but the first and the last, LeakyReLU(0.2); returns per-patch
    logits [B, H / 2^num_layers, W / 2^num_layers, 1] (float32).

    Attributes:
      base_width: channels of the first conv (the paper: 64), doubled per layer, capped
        at 8x.
      num_layers: stride-2 convolutions (the paper's 70x70 PatchGAN: 3).
      dtype: compute dtype.

    Example:
      >>> d, pair = PatchDiscriminator(16, 1), jnp.zeros((2, 32, 32, 2))
      >>> logits, v = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), pair))
      >>> logits.shape  # one logit per patch
      (2, 16, 16, 1)
    """

    base_width: int = 64
    num_layers: int = 3
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = x.astype(self.dtype)  # [B, H, W, C_in + C_out]: the (input, output) pair
        for i in range(self.num_layers + 1):
            stride = 2 if i < self.num_layers else 1
            h = nn.Conv(
                self.base_width * min(2**i, 8),
                (4, 4),
                strides=(stride, stride),
                padding="SAME",
                use_bias=i == 0,
                kernel_init=_INIT,
                dtype=self.dtype,
            )(h)
            if i > 0:
                h = gan_batch_norm(train)(h).astype(self.dtype)
            h = nn.leaky_relu(h, 0.2)
        logits = nn.Conv(1, (4, 4), padding="SAME", kernel_init=_INIT, dtype=self.dtype)(h)
        return logits.astype(jnp.float32)  # [B, h, w, 1]: one logit per patch


def sobel_edges(images: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """Binary edge maps (uint8 0/255, [N, H, W, 1]) of uint8 images [N, H, W, C].

    The grey image (channel mean) is filtered with the Sobel kernels
    ``Gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` and ``Gy = Gx^T`` (the border pixels
    replicated outward, so the image frame itself is no edge); a pixel is an edge where
    ``sqrt(Gx^2 + Gy^2)`` exceeds ``threshold`` times the image's largest magnitude
    (blank images give blank maps).

    Example:
      >>> images = np.zeros((1, 4, 6, 3), np.uint8)
      >>> images[:, :, 3:] = 255  # a vertical step between columns 2 and 3
      >>> sobel_edges(images)[0, ..., 0]  # pix2pix input for edges -> image
      array([[  0,   0, 255, 255,   0,   0],
             [  0,   0, 255, 255,   0,   0],
             [  0,   0, 255, 255,   0,   0],
             [  0,   0, 255, 255,   0,   0]], dtype=uint8)
    """
    if images.ndim != 4:
        raise ValueError(f"sobel_edges expects [N, H, W, C] images, got shape {images.shape}.")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}.")
    g = images.astype(np.float32).mean(axis=-1)  # [N, H, W]
    p = np.pad(g, ((0, 0), (1, 1), (1, 1)), mode="edge")
    H, W = g.shape[1:]

    def win(dy, dx):  # p shifted so that win(dy, dx)[n, i, j] = g[n, i + dy, j + dx]
        return p[:, 1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W]

    gx = (win(-1, 1) + 2 * win(0, 1) + win(1, 1)) - (win(-1, -1) + 2 * win(0, -1) + win(1, -1))
    gy = (win(1, -1) + 2 * win(1, 0) + win(1, 1)) - (win(-1, -1) + 2 * win(-1, 0) + win(-1, 1))
    mag = np.sqrt(gx * gx + gy * gy)  # [N, H, W]
    peak = mag.reshape(len(mag), -1).max(axis=1)[:, None, None]
    edges = (mag > threshold * peak) & (peak > 0)
    return (edges[..., None] * 255).astype(np.uint8)
