"""Residual networks (He et al. 2015): ImageNet ResNets and the CIFAR 6n+2 family.

Both are stacks of the shared ``jaxdl.nn.BasicBlock`` / ``BottleneckBlock``; the
plain (no-shortcut) counterparts for the degradation study are the same modules
with ``shortcut='none'``.

References:
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016,
  arXiv:1512.03385 (table 1: ImageNet layouts; section 4.2: CIFAR-10 layouts).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn.initializers import xavier
from jaxdl.nn.layers import BasicBlock, BottleneckBlock, ConvBN

__all__ = ["CifarResNet", "ResNet"]

# depth -> (block, blocks per stage), He et al. table 1.
IMAGENET_LAYOUTS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (BottleneckBlock, (3, 4, 6, 3)),
    101: (BottleneckBlock, (3, 4, 23, 3)),
    152: (BottleneckBlock, (3, 8, 36, 3)),
}


def _stages(x, block, stage_sizes, widths, train, **block_kwargs):
    """Runs the residual stages; the first block of every stage but the first halves H, W."""
    for i, (n_blocks, width) in enumerate(zip(stage_sizes, widths)):
        for j in range(n_blocks):
            strides = 2 if i > 0 and j == 0 else 1
            x = block(width, strides, name=f"stage{i + 1}_block{j + 1}", **block_kwargs)(x, train)
    return x


def _head(x: jax.Array, num_classes: int, dtype: Any) -> jax.Array:
    x = jnp.mean(x, axis=(1, 2))  # [B, C] global average pooling
    fc = nn.Dense(num_classes, kernel_init=xavier(), dtype=dtype, name="fc")
    return fc(x).astype(jnp.float32)


class ResNet(nn.Module):
    """ImageNet ResNet-18/34/50/101/152 (He et al. 2015, table 1).

    ======  =========  ============================  ======================================
    stage   output     18 / 34: basic blocks         50 / 101 / 152: bottleneck blocks
    ======  =========  ============================  ======================================
    stem    112x112    7x7/2 conv, 64 (+BN, ReLU)    same
            56x56      3x3/2 max pool                same
    conv2   56x56      [3x3 64, 3x3 64] x 2 / 3      [1x1 64, 3x3 64, 1x1 256] x 3 / 3 / 3
    conv3   28x28      [3x3 128, 3x3 128] x 2 / 4    [1x1 128, 3x3 128, 1x1 512] x 4 / 4 / 8
    conv4   14x14      [3x3 256, 3x3 256] x 2 / 6    [1x1 256, 3x3 256, 1x1 1024] x 6/23/36
    conv5   7x7        [3x3 512, 3x3 512] x 2 / 3    [1x1 512, 3x3 512, 1x1 2048] x 3 / 3 / 3
    head    1x1        global average pool, FC       same
    ======  =========  ============================  ======================================

    Downsampling by the first block of conv3-conv5 (stride 2); shortcuts that change
    shape are 1x1 projections + BN (option B), the others identities. BN after every
    conv, before its ReLU; He init. Parameters (1000 classes; weights, BN scale/bias
    and biases; BN running statistics excluded): ResNet-18 11,689,512; ResNet-34
    21,797,672; ResNet-50 25,557,032; ResNet-101 44,549,160; ResNet-152 60,192,808.
    The stem and pooling adapt to any input size (global average pooling), e.g.
    STL-10's 96x96 gives a 3x3 final map.

    Attributes:
      depth: 18, 34, 50, 101 or 152.
      num_classes: classifier outputs.
      shortcut: 'projection' (paper), 'option_a', or 'none' (plain network).
      stride_in_3x3: bottleneck stride placement (see ``BottleneckBlock``).
      zero_init_last_bn: zero-init the last BN scale of every residual branch.
      dtype: compute dtype (parameters float32; logits returned in float32).

    Example:
      >>> model = ResNet(depth=50, num_classes=1000)
      >>> x = jnp.ones((1, 224, 224, 3))
      >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
      >>> sum(p.size for p in jax.tree.leaves(variables["params"]))  # shapes only: no compute
      25557032
    """

    depth: int = 50
    num_classes: int = 1000
    shortcut: str = "projection"
    stride_in_3x3: bool = True
    zero_init_last_bn: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.depth not in IMAGENET_LAYOUTS:
            raise ValueError(
                f"ResNet depth must be one of {sorted(IMAGENET_LAYOUTS)}, got {self.depth}; "
                "use CifarResNet for the 6n+2 CIFAR family."
            )
        block, stage_sizes = IMAGENET_LAYOUTS[self.depth]
        kwargs = {"shortcut": self.shortcut, "zero_init_last_bn": self.zero_init_last_bn}
        if block is BottleneckBlock:
            kwargs["stride_in_3x3"] = self.stride_in_3x3
        x = x.astype(self.dtype)
        x = ConvBN(64, 7, 2, dtype=self.dtype, name="stem")(x, train)  # [B, H/2, W/2, 64]
        x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))  # [B, H/4, W/4, 64]
        x = _stages(x, block, stage_sizes, (64, 128, 256, 512), train, dtype=self.dtype, **kwargs)
        return _head(x, self.num_classes, self.dtype)  # [B, num_classes]


class CifarResNet(nn.Module):
    """CIFAR ResNet-(6n+2) and its plain counterpart (He et al. 2015, section 4.2).

    =========  ========  ===========================================
    stage      output    layers
    =========  ========  ===========================================
    stem       32 x 32   3x3 conv, 16 (+BN, ReLU)
    stage1     32 x 32   [3x3,16; 3x3,16] x n
    stage2     16 x 16   [3x3,32; 3x3,32] x n (first stride 2)
    stage3     8 x 8     [3x3,64; 3x3,64] x n (first stride 2)
    head       1 x 1     global average pool, num_classes-way FC
    =========  ========  ===========================================

    6n + 2 weighted layers; shortcuts are identities, and option A (parameter-free:
    subsample, zero-pad the new channels) where the shape changes, as in the paper's
    CIFAR experiments. Parameters with 10 classes: ResNet-20 269,722; ResNet-32
    464,154; ResNet-44 658,586; ResNet-56 853,018; ResNet-110 1,727,962 (paper: 0.27M,
    0.46M, 0.66M, 0.85M, 1.7M). The plain nets have the same counts (option A adds
    none).

    Attributes:
      depth: 6n + 2 (20, 32, 44, 56, 110, 1202, ...).
      num_classes: classifier outputs.
      shortcut: 'option_a' (paper), 'projection', or 'none' (plain network).
      widths: channels of the three stages.
      zero_init_last_bn: zero-init the last BN scale of every residual branch.
      dtype: compute dtype (parameters float32; logits returned in float32).

    Example:
      >>> model = CifarResNet(depth=20, num_classes=10)
      >>> x = jnp.ones((1, 32, 32, 3))
      >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
      >>> sum(p.size for p in jax.tree.leaves(variables["params"]))
      269722
      >>> jax.eval_shape(lambda v: model.apply(v, x, train=False), variables).shape
      (1, 10)
    """

    depth: int = 20
    num_classes: int = 10
    shortcut: str = "option_a"
    widths: tuple[int, int, int] = (16, 32, 64)
    zero_init_last_bn: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {self.depth}.")
        n = (self.depth - 2) // 6
        x = x.astype(self.dtype)
        x = ConvBN(self.widths[0], 3, dtype=self.dtype, name="stem")(x, train)  # [B, 32, 32, 16]
        x = _stages(
            x,
            BasicBlock,
            (n, n, n),
            self.widths,
            train,
            shortcut=self.shortcut,
            zero_init_last_bn=self.zero_init_last_bn,
            dtype=self.dtype,
        )  # [B, 8, 8, 64]
        return _head(x, self.num_classes, self.dtype)  # [B, num_classes]
