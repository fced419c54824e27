"""Traced hyperparameters for every factory of jaxdl.optim (the optax contract).

- ``optax.inject_hyperparams(factory)``: jitted init and updates equal the plain
  factory's; ``jax.vmap`` over one hyperparameter: each lane equals the plain call with
  that value. Schedules: vmapped over their constants, against float64 numpy formulas.
- ``rho`` changed at run time through ``inject_hyperparams`` takes effect at once
  (evaluation point and velocity), against a float64 numpy Nesterov reference.
- Keys: typed, legacy ``uint32[2]`` and int seeds give the same stream; anything else is
  refused at construction. Concrete wrong values are refused, traced ones are not checked.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl.optim as jo

N_STEPS = 3
RTOL, ATOL = 1e-5, 1e-6
# NumPy at import: a jnp array here would start JAX's backend while pytest collects, and
# mutation testing forks its test processes from a process that has only collected.
PARAMS = {
    "conv": {"kernel": np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(2, 2, 1, 2)},  # HWIO
    "dense": {
        "kernel": np.linspace(0.5, -0.5, 6, dtype=np.float32).reshape(3, 2),
        "bias": np.full(2, 0.3, np.float32),
    },
}
LEAF_COEF = {"conv": 1.0, "dense": 2.0}  # curvature of each leaf of the quadratic loss


def loss(params):
    return sum(
        LEAF_COEF[k] * jnp.sum(0.5 * (leaf - 2.0) ** 2)
        for k, sub in params.items()
        for leaf in jax.tree.leaves(sub)
    )


def run(tx, params=PARAMS):
    """N_STEPS train steps (gradient at the evaluation point); the params after each."""
    state, out = tx.init(params), []
    for _ in range(N_STEPS):
        grads = jax.grad(loss)(jo.evaluation_point(state, params))
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out


def updates_and_state(tx, params):
    """Traced: init, then N_STEPS train steps as one lax.scan (one step's program to
    compile); the updates of every step (stacked on a leading axis) and the last state."""

    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(jo.evaluation_point(state, params))
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), updates

    (_, state), updates = jax.lax.scan(step, (params, tx.init(params)), length=N_STEPS)
    return updates, state


def assert_close(a, b, rtol=RTOL, atol=ATOL):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


# id -> (factory, kwargs, static_args, (vmapped hyperparameter, two values)).
# Gradient-like pieces (clipping, noise, decay, renormalization) are applied as updates
# directly: the trajectory is only compared, it need not descend.
CASES = {
    "clip_by_global_norm": (
        jo.clip_by_global_norm,
        {"max_norm": 1.0},
        (),
        ("max_norm", [0.5, 3.0]),
    ),
    "clip_by_running_average_norm": (
        jo.clip_by_running_average_norm,
        {"decay": 0.9, "factor": 1.0},
        (),
        ("factor", [0.5, 1.5]),
    ),
    "momentum": (
        jo.momentum,
        {"learning_rate": 0.1, "rho": 0.9},
        (),
        ("learning_rate", [0.05, 0.2]),
    ),
    "nesterov": (jo.nesterov, {"learning_rate": 0.1, "rho": 0.9}, (), ("rho", [0.5, 0.9])),
    "lookahead_velocity": (
        jo.lookahead_velocity,
        {"inner": optax.scale_by_learning_rate(0.1), "rho": 0.5},
        (),
        ("rho", [0.3, 0.8]),
    ),
    "nesterov_lookahead": (
        jo.nesterov_lookahead,
        {"learning_rate": 0.1, "rho": 0.9},
        (),
        ("rho", [0.5, 0.9]),
    ),
    "add_gradient_noise": (
        jo.add_gradient_noise,
        {"sigma0": 0.1, "kappa": 0.55, "key": 0},
        (),
        ("sigma0", [0.1, 0.5]),
    ),
    "add_weight_decay": (jo.add_weight_decay, {"kappa": 0.1}, ("mask",), ("kappa", [0.1, 0.3])),
    "add_weight_decay:nomask": (
        jo.add_weight_decay,
        {"kappa": 0.1, "mask": None},
        (),
        ("kappa", [0.1, 0.3]),
    ),
    "adamw": (
        jo.adamw,
        {"learning_rate": 0.01, "weight_decay": 0.1},
        ("mask",),
        ("weight_decay", [0.1, 0.5]),
    ),
    "renormalize_filters": (jo.renormalize_filters, {"max_rms": 0.5}, (), ("max_rms", [0.2, 0.5])),
    "all_together": (
        jo.all_together,
        {"learning_rate": 0.05, "rho": 0.9, "weight_decay": 0.01, "noise_sigma0": 0.1, "key": 1},
        ("mask",),
        ("rho", [0.5, 0.9]),
    ),
    "all_together:adaptive": (
        jo.all_together,
        {"learning_rate": 0.01, "adaptive": True, "noise_sigma0": 0.0},
        ("mask", "noise_sigma0"),
        ("learning_rate", [0.01, 0.02]),
    ),
    "create": (
        functools.partial(jo.create, "nesterov_lookahead"),
        {
            "learning_rate": 0.1,
            "clipping": "running_average",
            "clipping_kwargs": {"factor": 2.0},
            "rho": 0.5,
        },
        (),
        ("learning_rate", [0.05, 0.1]),
    ),
    "create_clipping": (
        functools.partial(jo.create_clipping, "global_norm"),
        {"max_norm": 1.0},
        (),
        None,
    ),
    "create_clipping:vmap": (
        lambda max_norm: jo.create_clipping("global_norm", max_norm=max_norm),
        {"max_norm": 1.0},
        (),
        ("max_norm", [0.5, 3.0]),
    ),
}


def _schedule_tx(build):
    """A factory with the schedule builder's signature: a step scaled by that schedule."""

    @functools.wraps(build)  # inject_hyperparams reads the signature through __wrapped__
    def factory(*args, **kwargs):
        return optax.scale_by_learning_rate(build(*args, **kwargs))

    return factory


