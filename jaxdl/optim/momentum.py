"""Momentum and Nesterov in the course's velocity form, and the look-ahead mechanism.

The course writes momentum with the learning rate INSIDE the velocity:

    momentum:  V_{t+1} = gamma_t grad E(W_t) + rho V_t,            W_{t+1} = W_t - V_{t+1}
    Nesterov:  V_{t+1} = gamma_t grad E(W_t - rho V_t) + rho V_t,  W_{t+1} = W_t - V_{t+1}

optax's ``sgd(momentum=...)`` applies ``optax.trace`` to the raw gradient and scales
afterwards, which equals the course only for a constant rate. Running optax's own
``trace`` AFTER ``scale_by_learning_rate`` gives exactly the course's form for any
schedule: its trace is ``-V``. `momentum` and `nesterov` are such chains.

Nesterov, literal look-ahead form (`nesterov_lookahead`): the gradient must be taken
at ``W_t - rho V_t``, which the optimizer knows and the train step does not. The
mechanism: the optimizer state contains a `LookaheadVelocityState`, which implements
the `EvaluationPointState` protocol, and the train step asks

    grads = jax.grad(loss)(evaluation_point(opt_state, params))
    updates, opt_state = optimizer.update(grads, opt_state, params)

`evaluation_point` is the identity for every optimizer without such a state.

Nesterov, usual reformulation (`nesterov`): track ``U_t = W_t - rho V_t`` instead of
``W_t``. Then ``V_{t+1} = gamma_t grad E(U_t) + rho V_t`` and
``U_{t+1} = U_t - gamma_t grad E(U_t) - rho V_{t+1}``: the gradient is taken at the
parameters themselves, so it is a drop-in optax optimizer. Both forms give the same
trajectory under the change of variables ``U_t = W_t - rho V_t`` (``U_0 = W_0``
because ``V_0 = 0``); the velocities are identical.

References:
    Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
    Nesterov, "A method for solving the convex programming problem with convergence
    rate O(1/k^2)", 1983. Sutskever, Martens, Dahl, Hinton, "On the importance of
    initialization and momentum in deep learning", ICML 2013. Bengio,
    Boulanger-Lewandowski, Pascanu, "Advances in optimizing recurrent networks",
    ICASSP 2013 (the reformulation).
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.optim._checks import concrete_reals

__all__ = [
    "EvaluationPointState",
    "LookaheadVelocityState",
    "evaluation_point",
    "lookahead_velocity",
    "momentum",
    "nesterov",
    "nesterov_lookahead",
]


def _check_rho(rho: float) -> float:
    values = concrete_reals("rho", rho)  # None when traced: nothing to check
    if values is not None and not np.all((values >= 0.0) & (values < 1.0)):
        raise ValueError(f"rho (momentum) must be in [0, 1), got {rho}; the course uses 0.9.")
    return float(rho) if isinstance(rho, numbers.Real) else rho


def _check_learning_rate(learning_rate: optax.ScalarOrSchedule) -> None:
    if callable(learning_rate):
        return  # schedules are not checked here
    if isinstance(learning_rate, bool):
        raise ValueError(f"learning_rate must be finite and >= 0, got {learning_rate!r}.")
    values = concrete_reals("learning_rate", learning_rate)
    if values is not None and not np.all(np.isfinite(values) & (values >= 0)):
        raise ValueError(f"learning_rate must be finite and >= 0, got {learning_rate!r}.")


@runtime_checkable
class EvaluationPointState(Protocol):
    """Marker protocol: an optimizer state that chooses where gradients are taken.

    A state NamedTuple implementing ``evaluation_point(params) -> params`` anywhere in
    an optimizer's state tree makes `evaluation_point` return that point instead of
    ``params``.
    """

    def evaluation_point(self, params: optax.Params) -> optax.Params: ...


class LookaheadVelocityState(NamedTuple):
    """State of `lookahead_velocity` (and so of `nesterov_lookahead`).

    Attributes:
        velocity: ``V_t``, same tree/dtypes as the params.
        rho: the momentum coefficient of the latest update (float32 scalar), kept in
            the state so that `evaluation_point` needs nothing but the state. Every
            update rewrites it with the transformation's current ``rho``, so a value
            changed at run time (``optax.inject_hyperparams``) is never stale.
        inner_state: the state of the wrapped step transformation.
    """

    velocity: optax.Params
    rho: jax.Array
    inner_state: optax.OptState

    def evaluation_point(self, params: optax.Params) -> optax.Params:
        """The look-ahead point ``W - rho V`` where the next gradient is taken."""
        return jax.tree.map(lambda w, v: w - (self.rho * v).astype(w.dtype), params, self.velocity)


_INJECT_STATES = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)


def _lookahead_states(tree: Any, rho: Any = None) -> list[tuple[Any, Any]]:
    """``(state, rho of the innermost enclosing inject_hyperparams or None)`` pairs."""

    def is_leaf(node):
        return isinstance(node, (*_INJECT_STATES, EvaluationPointState))

    found = []
    for node in jax.tree.leaves(tree, is_leaf=is_leaf):
        if isinstance(node, _INJECT_STATES):
            found += _lookahead_states(node.inner_state, node.hyperparams.get("rho", rho))
        elif isinstance(node, EvaluationPointState):
            found.append((node, rho))
    return found


def evaluation_point(opt_state: optax.OptState, params: optax.Params) -> optax.Params:
    """Where the train step must evaluate the next gradient.

    Inside ``optax.inject_hyperparams`` (e.g. ``inject_hyperparams(nesterov_lookahead)``
    or ``inject_hyperparams(all_together, ...)``), the injected hyperparameter named
    ``rho`` is the one used: a value set with ``opt_state.hyperparams["rho"] = r``
    moves this point at once, and the next update uses ``r`` as well (both the
    look-ahead and the velocity of a step use the same ``rho``).

    Args:
        opt_state: the optimizer state (any optax state tree, e.g. of a chain).
        params: the current parameters ``W_t``.

    Returns:
        ``W_t - rho V_t`` if the state tree contains a look-ahead state
        (`EvaluationPointState`), else ``params`` itself (same object).

    Raises:
        ValueError: if more than one look-ahead state is found (ambiguous).

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import optax
        >>> from jaxdl.optim import evaluation_point, nesterov_lookahead
        >>> loss = lambda w: jnp.sum(w**2)
        >>> params = jnp.ones(2)
        >>> tx = nesterov_lookahead(0.1, rho=0.5)
        >>> opt_state = tx.init(params)
        >>> grads = jax.grad(loss)(evaluation_point(opt_state, params))  # V_0 = 0: at W_0
        >>> updates, opt_state = tx.update(grads, opt_state, params)  # V_1 = 0.1 * 2 W_0
        >>> params = optax.apply_updates(params, updates)
        >>> [round(float(x), 4) for x in params]
        [0.8, 0.8]
        >>> [round(float(x), 4) for x in evaluation_point(opt_state, params)]  # W_1 - rho V_1
        [0.7, 0.7]
        >>> injected = optax.inject_hyperparams(nesterov_lookahead)(learning_rate=0.1, rho=0.5)
        >>> state = injected.init(params)
        >>> _, state = injected.update(jnp.ones(2), state, params)  # V_1 = 0.1
        >>> state.hyperparams["rho"] = 0.0  # takes effect at once
        >>> [round(float(x), 4) for x in evaluation_point(state, params)]
        [0.8, 0.8]
    """
    found = _lookahead_states(opt_state)
    if not found:
        return params
    if len(found) > 1:
        raise ValueError(
            f"The optimizer state holds {len(found)} look-ahead states "
            f"({[type(s).__name__ for s, _ in found]}); the evaluation point is "
            "ambiguous. Use at most one look-ahead transformation per optimizer."
        )
    state, rho = found[0]
    if rho is not None and isinstance(state, LookaheadVelocityState):
        state = state._replace(rho=jnp.asarray(rho, jnp.float32))
    return state.evaluation_point(params)


def momentum(
    learning_rate: optax.ScalarOrSchedule, rho: float = 0.9
) -> optax.GradientTransformation:
    """Momentum in the course's velocity form.

    ``V_{t+1} = gamma_t grad E(W_t) + rho V_t``, ``W_{t+1} = W_t - V_{t+1}``; the rate
    (possibly a schedule) scales the gradient before it enters the velocity.
    Implemented as ``chain(scale_by_learning_rate(gamma), trace(rho))``: optax's
    trace then holds ``-V``.

    Args:
        learning_rate: ``gamma``, a float or an optax schedule of the step count.
        rho: momentum coefficient in ``[0, 1)``.

    Returns:
        An optax gradient transformation (an ``optax.chain``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import momentum
        >>> tx = momentum(0.1, rho=0.5)
        >>> state = tx.init(jnp.zeros(1))
        >>> u, state = tx.update(jnp.ones(1), state)  # V_1 = 0.1
        >>> u, state = tx.update(jnp.ones(1), state)  # V_2 = 0.1 + 0.5 V_1
        >>> round(float(u[0]), 4)
        -0.15

    References:
        Polyak, "Some methods of speeding up the convergence of iteration methods",
        USSR Computational Mathematics and Mathematical Physics, 1964.
    """
    _check_learning_rate(learning_rate)
    return optax.chain(
        optax.scale_by_learning_rate(learning_rate), optax.trace(decay=_check_rho(rho))
    )


def nesterov(
    learning_rate: optax.ScalarOrSchedule, rho: float = 0.9
) -> optax.GradientTransformation:
    """Nesterov momentum, usual reformulation (gradient at the parameters themselves).

    With ``U_t = W_t - rho V_t`` (the look-ahead point of the course's form):
    ``V_{t+1} = gamma_t grad E(U_t) + rho V_t`` and
    ``U_{t+1} = U_t - gamma_t grad E(U_t) - rho V_{t+1}``. Implemented as
    ``chain(scale_by_learning_rate(gamma), trace(rho, nesterov=True))``. Same
    trajectory as `nesterov_lookahead` under that change of variables; equal to
    ``optax.sgd(gamma, momentum=rho, nesterov=True)`` for a constant rate.

    Args:
        learning_rate: ``gamma``, a float or an optax schedule.
        rho: momentum coefficient in ``[0, 1)``.

    Returns:
        An optax gradient transformation (an ``optax.chain``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import nesterov
        >>> tx = nesterov(0.1, rho=0.5)
        >>> state = tx.init(jnp.zeros(1))
        >>> u, state = tx.update(jnp.ones(1), state)  # -(0.1 g + rho V_1), V_1 = 0.1
        >>> round(float(u[0]), 4)
        -0.15

    References:
        Sutskever, Martens, Dahl, Hinton, "On the importance of initialization and
        momentum in deep learning", ICML 2013; Bengio et al., "Advances in optimizing
        recurrent networks", ICASSP 2013.
    """
    _check_learning_rate(learning_rate)
    return optax.chain(
        optax.scale_by_learning_rate(learning_rate),
        optax.trace(decay=_check_rho(rho), nesterov=True),
    )


def lookahead_velocity(
    inner: optax.GradientTransformation, rho: float = 0.9
) -> optax.GradientTransformationExtraArgs:
    """Look-ahead velocity around a step transformation (the literal Nesterov form).

    ``inner`` maps gradients to a step ``d_t`` (e.g. ``-gamma_t g``; it includes the
    sign and the rate). With ``U_t = W_t - rho V_t``:
    ``d_t = inner(grad E(U_t), params=U_t)``, ``V_{t+1} = -d_t + rho V_t`` and the
    returned update is ``-V_{t+1}``. ``inner`` receives the LOOK-AHEAD point as
    ``params``, so parameter-dependent terms (weight decay) are evaluated there too.
    The gradient itself must be taken at `evaluation_point` by the train step.

    ``rho`` may be traced (``optax.inject_hyperparams``, ``jax.vmap``); each update
    uses this transformation's ``rho`` and stores it in the state, so a value changed
    at run time through ``inject_hyperparams`` applies from the next step on (see
    `evaluation_point`).

    Args:
        inner: the transformation producing the step (must contain the rate).
        rho: momentum coefficient in ``[0, 1)``.

    Returns:
        An optax gradient transformation with state `LookaheadVelocityState`.

    Example:
        >>> import jax.numpy as jnp
        >>> import optax
        >>> from jaxdl.optim import lookahead_velocity
        >>> tx = lookahead_velocity(optax.scale_by_learning_rate(0.1), rho=0.5)
        >>> params = jnp.ones(1)
        >>> state = tx.init(params)
        >>> u, state = tx.update(jnp.ones(1), state, params)  # V_1 = 0.1 g
        >>> u, state = tx.update(jnp.ones(1), state, params)  # V_2 = 0.1 g + 0.5 V_1
        >>> round(float(u[0]), 4), round(float(state.velocity[0]), 4), float(state.rho)
        (-0.15, 0.15, 0.5)

    References:
        Sutskever, Martens, Dahl, Hinton, "On the importance of initialization and
        momentum in deep learning", ICML 2013, eq. (3)-(4).
    """
    rho = _check_rho(rho)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params):
        return LookaheadVelocityState(
            velocity=optax.tree.zeros_like(params),
            rho=jnp.asarray(rho, jnp.float32),
            inner_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args: Any):
        if params is None:
            raise ValueError(
                "lookahead_velocity needs params: call optimizer.update(grads, state, params)."
            )
        # This transformation's rho, not the one stored at the previous update: under
        # optax.inject_hyperparams it is rebuilt with the current value at every update.
        state = state._replace(rho=jnp.asarray(rho, jnp.float32))
        lookahead = state.evaluation_point(params)
        step, inner_state = inner.update(updates, state.inner_state, lookahead, **extra_args)
        velocity = jax.tree.map(
            lambda d, v: (-d + state.rho * v).astype(v.dtype), step, state.velocity
        )
        updates = jax.tree.map(lambda v: -v, velocity)
        return updates, LookaheadVelocityState(velocity, state.rho, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def nesterov_lookahead(
    learning_rate: optax.ScalarOrSchedule, rho: float = 0.9
) -> optax.GradientTransformationExtraArgs:
    """Nesterov momentum in the course's literal look-ahead form.

    ``V_{t+1} = gamma_t grad E(W_t - rho V_t) + rho V_t``, ``W_{t+1} = W_t - V_{t+1}``.
    The train step must take the gradient at ``evaluation_point(opt_state, params)``
    (``= W_t - rho V_t``); the parameters it holds are ``W_t``. `nesterov` follows the
    same trajectory in the variables ``U_t = W_t - rho V_t``.

    Args:
        learning_rate: ``gamma``, a float or an optax schedule.
        rho: momentum coefficient in ``[0, 1)``.

    Returns:
        ``lookahead_velocity(scale_by_learning_rate(learning_rate), rho)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import evaluation_point, nesterov_lookahead
        >>> tx = nesterov_lookahead(0.1, rho=0.5)
        >>> params = jnp.zeros(1)
        >>> state = tx.init(params)
        >>> u, state = tx.update(jnp.ones(1), state, params)  # V_1 = 0.1 g
        >>> round(float(u[0]), 4), round(float(evaluation_point(state, params)[0]), 4)
        (-0.1, -0.05)

    References:
        Nesterov, "A method for solving the convex programming problem with
        convergence rate O(1/k^2)", 1983; Sutskever et al., ICML 2013.
    """
    _check_learning_rate(learning_rate)
    return lookahead_velocity(optax.scale_by_learning_rate(learning_rate), rho)
