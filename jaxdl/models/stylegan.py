"""A compact StyleGAN generator (Karras et al. 2019/2020) for 32x32 images.

What it keeps of StyleGAN:

- **Mapping network** ``f: z -> w``: the latent z (normalised by pixel norm) goes
  through an MLP of LeakyReLU(0.2) layers to an intermediate latent w; its layers use
  the paper's learning-rate multiplier (``mapping_lr_mul = 0.01``).
- **Learned constant input**: synthesis starts from a learned 4x4 tensor, not from z.
- **Per-layer style modulation** by MODULATED/DEMODULATED convolutions (StyleGAN2,
  chosen over StyleGAN1's AdaIN because it removes the "droplet" artifacts AdaIN's
  per-map normalisation causes): each layer's affine map ``A(w)`` gives per-input-channel
  scales s; the conv weight is ``w'_ijk = s_i w_ijk`` and demodulated by
  ``1 / sqrt(sum_ik w'_ijk^2 + eps)``. Implemented exactly, without per-sample weights,
  by scaling the activations: ``conv(x * s, w) * d_j`` (the two are equal because the
  convolution is linear in each input channel).
- **Noise inputs**: per-pixel N(0, 1) noise, one map per layer, added with learned
  per-channel strengths (initialised to 0) before the bias and nonlinearity.
- **Style mixing** (regularisation): in training, with probability ``mixing_prob`` an
  example's styles switch from w1 = f(z1) to w2 = f(z2) at a random crossover layer.
  ``map`` and ``synthesize`` expose the two halves for style-mixing grids.
- Equalised learning rate (weights drawn from N(0, 1) and scaled by ``1/sqrt(fan_in)``
  at run time) in the mapping, the style affines and the convolutions.
- **Truncation trick** (sampling only): ``w' = w_avg + psi (w - w_avg)`` (``truncate``),
  with ``w_avg`` a moving average of the mapped w tracked in training
  (``update_w_avg``: ``w_avg <- beta w_avg + (1 - beta) mean_batch(w)``, beta = 0.995)
  and kept in the ``'w_avg'`` variable collection (model state: checkpointed with the
  parameters). ``psi = 1`` is no truncation; ``psi < 1`` trades variety for typicality.
  The R1 penalty on D is in ``jaxdl.training.gan_losses.r1_penalty``.

What it drops, for size: progressive growing / skip-or-residual RGB outputs (one toRGB
at the end), path-length regularisation and the StyleGAN discriminator:
``create_gan('stylegan', ...)`` pairs this generator with the DCGAN discriminator, so a
comparison with DCGAN isolates the generator. The output is squashed by tanh
(StyleGAN's is linear) so every generator here shares the [-1, 1] range.

Layers at 32x32: 4x4 (const -> conv), then per resolution 8, 16, 32 an upsampling conv
(bilinear x2 then 3x3) and a 3x3 conv, then toRGB (1x1, modulated, not demodulated):
``num_ws = 2 + 2 * 3 = 8`` styles.

References:
  Karras, Laine, Aila. A style-based generator architecture for generative adversarial
  networks. CVPR 2019 (arXiv:1812.04948): mapping network, constant input, AdaIN,
  noise, style mixing (sections 2-3).
  Karras et al. Analyzing and improving the image quality of StyleGAN. CVPR 2020
  (arXiv:1912.04958): weight modulation/demodulation (section 2.2, eq. 1-3); the
  truncation trick (Karras 2019, section 3.1 / appendix B) with the w_avg moving average
  of the official code (``w_avg_beta = 0.995``).
  Karras, Aila, Laine, Lehtinen. Progressive growing of GANs. ICLR 2018 (equalised
  learning rate, pixel norm).
"""

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = [
    "EqualDense",
    "MappingNetwork",
    "ModulatedConv",
    "StyleGenerator",
    "Synthesis",
    "truncate",
    "update_w_avg",
]

_SQRT2 = math.sqrt(2.0)


def _lrelu(x: jax.Array) -> jax.Array:
    # LeakyReLU(0.2) with StyleGAN's gain sqrt(2), which keeps the variance ~1 per layer.
    return nn.leaky_relu(x, 0.2) * _SQRT2


