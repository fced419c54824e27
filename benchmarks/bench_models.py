"""Benchmark-only models: networks the issue-11 suites time that the registry lacks.

``resnet18_cifar``: the "CIFAR ResNet-18" of common CIFAR training scripts (and of
the issue's H100 target), i.e. the ImageNet ResNet-18 stages (basic blocks, 2-2-2-2,
widths 64-512, projection shortcuts) with a 3x3/1 stem conv and no max pool, so a
32x32 input keeps 32x32 in the first stage: 11,173,962 parameters for 10 classes.
Built from jaxdl's own pieces (``ConvBN``, ``BasicBlock``, the residual stages and
head of ``jaxdl.models.resnet``).

``create`` / ``input_shape`` / ``names`` extend the registry's functions with these.

References:
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.models import registry
from jaxdl.models.resnet import _head, _stages
from jaxdl.nn.layers import BasicBlock, ConvBN


class CifarResNet18(nn.Module):
    """ResNet-18 for 32x32 inputs: 3x3/1 stem, no max pool (see the module docstring)."""

    num_classes: int = 10
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = ConvBN(64, 3, 1, dtype=self.dtype, name="stem")(x.astype(self.dtype), train)
        x = _stages(x, BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), train, dtype=self.dtype)
        return _head(x, self.num_classes, self.dtype)  # [B, num_classes] float32


EXTRA = {"resnet18_cifar": (CifarResNet18, (32, 32, 3))}


def names() -> list[str]:
    """Registry names plus the benchmark-only ones."""
    return sorted([*registry.names(), *EXTRA])


def create(name: str, num_classes: int = 10, dtype: Any = jnp.float32) -> nn.Module:
    """``jaxdl.models.create`` extended with ``EXTRA``."""
    if name in EXTRA:
        return EXTRA[name][0](num_classes=num_classes, dtype=dtype)
    return registry.create(name, num_classes=num_classes, dtype=dtype)


def input_shape(name: str) -> tuple[int, int, int]:
    """Default (H, W, C) of ``name`` (registry or ``EXTRA``)."""
    return EXTRA[name][1] if name in EXTRA else registry.default_input_shape(name)
