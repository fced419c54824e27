"""ZFNet's filter renormalization: a max-RMS constraint on each convolution filter.

Zeiler & Fergus (2013, section 3, "Training Details"), checked against the paper's
text: "we renormalize each filter in the convolutional layers whose RMS value exceeds
a fixed radius of 10^-1 to this fixed radius", after noting that a few first-layer
filters come to dominate; "crucial, especially in the first layer of the model, where
the input images are roughly in the [-128,128] range" (their inputs were not scaled to
[0, 1] or standardized: with standardized inputs the same radius is a different,
tighter constraint relative to the signal).

The quantity is the RMS (root mean square), not the L2 norm: for a Flax conv kernel
``W`` of shape ``[kh, kw, cin, cout]`` the filter ``o`` is ``W[..., o]`` and

  rms_o = sqrt( 1/(kh kw cin) sum_{i,j,c} W[i, j, c, o]^2 )
  W[..., o] <- W[..., o] * min(1, r / rms_o)                      (r = 0.1)

i.e. a filter is projected onto the ball of RMS radius ``r`` (L2 radius
``r sqrt(kh kw cin)``), and left alone inside it. It is a projection of the NEW
parameters, applied after every update, so it is an optax transformation that needs
``params``: with ``W' = W + u`` the step the optimizer returns, it returns
``u' = P(W') - W``, so that ``optax.apply_updates(W, u')`` gives ``P(W')`` (up to one
float rounding). Put it LAST in a chain (after the learning rate):

  tx = optax.chain(optax.sgd(0.01, momentum=0.9), renormalize_filters(0.1))

Reference:
  Zeiler, Fergus. Visualizing and understanding convolutional networks. ECCV 2014,
  arXiv:1311.2901 (section 3).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.optim._checks import concrete_reals

__all__ = ["conv_kernel_mask", "filter_rms", "renormalize_filters"]


def conv_kernel_mask(params: optax.Params) -> Any:
    """Default mask: True for the 4-D leaves (2-D convolution kernels ``[kh, kw, cin, cout]``)."""
    return jax.tree.map(lambda p: jnp.ndim(p) == 4, params)


def filter_rms(kernel: jax.Array) -> jax.Array:
    """RMS of each output filter of a kernel ``[..., cout]`` (mean over all axes but the last).

    Args:
      kernel: an ``ndim >= 2`` kernel whose last axis indexes the filters.

    Returns:
      ``[cout]`` float32 (or wider) RMS values.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxdl.optim import filter_rms
      >>> kernel = jnp.stack([jnp.full((3, 3, 2), 0.5), jnp.full((3, 3, 2), -2.0)], axis=-1)
      >>> kernel.shape, filter_rms(kernel).tolist()  # [kh, kw, cin, cout] -> [cout]
      ((3, 3, 2, 2), [0.5, 2.0])
    """
    if jnp.ndim(kernel) < 2:
        raise ValueError(
            f"filter renormalization needs kernels [..., filters] (ndim >= 2), got shape "
            f"{jnp.shape(kernel)}; leave biases and scales out of the mask."
        )
    x = kernel.astype(jnp.promote_types(kernel.dtype, jnp.float32))
    return jnp.sqrt(jnp.mean(x * x, axis=tuple(range(x.ndim - 1))))


def _renormalize(kernel: jax.Array, max_rms: float) -> jax.Array:
    rms = filter_rms(kernel)  # [cout]
    # rms <= max_rms -> factor exactly 1 (filters inside the ball are untouched)
    factor = jnp.where(rms > max_rms, max_rms / jnp.maximum(rms, 1e-30), 1.0)
    return (kernel * factor).astype(kernel.dtype)


def _renormalize_all(max_rms: float) -> optax.GradientTransformation:
    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "renormalize_filters needs the params: call tx.update(updates, state, params) "
                "(it constrains the NEW parameters params + updates)."
            )

        def one(u, p):
            return (_renormalize(p + u, max_rms) - p).astype(u.dtype)

        return jax.tree.map(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def renormalize_filters(
    max_rms: float = 0.1,
    mask: Any | Callable[[optax.Params], Any] | None = None,
) -> optax.GradientTransformation:
    """Rescales every selected filter whose RMS exceeds ``max_rms`` back to ``max_rms``.

    Acts on the parameters AFTER the update: the returned updates ``u'`` satisfy
    ``params + u' = renormalized(params + updates)`` (see the module docstring for the
    formula); filters with RMS <= ``max_rms`` keep ``u' = updates`` up to rounding.

    Args:
      max_rms: the radius (Zeiler & Fergus: 0.1), > 0.
      mask: which leaves are constrained: a pytree of bools (or a prefix of the
        params), or a callable ``params -> mask``. None: `conv_kernel_mask` (every
        4-D leaf, i.e. the 2-D convolution kernels; Dense kernels and biases are left
        alone, as in the paper, which constrains "the convolutional layers").

    Returns:
      An ``optax.GradientTransformation`` whose state is ``optax.MaskedState``
      wrapping ``optax.EmptyState`` (NamedTuples); ``update`` requires ``params``.

    Raises:
      ValueError: ``max_rms`` not > 0; ``update`` called without params; a masked
        leaf with ndim < 2.

    ``max_rms`` may be traced (``optax.inject_hyperparams``, ``jax.vmap``); only a
    concrete value is checked.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from jaxdl.optim import filter_rms, renormalize_filters
      >>> params = {"kernel": jnp.full((2, 2, 1, 2), 0.05), "bias": jnp.zeros(2)}
      >>> grads = {"kernel": jnp.full((2, 2, 1, 2), -1.0), "bias": jnp.full(2, -1.0)}
      >>> tx = optax.chain(optax.sgd(0.1), renormalize_filters(0.1))
      >>> opt_state = tx.init(params)
      >>> updates, opt_state = tx.update(grads, opt_state, params)
      >>> params = optax.apply_updates(params, updates)  # kernel 0.15 -> RMS back to 0.1
      >>> [round(x, 4) for x in filter_rms(params["kernel"]).tolist()]
      [0.1, 0.1]
      >>> [round(x, 4) for x in params["bias"].tolist()]  # not a conv kernel: left alone
      [0.1, 0.1]
    """
    message = (
        f"renormalize_filters: max_rms must be a number > 0 (Zeiler & Fergus: 0.1), "
        f"got {max_rms!r}."
    )
    try:
        values = concrete_reals("max_rms", max_rms)  # None when traced
    except TypeError:
        raise ValueError(message) from None
    if values is not None and not np.all(values > 0):
        raise ValueError(message)
    if isinstance(max_rms, int | float):
        max_rms = float(max_rms)
    return optax.masked(_renormalize_all(max_rms), conv_kernel_mask if mask is None else mask)
