"""Weight decay: the course's coupled form, the decoupled (AdamW) form, a default mask.

Coupled (the course): ``W_{t+1} = W_t - gamma (grad E(W_t) + kappa W_t)``, the
gradient of the L2 penalty ``(kappa/2) ||W||_F^2`` added to the loss gradient. It is
``add_weight_decay(kappa)`` placed BEFORE the rate (and before any adaptive scaling):
``optax.chain(add_weight_decay(kappa), optax.sgd(gamma))``. optax's
``add_decayed_weights`` computes ``g + kappa W`` exactly and is reused.

Decoupled (Loshchilov & Hutter): the decay bypasses the adaptive scaling,
``W_{t+1} = W_t - gamma_t (adam_direction(g) + kappa W_t)``; this is ``optax.adamw``,
re-exported as `adamw` with `decay_mask` as default mask. For plain SGD the two forms
coincide.

Default mask (`decay_mask`): decay a leaf iff its ``ndim >= 2`` and its name is not a
known bias/normalization name. Kernels of Dense/Conv (``kernel``), embeddings and
other weight matrices are decayed; biases (``bias``), BatchNorm/LayerNorm/GroupNorm
``scale``/``bias`` and any 0-d/1-d parameter (e.g. a learned PReLU slope) are not,
because shrinking them does not reduce capacity and only biases the fit.

References:
    Krogh & Hertz, "A simple weight decay can improve generalization", NeurIPS 1991.
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.optim._checks import concrete_reals

__all__ = ["NO_DECAY_NAMES", "adamw", "add_weight_decay", "decay_mask"]

#: Leaf names never decayed by `decay_mask`, whatever their rank (flax uses
#: ``bias``/``scale``; ``beta``/``gamma`` cover hand-written normalizations).
NO_DECAY_NAMES = frozenset({"bias", "scale", "beta", "gamma"})

_Mask = Any | Callable[[optax.Params], Any] | None


def _leaf_name(path: tuple) -> str:
    if not path:
        return ""
    key = path[-1]
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def decay_mask(params: optax.Params) -> Any:
    """Default weight-decay mask: True for weight matrices/kernels, False otherwise.

    A leaf is decayed iff ``ndim >= 2`` and its (last path) name is not in
    `NO_DECAY_NAMES`. Works on concrete arrays and on ``jax.ShapeDtypeStruct``.

    Args:
        params: a parameter pytree (e.g. flax ``variables['params']``).

    Returns:
        A pytree of Python bools with the structure of ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> decay_mask({"Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.ones(4)}})
        {'Dense_0': {'bias': False, 'kernel': True}}
    """
    dtype = getattr(params, "dtype", None)
    is_int = dtype is not None and jnp.ndim(params) == 0 and jnp.issubdtype(dtype, jnp.integer)
    if isinstance(params, numbers.Integral) or is_int:
        # optax.inject_hyperparams treats every callable argument as a schedule and
        # would call the mask with the step count, silently disabling the decay.
        raise TypeError(
            "decay_mask was called with an integer scalar (a step count?), not params. "
            "Under optax.inject_hyperparams, list 'mask' in static_args."
        )
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: len(leaf.shape) >= 2 and _leaf_name(path) not in NO_DECAY_NAMES,
        params,
    )


def _check_kappa(kappa: Any) -> None:
    if callable(kappa):
        return  # schedules
    if isinstance(kappa, bool):
        raise ValueError(f"weight decay kappa must be finite and >= 0, got {kappa!r}.")
    values = concrete_reals("weight decay kappa", kappa)  # None when traced
    if values is not None and not np.all(np.isfinite(values) & (values >= 0)):
        raise ValueError(f"weight decay kappa must be finite and >= 0, got {kappa!r}.")


def add_weight_decay(
    kappa: optax.ScalarOrSchedule, mask: _Mask = decay_mask
) -> optax.GradientTransformation:
    """Coupled weight decay: add ``kappa W`` to the gradient (L2 penalty ``kappa/2 ||W||^2``).

    Place it before the rate/adaptive scaling to get the course's form
    ``W_{t+1} = W_t - gamma (grad E(W_t) + kappa W_t)``.

    Args:
        kappa: decay constant ``>= 0`` (or a schedule of the step count).
        mask: which leaves to decay: a pytree of bools, a callable ``params -> bools``
            (default `decay_mask`: kernels yes, biases/normalization no), or None for
            every leaf.

    Returns:
        ``optax.add_decayed_weights(kappa, mask)``.

    ``kappa`` may be traced (``optax.inject_hyperparams`` with ``static_args="mask"``
    when the mask is a callable, ``jax.vmap``); only concrete values are checked.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import add_weight_decay
        >>> params = {"kernel": jnp.ones((1, 2)), "bias": jnp.ones(2)}
        >>> tx = add_weight_decay(0.5)  # kernels only (decay_mask)
        >>> u, _ = tx.update(params, tx.init(params), params)  # g + 0.5 W where decayed
        >>> u["kernel"].tolist(), u["bias"].tolist()
        ([[1.5, 1.5]], [1.0, 1.0])

    References:
        Krogh & Hertz, "A simple weight decay can improve generalization", NeurIPS 1991.
    """
    _check_kappa(kappa)
    return optax.add_decayed_weights(kappa, mask)


def adamw(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: optax.ScalarOrSchedule = 1e-4,
    mask: _Mask = decay_mask,
) -> optax.GradientTransformation:
    """Decoupled weight decay (AdamW): ``optax.adamw`` with `decay_mask` by default.

    Update ``W <- W - gamma_t (m_hat / (sqrt(v_hat) + eps) + kappa W)``: the decay is
    scaled by the rate but not by Adam's per-weight normalization.

    Args:
        learning_rate: ``gamma``, a float or a schedule.
        b1: Adam's first-moment rate.
        b2: Adam's second-moment rate.
        eps: Adam's epsilon.
        weight_decay: ``kappa >= 0``.
        mask: leaves to decay (default `decay_mask`; None decays everything).

    Returns:
        An optax gradient transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import adamw
        >>> params = {"kernel": jnp.ones((1, 2)), "bias": jnp.ones(2)}
        >>> tx = adamw(0.1, weight_decay=0.5)
        >>> grads = {"kernel": jnp.ones((1, 2)), "bias": jnp.ones(2)}
        >>> u, _ = tx.update(grads, tx.init(params), params)  # -0.1 (1 + 0.5 W) on kernels
        >>> [round(x, 4) for x in u["kernel"][0].tolist() + u["bias"].tolist()]
        [-0.15, -0.15, -0.1, -0.1]

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    _check_kappa(weight_decay)
    return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, mask=mask)
