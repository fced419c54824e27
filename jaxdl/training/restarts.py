"""Restart from the best iterate when validation stalls (the course's "restart").

``with_restarts(tx)`` appends a scalar learning-rate multiplier to any optimizer's
state. When the loop detects a plateau it calls ``restart_from(best, current, decay)``:
weights, model state AND optimizer state come back from the best checkpoint (so a
schedule restarts from where the best iterate was), the multiplier is multiplied by
``decay``, and the step counter and RNG keep going forward, so the data order after a
restart is new rather than a replay of the epochs that led to the plateau.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxdl.training.early_stopping import EarlyStoppingState
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


def early_stop_or_restart(state, template, record, meta, ckpt, opts):
    """Applies early stopping / restart-from-best after one evaluation of ``loop.fit``.

    Returns ``(state, scores, stop)``; ``scores`` (the checkpoint's ranking metrics) is
    None unless this evaluation is the new early-stopping best.
    """
    es = opts.early_stopping
    es_state, is_best, stop = es.update(
        EarlyStoppingState.from_dict(meta["early_stopping"]), record, record["step"]
    )
    # Only early-stopping improvements are ranked, so the checkpoint kept as "best" is
    # the early-stopping optimum (min_delta included), not merely the highest score.
    scores = {k: v for k, v in record.items() if k != "step"} if is_best else None
    can_restart = opts.restart_patience and meta["restarts"] < opts.max_restarts
    if can_restart and not is_best and es_state.num_bad >= opts.restart_patience:
        best, _ = ckpt.restore(template, es_state.best_step)
        state = restart_from(best, state, opts.restart_decay)
        es_state = es_state._replace(num_bad=0)
        meta["restarts"] += 1
        record["restart_from_step"] = es_state.best_step
        scores, stop = None, False
    meta["early_stopping"] = es_state.to_dict()
    record["best_step"] = es_state.best_step
    return state, scores, stop
