"""Guards around a train step: skip updates whose loss or gradients are not finite.

By default the loop STOPS on a NaN/inf loss or gradient norm (``DivergenceError``).
``skip_nonfinite(train_step)`` instead keeps the previous parameters, optimizer and
model state for such a step (the step counter still advances, so the data order is
unchanged) and reports ``skipped = 1``; the loop counts skipped steps and stops
only past ``LoopOptions.max_skipped_steps``.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

FINITE_KEYS = ("loss", "grad_norm")


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
      >>> train_step = skip_nonfinite(train_step)  # then LoopOptions(max_skipped_steps=10)
    """

    def guarded(state, batch):
        new_state, metrics = train_step(state, batch)
        ok = all_finite(metrics)
        kept = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        metrics = {**metrics, "skipped": (~ok).astype(jnp.int32)}
        return kept.replace(step=new_state.step), metrics

    return guarded
