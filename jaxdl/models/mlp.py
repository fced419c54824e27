"""Multilayer perceptron: the course's fully connected network.

``depth`` hidden layers of ``width`` units, an activation from ``jaxdl.nn`` by name,
optional batch normalization between each hidden layer's weighted sum and its
activation, optional (inverted) dropout on the input and hidden layers, and a linear
output.

References:
  Ioffe, Szegedy. Batch normalization: accelerating deep network training by reducing
  internal covariate shift. ICML 2015 (BN before the nonlinearity).
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn import activations
from jaxdl.nn.layers import BN_EPSILON, BN_MOMENTUM

ACTIVATIONS: dict[str, Callable] = {
    name: getattr(activations, name) for name in activations.__all__
}


def get_activation(name: str) -> Callable:
    """The activation function called ``name`` in ``jaxdl.nn.activations``."""
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


class MLP(nn.Module):
    """Fully connected classifier ``x -> [Dense -> (BN) -> g -> Dropout] * depth -> Dense(K)``.

    Attributes:
      num_classes: output size K.
      depth: number of hidden layers.
      width: units per hidden layer.
      activation: name of a ``jaxdl.nn`` activation (``relu``, ``tanh``, ``elu`` ...).
      dropout_rate: drop probability on hidden units (keep p = 1 - rate; the course's
        p = .5 for hidden units is ``dropout_rate=0.5``).
      input_dropout_rate: drop probability on the input (course: keep p ~ 1, e.g. 0.2).
      batch_norm: batch-normalize each hidden layer's weighted sum before the
        activation (the Dense then has no bias: BN's beta replaces it). Statistics live
        in the ``batch_stats`` collection. Default False (the plain MLP).
      kernel_init: initializer of every kernel.
      dtype: compute dtype (parameters stay float32).

    Example:
      >>> model, images = MLP(num_classes=10, width=32), jnp.zeros((4, 28, 28, 1))
      >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))
      >>> jax.eval_shape(lambda v: model.apply(v, images, train=False), variables).shape
      (4, 10)
    """

    num_classes: int = 10
    depth: int = 2
    width: int = 512
    activation: str = "relu"
    dropout_rate: float = 0.0
    input_dropout_rate: float = 0.0
    batch_norm: bool = False
    kernel_init: Callable = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        g = get_activation(self.activation)
        x = x.reshape((x.shape[0], -1)).astype(self.dtype)  # [B, H*W*C]
        x = nn.Dropout(self.input_dropout_rate, deterministic=not train)(x)
        for _ in range(self.depth):
            x = nn.Dense(
                self.width,
                use_bias=not self.batch_norm,
                dtype=self.dtype,
                kernel_init=self.kernel_init,
            )(x)  # [B, width]
            if self.batch_norm:
                x = nn.BatchNorm(
                    use_running_average=not train,
                    momentum=BN_MOMENTUM,
                    epsilon=BN_EPSILON,
                    dtype=self.dtype,
                )(x)
            x = g(x)
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, dtype=self.dtype, kernel_init=self.kernel_init)(x)
