"""Named optimizers: the course's "all together" chain and config-name factories.

`all_together` is COURSE.md's combined recipe; `create`, `create_clipping` (and
`create_schedule`, from schedules.py) map the names used in ``train/configs`` to optax
objects, so configs stay plain strings and numbers. Every name raises a ValueError listing the valid
names and arguments when misspelled.

References:
    Sutskever et al., "On the importance of initialization and momentum in deep
    learning", ICML 2013. Neelakantan et al., "Adding Gradient Noise Improves
    Learning for Very Deep Networks", 2015. Kingma & Ba, "Adam: A Method for
    Stochastic Optimization", ICLR 2015.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import Any

import jax
import optax

from jaxdl.optim._checks import as_key
from jaxdl.optim._checks import call_by_name as _call
from jaxdl.optim.clipping import clip_by_global_norm, clip_by_running_average_norm
from jaxdl.optim.momentum import (
    _check_learning_rate,
    _check_rho,
    lookahead_velocity,
    momentum,
    nesterov,
    nesterov_lookahead,
)
from jaxdl.optim.noise import add_gradient_noise
from jaxdl.optim.schedules import SCHEDULES, create_schedule  # re-exported: configs' names
from jaxdl.optim.weight_decay import adamw, add_weight_decay, decay_mask

__all__ = [
    "CLIPPINGS",
    "OPTIMIZERS",
    "SCHEDULES",
    "all_together",
    "create",
    "create_clipping",
    "create_schedule",
]


def all_together(
    learning_rate: optax.ScalarOrSchedule,
    rho: float = 0.9,
    weight_decay: float = 5e-4,
    noise_sigma0: float = 0.01,
    noise_kappa: float = 0.55,
    adaptive: bool = False,
    key: jax.Array | int | None = None,
    *,
    mask: Any = decay_mask,
    lookahead: bool = True,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    """The course's "all together" optimizer: Nesterov + schedule + decay + noise.

    ``V_{t+1} = gamma_t (grad E(U_t) + kappa U_t + N(0, sigma_t^2)) + rho V_t``,
    ``W_{t+1} = W_t - V_{t+1}``, with ``U_t = W_t - rho V_t`` the look-ahead point
    and ``sigma_t = noise_sigma0 / (1 + t)^noise_kappa``. The train step takes the
    gradient at ``jaxdl.optim.evaluation_point(opt_state, params)`` (= ``U_t``).

    Chain (applied in this order to the look-ahead gradient, inside
    `lookahead_velocity`, which passes ``U_t`` as ``params``):

    1. ``add_weight_decay(weight_decay, mask)``: ``+ kappa U_t``; evaluated at the
       look-ahead point because ``U_t`` is what the wrapper hands down.
    2. ``add_gradient_noise(noise_sigma0, noise_kappa, key)``: ``+ N(0, sigma_t^2)``.
    3. ``adaptive=True`` only: ``optax.scale_by_adam(b1=0, b2, eps)``, i.e. divide by
       ``sqrt(v_hat_t) + eps`` (Adam's bias-corrected second moment, per weight).
       Noise and decay come first so the per-weight rate normalizes the whole bracket,
       as ``gamma_t`` multiplies the whole bracket in the course; the velocity plays
       the role of Adam's first moment (Nesterov-Adam, Dozat 2016).
    4. ``scale_by_learning_rate(learning_rate)``: ``* -gamma_t`` (schedule allowed).
    5. the velocity: ``lookahead_velocity(., rho)``, or with ``lookahead=False`` the
       reformulated ``optax.trace(rho, nesterov=True)``, a drop-in optimizer whose
       parameters are ``U_t`` (same trajectory; see `jaxdl.optim.nesterov`).

    Terms with a zero coefficient are left out of the chain (a Python zero only: a
    traced coefficient keeps its term). Under ``optax.inject_hyperparams``, list
    ``mask`` in ``static_args`` (optax would treat the callable mask as a schedule;
    `decay_mask` raises if it is); ``key`` may stay injected. Changing ``rho`` at run
    time (``opt_state.hyperparams["rho"] = r``) applies from the next step on, to the
    evaluation point and to the velocity alike.

    Defaults: ``rho=0.9`` (the course); ``weight_decay=5e-4`` (Krizhevsky et al. 2012,
    Simonyan & Zisserman 2015, for SGD with momentum 0.9; biases/normalization are
    masked); ``noise_kappa=0.55`` (Neelakantan et al.); ``noise_sigma0=0.01``, i.e.
    variance ``eta=1e-4``, ten times below the smallest standard deviation of the
    paper's grid (``eta=0.01``): with normalized init and mini-batches the gradient is
    already noisy and the paper's gains are for very deep or badly initialized nets,
    so the default is safe rather than aggressive (raise it to 0.1-1 for those).
    With ``adaptive=True`` the steady-state step is ``gamma / (1 - rho)`` per
    normalized coordinate, so ``gamma = (1 - rho) x`` an Adam rate (``1e-4`` for
    Adam's ``1e-3``) gives comparable steps.

    Args:
        learning_rate: ``gamma``, a float or an optax schedule of the step count.
        rho: momentum in ``[0, 1)``.
        weight_decay: coupled decay ``kappa >= 0`` (L2 penalty ``kappa/2 ||W||^2``).
        noise_sigma0: noise standard deviation at the first update, ``>= 0``.
        noise_kappa: noise annealing exponent.
        adaptive: use Adam's per-weight rate (step 3).
        key: the noise's ``jax.random.key(seed)``, legacy ``jax.random.PRNGKey(seed)``
            or int seed; required when ``noise_sigma0 > 0`` (checked here).
        mask: weight-decay mask (default `decay_mask`).
        lookahead: literal look-ahead form (True) or the reformulation (False).
        b2: second-moment rate for ``adaptive=True``.
        eps: epsilon for ``adaptive=True``.

    Returns:
        An optax gradient transformation.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import all_together, evaluation_point, step_decay
        >>> tx = all_together(step_decay(0.05, 0.1, every_epochs=30, steps_per_epoch=390),
        ...                   key=jax.random.key(0))
        >>> params = {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}
        >>> state = tx.init(params)
        >>> grads = jax.grad(lambda p: jnp.sum(p["kernel"] ** 2))(evaluation_point(state, params))
        >>> updates, state = tx.update(grads, state, params)
        >>> jax.tree.map(jnp.shape, updates)
        {'bias': (2,), 'kernel': (2, 2)}

    References:
        Sutskever et al., ICML 2013 (Nesterov); Krogh & Hertz, NeurIPS 1991 (weight
        decay); Neelakantan et al., arXiv:1511.06807 (noise); Kingma & Ba, ICLR 2015
        (Adam); Dozat, "Incorporating Nesterov Momentum into Adam", ICLR-W 2016.
    """
    _check_learning_rate(learning_rate)
    if not isinstance(adaptive, bool) or not isinstance(lookahead, bool):
        raise TypeError("adaptive and lookahead must be bools.")
    parts = []
    if not _is_zero(weight_decay):
        parts.append(add_weight_decay(weight_decay, mask))
    if not _is_zero(noise_sigma0):
        if key is None:
            raise ValueError(
                f"all_together adds gradient noise (noise_sigma0={noise_sigma0}): pass "
                "key=jax.random.key(seed) or an int seed, or noise_sigma0=0 to disable it "
                "(under optax.inject_hyperparams, a zero drops the noise only if "
                "'noise_sigma0' is in static_args)."
            )
        key = as_key(key, "all_together's gradient noise")
        parts.append(add_gradient_noise(noise_sigma0, noise_kappa, key=key))
    if adaptive:
        parts.append(optax.scale_by_adam(b1=0.0, b2=b2, eps=eps))
    parts.append(optax.scale_by_learning_rate(learning_rate))
    inner = optax.chain(*parts)
    if lookahead:
        return lookahead_velocity(inner, rho)
    return optax.chain(inner, optax.trace(decay=_check_rho(rho), nesterov=True))


def _is_zero(value: Any) -> bool:
    # Only a Python zero drops a term: arrays (optax.inject_hyperparams) keep it.
    return isinstance(value, numbers.Real) and value == 0


def _with_decay(tx, weight_decay, mask):
    return tx if _is_zero(weight_decay) else optax.chain(add_weight_decay(weight_decay, mask), tx)


def _sgd(learning_rate, *, weight_decay=0.0, mask=decay_mask):
    return _with_decay(optax.sgd(learning_rate), weight_decay, mask)


def _momentum(learning_rate, *, rho=0.9, weight_decay=0.0, mask=decay_mask):
    return _with_decay(momentum(learning_rate, rho), weight_decay, mask)


def _nesterov(learning_rate, *, rho=0.9, weight_decay=0.0, mask=decay_mask):
    # Decay at the parameters, i.e. at U_t: the reformulation of decay at the look-ahead.
    return _with_decay(nesterov(learning_rate, rho), weight_decay, mask)


def _nesterov_lookahead(learning_rate, *, rho=0.9, weight_decay=0.0, mask=decay_mask):
    if _is_zero(weight_decay):
        return nesterov_lookahead(learning_rate, rho)
    _check_learning_rate(learning_rate)
    inner = optax.chain(
        add_weight_decay(weight_decay, mask), optax.scale_by_learning_rate(learning_rate)
    )
    return lookahead_velocity(inner, rho)


def _adam(learning_rate, *, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, mask=decay_mask):
    # Coupled L2 (decay added to the gradient before Adam); `adamw` is the decoupled one.
    return _with_decay(optax.adam(learning_rate, b1=b1, b2=b2, eps=eps), weight_decay, mask)


def _adamw(learning_rate, *, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, mask=decay_mask):
    return adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, mask=mask)


def _all_together_adaptive(learning_rate, **kwargs):
    return all_together(learning_rate, adaptive=True, **kwargs)


_all_together_adaptive.__signature__ = inspect.signature(all_together).replace(
    parameters=[p for n, p in inspect.signature(all_together).parameters.items() if n != "adaptive"]
)

#: Optimizer names accepted by `create`.
OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "sgd": _sgd,
    "momentum": _momentum,
    "nesterov": _nesterov,
    "nesterov_lookahead": _nesterov_lookahead,
    "adam": _adam,
    "adamw": _adamw,
    "all_together": all_together,
    "all_together_adaptive": _all_together_adaptive,
}


#: Clipping names accepted by `create_clipping`.
CLIPPINGS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "none": lambda: optax.identity(),
    "global_norm": lambda *, max_norm: clip_by_global_norm(max_norm),
    "running_average": lambda *, decay=0.99, factor=1.0: clip_by_running_average_norm(
        decay, factor
    ),
}


def create(
    name: str,
    learning_rate: optax.ScalarOrSchedule,
    *,
    clipping: str = "none",
    clipping_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> optax.GradientTransformation:
    """Optimizer by config name, optionally preceded by gradient clipping.

    Names: ``sgd``, ``momentum``, ``nesterov``, ``nesterov_lookahead``, ``adam``
    (coupled L2 via ``weight_decay``), ``adamw`` (decoupled), ``all_together``,
    ``all_together_adaptive``. The first four and ``adam`` accept ``weight_decay``
    (coupled, default 0) and ``mask``; momentum variants accept ``rho``; Adam variants
    ``b1, b2, eps``; ``all_together*`` accept the arguments of `all_together`.

    ``learning_rate`` may be traced (``optax.inject_hyperparams(create)``, whose
    ``**kwargs`` stay static, or ``jax.vmap``).

    Args:
        name: optimizer name (see `OPTIMIZERS`).
        learning_rate: a float or an optax schedule (see `create_schedule`).
        clipping: ``none``, ``global_norm`` (kwarg ``max_norm``) or ``running_average``
            (kwargs ``decay``, ``factor``); applied to the raw gradient, first.
        clipping_kwargs: keyword arguments of the clipping.
        **kwargs: optimizer hyperparameters.

    Returns:
        An optax gradient transformation.

    Raises:
        ValueError: unknown name, or arguments the optimizer does not take.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import create
        >>> tx = create("momentum", 0.1, rho=0.5, weight_decay=5e-4,
        ...             clipping="global_norm", clipping_kwargs={"max_norm": 1.0})
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([3.0, 4.0]), state, jnp.zeros(2))
        >>> [round(float(x), 4) for x in u]  # clipped to norm 1, times -0.1
        [-0.06, -0.08]
    """
    tx = _call("optimizer", OPTIMIZERS, name, (learning_rate,), kwargs)
    clip = create_clipping(clipping, **(clipping_kwargs or {}))
    return tx if clipping == "none" else optax.chain(clip, tx)


def create_clipping(name: str, **kwargs: Any) -> optax.GradientTransformation:
    """Gradient clipping by name: ``none``, ``global_norm``, ``running_average``.

    Args:
        name: clipping name (see `CLIPPINGS`).
        **kwargs: ``max_norm`` for ``global_norm``; ``decay``, ``factor`` for
            ``running_average``.

    Returns:
        An optax gradient transformation (identity for ``none``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import create_clipping
        >>> clip = create_clipping("global_norm", max_norm=1.0)
        >>> u, _ = clip.update(jnp.array([3.0, 4.0]), clip.init(jnp.zeros(2)))
        >>> [round(float(x), 4) for x in u]
        [0.6, 0.8]
    """
    return _call("clipping", CLIPPINGS, name, (), kwargs)
