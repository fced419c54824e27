"""Gradient clipping by global norm: a fixed threshold, or a running-average one.

The course's clip: with ``g`` the whole gradient (all parameters flattened) and
threshold ``tau``, step with ``g`` if ``||g|| <= tau`` and with ``tau g / ||g||``
otherwise (direction kept, length capped). optax's ``clip_by_global_norm`` is exactly
this for a fixed ``tau`` and is re-exported. The course picks ``tau`` "by averaging
the norm over many updates"; ``clip_by_running_average_norm`` does that online.

References:
    Pascanu, Mikolov, Bengio, "On the difficulty of training recurrent neural
    networks", ICML 2013.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax import clip_by_global_norm

from jaxdl.optim._checks import concrete_reals

__all__ = [
    "ClipByRunningAverageNormState",
    "clip_by_global_norm",
    "clip_by_running_average_norm",
]


class ClipByRunningAverageNormState(NamedTuple):
    """State of `clip_by_running_average_norm`.

    Attributes:
        count: number of updates seen so far (int32 scalar).
        norm_ema: exponential moving average (not bias-corrected) of the global
            norms of the raw gradients of the previous updates (float32 scalar).
    """

    count: jax.Array
    norm_ema: jax.Array


def clip_by_running_average_norm(
    decay: float = 0.99, factor: float = 1.0
) -> optax.GradientTransformation:
    """Clip to a threshold that is a multiple of the running average of past norms.

    At update ``t`` (0-based) with raw gradient ``g_t``:

    - ``m_t = decay m_{t-1} + (1 - decay) ||g_{t-1}||`` with ``m_0 = 0``: EMA of the
      global norms of the gradients of the updates BEFORE ``t``;
    - ``tau_t = factor * m_t / (1 - decay^t)`` (bias-corrected, so ``tau_1 = factor
      ||g_0||`` exactly);
    - the update is ``g_t`` if ``t == 0`` or ``||g_t|| <= tau_t`` and
      ``tau_t g_t / ||g_t||`` otherwise.

    The EMA tracks the norms of the raw (unclipped) gradients so the threshold follows
    the natural gradient scale; the first update is never clipped because no norm has
    been seen yet. ``decay=0.99`` averages over roughly the last 100 updates, the
    "many updates" of the course; ``factor=1`` clips every gradient longer than that
    average (use e.g. 2-5 to only catch spikes).

    Args:
        decay: EMA rate in ``[0, 1)``; 0 uses only the previous update's norm.
        factor: multiple of the average used as threshold, ``> 0``.

    Both may be traced (``optax.inject_hyperparams``, ``jax.vmap`` over a sweep); only
    concrete values are checked.

    Returns:
        An optax gradient transformation (place it first in a chain, on raw gradients).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import clip_by_running_average_norm
        >>> tx = clip_by_running_average_norm(decay=0.5, factor=1.0)
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([3.0, 4.0]), state)  # first: never clipped
        >>> [round(float(x), 4) for x in u]
        [3.0, 4.0]
        >>> u, state = tx.update(jnp.array([6.0, 8.0]), state)  # norm 10 > tau_1 = 5
        >>> [round(float(x), 4) for x in u]
        [3.0, 4.0]

    References:
        Pascanu, Mikolov, Bengio, "On the difficulty of training recurrent neural
        networks", ICML 2013 (clipping; threshold from the average norm, section 3.2).
    """
    decay_values = concrete_reals("decay", decay)
    if decay_values is not None and not np.all((decay_values >= 0.0) & (decay_values < 1.0)):
        raise ValueError(f"decay must be in [0, 1), got {decay}.")
    factor_values = concrete_reals("factor", factor)
    if factor_values is not None and not np.all(np.isfinite(factor_values) & (factor_values > 0)):
        raise ValueError(f"factor must be finite and > 0, got {factor}.")

    def init_fn(params):
        del params
        return ClipByRunningAverageNormState(
            count=jnp.zeros([], jnp.int32), norm_ema=jnp.zeros([], jnp.float32)
        )

    def update_fn(updates, state, params=None):
        del params
        norm = optax.tree.norm(updates).astype(jnp.float32)
        seen = state.count > 0
        # Bias correction 1 - decay^t; at t = 0 it is 0, guarded by `seen`.
        correction = 1.0 - jnp.power(decay, state.count.astype(jnp.float32))
        threshold = factor * state.norm_ema / jnp.where(seen, correction, 1.0)
        clip = seen & (norm > threshold)
        # Safe denominator: the `where` only selects the ratio when norm > threshold >= 0.
        scale = jnp.where(clip, threshold / jnp.where(clip, norm, 1.0), 1.0)
        updates = jax.tree.map(lambda g: (g * scale).astype(g.dtype), updates)
        new_state = ClipByRunningAverageNormState(
            count=optax.safe_increment(state.count),
            norm_ema=(decay * state.norm_ema + (1.0 - decay) * norm).astype(jnp.float32),
        )
        return updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)