def _epoch(step, spe):
    return np.floor_divide(step, spe).astype(np.float64)


# id -> (builder with explicit hyperparameters, kwargs, float64 numpy reference(step, **kw)).
SCHEDULES = {
    "constant_schedule": (
        jo.constant_schedule,
        {"init_value": 0.1},
        lambda s, init_value: init_value + 0 * s,
    ),
    "time_based_decay": (
        lambda init_value, kappa: jo.time_based_decay(init_value, kappa, steps_per_epoch=2),
        {"init_value": 0.1, "kappa": 0.5},
        lambda s, init_value, kappa: init_value / (1.0 + kappa * _epoch(s, 2)),
    ),
    "step_decay": (
        lambda init_value, kappa: jo.step_decay(
            init_value, kappa, every_epochs=2, steps_per_epoch=2
        ),
        {"init_value": 0.1, "kappa": 0.5},
        lambda s, init_value, kappa: init_value * kappa ** np.floor(_epoch(s, 2) / 2),
    ),
    "milestone_decay": (
        lambda init_value, kappa: jo.milestone_decay(init_value, (1, 3), kappa, steps_per_epoch=2),
        {"init_value": 0.1, "kappa": 0.1},
        lambda s, init_value, kappa: (
            init_value * kappa ** ((_epoch(s, 2) >= 1).astype(float) + (_epoch(s, 2) >= 3))
        ),
    ),
    "exponential_decay": (
        lambda init_value, kappa: jo.exponential_decay(init_value, kappa, steps_per_epoch=1),
        {"init_value": 0.1, "kappa": 0.5},
        lambda s, init_value, kappa: init_value * np.exp(-kappa * _epoch(s, 1)),
    ),
    "constant_warmup": (
        lambda warmup_value, init_value: jo.constant_warmup(
            jo.exponential_decay(init_value, 0.5, steps_per_epoch=2), warmup_value, 2, 2
        ),
        {"warmup_value": 0.01, "init_value": 0.1},
        lambda s, warmup_value, init_value: np.where(
            _epoch(s, 2) < 2, warmup_value, init_value * np.exp(-0.5 * _epoch(s, 2))
        ),
    ),
    "create_schedule": (
        lambda init_value: jo.create_schedule("time_based", init_value, 2, kappa=0.5),
        {"init_value": 0.1},
        lambda s, init_value: init_value / (1.0 + 0.5 * _epoch(s, 2)),
    ),
}
STEPS = np.arange(10)
SWEEPS = {"init_value": [0.05, 0.3], "kappa": [0.2, 0.7], "warmup_value": [0.001, 0.02]}

# The factories the contract is about; every one has an inject and a vmap case.
FACTORIES = {
    "clip_by_global_norm", "clip_by_running_average_norm", "momentum", "nesterov",
    "lookahead_velocity", "nesterov_lookahead", "add_gradient_noise", "add_weight_decay",
    "adamw", "renormalize_filters", "all_together", "create", "create_clipping",
    "create_schedule", "constant_schedule", "time_based_decay", "step_decay",
    "milestone_decay", "exponential_decay", "constant_warmup",
}  # fmt: skip


