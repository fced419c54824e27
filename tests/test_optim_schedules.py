"""Learning-rate schedules against float64 numpy references of the course formulas."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl.optim as jo

STEPS = np.arange(60)  # 20 epochs of 3 steps


def _values(schedule):
    return np.array([float(schedule(int(t))) for t in STEPS])


def test_time_based_decay():
    epoch = STEPS // 3
    expected = 0.2 / (1.0 + 0.7 * epoch)
    np.testing.assert_allclose(
        _values(jo.time_based_decay(0.2, 0.7, steps_per_epoch=3)), expected, rtol=1e-6
    )


def test_step_decay():
    epoch = STEPS // 3
    expected = 0.2 * 0.5 ** (epoch // 4)
    got = _values(jo.step_decay(0.2, 0.5, every_epochs=4, steps_per_epoch=3))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # Per-step variant (defaults): decays at every step.
    np.testing.assert_allclose(_values(jo.step_decay(0.2, 0.9)), 0.2 * 0.9**STEPS, rtol=1e-5)


def test_milestone_decay():
    epoch = STEPS // 3
    # Independent: the rate in force after epochs 5 and 12 have begun, in float64.
    expected = np.where(epoch >= 12, 0.2 * 0.01, np.where(epoch >= 5, 0.2 * 0.1, 0.2))
    got = _values(jo.milestone_decay(0.2, (5, 12), steps_per_epoch=3))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    got = _values(jo.create_schedule("milestones", 0.2, 3, milestones=[5, 12], kappa=0.5))
    np.testing.assert_allclose(got, np.where(epoch >= 12, 0.05, np.where(epoch >= 5, 0.1, 0.2)))
    for bad in ((), (5, 5), (0, 3)):
        with pytest.raises(ValueError, match="milestone"):
            jo.milestone_decay(0.2, bad)


def test_constant_warmup():
    epoch = STEPS // 3
    # He et al.: 0.01 for the first epochs, then the base schedule counted from step 0.
    base = np.where(epoch >= 5, 0.02, 0.2)
    expected = np.where(epoch < 2, 0.01, base)
    sched = jo.constant_warmup(jo.milestone_decay(0.2, (5,), steps_per_epoch=3), 0.01, 2, 3)
    np.testing.assert_allclose(_values(sched), expected, rtol=1e-6)
    named = jo.create_schedule("milestones", 0.2, 3, milestones=[5], constant_warmup=(0.01, 2))
    np.testing.assert_allclose(_values(named), expected, rtol=1e-6)
    # Without a warm-up, create_schedule is the base schedule itself.
    np.testing.assert_allclose(
        _values(jo.create_schedule("milestones", 0.2, 3, milestones=[5])), base, rtol=1e-6
    )
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="warmup_epochs"):
            jo.constant_warmup(jo.constant_schedule(0.1), 0.01, bad)
    for bad in ((0.01,), "ab", (0.01, 2, 3), 0.01):
        with pytest.raises(ValueError, match="constant_warmup must be a pair"):
            jo.create_schedule("constant", 0.1, constant_warmup=bad)


def test_exponential_decay():
    epoch = STEPS // 3
    expected = 0.2 * np.exp(-0.3 * epoch)
    got = _values(jo.exponential_decay(0.2, 0.3, steps_per_epoch=3))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_schedules_jit_on_traced_count():
    sched = jo.step_decay(1.0, 0.5, every_epochs=2, steps_per_epoch=5)
    got = jax.jit(jax.vmap(sched))(jnp.arange(60, dtype=jnp.int32))
    np.testing.assert_allclose(np.asarray(got), 0.5 ** ((STEPS // 5) // 2), rtol=1e-6)


def test_create_schedule_names():
    spe = 3
    epoch = STEPS // spe
    cases = {
        ("constant", ()): np.full(STEPS.shape, 0.2),
        ("time_based", (("kappa", 0.7),)): 0.2 / (1 + 0.7 * epoch),
        ("step", (("kappa", 0.5), ("every_epochs", 4))): 0.2 * 0.5 ** (epoch // 4),
        ("exponential", (("kappa", 0.3),)): 0.2 * np.exp(-0.3 * epoch),
    }
    # optax's cosine and warmup-cosine, epochs converted to steps (independent formulas).
    total = 10 * spe
    frac = np.minimum(STEPS, total) / total
    cases[("cosine", (("decay_epochs", 10), ("alpha", 0.1)))] = 0.2 * (
        (1 - 0.1) * 0.5 * (1 + np.cos(np.pi * frac)) + 0.1
    )
    warm, end = 2 * spe, 0.01
    cos_frac = np.clip(STEPS - warm, 0, total - warm) / (total - warm)
    cases[("warmup_cosine", (("warmup_epochs", 2), ("decay_epochs", 10), ("end_value", end)))] = (
        np.where(
            warm > STEPS,
            0.2 * STEPS / warm,
            end + (0.2 - end) * 0.5 * (1 + np.cos(np.pi * cos_frac)),
        )
    )
    for (name, kwargs), expected in cases.items():
        got = _values(jo.create_schedule(name, 0.2, steps_per_epoch=spe, **dict(kwargs)))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: jo.step_decay(0.1, 1.0), "0 < kappa < 1"),
        (lambda: jo.step_decay(0.1, 0.0), "0 < kappa < 1"),
        (lambda: jo.step_decay(0.1, 0.5, every_epochs=0), "every_epochs"),
        (lambda: jo.time_based_decay(0.1, -1.0), "kappa >= 0"),
        (lambda: jo.exponential_decay(0.1, -0.1), "kappa >= 0"),
        (lambda: jo.exponential_decay(0.1, 0.1, steps_per_epoch=0), "steps_per_epoch"),
        (lambda: jo.time_based_decay(math.nan, 0.1), "finite"),
        (lambda: jo.create_schedule("linear", 0.1), "valid names"),
        (lambda: jo.create_schedule("step", 0.1, 10), "kappa"),
        (lambda: jo.create_schedule("time_based", 0.1, 10, kappa=0.1, gamma=2), "valid keyword"),
        (lambda: jo.create_schedule("constant", 0.1, 0), "steps_per_epoch"),
    ],
)
def test_schedule_argument_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_type_error():
    with pytest.raises(TypeError, match="real number"):
        jo.time_based_decay("0.1", 0.5)


def test_trainer_config_warmup_reaches_the_updates():
    # optimizer.warmup_* of a trainer config: the rate of each real SGD update, in
    # epochs of the loader's steps, then the configured milestones from step 0.
    from train import build
    from train.configs import defaults

    config = defaults.get_config()
    cfg = config.optimizer
    cfg.learning_rate, cfg.warmup_learning_rate, cfg.warmup_epochs = 0.2, 0.01, 2
    cfg.schedule, cfg.schedule_kwargs.milestones = "milestones", (5,)
    tx = build.optimizer(config, steps_per_epoch=3)
    params = jnp.zeros(())
    state, rates = tx.init(params), []
    for _ in STEPS:
        updates, state = tx.update(jnp.ones(()), state, params)  # gradient 1: -rate
        rates.append(-float(updates))
    epoch = STEPS // 3
    expected = np.where(epoch < 2, 0.01, np.where(epoch >= 5, 0.02, 0.2))
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_trainer_cosine_without_decay_epochs_decays_over_the_whole_run():
    # A config's cosine schedule with no decay_epochs: 0.1 (1 + cos(pi t / T)) / 2 with
    # T = num_epochs * steps_per_epoch, the rate of each real SGD update.
    from train import build
    from train.configs import defaults

    config = defaults.get_config()
    config.optimizer.learning_rate, config.optimizer.schedule = 0.1, "cosine"
    config.train.num_epochs = 4
    tx = build.optimizer(config, steps_per_epoch=3)
    params = jnp.zeros(())
    state, rates = tx.init(params), []
    for _ in range(12):
        updates, state = tx.update(jnp.ones(()), state, params)  # gradient 1: -rate
        rates.append(-float(updates))
    t = np.arange(12, dtype=np.float64)
    np.testing.assert_allclose(rates, 0.1 * (1 + np.cos(np.pi * t / 12)) / 2, rtol=1e-5, atol=1e-8)
