"""Fast training recipes of the time-to-accuracy suite: network, whitening, optimizer.

One small VGG-like network family (``SpeedNet``) serves both recipes, in the style of
airbench (Jordan 2024):

  x [B, H, W, C] -> whiten: conv k x k VALID, 2 k^2 C maps, FROZEN (patch whitening)
    -> GELU -> per width w: [conv 3x3 w -> maxpool 2 -> BN -> GELU -> conv 3x3 w
    -> BN -> GELU] -> global max pool -> dense (no bias) x ``scale`` -> logits

BN has no learned scale (a shift only), so the conv kernels before it are scale
invariant; every 3x3 conv starts as an identity (Dirac) on its first ``C_in`` output
maps plus the usual fan-in uniform noise.

Patch whitening (``patch_whitening``): with p the k x k x C training patches (mean
mu, covariance Sigma = V diag(lambda) V^T), the first layer's kernel is
``W = V diag(1 / sqrt(lambda + eps))`` and ``-W`` (both signs survive the GELU), its
bias ``-W^T mu``: each output map is one principal component of the patches with unit
variance. Computed on device from the first ``whiten_images`` training images, inside
the timed run.

Optimizer (``optimizer``): airbench's hyperparameters are given for a SUMMED loss and
PyTorch's SGD; here they are converted to the mean loss (what ``classification_steps``
differentiates). With ``s = 1024 (1 + 1 / (1 - rho))``: learning rate
``gamma = lr B / s`` (biases: x ``bias_scale``), per-step decay ``d = wd B / s``
applied as a coupled L2 term ``kappa = d / gamma`` (so ``gamma kappa = d``), then
Nesterov momentum ``rho`` (``jaxdl.optim.nesterov``). The rate follows
``gamma(t) = peak * interp(t, [0, warmup T, T], [0.2, 1, 0])`` over the T steps of
the epoch budget. The whitening kernel is frozen (``optax.set_to_zero``).

References:
  Jordan. 94% on CIFAR-10 in 3.29 seconds on a single GPU. arXiv:2404.00498, 2024
  (airbench: whitening init, Dirac init, alternating flip, scaled outputs).
  Page. How to train your ResNet (series), 2018 (fast CIFAR-10 training).
  Szegedy et al. Rethinking the Inception architecture. CVPR 2016 (label smoothing).
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxdl.optim.momentum import nesterov
from jaxdl.optim.weight_decay import add_weight_decay


class Recipe(NamedTuple):
    """Hyperparameters of one time-to-accuracy recipe (airbench's summed-loss units)."""

    dataset: str  # name for jaxdl.data.load
    target: float  # test accuracy to reach
    widths: tuple[int, ...]  # channels of the conv blocks
    batch_size: int
    epochs: int  # epoch budget (the schedule's length; the run stops at the target)
    lr: float  # summed-loss learning rate (see module docstring)
    momentum: float
    weight_decay: float
    bias_scale: float
    label_smoothing: float
    flip: bool  # alternating horizontal flips
    translate: int  # random translation (reflect padding) in pixels
    tta_flip: bool  # evaluate on the image and its mirror
    whiten_kernel: int = 2
    whiten_images: int = 5000
    whiten_eps: float = 5e-4
    warmup: float = 0.2  # fraction of the steps to the peak rate
    scale: float = 1 / 9  # logit multiplier
    bn_momentum: float = 0.4  # Flax's (PyTorch's 0.6)


RECIPES = {
    # airbench94's published hyperparameters (10 epochs for its 9.9).
    "cifar10": Recipe(
        "cifar10", 0.94, (64, 256, 256), 1024, 10, 11.5, 0.85, 0.0153, 64.0, 0.2,
        flip=True, translate=2, tta_flip=True,
    ),
    # The same family shrunk for 28x28 digits: two blocks, no flips (digits are not
    # mirror symmetric), a one-pixel translation.
    "mnist": Recipe(
        "mnist", 0.99, (16, 32), 256, 4, 11.5, 0.85, 0.0153, 64.0, 0.1,
        flip=False, translate=1, tta_flip=False,
    ),
}  # fmt: skip


def dirac_uniform(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    """U(+-1/sqrt(fan_in)) kernel [kh, kw, C_in, C_out] plus an identity on its first C_in maps."""
    kh, kw, cin, cout = shape
    bound = 1.0 / jnp.sqrt(kh * kw * cin)
    w = jax.random.uniform(key, shape, dtype, -bound, bound)
    n = min(cin, cout)
    eye = jnp.zeros((kh, kw, cin, n), dtype).at[kh // 2, kw // 2].set(jnp.eye(cin, n, dtype=dtype))
    return w.at[..., :n].add(eye)


class ConvBlock(nn.Module):
    """conv 3x3 -> maxpool 2 -> BN (shift only) -> GELU -> conv 3x3 -> BN -> GELU."""

    features: int
    bn_momentum: float = 0.4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        def bn(y, name):
            return nn.BatchNorm(
                use_running_average=not train, momentum=self.bn_momentum, use_scale=False,
                epsilon=1e-12, dtype=self.dtype, name=name,
            )(y)  # fmt: skip

        def conv(y, name):
            return nn.Conv(
                self.features, (3, 3), padding="SAME", use_bias=False,
                kernel_init=dirac_uniform, dtype=self.dtype, name=name,
            )(y)  # fmt: skip

        x = nn.max_pool(conv(x, "conv1"), (2, 2), (2, 2))  # [B, H/2, W/2, w]
        x = nn.gelu(bn(x, "bn1"))
        return nn.gelu(bn(conv(x, "conv2"), "bn2"))


class SpeedNet(nn.Module):
    """The recipes' network (see the module docstring); logits are float32 [B, classes]."""

    widths: Sequence[int]
    num_classes: int = 10
    whiten_kernel: int = 2
    scale: float = 1 / 9
    bn_momentum: float = 0.4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        k, c = self.whiten_kernel, x.shape[-1]
        x = nn.Conv(2 * k * k * c, (k, k), padding="VALID", dtype=self.dtype, name="whiten")(x)
        x = nn.gelu(x)  # [B, H-k+1, W-k+1, 2 k^2 C]
        for i, w in enumerate(self.widths):
            x = ConvBlock(w, self.bn_momentum, self.dtype, name=f"block{i}")(x, train)
        x = jnp.max(x, axis=(1, 2))  # [B, w_last]
        x = nn.Dense(self.num_classes, use_bias=False, dtype=self.dtype, name="head")(x)
        return x.astype(jnp.float32) * self.scale


def build_model(recipe: Recipe, num_classes: int, dtype: Any) -> SpeedNet:
    """``SpeedNet`` with the recipe's widths in compute ``dtype`` (params stay float32)."""
    return SpeedNet(
        recipe.widths, num_classes, recipe.whiten_kernel, recipe.scale, recipe.bn_momentum, dtype
    )


def patches(images: jax.Array, k: int) -> jax.Array:
    """All k x k patches of ``images`` [N, H, W, C] as rows [N (H-k+1) (W-k+1), k k C].

    The row layout (kh, kw, C) is the flattening of a Flax HWIO kernel's first axes.
    """
    n, h, w, c = images.shape
    views = [images[:, i : h - k + 1 + i, j : w - k + 1 + j, :] for i in range(k) for j in range(k)]
    return jnp.stack(views, axis=3).reshape(-1, k * k * c)


def patch_whitening(images: jax.Array, k: int, eps: float) -> tuple[jax.Array, jax.Array]:
    """Whitening kernel [k, k, C, 2 k^2 C] and bias [2 k^2 C] from normalised images.

    ``W = V / sqrt(lambda + eps)`` from the eigen-decomposition of the patch covariance,
    stacked with ``-W``; bias ``-W^T mu`` centres every output map.
    """
    p = patches(images.astype(jnp.float32), k)  # [P, d]
    mu = p.mean(0)
    centred = p - mu
    cov = centred.T @ centred / p.shape[0]  # [d, d]
    lam, vecs = jnp.linalg.eigh(cov)
    w = vecs / jnp.sqrt(lam + eps)  # [d, d], column j = component j
    w = jnp.concatenate([w, -w], axis=1)  # [d, 2d]
    d, c = w.shape[0], images.shape[-1]
    return w.reshape(k, k, c, 2 * d), -(mu @ w)


def param_labels(params: Any) -> Any:
    """'frozen' for the whitening kernel, 'bias' for biases / BN shifts, 'weight' otherwise."""

    def label(path, _):
        names = [getattr(p, "key", str(p)) for p in path]
        if names[0] == "whiten" and names[-1] == "kernel":
            return "frozen"
        return "bias" if names[-1] == "bias" else "weight"

    return jax.tree_util.tree_map_with_path(label, params)


def lr_schedule(peak: float, total_steps: int, warmup: float) -> optax.Schedule:
    """``peak * interp(t, [0, warmup T, T], [0.2, 1, 0])`` (linear warm-up, linear decay)."""
    knots = jnp.array([0.0, max(1.0, warmup * total_steps), max(2.0, float(total_steps))])
    values = jnp.array([0.2, 1.0, 0.0])
    return lambda t: peak * jnp.interp(t, knots, values)


def optimizer(recipe: Recipe, batch_size: int, total_steps: int) -> optax.GradientTransformation:
    """Nesterov SGD with coupled L2, in mean-loss units (see the module docstring)."""
    s = 1024 * (1 + 1 / (1 - recipe.momentum))
    gamma = recipe.lr * batch_size / s
    decay = recipe.weight_decay * batch_size / s  # per-step decay gamma * kappa

    def group(rate):
        return optax.chain(
            add_weight_decay(decay / rate, mask=None),
            nesterov(lr_schedule(rate, total_steps, recipe.warmup), recipe.momentum),
        )

    transforms = {
        "weight": group(gamma),
        "bias": group(gamma * recipe.bias_scale),
        "frozen": optax.set_to_zero(),
    }
    return optax.multi_transform(transforms, param_labels)


def augment(
    recipe: Recipe, images: jax.Array, flips: jax.Array | None, key: jax.Array
) -> jax.Array:
    """Training augmentation of normalised images [B, H, W, C]: given flips, translation."""
    from jaxdl.data.augment import random_crop

    if recipe.flip and flips is not None:
        images = jnp.where(flips[:, None, None, None], images[:, :, ::-1], images)
    if recipe.translate:
        images = random_crop(key, images, padding=recipe.translate, mode="reflect")
    return images
