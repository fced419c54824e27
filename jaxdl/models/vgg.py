"""VGG-11/13/16/19 (configurations A, B, D, E), with optional batch norm.

References:
  Simonyan, Zisserman. Very deep convolutional networks for large-scale image
  recognition. ICLR 2015, arXiv:1409.1556 (table 1: configurations; table 2:
  parameter counts; section 2.1: the 3x3-stack argument).
  Ioffe, Szegedy. Batch normalization. ICML 2015 (the ``_bn`` variants, which are
  not in the VGG paper).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn.initializers import he, xavier
from jaxdl.nn.layers import ConvBN

__all__ = ["CONFIGS", "VGG"]

# depth -> conv channels per stage (each stage ends with a 2x2/2 max pool); table 1.
CONFIGS: dict[int, tuple[tuple[int, ...], ...]] = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),  # A
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),  # B
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),  # D
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),  # E
}


class VGG(nn.Module):
    """VGG: five stages of 3x3 convs (stride 1, pad 1, ReLU) each closed by a 2x2/2
    max pool, then FC 4096 -> FC 4096 -> FC num_classes (dropout 0.5 after the ReLU
    of the first two).

    ============  =======================  =======  =======  =======  =======
    stage (224)   output                   A (11)   B (13)   D (16)   E (19)
    ============  =======================  =======  =======  =======  =======
    1             112 x 112 x 64           1 conv   2        2        2
    2             56 x 56 x 128            1        2        2        2
    3             28 x 28 x 256            2        2        3        4
    4             14 x 14 x 512            2        2        3        4
    5             7 x 7 x 512              2        2        3        4
    classifier    25088-4096-4096-1000     3 FC     3 FC     3 FC     3 FC
    ============  =======================  =======  =======  =======  =======

    Parameters with 1000 classes: VGG-11 132,863,336; VGG-13 133,047,848; VGG-16
    138,357,544; VGG-19 143,667,240 (paper table 2: 133, 133, 138, 144 million). The
    classifier alone is 123.6M of them. With ``batch_norm=True`` each conv is
    followed by BN (conv biases kept, as in torchvision's ``vgg*_bn``), adding
    2 x (conv channels) parameters, e.g. VGG-16-BN 138,365,992.

    The final feature map is flattened whatever its size, so the classifier adapts
    to the input: 224 -> 7x7x512 = 25088 inputs, CIFAR's 32 -> 1x1x512 = 512 (the
    usual CIFAR variants also pass ``classifier_widths=(512, 512)`` or ``()``).

    Attributes:
      depth: 11, 13, 16 or 19.
      num_classes: classifier outputs.
      batch_norm: BN after every convolution.
      classifier_widths: hidden FC widths ((4096, 4096) in the paper).
      dropout_rate: drop probability after each hidden FC layer.
      dtype: compute dtype (parameters float32; logits returned in float32).

    Example:
      >>> model = VGG(depth=16)
      >>> images, key = jnp.zeros((2, 224, 224, 3)), jax.random.key(0)
      >>> variables = jax.eval_shape(lambda: model.init(key, images, train=False))  # shapes only
      >>> sum(p.size for p in jax.tree.leaves(variables["params"]))
      138357544
      >>> logits = jax.eval_shape(
      ...     lambda v: model.apply(v, images, train=True, rngs={"dropout": key}), variables
      ... )
      >>> logits.shape
      (2, 1000)
    """

    depth: int = 16
    num_classes: int = 1000
    batch_norm: bool = False
    classifier_widths: tuple[int, ...] = (4096, 4096)
    dropout_rate: float = 0.5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.depth not in CONFIGS:
            raise ValueError(f"VGG depth must be one of {sorted(CONFIGS)}, got {self.depth}.")
        x = x.astype(self.dtype)
        for i, stage in enumerate(CONFIGS[self.depth]):
            for j, features in enumerate(stage):
                x = ConvBN(
                    features,
                    3,
                    batch_norm=self.batch_norm,
                    use_bias=True,
                    dtype=self.dtype,
                    name=f"conv{i + 1}_{j + 1}",
                )(x, train)
            x = nn.max_pool(x, (2, 2), (2, 2))  # [B, H/2, W/2, C]
        x = x.reshape(x.shape[0], -1)  # [B, 7*7*512] at 224
        for k, width in enumerate(self.classifier_widths):
            x = nn.Dense(width, kernel_init=he(), dtype=self.dtype, name=f"fc{k + 1}")(x)
            x = nn.relu(x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        fc = nn.Dense(
            self.num_classes,
            kernel_init=xavier(),
            dtype=self.dtype,
            name=f"fc{len(self.classifier_widths) + 1}",
        )
        return fc(x).astype(jnp.float32)  # [B, num_classes]
