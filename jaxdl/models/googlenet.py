"""GoogLeNet / Inception v1 (Szegedy et al. 2014), with its auxiliary classifiers.

Output contract (the only model of the zoo with extra training outputs):
  - ``train=False``: ``logits`` ``[B, num_classes]``, like every other model.
  - ``train=True`` and ``aux_classifiers=True`` (default): the tuple
    ``(logits, aux1_logits, aux2_logits)``, the auxiliary heads on inception 4a and
    4d. The training loss is ``CE(logits) + 0.3 * (CE(aux1) + CE(aux2))`` (paper,
    section 5), ``AUX_LOSS_WEIGHT``; ``jaxdl.training.steps.split_outputs`` and the
    classification steps' ``aux_loss_weight`` handle it like every other model.
  The auxiliary heads' parameters are always created by ``init`` (whatever the
  ``train`` flag), so variables initialised in eval mode can be trained.

torchvision's ``googlenet`` is a different layout of the same table (registered as
``googlenet_torchvision``, what ``jaxdl.models.load_torchvision_weights`` fills):
``batch_norm=True`` (every conv without bias, then BN; no LRN), a 3x3 conv in the
"5x5" branch (``c5_kernel=3``, torchvision issue 906), a 2x2/2 pool4
(``pool4_window=2``), auxiliary heads that average-pool adaptively to 4x4
(``aux_pool='adaptive'``), dropout 0.2 before the classifier, and
``transform_input=True`` (its pretrained weights expect inputs normalized by the
ImageNet mean/std, re-scaled here to the [-1, 1] range they were trained on).
Its BN epsilon is 1e-3 (jaxdl's 1e-5; the converter folds the difference into the
running variance, exact in evaluation).

References:
  Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich. Going
  deeper with convolutions. CVPR 2015, arXiv:1409.4842 (table 1: layer table;
  section 5: auxiliary classifiers; figure 3: the full network with its LRNs).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn.initializers import he, xavier
from jaxdl.nn.layers import ConvBN, LocalResponseNorm

__all__ = [
    "AUX_LOSS_WEIGHT",
    "INCEPTION_TABLE",
    "GoogLeNet",
    "Inception",
    "InceptionAux",
    "adaptive_avg_pool",
]

AUX_LOSS_WEIGHT = 0.3
# torchvision's transform_input: x * std / 0.5 + (mean - 0.5) / 0.5 per RGB channel.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Table 1: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
INCEPTION_TABLE: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def adaptive_avg_pool(x: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Average pooling to a fixed ``size`` (PyTorch's ``adaptive_avg_pool2d``), NHWC.

    Output cell ``i`` of an axis of length ``n`` averages the input rows
    ``[floor(i n / size), ceil((i + 1) n / size))``; the windows overlap when ``size``
    does not divide ``n`` (14 -> 4: rows 0-3, 3-6, 7-10, 10-13).

    Example:
      >>> adaptive_avg_pool(jnp.ones((2, 14, 14, 8)), (4, 4)).shape
      (2, 4, 4, 8)
      >>> adaptive_avg_pool(jnp.arange(4.0).reshape(1, 4, 1, 1), (3, 1))[0, :, 0, 0]
      Array([0.5, 1.5, 2.5], dtype=float32)
    """

    def bounds(n, m):
        return [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]

    rows = [
        jnp.stack(
            [x[:, h0:h1, w0:w1].mean(axis=(1, 2)) for w0, w1 in bounds(x.shape[2], size[1])], 1
        )
        for h0, h1 in bounds(x.shape[1], size[0])
    ]
    return jnp.stack(rows, axis=1)  # [B, size[0], size[1], C]


