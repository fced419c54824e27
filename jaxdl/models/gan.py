"""GAN models: Goodfellow's MLP GAN here, and the family's registry ``create_gan``.

The convolutional members live next to this file: ``dcgan.py`` (Radford 2016),
``stylegan.py`` (a compact StyleGAN) and ``pix2pix.py`` (U-Net generator + PatchGAN).
Every generator maps its input (``z`` [B, latent_dim], or a condition image) to images
in [-1, 1] (tanh), [B, H, W, C], float32; every discriminator returns LOGITS (float32),
per image [B, 1] or per patch [B, h, w, 1]. Losses and steps: ``jaxdl.training.gan``.

MLP GAN (Goodfellow et al. 2014, MNIST model): the generator is a ReLU MLP with a
squashing output (the paper: sigmoid on [0, 1] pixels; here tanh on [-1, 1], the same
map up to an affine change of pixel scale); the discriminator is an MLP of MAXOUT units
with dropout (the paper's choice, ``maxout_pieces=5``; ``maxout_pieces=0`` switches to
LeakyReLU(0.2) units).

References:
  Goodfellow et al. Generative adversarial nets. NeurIPS 2014 (section 5 and the
  released pylearn2 configuration: G 1200-1200 ReLU, D 240x5 maxout, dropout).
  Goodfellow, Warde-Farley, Mirza, Courville, Bengio. Maxout networks. ICML 2013.
"""

import importlib
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["GAN_MODELS", "MLPDiscriminator", "MLPGenerator", "Maxout", "create_gan"]


class Maxout(nn.Module):
    """Maxout units: ``h_i = max_j (x W_ij + b_ij)`` over ``pieces`` affine pieces.

    Attributes:
      features: number of units.
      pieces: affine pieces per unit.
      dtype: compute dtype.

    Example:
      >>> x = jnp.ones((2, 784))
      >>> h, v = jax.eval_shape(lambda: Maxout(240, 5).init_with_output(jax.random.key(0), x))
      >>> h.shape, v["params"]["Dense_0"]["kernel"].shape  # 5 pieces per unit
      ((2, 240), (784, 1200))
    """

    features: int
    pieces: int = 5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.Dense(self.features * self.pieces, dtype=self.dtype)(x)  # [B, F * P]
        return y.reshape(*y.shape[:-1], self.features, self.pieces).max(axis=-1)  # [B, F]


class MLPGenerator(nn.Module):
    """``z -> ReLU MLP -> tanh`` image (Goodfellow 2014's generator).

    Attributes:
      image_shape: (H, W, C) of the output.
      hidden: widths of the hidden ReLU layers (the paper: (1200, 1200)).
      dtype: compute dtype (output float32).

    Example:
      >>> g = MLPGenerator((28, 28, 1), hidden=(64,))
      >>> z = jnp.zeros((2, 100))
      >>> x, v = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), z))  # shapes only
      >>> x.shape
      (2, 28, 28, 1)
    """

    image_shape: Sequence[int] = (28, 28, 1)
    hidden: Sequence[int] = (1200, 1200)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        h = z.astype(self.dtype)
        for width in self.hidden:
            h = nn.relu(nn.Dense(width, dtype=self.dtype)(h))
        n = 1
        for s in self.image_shape:
            n *= s
        x = jnp.tanh(nn.Dense(n, dtype=self.dtype)(h).astype(jnp.float32))
        return x.reshape(z.shape[0], *self.image_shape)  # [B, H, W, C]


