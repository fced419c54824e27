"""``materialize``: an exact identity that XLA:CPU computes once instead of cloning it.

XLA fuses a cheap element-wise producer into every one of its consumers, recomputing
it in each. In a residual network the block output ``relu(BN(conv) + h)`` feeds the
next block and, in the backward pass, the transpose that lays the activation out for
its kernel gradient; XLA:CPU recomputes the element-wise chain inside each of those
transposes, and since ``h`` is itself such a chain, back through every block since the
last strided convolution (a 73-instruction transpose re-reading four blocks' tensors
in ResNet-20). Measured: 36% of a single-threaded ResNet-20 training step
(benchmarks/NOTES.md, "Profile of one ResNet-20 step" and "A fusion barrier").

XLA does not duplicate an expensive element-wise op (a division is one) into several
consumers, so ``x / one``, with a ``one`` the compiler cannot fold, is computed once
and stored. ``one`` is the scalar ``1 + fmin(|x[0, ..., 0]|, 0)``: exactly 1 for every
float, infinities and NaN included (``fmin`` ignores a NaN), but not a constant to the
compiler. (A per-example ``[B, 1, ..., 1]`` divisor would avoid reading one element
across a sharded batch, but XLA:CPU then fuses the division back into the chain and
the clones return: measured, no gain.) ``x / 1`` is exact in IEEE arithmetic, and so
is the gradient ``g / 1``: the function changes no value, forward or backward (beyond
what every XLA:CPU operation does: subnormals are flushed to zero). On
other backends it returns ``x`` itself (their fusion heuristics differ; the division
would only add a kernel boundary), and also where ``x`` is sharded over a mesh with
explicit axes (``jax.make_mesh``'s default), which cannot slice one element out of a
split dimension; under jaxdl's own (automatic) meshes the element is broadcast.
"""

import jax
import jax.numpy as jnp

__all__ = ["materialize"]


def materialize(x: jax.Array) -> jax.Array:
    """``x`` unchanged, as a buffer XLA:CPU stores rather than recomputes per consumer.

    Args:
      x: an array (a batch of activations); scalars and non-float arrays are
        returned as they are.

    Returns:
      ``x``, bit for bit, with the same gradient.

    Example:
      >>> x = jnp.arange(6.0).reshape(2, 3)
      >>> bool((materialize(x) == x).all())
      True
    """
    if jax.default_backend() != "cpu" or x.ndim == 0 or not jnp.issubdtype(x.dtype, jnp.floating):
        return x
    if any(axes is not None for axes in jax.typeof(x).sharding.spec):
        return x  # explicitly sharded: x[0, ..., 0] would be a sharding type error
    probe = jax.lax.stop_gradient(x[(0,) * x.ndim])
    one = 1 + jnp.fmin(jnp.abs(probe), 0)  # exactly 1, opaque to the compiler
    return x / one