class Inception(nn.Module):
    """Inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated.

    The 1x1 "reductions" before the 3x3 and 5x5 convs cut the channels those
    expensive convs see (e.g. 3a's 5x5 branch: 192->16->32 costs
    192*16 + 25*16*32 = 15,872 weights instead of 25*192*32 = 153,600). All convs
    are followed by ReLU (and BN when ``batch_norm``).

    Attributes:
      c1, c3r, c3, c5r, c5, pool_proj: the six channel counts of table 1.
      batch_norm: BN after every conv (not in the paper).
      dtype: compute dtype.
      c5_kernel: kernel of the "5x5" branch (3 in torchvision's layout).

    Example:
      >>> x = jnp.ones((1, 8, 8, 192))  # 3a's input is 28x28x192
      >>> block = Inception(*INCEPTION_TABLE["3a"])
      >>> y, v = jax.eval_shape(lambda: block.init_with_output(jax.random.key(0), x, train=False))
      >>> y.shape  # 64 + 128 + 32 + 32 channels
      (1, 8, 8, 256)
    """

    c1: int
    c3r: int
    c3: int
    c5r: int
    c5: int
    pool_proj: int
    batch_norm: bool = False
    dtype: Any = jnp.float32
    c5_kernel: int = 5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        def conv(features, kernel, name):
            return ConvBN(features, kernel, batch_norm=self.batch_norm, dtype=self.dtype, name=name)

        b1 = conv(self.c1, 1, "b1")(x, train)
        b3 = conv(self.c3, 3, "b3")(conv(self.c3r, 1, "b3_reduce")(x, train), train)
        b5 = conv(self.c5, self.c5_kernel, "b5")(conv(self.c5r, 1, "b5_reduce")(x, train), train)
        pooled = nn.max_pool(x, (3, 3), (1, 1), padding="SAME")
        bp = conv(self.pool_proj, 1, "pool_proj")(pooled, train)
        return jnp.concatenate([b1, b3, b5, bp], axis=-1)  # [B, H, W, c1+c3+c5+proj]


