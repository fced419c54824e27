"""Contract every gradient transformation of jaxdl.optim satisfies.

For each transformation/optimizer: jitted init and update compile once and keep the
update tree (structure, shapes, dtypes) equal to the params; outputs are finite; the
state structure is stable across updates; init works on abstract params
(``jax.eval_shape``); and a jitted train-step-like update over an 8-device mesh with
replicated params gives the same numbers as on one device.
"""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxdl.optim as jo

KEY = 0  # int seeds keep the factories cheap; keys are covered in test_optim_noise


def _sched():
    return jo.time_based_decay(0.1, kappa=0.5, steps_per_epoch=2)


# name -> factory of a configured transformation. Keys name the public factory they
# exercise (prefix before ":"), checked for completeness by test_every_factory_covered.
CASES = {
    "clip_by_global_norm": lambda: jo.clip_by_global_norm(1.0),
    "clip_by_running_average_norm": lambda: jo.clip_by_running_average_norm(0.9, 2.0),
    "add_gradient_noise": lambda: jo.add_gradient_noise(0.1, key=KEY),
    "momentum": lambda: jo.momentum(0.1, rho=0.9),
    "momentum:schedule": lambda: jo.momentum(_sched(), rho=0.9),
    "nesterov": lambda: jo.nesterov(0.1),
    "nesterov_lookahead": lambda: jo.nesterov_lookahead(_sched()),
    "lookahead_velocity": lambda: jo.lookahead_velocity(optax.scale_by_adam(), 0.5),
    "add_weight_decay": lambda: jo.add_weight_decay(1e-2),
    "add_weight_decay:nomask": lambda: jo.add_weight_decay(1e-2, mask=None),
    "adamw": lambda: jo.adamw(1e-3, weight_decay=1e-2),
    "renormalize_filters": lambda: optax.chain(optax.sgd(0.1), jo.renormalize_filters(0.1)),
    "all_together": lambda: jo.all_together(_sched(), key=KEY),
    "all_together:adaptive": lambda: jo.all_together(1e-3, adaptive=True, key=KEY),
    # Noise is left out where another case covers it: each noise leaf costs compile time.
    "all_together:reformulated": lambda: jo.all_together(0.1, noise_sigma0=0.0, lookahead=False),
    "all_together:plain": lambda: jo.all_together(0.1, weight_decay=0.0, noise_sigma0=0.0),
    "create:clip": lambda: jo.create(
        "nesterov_lookahead",
        0.1,
        weight_decay=1e-3,
        clipping="running_average",
        clipping_kwargs={"factor": 2.0},
    ),
    # all_together* through create are the same function as the direct cases above.
    **{
        f"create:{name}": (lambda name=name: jo.create(name, 0.05))
        for name in jo.OPTIMIZERS
        if not name.startswith("all_together")
    },
    **{
        f"create_clipping:{name}": (
            lambda name=name: jo.create_clipping(
                name, **({"max_norm": 1.0} if name == "global_norm" else {})
            )
        )
        for name in jo.CLIPPINGS
    },
}

# Public names of jaxdl.optim that are not transformation factories.
NOT_TRANSFORMS = {
    "CLIPPINGS",
    "NO_DECAY_NAMES",
    "OPTIMIZERS",
    "SCHEDULES",
    "AddNoiseState",
    "ClipByRunningAverageNormState",
    "EvaluationPointState",
    "LookaheadVelocityState",
    "constant_schedule",
    "constant_warmup",
    "conv_kernel_mask",
    "create_schedule",
    "decay_mask",
    "evaluation_point",
    "exponential_decay",
    "filter_rms",
    "milestone_decay",
    "step_decay",
    "time_based_decay",
}


def _params():
    # Few leaves (compile time grows with them), one of each kind the masks care about.
    return {
        "conv": {
            "kernel": jax.random.normal(jax.random.key(42), (2, 2, 1, 3)),  # HWIO
            "bias": jnp.full((3,), 0.5, jnp.float32),
        },
        "norm": {"scale": jnp.ones(3)},
    }


def _loss(params):
    # A quadratic with a nonzero optimum so gradients change from step to step.
    return sum(
        jnp.sum(0.5 * (p - 2.0) ** 2 * (1 + i)) for i, p in enumerate(jax.tree.leaves(params))
    )


def _train_step(tx):
    def step(params, opt_state):
        grads = jax.grad(_loss)(jo.evaluation_point(opt_state, params))
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, updates

    return step


def _shapes(tree):
    return jax.tree.map(lambda x: (x.shape, x.dtype), tree)


def test_every_factory_covered():
    """A new public transformation must be added to CASES (or to NOT_TRANSFORMS)."""
    covered = {name.split(":")[0] for name in CASES} - {"create", "create_clipping"}
    covered |= {"create", "create_clipping", "all_together", "adamw"}
    public = set(jo.__all__)
    missing = public - covered - NOT_TRANSFORMS
    assert not missing, f"public factories without a contract case: {sorted(missing)}"
    for name in public - NOT_TRANSFORMS:
        assert callable(getattr(jo, name)) and inspect.isfunction(getattr(jo, name)), name
    created = {n.split(":")[1] for n in CASES if n.startswith("create:")}
    assert set(jo.OPTIMIZERS) - created == {"all_together", "all_together_adaptive"}
    assert jo.OPTIMIZERS["all_together"] is jo.all_together


@pytest.mark.parametrize("name", sorted(CASES))
def test_contract(name):
    tx = CASES[name]()
    assert isinstance(tx, optax.GradientTransformation)
    params = _params()

    state0 = jax.jit(tx.init)(params)
    abstract = jax.eval_shape(
        tx.init, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
    )
    assert jax.tree.structure(abstract) == jax.tree.structure(state0)
    assert _shapes(abstract) == _shapes(state0)

    traces = []
    inner = _train_step(tx)

    def counted(params, opt_state):
        traces.append(1)  # Python side effect: runs once per trace, not per call
        return inner(params, opt_state)

    step = jax.jit(counted)
    p, s, trajectory = params, state0, []
    for _ in range(4):
        p, s, updates = step(p, s)
        trajectory.append(p)
        assert jax.tree.structure(updates) == jax.tree.structure(params)
        assert _shapes(updates) == _shapes(params)
        chex.assert_tree_all_finite((p, updates))
        assert jax.tree.structure(s) == jax.tree.structure(state0)
        assert _shapes(s) == _shapes(state0)
    assert len(traces) == 1, "update retraced: state dtypes/structure changed"
    # The updates reached the params (every leaf has a nonzero gradient here).
    for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(params)):
        assert not np.allclose(a, b)

    # 8-device mesh, params and state replicated (state built sharded by jit(init,
    # out_shardings=...)): same numbers as on one device.
    assert jax.device_count() == 8, "conftest.py must force 8 CPU devices"
    replicated = NamedSharding(Mesh(np.array(jax.devices()), ("data",)), P())
    p = jax.device_put(params, replicated)
    s = jax.jit(tx.init, out_shardings=replicated)(p)
    mesh_step = jax.jit(_train_step(tx), out_shardings=replicated)
    for _ in range(2):
        p, s, _ = mesh_step(p, s)
    for leaf in jax.tree.leaves((p, s)):
        assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8
    chex.assert_trees_all_close(p, trajectory[1], atol=1e-6)
