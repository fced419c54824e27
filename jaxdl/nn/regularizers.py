"""Explicit l1 and l2 weight penalties of the course (section 3), with parameter masks.

Conventions (the course's):
  - ``l2_penalty(params) = 1/2 sum W^2`` so that ``kappa * l2_penalty`` is the course's
    L2 penalty (kappa/2) ||W||_F^2, whose gradient ``kappa W`` is weight decay
    (``optax.add_decayed_weights(kappa, mask)`` applies the same term to the gradient).
  - ``l1_penalty(params) = sum |W|`` (sparsity); its gradient is ``sign(W)``.

The loss adds ``kappa_2 * l2_penalty(params) + kappa_1 * l1_penalty(params)``; the
coefficients belong to the caller (the training config), not to these functions.

Masks follow optax: a pytree of bools with the structure of ``params`` (True = penalize)
or a callable ``params -> such a pytree``. The default, ``kernel_mask``, selects the
weight matrices and conv kernels only: biases and BatchNorm scale/bias are not penalized
(penalizing them does not limit capacity and biases the BN normalization).

References:
  Krogh, Hertz. A simple weight decay can improve generalization. NIPS 1991.
  Tibshirani. Regression shrinkage and selection via the lasso. JRSS B 1996.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["kernel_mask", "l1_penalty", "l2_penalty"]

Mask = Any | Callable[[Any], Any]

_NEVER_PENALIZED = ("bias", "scale")


def _leaf_name(path) -> str | None:
    """Name of the innermost dict key on a pytree path (Flax param names), if any."""
    for entry in reversed(path):
        if isinstance(entry, jax.tree_util.DictKey):
            return str(entry.key)
        if isinstance(entry, jax.tree_util.GetAttrKey):
            return entry.name
    return None


def kernel_mask(params: Any) -> Any:
    """Default penalty mask: True for kernels, False for biases and normalization params.

    A leaf is selected when its name is ``'kernel'``, or when it is at least 2-D and
    not named ``'bias'`` or ``'scale'`` (e.g. embeddings, RBF centres). 1-D leaves such
    as biases and BatchNorm ``scale``/``bias`` are never selected.

    Args:
      params: a parameter pytree (e.g. ``variables['params']`` of a Flax model; do not
        pass ``batch_stats``).

    Returns:
      A pytree of Python bools with the structure of ``params``.

    Example:
      >>> w, b = jnp.ones((3, 2)), jnp.zeros(2)
      >>> kernel_mask({'Dense_0': {'kernel': w, 'bias': b}})
      {'Dense_0': {'bias': False, 'kernel': True}}
    """

    def select(path, leaf) -> bool:
        name = _leaf_name(path)
        if name == "kernel":
            return True
        return jnp.ndim(leaf) >= 2 and name not in _NEVER_PENALIZED

    return jax.tree_util.tree_map_with_path(select, params)


def _masked_sum(fn: Callable[[jax.Array], jax.Array], params: Any, mask: Mask) -> jax.Array:
    if mask is None:
        mask = kernel_mask
    if callable(mask):
        mask = mask(params)
    leaves = jax.tree_util.tree_leaves(params)
    try:
        flags = jax.tree_util.tree_structure(params).flatten_up_to(mask)
    except (ValueError, TypeError) as e:
        raise ValueError(
            "mask must be a pytree of bools with the same structure as params "
            f"(or a callable returning one): {e}"
        ) from e
    total = jnp.zeros((), jnp.float32)
    for w, keep in zip(leaves, flags):
        if keep is False or keep is None:
            continue
        # Accumulate in float32 at least, so bf16 params do not lose the small terms.
        term = jnp.sum(fn(jnp.asarray(w, jnp.promote_types(jnp.result_type(w), jnp.float32))))
        # Array-valued flags (e.g. a traced mask) select with where instead of Python if.
        total = total + (term if keep is True else jnp.where(jnp.asarray(keep), term, 0.0))
    return total


def l2_penalty(params: Any, mask: Mask = None) -> jax.Array:
    """L2 penalty ``1/2 sum_i W_i^2`` over the masked leaves (the course's (1/2)||W||_F^2).

    Multiply by kappa in the loss: the gradient of ``kappa * l2_penalty`` is ``kappa W``
    on the masked leaves (weight decay).

    Args:
      params: parameter pytree.
      mask: pytree of bools like ``params`` or callable ``params -> mask``; ``None``
        means ``kernel_mask`` (kernels only).

    Returns:
      A float32 (or wider) scalar.

    Example:
      >>> params = {"Dense_0": {"kernel": jnp.full((2, 3), 2.0), "bias": jnp.ones(3)}}
      >>> l2_penalty(params)  # 1/2 * 6 * 2^2, the bias left out
      Array(12., dtype=float32)
      >>> data_loss = jnp.float32(0.5)
      >>> round(float(data_loss + 5e-4 * l2_penalty(params)), 4)
      0.506
    """
    return 0.5 * _masked_sum(jnp.square, params, mask)


def l1_penalty(params: Any, mask: Mask = None) -> jax.Array:
    """L1 penalty ``sum_i |W_i|`` over the masked leaves (encourages sparse weights).

    Args:
      params: parameter pytree.
      mask: pytree of bools like ``params`` or callable ``params -> mask``; ``None``
        means ``kernel_mask`` (kernels only).

    Returns:
      A float32 (or wider) scalar.

    Example:
      >>> params = {"Dense_0": {"kernel": -jnp.ones((2, 3)), "bias": jnp.ones(3)}}
      >>> l1_penalty(params)  # 6 * |-1|, the bias left out
      Array(6., dtype=float32)
    """
    return _masked_sum(jnp.abs, params, mask)