def test_every_factory_has_cases():
    names = {n.split(":")[0] for n in CASES} | set(SCHEDULES)
    assert names == FACTORIES
    assert all(getattr(jo, name) is not None for name in FACTORIES)
    assert {n.split(":")[0] for n, c in CASES.items() if c[3]} | set(SCHEDULES) == FACTORIES


def _inject_matches_plain(factory, kwargs, static_args):
    injected = optax.inject_hyperparams(factory, static_args=static_args)(**kwargs)
    plain = factory(**kwargs)
    # One compilation: jitted init and N_STEPS jitted updates of both transformations.
    both = jax.jit(lambda p: [updates_and_state(tx, p) for tx in (injected, plain)])
    (u_inj, s_inj), (u_plain, _) = both(PARAMS)
    for t in range(N_STEPS):
        assert_close(*(jax.tree.map(lambda x, t=t: x[t], u) for u in (u_inj, u_plain)))
    assert isinstance(s_inj, optax.InjectStatefulHyperparamsState)


@pytest.mark.parametrize("name", sorted(CASES))
def test_inject_hyperparams_equals_plain(name):
    factory, kwargs, static_args, _ = CASES[name]
    _inject_matches_plain(factory, kwargs, static_args)


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][3]))
def test_vmap_over_hyperparameter(name):
    factory, kwargs, _, (hp, values) = CASES[name]

    @jax.jit  # one compilation: the vmapped sweep and the plain call with each value
    def sweep_and_singles(vs):
        lanes = jax.vmap(lambda v: run(factory(**{**kwargs, hp: v}))[-1])(vs)
        return lanes, [run(factory(**{**kwargs, hp: value}))[-1] for value in values]

    lanes, singles = sweep_and_singles(jnp.asarray(values, jnp.float32))
    for i, single in enumerate(singles):
        assert_close(jax.tree.map(lambda x, i=i: x[i], lanes), single)
    first, second = (jax.tree.map(lambda x, i=i: x[i], lanes) for i in range(2))
    assert not all(jax.tree.leaves(jax.tree.map(np.allclose, first, second)))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_under_inject_hyperparams(name):
    build, kwargs, _ = SCHEDULES[name]
    _inject_matches_plain(_schedule_tx(build), kwargs, ())


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_vmap_against_numpy(name):
    build, kwargs, reference = SCHEDULES[name]
    for hp in kwargs:
        values = SWEEPS[hp]
        swept = jax.vmap(lambda v, hp=hp: build(**{**kwargs, hp: v})(jnp.asarray(STEPS)))(
            jnp.asarray(values, jnp.float32)
        )
        for lane, value in zip(np.asarray(swept), values):
            expected = reference(STEPS, **{**kwargs, hp: value})
            np.testing.assert_allclose(lane, expected, rtol=1e-6, atol=1e-9)
            single = build(**{**kwargs, hp: value})(jnp.asarray(STEPS))
            np.testing.assert_allclose(lane, single, rtol=1e-6)


def test_issue_examples():
    jax.vmap(lambda lr: jo.exponential_decay(lr, 0.5)(3))(jnp.array([0.1, 0.2]))
    tx = optax.inject_hyperparams(jo.clip_by_running_average_norm)(decay=0.9, factor=2.0)
    tx.update(PARAMS, tx.init(PARAMS))


# ------------------------------------------------------------------ rho changed at run time
LR, KAPPA, RHO0, RHO1, SWITCH, N_RUN = 0.1, 0.05, 0.9, 0.3, 2, 6


def _nesterov_np(kappa, rhos):
    """Float64 course Nesterov: V <- lr (g(U) + kappa U) + rho_t V, W <- W - V, U = W - rho_t V."""
    w = jax.tree.map(lambda x: np.asarray(x, np.float64), PARAMS)
    v = jax.tree.map(np.zeros_like, w)
    coef = {k: jax.tree.map(lambda _, k=k: LEAF_COEF[k], w[k]) for k in w}
    out = []
    for rho in rhos:
        u = jax.tree.map(lambda a, b, rho=rho: a - rho * b, w, v)
        g = jax.tree.map(lambda c, x: c * (x - 2.0) + kappa * x, coef, u)
        v = jax.tree.map(lambda gi, vi, rho=rho: LR * gi + rho * vi, g, v)
        w = jax.tree.map(lambda a, b: a - b, w, v)
        out.append(w)
    return out


