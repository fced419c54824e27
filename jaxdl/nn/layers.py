"""Layers of the course's classic networks that Flax does not provide.

RBFOutput: LeNet-5's Euclidean radial-basis output units.

References:
  LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document
  recognition. Proc. IEEE 1998 (section II.B, output layer).
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["RBFOutput"]


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
      >>> y = RBFOutput(10).init_with_output(key, jnp.ones((2, 84)))[0]  # [2, 10]
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