def truncate(w: jax.Array, w_avg: jax.Array, psi: float | jax.Array = 1.0) -> jax.Array:
    """The truncation trick: ``w' = w_avg + psi (w - w_avg)``.

    Pulls each intermediate latent towards the average ``w_avg`` by the factor ``psi``:
    ``psi = 1`` returns ``w`` unchanged (exactly, when ``psi`` is a Python number),
    ``psi = 0`` maps every latent to ``w_avg`` (the "mean image"), ``0 < psi < 1`` trades
    variety for typical, better-formed samples; applied at sampling, never in training.

    Args:
      w: intermediate latents, [..., w_dim] (e.g. [B, w_dim] or [B, num_ws, w_dim]).
      w_avg: the average latent, [w_dim] (broadcast against ``w``).
      psi: the truncation factor (a number or a traced scalar).

    Returns:
      The truncated latents, shaped like ``w``.

    Example:
      >>> w, w_avg = jnp.array([[2.0, -1.0]]), jnp.array([1.0, 1.0])
      >>> truncate(w, w_avg, 0.5)  # 1 + 0.5 (2 - 1), 1 + 0.5 (-1 - 1)
      Array([[1.5, 0. ]], dtype=float32)

    References:
      Karras, Laine, Aila. A style-based generator architecture for GANs. CVPR 2019,
      section 3.1 and appendix B.
    """
    if isinstance(psi, int | float) and psi == 1:
        return w
    return w_avg + psi * (w - w_avg)


def update_w_avg(w_avg: jax.Array, w: jax.Array, beta: float) -> jax.Array:
    """One step of the moving average of w: ``beta * w_avg + (1 - beta) * mean_batch(w)``.

    StyleGAN2's code: ``w_avg.copy_(w.mean(0).lerp(w_avg, beta))`` once per generator
    pass in training, beta = 0.995 (the average spans ~1 / (1 - beta) = 200 steps).

    Args:
      w_avg: the current average, [w_dim].
      w: this batch's mapped latents, [B, w_dim].
      beta: decay in [0, 1) (0 keeps only the batch mean).

    Returns:
      The new average, [w_dim] float32.

    Example:
      >>> update_w_avg(jnp.zeros(2), jnp.array([[1.0, 2.0], [3.0, 6.0]]), 0.75)
      Array([0.5, 1. ], dtype=float32)
    """
    mean = jnp.mean(w.astype(jnp.float32), axis=0)  # [w_dim]
    return beta * w_avg.astype(jnp.float32) + (1.0 - beta) * mean


def _num_levels(image_shape: Sequence[int]) -> int:
    side = image_shape[0]
    n = int(round(math.log2(max(side, 1) / 4))) if side >= 4 else 0
    if side != image_shape[1] or 4 * 2**n != side or n < 1:
        raise ValueError(
            "StyleGAN synthesis needs square images of side 4 * 2^n (8, 16, 32, 64...), "
            f"got {tuple(image_shape[:2])}; pad e.g. 28x28 images to 32 (data.pad_to)."
        )
    return n


class EqualDense(nn.Module):
    """Dense layer with equalised learning rate: ``y = x (lr_mul W / sqrt(N)) + lr_mul b``.

    Attributes:
      features: outputs.
      lr_mul: learning-rate multiplier (W ~ N(0, 1/lr_mul^2) stored, scaled at run time).
      bias_init: initial bias value (style affines start at 1: identity modulation).
      dtype: compute dtype.

    Example:
      >>> x = jnp.ones((2, 32))
      >>> y, v = jax.eval_shape(lambda: EqualDense(64).init_with_output(jax.random.key(0), x))
      >>> y.shape
      (2, 64)
    """

    features: int
    lr_mul: float = 1.0
    bias_init: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        n = x.shape[-1]
        w = self.param("kernel", jax.nn.initializers.normal(1.0 / self.lr_mul), (n, self.features))
        b = self.param(
            "bias", jax.nn.initializers.constant(self.bias_init / self.lr_mul), (self.features,)
        )
        scale = self.lr_mul / math.sqrt(n)
        return x.astype(self.dtype) @ (w * scale).astype(self.dtype) + (b * self.lr_mul).astype(
            self.dtype
        )


class MappingNetwork(nn.Module):
    """``z -> pixel_norm -> [EqualDense -> LeakyReLU]*num_layers -> w`` [B, w_dim].

    Attributes:
      w_dim: size of w.
      num_layers: MLP depth (StyleGAN: 8).
      lr_mul: learning-rate multiplier of its layers (StyleGAN: 0.01).
      dtype: compute dtype (w returned in float32).
    """

    w_dim: int = 128
    num_layers: int = 4
    lr_mul: float = 0.01
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        z = z.astype(jnp.float32)
        x = z * jax.lax.rsqrt(jnp.mean(z * z, axis=-1, keepdims=True) + 1e-8)  # pixel norm
        for _ in range(self.num_layers):
            x = _lrelu(EqualDense(self.w_dim, self.lr_mul, dtype=self.dtype)(x))
        return x.astype(jnp.float32)


