"""Learning-rate schedules of the course, as optax schedules (step count -> rate).

The course defines its decays per epoch ``t``; optax counts optimizer steps. Every
schedule here therefore takes ``steps_per_epoch`` and uses
``epoch = step // steps_per_epoch`` (integer division, so the rate is constant within
an epoch, as in the course). ``steps_per_epoch=1`` gives the per-step variant.

- time-based: ``gamma_t = gamma_0 / (1 + kappa t)``
- step decay: ``gamma_t = gamma_0 kappa^(t // k)``, ``0 < kappa < 1``, every ``k`` epochs
- milestone decay: ``gamma_t = gamma_0 kappa^(number of milestones m_i <= t)``, the
  "divide by 10 at fixed epochs" of AlexNet/VGG/ResNet recipes (He et al.: 50%, 75%)
- exponential: ``gamma_t = gamma_0 exp(-kappa t)``
- constant warm-up (He et al.): a small constant rate for the first epochs, then any
  of the above, counted from step 0 (``constant_warmup``)

The rates and constants (``init_value``, ``kappa``, ``warmup_value``) may be traced,
like optax's schedules: ``jax.vmap`` over a sweep of values, or a factory building
the schedule under ``optax.inject_hyperparams``; only concrete values are checked.

optax's own ``exponential_decay`` is parameterized by a rate per ``transition_steps``
rather than by ``kappa``, and it has no time-based decay, so these are written here.
Cosine and warmup-cosine come straight from optax. ``create_schedule`` builds any of
them from the name a config gives (``SCHEDULES``).

References:
    Bengio, "Practical recommendations for gradient-based training of deep
    architectures", 2012 (time-based decay). Krizhevsky et al., "ImageNet
    classification with deep convolutional neural networks", NeurIPS 2012 (step decay).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.optim._checks import call_by_name as _call
from jaxdl.optim._checks import concrete_ints, concrete_reals

__all__ = [
    "SCHEDULES",
    "constant_schedule",
    "constant_warmup",
    "create_schedule",
    "exponential_decay",
    "milestone_decay",
    "step_decay",
    "time_based_decay",
]


def _check_positive_int(name: str, value: Any) -> Any:
    values = concrete_ints(name, value)  # None when traced (an integer tracer)
    if values is not None and not np.all(values >= 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value) if isinstance(value, numbers.Integral) else value


def _check_real(
    name: str, value: Any, ok: Callable[[np.ndarray], Any] | None = None, message: str = ""
) -> Any:
    """Checks a concrete value (finite, then ``ok``); a traced one passes unchanged."""
    values = concrete_reals(name, value)  # None when traced
    if values is not None:
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite, got {value!r}.")
        if ok is not None and not np.all(ok(values)):
            raise ValueError(message)
    return float(value) if isinstance(value, numbers.Real) else value


def _epoch(count: jnp.ndarray, steps_per_epoch: int) -> jnp.ndarray:
    # Integer division on the integer step counter: exact for any step count, and the
    # rate stays piecewise constant over an epoch as in the course's per-epoch formulas.
    return (jnp.asarray(count) // steps_per_epoch).astype(jnp.float32)


def constant_schedule(init_value: float) -> optax.Schedule:
    """Constant learning rate ``gamma_t = gamma_0`` (optax's, with argument checks).

    Args:
        init_value: the rate ``gamma_0``.

    Returns:
        An optax schedule.

    Example:
        >>> from jaxdl.optim import constant_schedule
        >>> round(float(constant_schedule(0.1)(1000)), 4)
        0.1
    """
    return optax.constant_schedule(_check_real("init_value", init_value))


def time_based_decay(init_value: float, kappa: float, steps_per_epoch: int = 1) -> optax.Schedule:
    """Time-based decay ``gamma_t = gamma_0 / (1 + kappa t)``, t = step // steps_per_epoch.

    Args:
        init_value: ``gamma_0``, the rate of epoch 0.
        kappa: decay constant, ``kappa >= 0`` (0 gives a constant rate).
        steps_per_epoch: optimizer steps per epoch (1: decay every step).

    Returns:
        An optax schedule mapping the step count to the rate.

    Example:
        >>> from jaxdl.optim import time_based_decay
        >>> sched = time_based_decay(0.1, kappa=1.0, steps_per_epoch=10)
        >>> round(float(sched(25)), 4)  # epoch 2: 0.1 / 3
        0.0333

    References:
        Bengio, "Practical recommendations for gradient-based training of deep
        architectures", 2012, section 3.1.1.
    """
    init_value = _check_real("init_value", init_value)
    kappa = _check_real(
        "kappa", kappa, lambda k: k >= 0, f"time_based_decay needs kappa >= 0, got {kappa}."
    )
    steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)

    def schedule(count):
        return init_value / (1.0 + kappa * _epoch(count, steps_per_epoch))

    return schedule


def step_decay(
    init_value: float, kappa: float, every_epochs: int = 1, steps_per_epoch: int = 1
) -> optax.Schedule:
    """Step decay ``gamma_t = gamma_0 kappa^(t // every_epochs)``, t = step // steps_per_epoch.

    Args:
        init_value: ``gamma_0``.
        kappa: multiplicative factor, ``0 < kappa < 1`` (e.g. 0.1 as in AlexNet).
        every_epochs: the rate is multiplied by ``kappa`` every this many epochs.
        steps_per_epoch: optimizer steps per epoch.

    Returns:
        An optax schedule mapping the step count to the rate.

    Example:
        >>> from jaxdl.optim import step_decay
        >>> sched = step_decay(0.1, kappa=0.5, every_epochs=2, steps_per_epoch=10)
        >>> round(float(sched(45)), 4)  # epoch 4 -> two halvings
        0.025

    References:
        Krizhevsky, Sutskever, Hinton, "ImageNet classification with deep
        convolutional neural networks", NeurIPS 2012 (divide by 10 on plateaus).
    """
    init_value = _check_real("init_value", init_value)
    kappa = _check_real(
        "kappa",
        kappa,
        lambda k: (k > 0) & (k < 1),
        f"step_decay needs 0 < kappa < 1 (the factor applied every "
        f"{every_epochs} epoch(s)), got {kappa}; use constant_schedule for no decay.",
    )
    every_epochs = _check_positive_int("every_epochs", every_epochs)
    steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)

    def schedule(count):
        stage = jnp.floor(_epoch(count, steps_per_epoch) / every_epochs)
        return init_value * jnp.power(kappa, stage)

    return schedule


def milestone_decay(
    init_value: float, milestones: tuple[int, ...], kappa: float = 0.1, steps_per_epoch: int = 1
) -> optax.Schedule:
    """``gamma_t = gamma_0 kappa^(#{i : m_i <= t})``: times ``kappa`` at each milestone epoch.

    Args:
        init_value: ``gamma_0``.
        milestones: strictly increasing positive epochs ``m_1 < m_2 < ...``.
        kappa: factor applied at each milestone, ``0 < kappa < 1``.
        steps_per_epoch: optimizer steps per epoch.

    Returns:
        An optax schedule mapping the step count to the rate.

    Example:
        >>> from jaxdl.optim import milestone_decay
        >>> sched = milestone_decay(0.1, (91, 136), steps_per_epoch=352)  # He et al. CIFAR
        >>> [round(float(sched(epoch * 352)), 4) for epoch in (90, 91, 135, 136)]
        [0.1, 0.01, 0.01, 0.001]

    References:
        He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR 2016
        (sec. 4.2: divided by 10 at 32k and 48k of 64k iterations).
    """
    init_value = _check_real("init_value", init_value)
    kappa = _check_real(
        "kappa",
        kappa,
        lambda k: (k > 0) & (k < 1),
        f"milestone_decay needs 0 < kappa < 1, got {kappa}.",
    )
    marks = [_check_positive_int("each milestone", m) for m in milestones]
    if not marks or any(b <= a for a, b in zip(marks, marks[1:])):
        raise ValueError(
            f"milestones must be a non-empty, strictly increasing list of epochs, got "
            f"{tuple(milestones)!r} (e.g. (91, 136) for 182 epochs)."
        )
    steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)
    edges = jnp.asarray(marks, jnp.float32)

    def schedule(count):
        passed = jnp.sum(_epoch(count, steps_per_epoch)[..., None] >= edges, axis=-1)
        return init_value * jnp.power(kappa, passed.astype(jnp.float32))

    return schedule


def exponential_decay(init_value: float, kappa: float, steps_per_epoch: int = 1) -> optax.Schedule:
    """Exponential decay ``gamma_t = gamma_0 exp(-kappa t)``, t = step // steps_per_epoch.

    Equivalent to ``optax.exponential_decay(init_value, transition_steps=steps_per_epoch,
    decay_rate=exp(-kappa), staircase=True)``; written here to keep the course's
    ``kappa`` parameterization.

    Args:
        init_value: ``gamma_0``.
        kappa: decay constant, ``kappa >= 0``.
        steps_per_epoch: optimizer steps per epoch.

    Returns:
        An optax schedule mapping the step count to the rate.

    Example:
        >>> from jaxdl.optim import exponential_decay
        >>> round(float(exponential_decay(0.1, kappa=0.5)(2)), 4)  # 0.1 * e^-1
        0.0368

    References:
        Bengio, "Practical recommendations for gradient-based training of deep
        architectures", 2012.
    """
    init_value = _check_real("init_value", init_value)
    kappa = _check_real(
        "kappa", kappa, lambda k: k >= 0, f"exponential_decay needs kappa >= 0, got {kappa}."
    )
    steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)

    def schedule(count):
        return init_value * jnp.exp(-kappa * _epoch(count, steps_per_epoch))

    return schedule


def constant_warmup(
    schedule: optax.Schedule, warmup_value: float, warmup_epochs: int, steps_per_epoch: int = 1
) -> optax.Schedule:
    """``gamma_t = warmup_value`` while ``t < warmup_epochs``, else ``schedule(step)``.

    He et al.'s warm-up for a very deep net: a rate ten times smaller for the first
    ~400 iterations, "then go back to 0.1". The wrapped schedule keeps counting from
    step 0, so its milestones stay where the recipe puts them.

    Args:
        schedule: the schedule in force after the warm-up.
        warmup_value: the constant warm-up rate.
        warmup_epochs: warm-up length in epochs of ``steps_per_epoch`` steps.
        steps_per_epoch: optimizer steps per epoch (1: ``warmup_epochs`` counts steps).

    Returns:
        An optax schedule mapping the step count to the rate.

    Example:
        >>> from jaxdl.optim import constant_warmup, milestone_decay
        >>> base = milestone_decay(0.1, (91, 136), steps_per_epoch=391)
        >>> sched = constant_warmup(base, 0.01, warmup_epochs=1, steps_per_epoch=391)
        >>> round(float(sched(390)), 6), round(float(sched(391)), 6)
        (0.01, 0.1)

    References:
        He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR 2016
        (sec. 4.2, ResNet-110: 0.01 until the training error is below 80%, about 400
        iterations).
    """
    warmup_value = _check_real("warmup_value", warmup_value)
    warmup_epochs = _check_positive_int("warmup_epochs", warmup_epochs)
    steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)

    def warmed(count):
        in_warmup = _epoch(count, steps_per_epoch) < warmup_epochs
        return jnp.where(in_warmup, warmup_value, schedule(count))

    return warmed


def _cosine(init_value, steps_per_epoch, *, decay_epochs, alpha=0.0):
    return optax.cosine_decay_schedule(init_value, decay_epochs * steps_per_epoch, alpha)


def _warmup_cosine(
    init_value, steps_per_epoch, *, warmup_epochs, decay_epochs, end_value=0.0, warmup_init=0.0
):
    # optax's decay_steps counts the warmup too: total length of the schedule.
    return optax.warmup_cosine_decay_schedule(
        init_value=warmup_init,
        peak_value=init_value,
        warmup_steps=warmup_epochs * steps_per_epoch,
        decay_steps=decay_epochs * steps_per_epoch,
        end_value=end_value,
    )


#: Schedule names accepted by `create_schedule` (builders take init_value, steps_per_epoch).
SCHEDULES: dict[str, Callable[..., optax.Schedule]] = {
    "constant": lambda init_value, steps_per_epoch: constant_schedule(init_value),
    "time_based": lambda init_value, steps_per_epoch, *, kappa: time_based_decay(
        init_value, kappa, steps_per_epoch
    ),
    "step": lambda init_value, steps_per_epoch, *, kappa, every_epochs=1: step_decay(
        init_value, kappa, every_epochs, steps_per_epoch
    ),
    "exponential": lambda init_value, steps_per_epoch, *, kappa: exponential_decay(
        init_value, kappa, steps_per_epoch
    ),
    "milestones": lambda init_value, steps_per_epoch, *, milestones, kappa=0.1: milestone_decay(
        init_value, tuple(milestones), kappa, steps_per_epoch
    ),
    "cosine": _cosine,
    "warmup_cosine": _warmup_cosine,
}


_prepend_warmup = constant_warmup  # create_schedule's argument of that name shadows it


def create_schedule(
    name: str,
    init_value: float,
    steps_per_epoch: int = 1,
    *,
    constant_warmup: tuple[float, int] | None = None,
    **kwargs: Any,
) -> optax.Schedule:
    """Learning-rate schedule by config name, in epochs of ``steps_per_epoch`` steps.

    Names and keyword arguments: ``constant``; ``time_based`` (``kappa``); ``step``
    (``kappa``, ``every_epochs``); ``exponential`` (``kappa``); ``milestones``
    (``milestones``: epochs, ``kappa`` = 0.1); ``cosine`` (optax's,
    ``decay_epochs``, ``alpha``); ``warmup_cosine`` (optax's: linear from
    ``warmup_init`` to ``init_value`` over ``warmup_epochs``, then cosine to
    ``end_value`` at ``decay_epochs``, the total length). Any of them can start with
    He et al.'s constant warm-up (`constant_warmup`).

    Args:
        name: schedule name (see `SCHEDULES`).
        init_value: the initial (peak, for warmup_cosine) rate.
        steps_per_epoch: optimizer steps per epoch (1: epochs are steps).
        constant_warmup: ``(rate, epochs)``: hold ``rate`` for the first ``epochs``
            epochs, then follow the named schedule (counted from step 0).
        **kwargs: the schedule's arguments.

    Returns:
        An optax schedule (step count -> rate).

    Raises:
        ValueError: unknown name, or arguments the schedule does not take.

    Example:
        >>> from jaxdl.optim import create_schedule
        >>> sched = create_schedule("step", 0.1, steps_per_epoch=390, kappa=0.1,
        ...                         every_epochs=30)
        >>> [round(float(sched(epoch * 390)), 4) for epoch in (0, 29, 30, 60)]
        [0.1, 0.1, 0.01, 0.001]
    """
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, numbers.Integral):
        raise ValueError(f"steps_per_epoch must be a positive int, got {steps_per_epoch!r}.")
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive int, got {steps_per_epoch!r}.")
    try:
        values = concrete_reals("init_value", init_value)  # None when traced
    except TypeError:
        values = np.asarray(np.nan)
    if values is not None and not np.all(np.isfinite(values)):
        raise ValueError(f"init_value must be a finite number, got {init_value!r}.")
    schedule = _call("schedule", SCHEDULES, name, (init_value, steps_per_epoch), kwargs)
    if constant_warmup is None:
        return schedule
    if not (isinstance(constant_warmup, (tuple, list)) and len(constant_warmup) == 2):
        raise ValueError(
            f"constant_warmup must be a pair (rate, epochs), e.g. (0.01, 1), got "
            f"{constant_warmup!r}."
        )
    return _prepend_warmup(schedule, *constant_warmup, steps_per_epoch)