class MLPDiscriminator(nn.Module):
    """Flattened image -> maxout (or LeakyReLU) MLP with dropout -> one logit [B, 1].

    Attributes:
      hidden: widths of the hidden layers (the paper: (240, 240)).
      maxout_pieces: pieces per maxout unit (the paper: 5); 0 uses LeakyReLU(0.2).
      dropout_rate: dropout on the input and hidden layers in training (Flax's drop
        probability; the paper used dropout, rate 0.2 on inputs and 0.5 on hidden units).
      input_dropout_rate: dropout on the input pixels.
      dtype: compute dtype (logits float32).

    Example:
      >>> d = MLPDiscriminator(hidden=(32, 32))
      >>> x = jnp.zeros((2, 28, 28, 1))
      >>> logits, v = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), x))
      >>> logits.shape
      (2, 1)
    """

    hidden: Sequence[int] = (240, 240)
    maxout_pieces: int = 5
    dropout_rate: float = 0.5
    input_dropout_rate: float = 0.2
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.maxout_pieces < 0:
            raise ValueError(f"maxout_pieces must be >= 0, got {self.maxout_pieces}.")
        h = x.reshape(x.shape[0], -1).astype(self.dtype)  # [B, H*W*C]
        h = nn.Dropout(self.input_dropout_rate, deterministic=not train)(h)
        for width in self.hidden:
            if self.maxout_pieces:
                h = Maxout(width, self.maxout_pieces, self.dtype)(h)
            else:
                h = nn.leaky_relu(nn.Dense(width, dtype=self.dtype)(h), 0.2)
            h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        return nn.Dense(1, dtype=self.dtype)(h).astype(jnp.float32)  # [B, 1]


# name -> (generator "module:Class", discriminator "module:Class", generator input kind)
GAN_MODELS: dict[str, tuple[str, str, str]] = {
    "mlp_gan": ("jaxdl.models.gan:MLPGenerator", "jaxdl.models.gan:MLPDiscriminator", "latent"),
    "dcgan": (
        "jaxdl.models.dcgan:DCGANGenerator",
        "jaxdl.models.dcgan:DCGANDiscriminator",
        "latent",
    ),
    # The compact StyleGAN is judged by the DCGAN discriminator (see stylegan.py).
    "stylegan": (
        "jaxdl.models.stylegan:StyleGenerator",
        "jaxdl.models.dcgan:DCGANDiscriminator",
        "latent",
    ),
    "pix2pix": (
        "jaxdl.models.pix2pix:Pix2PixGenerator",
        "jaxdl.models.pix2pix:PatchDiscriminator",
        "image",
    ),
}


def _load(path: str) -> type:
    module, cls = path.split(":")
    return getattr(importlib.import_module(module), cls)


def create_gan(
    name: str,
    image_shape: Sequence[int],
    *,
    latent_dim: int = 100,
    dtype: Any = jnp.float32,
    generator_kwargs: dict | None = None,
    discriminator_kwargs: dict | None = None,
) -> tuple[nn.Module, nn.Module]:
    """Builds the (generator, discriminator) pair registered as ``name``.

    Args:
      name: one of ``GAN_MODELS`` (``mlp_gan``, ``dcgan``, ``stylegan``, ``pix2pix``).
      image_shape: (H, W, C) of the generated images.
      latent_dim: size of z (ignored by image-conditioned generators).
      dtype: compute dtype of both players.
      generator_kwargs: further generator fields (e.g. ``base_width``).
      discriminator_kwargs: further discriminator fields.

    Returns:
      ``(generator, discriminator)``, unbound Flax modules.

    Example:
      >>> g, d = create_gan("dcgan", (32, 32, 1), latent_dim=100)
      >>> type(g).__name__, type(d).__name__, g.latent_dim
      ('DCGANGenerator', 'DCGANDiscriminator', 100)
    """
    if name not in GAN_MODELS:
        raise ValueError(f"Unknown GAN {name!r}; registered: {sorted(GAN_MODELS)}.")
    g_path, d_path, kind = GAN_MODELS[name]
    g_cls, d_cls = _load(g_path), _load(d_path)
    g_kwargs = {"image_shape": tuple(image_shape), "dtype": dtype, **(generator_kwargs or {})}
    if kind == "latent" and "latent_dim" in g_cls.__dataclass_fields__:
        g_kwargs["latent_dim"] = latent_dim
    if kind == "image":  # pix2pix: the generator's output channels
        g_kwargs.pop("image_shape")
        g_kwargs.setdefault("out_channels", int(image_shape[-1]))
    d_kwargs = {"dtype": dtype, **(discriminator_kwargs or {})}
    for cls, kwargs in ((g_cls, g_kwargs), (d_cls, d_kwargs)):
        fields = set(cls.__dataclass_fields__) - {"parent", "name"}
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise ValueError(
                f"{cls.__name__} of {name!r} has no field(s) {unknown}; valid: {sorted(fields)}."
            )
    return g_cls(**g_kwargs), d_cls(**d_kwargs)
