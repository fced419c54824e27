"""DCGAN (Radford, Metz, Chintala 2016): all-convolutional generator and discriminator.

The paper's architecture guidelines, as implemented here:

- no pooling: the discriminator downsamples with STRIDED convolutions (4x4, stride 2),
  the generator upsamples with FRACTIONALLY-STRIDED (transposed) convolutions
  (4x4, stride 2), each doubling the side;
- batch norm in both networks, except the generator's output layer and the
  discriminator's input layer;
- no hidden fully connected layers: z is projected by one matrix product and reshaped
  to the first s0 x s0 feature map; the discriminator's last feature map is flattened
  into a single logit;
- ReLU in the generator (tanh at the output), LeakyReLU(0.2) in the discriminator;
- weights from N(0, 0.02^2) (BN scales from N(1, 0.02^2)), trained with Adam
  (learning rate 2e-4, beta1 = 0.5) (the optimizer is set by the config).

Sizes: the number of stride-2 layers is how many times the side halves down to
``s0`` in {4, 7}: 64 -> 4 (four layers, the paper's 64x64 model: 1024-512-256-128
channels with ``base_width=128``), 32 -> 4 (three), 28 -> 7 (two). Channels double
per layer away from the image, from ``base_width`` next to it.

References:
  Radford, Metz, Chintala. Unsupervised representation learning with deep convolutional
  generative adversarial networks. ICLR 2016 (arXiv:1511.06434), section 3-4, fig. 1.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn.layers import BN_EPSILON, BN_MOMENTUM

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "dcgan_start_size", "gan_batch_norm"]

_INIT = jax.nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def gan_batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
    """Batch norm of the GAN models: float32 statistics, scale from N(1, 0.02^2) (Radford)."""
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        scale_init=_bn_scale_init,
        dtype=jnp.float32,  # statistics in float32 whatever the compute dtype
        name=name,
    )


def dcgan_start_size(side: int) -> tuple[int, int]:
    """``(s0, n)``: the side halves ``n`` times (stride-2 layers) down to ``s0`` in {4, 7}.

    Example:
      >>> dcgan_start_size(64), dcgan_start_size(32), dcgan_start_size(28)
      ((4, 4), (4, 3), (7, 2))
    """
    s, n = side, 0
    while s % 2 == 0 and s // 2 >= 4:
        s, n = s // 2, n + 1
    if s not in (4, 7) or n == 0:
        raise ValueError(
            f"DCGAN image side {side} does not halve down to 4 or 7; use 28, 32, 56, 64, 128..."
        )
    return s, n


class DCGANGenerator(nn.Module):
    """z -> project & reshape -> [ConvTranspose 4x4/2 -> BN -> ReLU]* -> tanh image.

    Attributes:
      image_shape: (H, W, C), square.
      latent_dim: size of z (the paper: 100).
      base_width: channels of the last hidden map (next to the image); the first map has
        ``base_width * 2**(n-1)`` (the paper's 64x64 model: 128 -> 1024).
      kernel_size: transposed-convolution kernel side.
      dtype: compute dtype (images returned in float32).

    Example:
      >>> g = DCGANGenerator((32, 32, 1), base_width=8)
      >>> z = jnp.zeros((2, 100))
      >>> x, v = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), z))  # shapes only
      >>> x.shape, v["params"]["Dense_0"]["kernel"].shape  # z -> 4x4x32 (n = 3 upsamplings)
      ((2, 32, 32, 1), (100, 512))
    """

    image_shape: Sequence[int] = (64, 64, 3)
    latent_dim: int = 100
    base_width: int = 128
    kernel_size: int = 4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        H, W, C = self.image_shape
        if H != W:
            raise ValueError(f"DCGANGenerator needs square images, got {H}x{W}.")
        s0, n = dcgan_start_size(H)
        width = self.base_width * 2 ** (n - 1)
        x = nn.Dense(s0 * s0 * width, use_bias=False, kernel_init=_INIT, dtype=self.dtype)(
            z.astype(self.dtype)
        )
        x = x.reshape(z.shape[0], s0, s0, width)  # [B, s0, s0, width]
        x = nn.relu(gan_batch_norm(train)(x).astype(self.dtype))
        k = (self.kernel_size, self.kernel_size)
        for i in range(1, n):
            x = nn.ConvTranspose(
                self.base_width * 2 ** (n - 1 - i),
                k,
                strides=(2, 2),
                padding="SAME",
                use_bias=False,
                kernel_init=_INIT,
                dtype=self.dtype,
            )(x)  # [B, 2s, 2s, width / 2]
            x = nn.relu(gan_batch_norm(train)(x).astype(self.dtype))
        x = nn.ConvTranspose(
            C, k, strides=(2, 2), padding="SAME", kernel_init=_INIT, dtype=self.dtype
        )(x)  # [B, H, W, C]: no BN on the output layer
        return jnp.tanh(x.astype(jnp.float32))


class DCGANDiscriminator(nn.Module):
    """image -> [Conv 4x4/2 -> BN -> LeakyReLU(0.2)]* -> flatten -> one logit [B, 1].

    Attributes:
      base_width: channels of the first conv, doubled per layer (the paper: 64 at 64x64,
        the mirror of the generator).
      num_layers: stride-2 convolutions (None: as many as the generator of this size has
        upsamplings, from ``dcgan_start_size``).
      batch_norm: BN after every conv but the first (False: no BN at all).
      kernel_size: convolution kernel side.
      dtype: compute dtype (logits float32).

    Example:
      >>> d = DCGANDiscriminator(8)
      >>> x = jnp.zeros((2, 32, 32, 1))
      >>> logits, v = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), x))
      >>> logits.shape
      (2, 1)
    """

    base_width: int = 64
    num_layers: int | None = None
    batch_norm: bool = True
    kernel_size: int = 4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        n = self.num_layers or dcgan_start_size(x.shape[1])[1]
        h = x.astype(self.dtype)
        k = (self.kernel_size, self.kernel_size)
        for i in range(n):
            h = nn.Conv(
                self.base_width * 2**i,
                k,
                strides=(2, 2),
                padding="SAME",
                use_bias=not (self.batch_norm and i > 0),
                kernel_init=_INIT,
                dtype=self.dtype,
            )(h)  # [B, s/2, s/2, width]
            if self.batch_norm and i > 0:  # none on the input layer (Radford et al.)
                h = gan_batch_norm(train)(h).astype(self.dtype)
            h = nn.leaky_relu(h, 0.2)
        h = h.reshape(h.shape[0], -1)
        return nn.Dense(1, kernel_init=_INIT, dtype=self.dtype)(h).astype(jnp.float32)  # [B, 1]
