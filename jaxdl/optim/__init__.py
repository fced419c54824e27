"""Optimization recipes of the course (COURSE.md section 2) as optax transformations.

Every public optimizer piece is a factory returning an ``optax.GradientTransformation``
with a NamedTuple state; optax's own transformations are re-exported where they
implement the course's formula exactly.

- clipping: `clip_by_global_norm` (optax), `clip_by_running_average_norm`
- noise: `add_gradient_noise` (optax.add_noise in the course's parameterization)
- schedules: `time_based_decay`, `step_decay`, `milestone_decay`, `exponential_decay`,
  `constant_schedule`, `constant_warmup` (He et al.'s warm-up before any of them)
- momentum: `momentum`, `nesterov` (reformulated), `nesterov_lookahead` (literal),
  `lookahead_velocity`, and `evaluation_point`, which the train step calls to know
  where to take the gradient:

      grads = jax.grad(loss)(evaluation_point(opt_state, params))
      updates, opt_state = optimizer.update(grads, opt_state, params)

- weight decay: `add_weight_decay` (coupled), `adamw` (decoupled), `decay_mask`
- filter renormalization (ZFNet): `renormalize_filters`, `filter_rms`, `conv_kernel_mask`
- named: `all_together`, `create`, `create_schedule`, `create_clipping`
"""

from jaxdl.optim.alias import (
    CLIPPINGS,
    OPTIMIZERS,
    SCHEDULES,
    all_together,
    create,
    create_clipping,
    create_schedule,
)
from jaxdl.optim.clipping import (
    ClipByRunningAverageNormState,
    clip_by_global_norm,
    clip_by_running_average_norm,
)
from jaxdl.optim.momentum import (
    EvaluationPointState,
    LookaheadVelocityState,
    evaluation_point,
    lookahead_velocity,
    momentum,
    nesterov,
    nesterov_lookahead,
)
from jaxdl.optim.noise import AddNoiseState, add_gradient_noise
from jaxdl.optim.renormalize import conv_kernel_mask, filter_rms, renormalize_filters
from jaxdl.optim.schedules import (
    constant_schedule,
    constant_warmup,
    exponential_decay,
    milestone_decay,
    step_decay,
    time_based_decay,
)
from jaxdl.optim.weight_decay import NO_DECAY_NAMES, adamw, add_weight_decay, decay_mask

__all__ = [
    "CLIPPINGS",
    "NO_DECAY_NAMES",
    "OPTIMIZERS",
    "SCHEDULES",
    "AddNoiseState",
    "ClipByRunningAverageNormState",
    "EvaluationPointState",
    "LookaheadVelocityState",
    "adamw",
    "add_gradient_noise",
    "add_weight_decay",
    "all_together",
    "clip_by_global_norm",
    "clip_by_running_average_norm",
    "constant_schedule",
    "constant_warmup",
    "conv_kernel_mask",
    "create",
    "create_clipping",
    "create_schedule",
    "decay_mask",
    "evaluation_point",
    "exponential_decay",
    "filter_rms",
    "lookahead_velocity",
    "momentum",
    "nesterov",
    "nesterov_lookahead",
    "renormalize_filters",
    "milestone_decay",
    "step_decay",
    "time_based_decay",
]
