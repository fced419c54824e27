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
      >>> def step(state, batch):  # a toy step whose loss is the batch itself
      ...     return state + 1, {"loss": batch}
      >>> state, metrics = skip_nonfinite(step)(jnp.array(1.0), jnp.array(jnp.nan))
      >>> float(state), int(metrics["skipped"])  # the state is kept, the step flagged
      (1.0, 1)
    """

    def guarded(state, batch):
        new_state, metrics = train_step(state, batch)
        ok = all_finite(metrics)
        kept = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        metrics = {**metrics, "skipped": (~ok).astype(jnp.int32)}
        if hasattr(kept, "replace"):  # a TrainState: the step counter still advances
            kept = kept.replace(step=new_state.step)
        return kept, metrics

    return guarded