class InceptionAux(nn.Module):
    """Auxiliary classifier: 5x5/3 avg pool -> 1x1 conv 128 -> FC 1024 -> dropout .7 -> FC.

    On the 14x14 maps of inception 4a/4d the pool gives 4x4x128 = 2048 FC inputs.
    On inputs too small for a 5x5 window the window shrinks to the map size.
    ``pool='adaptive'`` (torchvision) averages adaptively to 4x4 instead (14x14:
    4x4 windows at rows 0, 3, 7, 10 rather than 5x5 windows at 0, 3, 6, 9).

    Attributes:
      num_classes: classifier outputs.
      dropout_rate: 0.7 in the paper.
      batch_norm: BN after the 1x1 conv.
      dtype: compute dtype.
      pool: 'paper' (5x5/3 average pool) or 'adaptive' (to 4x4).
    """

    num_classes: int
    dropout_rate: float = 0.7
    batch_norm: bool = False
    dtype: Any = jnp.float32
    pool: str = "paper"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.pool not in ("paper", "adaptive"):
            raise ValueError(f"InceptionAux pool must be 'paper' or 'adaptive', got {self.pool!r}.")
        if self.pool == "adaptive":
            x = adaptive_avg_pool(x, (4, 4))  # [B, 4, 4, C]
        else:
            window = (min(5, x.shape[1]), min(5, x.shape[2]))
            x = nn.avg_pool(x, window, (3, 3))  # [B, 4, 4, C] at 14x14
        x = ConvBN(128, 1, batch_norm=self.batch_norm, dtype=self.dtype, name="conv")(x, train)
        x = x.reshape(x.shape[0], -1)  # [B, 2048]
        x = nn.relu(nn.Dense(1024, kernel_init=he(), dtype=self.dtype, name="fc1")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        fc = nn.Dense(self.num_classes, kernel_init=xavier(), dtype=self.dtype, name="fc2")
        return fc(x).astype(jnp.float32)


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1), 22 weighted layers deep (table 1).

    ==============  =================  ===========  ================================
    layer           patch / stride     output       notes
    ==============  =================  ===========  ================================
    conv1           7x7/2, 64          112x112x64
    pool1           3x3/2 max          56x56x64     then LRN
    conv2           1x1, 64; 3x3, 192  56x56x192    then LRN
    pool2           3x3/2 max          28x28x192
    inception 3a/b                     28x28x256/480
    pool3           3x3/2 max          14x14x480
    inception 4a-e                     14x14x512,512,512,528,832   aux heads on 4a, 4d
    pool4           3x3/2 max          7x7x832
    inception 5a/b                     7x7x832/1024
    avg pool        7x7 (global)       1x1x1024
    dropout 0.4, linear                num_classes
    ==============  =================  ===========  ================================

    Every conv has a bias and a ReLU; max pools use "same" padding (the paper's
    Caffe ceil mode: 112 -> 56 -> 28 -> 14 -> 7). Parameters with 1000 classes:
    6,998,552 in the main network (the paper's table sums to about 6.8M because it
    omits biases and rounds) plus 3,188,840 + 3,190,888 in the two auxiliary heads
    (discarded at test time): 13,378,280 in all. The averaging is global, so other
    input sizes work (at 112 the aux heads see 7x7 maps).

    Attributes:
      num_classes: classifier outputs.
      dropout_rate: before the final linear layer (0.4).
      aux_classifiers: build the two auxiliary heads and return them in training.
      aux_dropout_rate: in the auxiliary heads (0.7).
      batch_norm: BN after every conv instead of LRN (not in the paper; helps train
        from scratch without the paper's long schedule).
      dtype: compute dtype (parameters float32; logits returned in float32).
      c5_kernel: kernel of the inception modules' "5x5" branch (torchvision: 3).
      pool4_window: window of the 3x3/2 pool before inception 5a (torchvision: 2).
      aux_pool: the auxiliary heads' pooling, 'paper' or 'adaptive' (torchvision).
      transform_input: map ImageNet-normalized inputs to the [-1, 1] scaling of
        torchvision's pretrained weights (x * std / 0.5 + (mean - 0.5) / 0.5).

    Example:
      >>> model = GoogLeNet(num_classes=1000)
      >>> x, key = jnp.zeros((2, 224, 224, 3)), jax.random.key(0)
      >>> v = jax.eval_shape(lambda: model.init(key, x, train=False))  # shapes only
      >>> sum(p.size for p in jax.tree.leaves(v["params"]))  # with the two aux heads
      13378280
      >>> train_fn = lambda v: model.apply(v, x, train=True, rngs={"dropout": key})
      >>> logits, aux1, aux2 = jax.eval_shape(train_fn, v)
      >>> logits.shape, aux1.shape
      ((2, 1000), (2, 1000))
      >>> jax.eval_shape(lambda v: model.apply(v, x, train=False), v).shape  # main head only
      (2, 1000)
    """

    num_classes: int = 1000
    dropout_rate: float = 0.4
    aux_classifiers: bool = True
    aux_dropout_rate: float = 0.7
    batch_norm: bool = False
    dtype: Any = jnp.float32
    c5_kernel: int = 5
    pool4_window: int = 3
    aux_pool: str = "paper"
    transform_input: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array | tuple[jax.Array, ...]:
        bn, dt = self.batch_norm, self.dtype

        def pool(y, window=3):
            return nn.max_pool(y, (window, window), (2, 2), padding="SAME")

        def lrn(y):
            return y if bn else LocalResponseNorm(dtype=dt)(y)

        def inception(y, name):
            table = INCEPTION_TABLE[name]
            return Inception(*table, batch_norm=bn, dtype=dt, c5_kernel=self.c5_kernel, name=name)(
                y, train
            )

        if self.transform_input:
            std, mean = jnp.asarray(IMAGENET_STD), jnp.asarray(IMAGENET_MEAN)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5  # [B, H, W, 3]
        x = x.astype(dt)
        x = ConvBN(64, 7, 2, batch_norm=bn, dtype=dt, name="conv1")(x, train)  # [B,112,112,64]
        x = lrn(pool(x))  # [B, 56, 56, 64]
        x = ConvBN(64, 1, batch_norm=bn, dtype=dt, name="conv2_reduce")(x, train)
        x = lrn(ConvBN(192, 3, batch_norm=bn, dtype=dt, name="conv2")(x, train))  # [B,56,56,192]
        x = pool(x)  # [B, 28, 28, 192]
        x = inception(inception(x, "3a"), "3b")  # [B, 28, 28, 480]
        x = pool(x)  # [B, 14, 14, 480]
        aux_inputs = []
        for name in ("4a", "4b", "4c", "4d", "4e"):
            x = inception(x, name)
            if name in ("4a", "4d"):
                aux_inputs.append(x)  # [B, 14, 14, 512 / 528]
        x = pool(x, self.pool4_window)  # [B, 7, 7, 832]
        x = inception(inception(x, "5a"), "5b")  # [B, 7, 7, 1024]
        x = jnp.mean(x, axis=(1, 2))  # [B, 1024]
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        logits = nn.Dense(self.num_classes, kernel_init=xavier(), dtype=dt, name="fc")(x)
        logits = logits.astype(jnp.float32)
        if not self.aux_classifiers or not (train or self.is_initializing()):
            return logits
        aux = tuple(
            InceptionAux(
                self.num_classes,
                self.aux_dropout_rate,
                batch_norm=bn,
                dtype=dt,
                pool=self.aux_pool,
                name=f"aux{i + 1}",
            )(a, train)
            for i, a in enumerate(aux_inputs)
        )
        return (logits, *aux) if train else logits
