"""LeNet-5 and the MLP: parameter counts from the paper's table, shapes, heads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.models.lenet import C3_TABLE


def rbg_key(seed):
    # 'rbg' compiles a model init several times faster than threefry on CPU; nothing
    # tested here depends on the draws.
    return jax.random.key(seed, impl="rbg")


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def test_lenet5_parameter_counts_match_the_paper():
    model = models.create("lenet5")
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1))))[
        "params"
    ]
    # LeCun et al. 1998, section II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164.
    expected = {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164}
    for name, n in expected.items():
        assert _count(params[name]) == n, name
    assert sum(expected.values()) == 60000
    assert _count(params["output"]) == 84 * 10 + 10
    assert C3_TABLE.sum() == 60


def test_lenet5_c3_connections_follow_table_one():
    model = models.create("lenet5")
    # Shapes only (traced); C3 alone is initialized and run, each compiled once (eager
    # execution would compile every op on its own).
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1))))
    # Perturb one S2 map: only C3 maps connected to it may change.
    s2 = np.random.default_rng(1).normal(size=(1, 14, 14, 6)).astype(np.float32)
    c3 = models.lenet.SparseConv(C3_TABLE)
    p = jax.jit(c3.init)(jax.random.PRNGKey(2), s2)
    apply = jax.jit(c3.apply)
    base = np.asarray(apply(p, s2))
    for i in range(6):
        perturbed = s2.copy()
        perturbed[..., i] += 1.0
        changed = np.abs(np.asarray(apply(p, perturbed)) - base).max((0, 1, 2))
        np.testing.assert_array_equal(changed > 0, C3_TABLE[i])
    assert variables["params"]["C3"]["kernel"].shape == (5, 5, 60)


@pytest.mark.parametrize("head", ["softmax", "rbf"])
def test_lenet5_heads_shapes_and_rbf_formula(head):
    model = models.create("lenet5", head=head)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 1)).astype(np.float32)

    @jax.jit  # init and apply compiled once together, not op by op
    def init_and_apply(x):
        variables = model.init(rbg_key(1), x)
        out, state = model.apply(
            variables, x, train=False, capture_intermediates=True, mutable=["intermediates"]
        )
        return variables, out, state

    variables, out, state = init_and_apply(x)
    out = np.asarray(out)
    assert out.shape == (4, 10) and np.isfinite(out).all()
    if head == "rbf":
        h = np.asarray(state["intermediates"]["F6"]["__call__"][0], np.float64)
        h = 1.7159 * np.tanh(2 * h / 3)
        w = np.asarray(variables["params"]["output"]["centres"], np.float64)  # [84, 10]
        ref = -((h[:, :, None] - w[None]) ** 2).sum(1)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)
        assert set(np.unique(w)) <= {-1.0, 1.0}


def test_lenet5_rejects_unpadded_input():
    model = models.create("lenet5")
    with pytest.raises(ValueError, match="pad_to=32"):
        model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))


def test_mlp_counts_and_dropout_modes():
    model = models.create("mlp", depth=2, width=32, dropout_rate=0.5)
    x = np.ones((3, 28, 28, 1), np.float32)
    variables = jax.jit(model.init)(rbg_key(0), x)  # compiled once, not op by op
    assert _count(variables["params"]) == (784 * 32 + 32) + (32 * 32 + 32) + (32 * 10 + 10)
    evaluate = jax.jit(lambda v, x: model.apply(v, x, train=False))
    a = evaluate(variables, x)
    b = evaluate(variables, x)
    np.testing.assert_array_equal(a, b)
    c = jax.jit(lambda v, x: model.apply(v, x, train=True, rngs={"dropout": rbg_key(1)}))(
        variables, x
    )
    assert not np.allclose(a, c)


def test_registry_errors_name_the_fix():
    with pytest.raises(ValueError, match="Registered models"):
        models.create("lenet6")
    with pytest.raises(ValueError, match="no field"):
        models.create("mlp", widht=3)