class ModulatedConv(nn.Module):
    """Modulated (and optionally demodulated) convolution, NHWC, stride 1, 'SAME'.

    Attributes:
      features: output channels.
      kernel_size: square kernel side.
      demodulate: divide each output channel by the norm of its modulated weights.
      dtype: compute dtype.

    Example:
      >>> x, w = jnp.ones((2, 8, 8, 4)), jnp.ones((2, 32))
      >>> y, v = jax.eval_shape(lambda: ModulatedConv(16).init_with_output(jax.random.key(0), x, w))
      >>> y.shape
      (2, 8, 8, 16)
    """

    features: int
    kernel_size: int = 3
    demodulate: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
        cin, k = x.shape[-1], self.kernel_size
        s = EqualDense(cin, bias_init=1.0, dtype=jnp.float32, name="affine")(w)  # [B, Cin]
        kernel = self.param(
            "kernel", jax.nn.initializers.normal(1.0), (k, k, cin, self.features)
        ) / math.sqrt(k * k * cin)  # equalised learning rate
        y = jax.lax.conv_general_dilated(
            (x.astype(jnp.float32) * s[:, None, None, :]).astype(self.dtype),
            kernel.astype(self.dtype),
            window_strides=(1, 1),
            padding="SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        ).astype(jnp.float32)  # [B, H, W, Cout]
        if self.demodulate:
            # sum_{k,k,i} (s_i w_kkij)^2 = (s^2) @ (sum_kk w^2): [B, Cout]
            d = jax.lax.rsqrt((s * s) @ jnp.sum(kernel * kernel, axis=(0, 1)) + 1e-8)
            y = y * d[:, None, None, :]
        return y


class StyleLayer(nn.Module):
    """[bilinear x2 upsampling] -> modulated 3x3 conv -> + noise -> + bias -> LeakyReLU."""

    features: int
    upsample: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array, noise: bool = True) -> jax.Array:
        if self.upsample:
            B, H, W, C = x.shape
            x = jax.image.resize(x, (B, 2 * H, 2 * W, C), "bilinear")
        y = ModulatedConv(self.features, 3, dtype=self.dtype)(x, w)  # [B, H, W, F]
        strength = self.param("noise_strength", nn.initializers.zeros, (self.features,))
        if noise:
            n = jax.random.normal(self.make_rng("noise"), (*y.shape[:3], 1))  # per pixel
            y = y + n * strength
        y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return _lrelu(y)


class Synthesis(nn.Module):
    """Constant 4x4 input -> style layers up to ``image_shape`` -> toRGB (tanh).

    Attributes:
      image_shape: (H, W, C), square with side 4 * 2^n.
      base_width: channels at the output resolution, doubled per halving, capped at
        ``max_width``.
      max_width: cap on the channels (at the low resolutions).
      dtype: compute dtype.
    """

    image_shape: Sequence[int] = (32, 32, 1)
    base_width: int = 32
    max_width: int = 128
    dtype: Any = jnp.float32

    @property
    def num_levels(self) -> int:
        """Upsampling levels above 4x4 (3 at 32x32)."""
        return _num_levels(self.image_shape)

    @property
    def num_ws(self) -> int:
        """Styles consumed: one per conv layer plus one for toRGB."""
        return 2 + 2 * self.num_levels

    def width(self, level: int) -> int:
        """Channels at resolution ``4 * 2**level``."""
        return min(self.max_width, self.base_width * 2 ** (self.num_levels - level))

    @nn.compact
    def __call__(self, ws: jax.Array, noise: bool = True) -> jax.Array:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"Synthesis expects ws [B, {self.num_ws}, w_dim], got {ws.shape}.")
        B = ws.shape[0]
        const = self.param("const", nn.initializers.normal(1.0), (4, 4, self.width(0)))
        x = jnp.broadcast_to(const, (B, *const.shape))  # [B, 4, 4, C0]
        x = StyleLayer(self.width(0), dtype=self.dtype, name="b4_conv")(x, ws[:, 0], noise)
        i = 1
        for level in range(1, self.num_levels + 1):
            r, ch = 4 * 2**level, self.width(level)
            x = StyleLayer(ch, upsample=True, dtype=self.dtype, name=f"b{r}_up")(x, ws[:, i], noise)
            x = StyleLayer(ch, dtype=self.dtype, name=f"b{r}_conv")(x, ws[:, i + 1], noise)
            i += 2
        rgb = ModulatedConv(self.image_shape[2], 1, demodulate=False, name="to_rgb")(x, ws[:, i])
        rgb = rgb + self.param("rgb_bias", nn.initializers.zeros, (self.image_shape[2],))
        return jnp.tanh(rgb)  # [B, H, W, C]


