"""Activation functions of the course (section 1), as plain jnp functions.

The leaky ReLU default slope is the course's 0.1 (not the 0.01 of ``jax.nn``).

References:
  LeCun, Bottou, Orr, Mueller. Efficient BackProp. 1998 (scaled tanh 1.7159 tanh(2a/3)).
  Maas, Hannun, Ng. Rectifier nonlinearities improve neural network acoustic models. 2013.
  Clevert, Unterthiner, Hochreiter. Fast and accurate deep network learning by ELUs. 2016.
"""

import jax
import jax.numpy as jnp

__all__ = ["elu", "leaky_relu", "lecun_tanh", "relu", "sigmoid", "softplus", "tanh"]


def relu(a: jax.Array) -> jax.Array:
    """ReLU ``max(a, 0)``.

    Example:
      >>> relu(jnp.array([-1.0, 2.0]))
      Array([0., 2.], dtype=float32)
    """
    return jnp.maximum(a, 0)


def softplus(a: jax.Array) -> jax.Array:
    """Softplus ``log(1 + exp(a))``, computed stably as ``logaddexp(a, 0)``."""
    return jnp.logaddexp(a, 0)


def leaky_relu(a: jax.Array, negative_slope: float = 0.1) -> jax.Array:
    """Leaky ReLU ``max(a, negative_slope * a)`` with the course's slope 0.1 by default."""
    return jnp.where(a >= 0, a, negative_slope * a)


def elu(a: jax.Array, alpha: float = 1.0) -> jax.Array:
    """ELU: ``a`` if ``a >= 0`` else ``alpha (exp(a) - 1)``.

    ``expm1`` is evaluated on ``min(a, 0)`` so the unused branch never overflows (NaN-free grads).
    """
    return jnp.where(a >= 0, a, alpha * jnp.expm1(jnp.minimum(a, 0)))


def lecun_tanh(a: jax.Array) -> jax.Array:
    """LeNet's scaled tanh ``1.7159 tanh(2a/3)``: f(1) ~= 1 and f(-1) ~= -1."""
    return 1.7159 * jnp.tanh(2.0 * a / 3.0)


sigmoid = jax.nn.sigmoid
tanh = jnp.tanh
