"""Restart from the best iterate when validation stalls (the course's "restart").

``with_restarts(tx)`` appends a scalar learning-rate multiplier to any optimizer's
state. When validation stalls, the ``hooks.RestartFromBest`` hook of the loop calls
``restart_from(best, current, decay)``:
weights, model state AND optimizer state come back from the best checkpoint (so a
schedule restarts from where the best iterate was), the multiplier is multiplied by
``decay``, and the step counter and RNG keep going forward, so the data order after a
restart is new rather than a replay of the epochs that led to the plateau.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxdl.training.state import TrainState


class RestartState(NamedTuple):
    """Optimizer state wrapped by ``with_restarts``."""

    inner: Any
    scale: jax.Array  # float32 [], learning-rate multiplier
    restarts: jax.Array  # int32 [], restarts done so far


def with_restarts(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """``tx`` whose updates are multiplied by a restart-controlled factor (1 at start).

    Example:
      >>> tx = with_restarts(optax.sgd(0.1))
    """

    def init_fn(params):
        return RestartState(tx.init(params), jnp.ones((), jnp.float32), jnp.zeros((), jnp.int32))

    def update_fn(updates, state, params=None):
        updates, inner = tx.update(updates, state.inner, params)
        updates = jax.tree.map(lambda u: (u * state.scale).astype(u.dtype), updates)
        return updates, state._replace(inner=inner)

    return optax.GradientTransformation(init_fn, update_fn)


def restart_from(best: TrainState, current: TrainState, decay: float) -> TrainState:
    """``current`` moved back to ``best``'s weights and optimizer state, rate x ``decay``.

    Raises:
      TypeError: the optimizer was not wrapped by ``with_restarts``.
    """
    if not isinstance(best.opt_state, RestartState):
        raise TypeError(
            "restart_from needs an optimizer built with jaxdl.training.restarts.with_restarts."
        )
    opt_state = best.opt_state._replace(
        scale=current.opt_state.scale * decay, restarts=current.opt_state.restarts + 1
    )
    return current.replace(params=best.params, model_state=best.model_state, opt_state=opt_state)


def rate_scale(opt_state: Any) -> float:
    """The learning-rate multiplier of a ``with_restarts`` state (1.0 for any other state).

    Example:
      >>> tx = with_restarts(optax.sgd(0.1))
      >>> rate_scale(tx.init({"w": jnp.zeros(2)}))
      1.0
    """
    return float(opt_state.scale) if isinstance(opt_state, RestartState) else 1.0
