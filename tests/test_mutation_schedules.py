"""Tests that kill mutants of jaxdl.optim.schedules which the other tests let survive.

Found by ``python -m mutation.run --modules optim/schedules`` (docs/testing.md). They pin
the error messages word for word (which argument is named), the default
``steps_per_epoch=1`` and ``end_value=0``, the boundaries ``kappa = 0`` (allowed) and
``kappa`` in ``{0, 1}`` for the milestones (refused), traced integer arguments and
float32 rates with x64 on. References: the course formulas in float64 NumPy and
messages written out by hand.
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl.optim as jo

T = np.arange(10)  # ten steps, epochs of one step (the default)


def _values(schedule, steps=T):
    return np.array([float(schedule(int(t))) for t in steps])


def _raises(error, message):
    return pytest.raises(error, match=f"^{re.escape(message)}$")


NAN, INF = math.nan, math.inf
_BASE = jo.constant_schedule(0.1)
SPE = "steps_per_epoch must be a positive integer, got "

# (factory call, the exact message): each argument checked under its own name.
ARGUMENT_ERRORS = [
    (lambda: jo.constant_schedule(NAN), "init_value must be finite, got nan."),
    (lambda: jo.time_based_decay(NAN, 0.5), "init_value must be finite, got nan."),
    (lambda: jo.time_based_decay(0.1, INF), "kappa must be finite, got inf."),
    (lambda: jo.time_based_decay(0.1, 0.5, 0), SPE + "0."),
    (lambda: jo.step_decay(NAN, 0.5), "init_value must be finite, got nan."),
    (lambda: jo.step_decay(0.1, NAN), "kappa must be finite, got nan."),
    (lambda: jo.step_decay(0.1, 0.5, 0), "every_epochs must be a positive integer, got 0."),
    (lambda: jo.step_decay(0.1, 0.5, 1, -2), SPE + "-2."),
    (lambda: jo.milestone_decay(NAN, (2,)), "init_value must be finite, got nan."),
    (lambda: jo.milestone_decay(0.1, (2,), INF), "kappa must be finite, got inf."),
    (lambda: jo.milestone_decay(0.1, (2, 0)), "each milestone must be a positive integer, got 0."),
    (lambda: jo.milestone_decay(0.1, (2,), 0.1, 0), SPE + "0."),
    (lambda: jo.exponential_decay(NAN, 0.5), "init_value must be finite, got nan."),
    (lambda: jo.exponential_decay(0.1, -INF), "kappa must be finite, got -inf."),
    (lambda: jo.exponential_decay(0.1, 0.5, 0), SPE + "0."),
    (lambda: jo.constant_warmup(_BASE, NAN, 1), "warmup_value must be finite, got nan."),
    (
        lambda: jo.constant_warmup(_BASE, 0.01, -1),
        "warmup_epochs must be a positive integer, got -1.",
    ),
    (lambda: jo.constant_warmup(_BASE, 0.01, 1, 0), SPE + "0."),
]


@pytest.mark.parametrize("make, message", ARGUMENT_ERRORS)
def test_argument_errors_name_the_argument(make, message):
    with _raises(ValueError, message):
        make()


def test_a_string_rate_is_named_in_the_type_error():
    with _raises(TypeError, "init_value must be a real number, got str."):
        jo.time_based_decay("0.1", 0.5)


@pytest.mark.parametrize("kappa", [0.0, 1.0, 1.5, -0.5])
def test_milestone_kappa_outside_the_open_unit_interval_is_refused(kappa):
    with _raises(ValueError, f"milestone_decay needs 0 < kappa < 1, got {kappa}."):
        jo.milestone_decay(0.1, (2,), kappa)


def test_zero_kappa_is_a_constant_rate():
    np.testing.assert_allclose(_values(jo.time_based_decay(0.2, 0.0)), np.full(10, 0.2), rtol=1e-7)
    np.testing.assert_allclose(_values(jo.exponential_decay(0.2, 0.0)), np.full(10, 0.2), rtol=1e-7)


def test_default_steps_per_epoch_is_one():
    # Epochs are steps: the course formulas at t = 0..9, float64.
    expected = 0.2 / (1 + 0.7 * T)
    np.testing.assert_allclose(_values(jo.time_based_decay(0.2, 0.7)), expected, rtol=1e-6)
    named = jo.create_schedule("time_based", 0.2, kappa=0.7)
    np.testing.assert_allclose(_values(named), expected, rtol=1e-6)
    # Default kappa 0.1 at milestones 2 and 4.
    expected = np.where(T >= 4, 0.002, np.where(T >= 2, 0.02, 0.2))
    np.testing.assert_allclose(_values(jo.milestone_decay(0.2, (2, 4))), expected, rtol=1e-6)
    warmed = jo.constant_warmup(jo.constant_schedule(0.2), 0.01, 3)
    np.testing.assert_allclose(_values(warmed), np.where(T < 3, 0.01, 0.2), rtol=1e-6)
    # ResNet's: 0.01 for 2 steps, then milestones at steps 4 and 7 counted from step 0.
    named = jo.create_schedule("milestones", 0.1, milestones=[4, 7], constant_warmup=(0.01, 2))
    expected = np.where(T < 2, 0.01, np.where(T >= 7, 0.001, np.where(T >= 4, 0.01, 0.1)))
    np.testing.assert_allclose(_values(named), expected, rtol=1e-6)


def test_warmup_cosine_ends_at_zero_by_default():
    # Linear 0 -> 0.2 over 2 steps, then 0.1 (1 + cos(pi (t - 2) / 4)) to 0 at step 6.
    t = np.arange(9)
    expected = np.where(t < 2, 0.2 * t / 2, 0.1 * (1 + np.cos(np.pi * np.clip(t - 2, 0, 4) / 4)))
    sched = jo.create_schedule("warmup_cosine", 0.2, warmup_epochs=2, decay_epochs=6)
    np.testing.assert_allclose(_values(sched, t), expected, rtol=1e-5, atol=1e-7)


def test_traced_integer_arguments_pass_through():
    # vmap over every_epochs: 0.5^(4 // e) at step 4 for e = 1, 2, 4, 8.
    got = jax.vmap(lambda e: jo.step_decay(1.0, 0.5, e)(4))(jnp.array([1, 2, 4, 8]))
    np.testing.assert_allclose(np.asarray(got), [0.0625, 0.25, 0.5, 1.0], rtol=1e-6)


def test_a_milestone_past_the_int32_step_counter_is_accepted():
    # Never reached (optax counts steps in int32): only the first one applies.
    sched = jo.milestone_decay(0.2, (3, 2**31))
    np.testing.assert_allclose(_values(sched, [2, 3, 9]), [0.2, 0.02, 0.02], rtol=1e-6)


def test_rates_stay_float32_with_x64():
    # optax's step counter is int32; float64 constants (NumPy) must not promote the rate.
    with jax.enable_x64(True):
        count = jnp.asarray(3, jnp.int32)
        cases = [
            (jo.time_based_decay(0.2, 0.5), 0.2 / 2.5),
            (jo.time_based_decay(np.float64(0.2), np.float64(0.5)), 0.2 / 2.5),
            (jo.step_decay(np.float64(0.2), 0.5), 0.2 * 0.125),
            (jo.milestone_decay(0.2, (1, 3)), 0.2 * 0.01),
            (jo.exponential_decay(np.float64(0.2), 0.5), 0.2 * np.exp(-1.5)),
        ]
        for i, (sched, expected) in enumerate(cases):
            rate = sched(count)
            assert rate.dtype == jnp.float32, i
            np.testing.assert_allclose(float(rate), expected, rtol=1e-6, err_msg=str(i))


@pytest.mark.parametrize("bad", [1.5, 2.0, True, "3", 0, -1])
def test_create_schedule_refuses_a_non_positive_int_steps_per_epoch(bad):
    with _raises(ValueError, f"steps_per_epoch must be a positive int, got {bad!r}."):
        jo.create_schedule("constant", 0.1, bad)


@pytest.mark.parametrize("name, kwargs", [("constant", {}), ("cosine", {"decay_epochs": 4})])
@pytest.mark.parametrize("bad", [NAN, INF, "0.1", None])
def test_create_schedule_refuses_a_non_finite_rate(name, kwargs, bad):
    # Checked before the builder (optax's cosine checks nothing), strings included.
    with _raises(ValueError, f"init_value must be a finite number, got {bad!r}."):
        jo.create_schedule(name, bad, **kwargs)


def test_create_schedule_unknown_name_lists_the_schedules():
    message = (
        "Unknown schedule 'linear'; valid names: ['constant', 'cosine', 'exponential', "
        "'milestones', 'step', 'time_based', 'warmup_cosine']."
    )
    with _raises(ValueError, message):
        jo.create_schedule("linear", 0.1)