class StyleGenerator(nn.Module):
    """z -> mapping -> w -> (style mixing in training) -> synthesis -> image [B, H, W, C].

    Attributes:
      image_shape: (H, W, C).
      latent_dim: size of z.
      w_dim: size of w.
      mapping_layers: depth of the mapping network.
      mapping_lr_mul: learning-rate multiplier of the mapping network.
      base_width: synthesis channels at the output resolution.
      max_width: cap on the synthesis channels.
      mixing_prob: probability of style mixing per training example (StyleGAN: 0.9).
      w_avg_beta: decay of the moving average ``w_avg`` of w (truncation trick).
      dtype: compute dtype.

    Randomness: the ``'noise'`` RNG stream feeds the noise inputs and the style mixing.
    Model state: ``{'w_avg': {'w_avg': [w_dim]}}``, updated by ``update_w_avg`` in each
    training call made with the collection mutable (``mutable=['w_avg']``); a call with
    ``psi`` < 1 truncates every w towards it (``truncate``).

    Example:
      >>> g = StyleGenerator((32, 32, 1))
      >>> k1, k2 = jax.random.split(jax.random.key(0))
      >>> z = jnp.zeros((2, 128))
      >>> x, v = jax.eval_shape(lambda: g.init_with_output({"params": k1, "noise": k2}, z))
      >>> x.shape  # shapes only: nothing is computed
      (2, 32, 32, 1)
      >>> jax.eval_shape(lambda v: g.apply(v, z, method=StyleGenerator.map), v).shape
      (2, 128)
      >>> v["w_avg"]["w_avg"].shape  # the average w of the truncation trick
      (128,)
    """

    image_shape: Sequence[int] = (32, 32, 1)
    latent_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    mapping_lr_mul: float = 0.01
    base_width: int = 32
    max_width: int = 128
    mixing_prob: float = 0.9
    w_avg_beta: float = 0.995
    dtype: Any = jnp.float32

    def setup(self):
        self.mapping = MappingNetwork(
            self.w_dim, self.mapping_layers, self.mapping_lr_mul, dtype=self.dtype
        )
        self.synthesis = Synthesis(self.image_shape, self.base_width, self.max_width, self.dtype)
        self.w_avg = self.variable("w_avg", "w_avg", lambda: jnp.zeros((self.w_dim,), jnp.float32))

    @property
    def num_ws(self) -> int:
        """Number of per-layer styles (8 at 32x32)."""
        return 2 + 2 * _num_levels(self.image_shape)

    def map(self, z: jax.Array) -> jax.Array:
        """``w = f(z)``, [B, w_dim]."""
        return self.mapping(z)

    def synthesize(self, ws: jax.Array, noise: bool = True) -> jax.Array:
        """Images from per-layer styles ``ws`` [B, num_ws, w_dim] (style-mixing grids)."""
        return self.synthesis(ws, noise)

    def __call__(
        self, z: jax.Array, train: bool = False, noise: bool = True, psi: float = 1.0
    ) -> jax.Array:
        B, n_ws = z.shape[0], self.num_ws
        w = self.mapping(z)  # [B, w_dim]
        if train and self.is_mutable_collection("w_avg") and not self.is_initializing():
            self.w_avg.value = update_w_avg(self.w_avg.value, w, self.w_avg_beta)
        w = truncate(w, self.w_avg.value, psi)
        ws = jnp.broadcast_to(w[:, None], (B, n_ws, w.shape[-1]))  # [B, num_ws, w_dim]
        if train and self.mixing_prob > 0:
            k_z, k_cross, k_mix = jax.random.split(self.make_rng("noise"), 3)
            w2 = truncate(
                self.mapping(jax.random.normal(k_z, z.shape, z.dtype)), self.w_avg.value, psi
            )
            cross = jax.random.randint(k_cross, (B,), 1, n_ws)  # first layer using w2
            mix = jax.random.uniform(k_mix, (B,)) < self.mixing_prob
            use_w2 = mix[:, None] & (jnp.arange(n_ws)[None, :] >= cross[:, None])  # [B, n_ws]
            ws = jnp.where(use_w2[..., None], w2[:, None], ws)
        return self.synthesis(ws, noise)
