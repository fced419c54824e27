"""Guards around a train step: skip updates whose loss or gradients are not finite.

With its default hooks the loop STOPS on a NaN/inf loss or gradient norm
(``DivergenceError``, raised by the ``hooks.NonFinite`` hook).
``skip_nonfinite(train_step)`` instead keeps the previous parameters, optimizer and
model state for such a step (the step counter still advances, so the data order is
unchanged) and reports ``skipped = 1``; the loop leaves skipped steps out of the
logged means and ``NonFinite`` counts them, stopping only past its
``max_skipped_steps``.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

FINITE_KEYS = ("loss", "grad_norm")


class DivergenceError(FloatingPointError):
    """The training loss or gradient norm became NaN or infinite."""


def all_finite(metrics: dict[str, jax.Array]) -> jax.Array:
    """True when every guarded metric present (loss, grad_norm) is finite."""
    ok = jnp.array(True)
    for k in FINITE_KEYS:
        if k in metrics:
            ok = ok & jnp.all(jnp.isfinite(metrics[k]))
    return ok


def skip_nonfinite(train_step: Callable) -> Callable:
    """Wraps ``train_step`` so non-finite steps leave the state unchanged.

    Example:
      >>> from flax import struct
      >>> class State(struct.PyTreeNode):  # any state with a step counter
      ...     step: jax.Array
      ...     w: jax.Array
      >>> def step(state, batch):  # a toy step: w += batch, the loss is the batch
      ...     return State(state.step + 1, state.w + batch), {"loss": batch}
      >>> s, metrics = skip_nonfinite(step)(State(jnp.array(0), jnp.array(1.0)), jnp.nan)
      >>> int(s.step), float(s.w), int(metrics["skipped"])  # w kept, the step counted
      (1, 1.0, 1)
    """

    def guarded(state, batch):
        new_state, metrics = train_step(state, batch)
        ok = all_finite(metrics)
        kept = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        metrics = {**metrics, "skipped": (~ok).astype(jnp.int32)}
        return kept.replace(step=new_state.step), metrics

    return guarded
