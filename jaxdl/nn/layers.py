"""Layers of the course's classic networks that Flax does not provide.

- ``RBFOutput``: LeNet-5's Euclidean radial-basis output units.
- ``LocalResponseNorm``: AlexNet's normalization across neighbouring channels.
- ``ConvBN``: convolution (+ batch norm) (+ ReLU), the unit every CNN here is built of.
- ``BasicBlock`` / ``BottleneckBlock``: the residual blocks shared by every
  ResNet-style model (ImageNet ResNets, CIFAR ResNets and their plain counterparts).

All layers are NHWC. Convolutions are He-initialised, ``N(0, 2 / fan_in)``
(``jaxdl.nn.initializers.he()``, untruncated), with biases zero. Batch norm uses
momentum 0.9 (Flax's convention: ``ra <- 0.9 ra + 0.1 batch``, which is PyTorch's
``momentum=0.1``; running var from the biased batch variance) and eps 1e-5. Under
``jax.jit`` with the batch sharded over a mesh, the BN batch statistics are those of
the GLOBAL batch (XLA inserts the cross-device reductions), i.e. synchronized BN
without an ``axis_name``.

References:
  LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document
  recognition. Proc. IEEE 1998 (section II.B, output layer).
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional
  neural networks. NeurIPS 2012 (section 3.3, local response normalization).
  Ioffe, Szegedy. Batch normalization. ICML 2015.
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016
  (arXiv:1512.03385; section 3.3 and 4.2 for the shortcut options).
  Goyal et al. Accurate, large minibatch SGD. arXiv:1706.02677 (zero-init of the last
  BN scale in each residual branch).
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn.fusion import materialize
from jaxdl.nn.initializers import he

__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "SHORTCUTS",
    "BasicBlock",
    "BottleneckBlock",
    "ConvBN",
    "LocalResponseNorm",
    "RBFOutput",
]

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
SHORTCUTS = ("projection", "option_a", "none")


class RBFOutput(nn.Module):
    """Euclidean RBF units: ``y_j = sum_i (h_i - w_ij)^2`` (LeNet-5's output layer).

    Each output is a squared distance, so SMALLER means more likely: a classifier
    uses ``-y`` as logits (what LeNet-5's model does). In the paper the centres are
    fixed +1/-1 bitmaps of stylised 7x12 characters; here they are parameters
    initialised uniformly in {-1, +1} (``trainable=False`` keeps them out of the
    gradient by ``stop_gradient``, which is the paper's setting).

    Attributes:
      features: number of RBF units (classes).
      trainable: whether the centres receive gradient.
      centre_init: initializer of the [N, features] centre matrix.

    Example:
      >>> h = jnp.ones((2, 84))
      >>> y, v = jax.eval_shape(lambda: RBFOutput(10).init_with_output(jax.random.key(0), h))
      >>> y.shape, v["params"]["centres"].shape  # shapes only: nothing is computed
      ((2, 10), (84, 10))
    """

    features: int
    trainable: bool = False
    centre_init: Callable = jax.nn.initializers.uniform(1.0)

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        def init(key, shape, dtype=jnp.float32):
            # +1/-1 codes like the paper's bitmaps.
            return jnp.sign(self.centre_init(key, shape, dtype) - 0.5)

        centres = self.param("centres", init, (h.shape[-1], self.features))  # [N, K]
        if not self.trainable:
            centres = jax.lax.stop_gradient(centres)
        h = h.astype(jnp.float32)
        # ||h||^2 - 2 h.w + ||w||^2, all [B, K]
        return (
            jnp.sum(h * h, axis=-1, keepdims=True)
            - 2.0 * h @ centres
            + jnp.sum(centres * centres, axis=0)
        )


class LocalResponseNorm(nn.Module):
    """AlexNet's local response normalization across channels (NHWC).

    ``b[..., i] = a[..., i] / (k + alpha * sum_{j=i-n//2}^{i+n//2} a[..., j]^2)^beta``,
    the sum running over the ``n`` neighbouring channels that exist (zero beyond the
    edges). Defaults are the paper's ``k=2, n=5, alpha=1e-4, beta=0.75``.

    Convention: ``alpha`` multiplies the SUM, as in the paper. PyTorch's
    ``nn.LocalResponseNorm`` (and Caffe) multiply the MEAN, ``alpha / n * sum``, so the
    paper's layer is ``torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)``.
    The squares and the sum are computed in float32 whatever the input dtype.

    Attributes:
      size: n, the (odd) number of channels in the window.
      k: additive constant.
      alpha: scale of the sum of squares.
      beta: exponent.
      dtype: output dtype (None: the input's).

    Example:
      >>> LocalResponseNorm().apply({}, jnp.ones((2, 8, 8, 96))).shape
      (2, 8, 8, 96)
    """

    size: int = 5
    k: float = 2.0
    alpha: float = 1e-4
    beta: float = 0.75
    dtype: Any = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.size < 1 or self.size % 2 == 0:
            raise ValueError(f"LocalResponseNorm size must be a positive odd int, got {self.size}.")
        half = self.size // 2
        x32 = x.astype(jnp.float32)
        window = (1,) * (x.ndim - 1) + (self.size,)
        padding = ((0, 0),) * (x.ndim - 1) + ((half, half),)
        sq_sum = jax.lax.reduce_window(x32 * x32, 0.0, jax.lax.add, window, (1,) * x.ndim, padding)
        y = x32 / (self.k + self.alpha * sq_sum) ** self.beta
        return y.astype(self.dtype or x.dtype)


class ConvBN(nn.Module):
    """``Conv -> [BatchNorm] -> [ReLU]``, the building unit of the CNNs here.

    Attributes:
      features: output channels.
      kernel_size: square kernel side.
      strides: square stride.
      padding: symmetric zero padding in pixels (None: ``kernel_size // 2``, which
        keeps the size at stride 1 and matches the papers' layouts at stride 2), or a
        Flax padding string.
      batch_norm: add BN after the convolution (then the conv has no bias by default).
      relu: apply ReLU at the end.
      use_bias: conv bias (None: only without batch norm).
      feature_group_count: grouped convolution (AlexNet's two-GPU towers).
      zero_init_scale: initialise the BN scale to 0 (last BN of a residual branch).
      kernel_init / bias_init: conv initializers.
      dtype: compute dtype; parameters and BN statistics stay float32.

    Example:
      >>> x = jnp.ones((2, 32, 32, 3))
      >>> layer = ConvBN(16, 7, 2)
      >>> y, v = jax.eval_shape(lambda: layer.init_with_output(jax.random.key(0), x, train=False))
      >>> y.shape, sorted(v)
      ((2, 16, 16, 16), ['batch_stats', 'params'])
    """

    features: int
    kernel_size: int
    strides: int = 1
    padding: int | str | None = None
    batch_norm: bool = True
    relu: bool = True
    use_bias: bool | None = None
    feature_group_count: int = 1
    zero_init_scale: bool = False
    kernel_init: Callable = he()
    bias_init: Callable = jax.nn.initializers.zeros
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        pad = self.kernel_size // 2 if self.padding is None else self.padding
        use_bias = (not self.batch_norm) if self.use_bias is None else self.use_bias
        x = nn.Conv(
            self.features,
            (self.kernel_size, self.kernel_size),
            self.strides,
            padding=pad,
            use_bias=use_bias,
            feature_group_count=self.feature_group_count,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            dtype=self.dtype,
            name="conv",
        )(x)
        if self.batch_norm:
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=BN_MOMENTUM,
                epsilon=BN_EPSILON,
                scale_init=nn.initializers.zeros if self.zero_init_scale else nn.initializers.ones,
                dtype=self.dtype,
                name="bn",
            )(x)
        return nn.relu(x) if self.relu else x


def _check_block(shortcut: str, strides: int) -> None:
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}.")
    if strides not in (1, 2):
        raise ValueError(f"residual block strides must be 1 or 2, got {strides}.")


def _shortcut(x: jax.Array, out: int, strides: int, kind: str, train: bool, dtype: Any):
    """The identity path ``h^k`` of a residual block, reshaped to ``[B, H/s, W/s, out]``.

    Identity when nothing changes; otherwise He et al.'s option B ('projection':
    1x1 conv with stride + BN) or option A ('option_a': subsample by taking every
    s-th pixel, then append ``out - C`` all-zero channels; parameter-free).
    """
    if strides == 1 and x.shape[-1] == out:
        return x
    if kind == "projection":
        return ConvBN(out, 1, strides, relu=False, dtype=dtype, name="shortcut")(x, train)
    if x.shape[-1] > out:
        raise ValueError(
            f"option_a shortcut can only add channels ({x.shape[-1]} -> {out}); "
            "use shortcut='projection' to reduce them."
        )
    x = x[:, ::strides, ::strides, :]  # [B, H/s, W/s, C]
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, out - x.shape[-1])))  # [B, H/s, W/s, out]


class BasicBlock(nn.Module):
    """Two 3x3 conv layers with a shortcut: ``relu(BN(W2 relu(BN(W1 h))) + S(h))``.

    The course's ``h^{k+2} = g(W^{k+1} g(W^k h^k) + h^k)`` with BN between each conv
    and its ReLU (He et al. 2015, fig. 2 left; used by ResNet-18/34 and the CIFAR
    6n+2 ResNets). The first conv carries the stride. ``S`` is the identity when the
    shape is unchanged, else set by ``shortcut`` ('projection' = option B, 'option_a'
    = zero-padded identity); ``shortcut='none'`` drops the addition (plain network).

    Attributes:
      filters: output channels.
      strides: 1, or 2 to halve H and W.
      shortcut: 'projection', 'option_a' or 'none'.
      zero_init_last_bn: start each block as the identity (Goyal et al. 2017).
      dtype: compute dtype.

    Example:
      >>> blk = BasicBlock(32, strides=2, shortcut="option_a")
      >>> x = jnp.ones((2, 32, 32, 16))
      >>> y, v = jax.eval_shape(lambda: blk.init_with_output(jax.random.key(0), x, train=False))
      >>> y.shape
      (2, 16, 16, 32)
    """

    filters: int
    strides: int = 1
    shortcut: str = "projection"
    zero_init_last_bn: bool = False
    dtype: Any = jnp.float32
    expansion = 1  # output channels = expansion * filters

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        _check_block(self.shortcut, self.strides)
        y = ConvBN(self.filters, 3, self.strides, dtype=self.dtype, name="conv1")(x, train)
        y = ConvBN(
            self.filters,
            3,
            relu=False,
            zero_init_scale=self.zero_init_last_bn,
            dtype=self.dtype,
            name="conv2",
        )(y, train)
        if self.shortcut != "none":
            y = y + _shortcut(x, self.filters, self.strides, self.shortcut, train, self.dtype)
        return materialize(nn.relu(y))  # stored, not recomputed by XLA:CPU: see nn/fusion.py


class BottleneckBlock(nn.Module):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), with a shortcut (ResNet-50/101/152).

    He et al. 2015, fig. 5 right: the 1x1 convs cut the channels the 3x3 conv sees
    by 4, so a bottleneck block costs about what a 64-channel basic block costs at 4x
    the width. BN after every conv, ReLU after the first two and after the sum.

    The stride sits on the 3x3 conv by default ("ResNet v1.5", torchvision's layout;
    same parameters, slightly better accuracy); ``stride_in_3x3=False`` puts it on the
    first 1x1 conv like the paper's released Caffe models.

    Attributes:
      filters: bottleneck width; the block outputs ``expansion * filters`` channels.
      strides: 1, or 2 to halve H and W.
      shortcut: 'projection', 'option_a' or 'none'.
      expansion: output/bottleneck channel ratio (4 in the paper).
      stride_in_3x3: where the stride goes (see above).
      zero_init_last_bn: start each block as the identity (Goyal et al. 2017).
      dtype: compute dtype.

    Example:
      >>> blk = BottleneckBlock(64)  # 64 -> 256 channels, projection shortcut
      >>> x = jnp.ones((2, 56, 56, 64))
      >>> y, v = jax.eval_shape(lambda: blk.init_with_output(jax.random.key(0), x, train=False))
      >>> y.shape, sorted(v["params"])
      ((2, 56, 56, 256), ['conv1', 'conv2', 'conv3', 'shortcut'])
    """

    filters: int
    strides: int = 1
    shortcut: str = "projection"
    expansion: int = 4
    stride_in_3x3: bool = True
    zero_init_last_bn: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        _check_block(self.shortcut, self.strides)
        s1, s3 = (1, self.strides) if self.stride_in_3x3 else (self.strides, 1)
        out = self.expansion * self.filters
        y = ConvBN(self.filters, 1, s1, dtype=self.dtype, name="conv1")(x, train)
        y = ConvBN(self.filters, 3, s3, dtype=self.dtype, name="conv2")(y, train)
        y = ConvBN(
            out,
            1,
            relu=False,
            zero_init_scale=self.zero_init_last_bn,
            dtype=self.dtype,
            name="conv3",
        )(y, train)
        if self.shortcut != "none":
            y = y + _shortcut(x, out, self.strides, self.shortcut, train, self.dtype)
        return materialize(nn.relu(y))  # stored, not recomputed by XLA:CPU: see nn/fusion.py