@pytest.mark.parametrize("which", ["nesterov_lookahead", "all_together"])
def test_rho_changed_at_run_time(which):
    if which == "nesterov_lookahead":
        tx, kappa = optax.inject_hyperparams(jo.nesterov_lookahead)(LR, rho=RHO0), 0.0
    else:  # every leaf decayed; zero noise, but the noise term stays in the chain
        inject = optax.inject_hyperparams(jo.all_together, static_args=("mask",))
        tx = inject(LR, rho=RHO0, weight_decay=KAPPA, noise_sigma0=0.0, key=0, mask=None)
        kappa = KAPPA

    @jax.jit
    def step(params, state):
        grads = jax.grad(loss)(jo.evaluation_point(state, params))
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    params, state, changed = PARAMS, tx.init(PARAMS), []
    for t in range(N_RUN):
        if t == SWITCH:
            state.hyperparams["rho"] = jnp.asarray(RHO1, jnp.float32)
        params, state = step(params, state)
        changed.append(params)
    rhos = [RHO0] * SWITCH + [RHO1] * (N_RUN - SWITCH)
    for ours, ref in zip(changed, _nesterov_np(kappa, rhos)):
        assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    unchanged = _nesterov_np(kappa, [RHO0] * N_RUN)
    assert not np.allclose(changed[SWITCH]["dense"]["kernel"], unchanged[SWITCH]["dense"]["kernel"])
    inner = jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, jo.LookaheadVelocityState))
    assert [float(s.rho) for s in inner if isinstance(s, jo.LookaheadVelocityState)] == [
        pytest.approx(RHO1)
    ]


# ------------------------------------------------------------------------------- keys
def _noise(make, key):
    tx = make(key)
    return run(tx)[-1]


@pytest.mark.parametrize(
    "make",
    [
        lambda key: jo.add_gradient_noise(0.5, key=key),
        lambda key: jo.all_together(0.1, noise_sigma0=0.5, key=key),
        lambda key: optax.inject_hyperparams(jo.add_gradient_noise)(0.5, key=key),
        lambda key: optax.inject_hyperparams(jo.all_together, static_args="mask")(0.1, key=key),
    ],
    ids=["noise", "all_together", "inject_noise", "inject_all_together"],
)
def test_typed_legacy_and_int_keys_give_the_same_stream(make):
    typed = _noise(make, jax.random.key(3))
    assert_close(_noise(make, jax.random.PRNGKey(3)), typed, rtol=0, atol=0)
    assert_close(_noise(make, 3), typed, rtol=0, atol=0)
    assert not np.allclose(
        _noise(make, jax.random.key(4))["dense"]["kernel"], typed["dense"]["kernel"]
    )


@pytest.mark.parametrize(  # made in the test: no JAX array at collection (see PARAMS)
    "make_key",
    [
        lambda: 1.5,
        lambda: jnp.zeros(4, jnp.uint32),
        lambda: jax.random.split(jax.random.key(0), 2),
        lambda: "seed",
    ],
    ids=["float", "uint32[4]", "key batch", "str"],
)
def test_bad_key_refused_at_construction(make_key):
    key = make_key()
    with pytest.raises(TypeError, match=r"jax\.random\.key\(seed\).*PRNGKey.*int seed"):
        jo.add_gradient_noise(0.1, key=key)
    with pytest.raises(TypeError, match=r"jax\.random\.key\(seed\)"):
        jo.all_together(0.1, key=key)


# ---------------------------------------------------------- concrete values still checked
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: jo.nesterov_lookahead(0.1, rho=x + 1.0), "rho"),
        (lambda x: jo.all_together(0.1, rho=x + 1.0, key=0), "rho"),
        (lambda x: jo.momentum(x - 1.0), "learning_rate"),
        (lambda x: jo.exponential_decay(0.1, x - 1.0), "kappa"),
        (lambda x: jo.step_decay(0.1, x + 1.0), "kappa"),
        (lambda x: jo.add_weight_decay(x - 1.0), "kappa"),
        (lambda x: jo.clip_by_running_average_norm(decay=x + 1.0), "decay"),
        (lambda x: jo.add_gradient_noise(x - 1.0, key=0), "sigma0"),
        (lambda x: jo.renormalize_filters(x - 1.0), "max_rms"),
        (lambda x: jo.create_schedule("constant", x + np.inf), "init_value"),
    ],
)
def test_concrete_values_checked_traced_ones_not(call, match):
    for concrete in (0.5, np.float32(0.5), jnp.asarray(0.5)):
        with pytest.raises(ValueError, match=match):
            call(concrete)
    jax.vmap(lambda x: (call(x), x)[1])(jnp.array([0.5, 0.6]))  # traced: not checked
