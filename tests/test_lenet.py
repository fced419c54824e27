"""LeNet-5 and the MLP: parameter counts from the paper's table, shapes, heads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.models.lenet import C3_TABLE


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
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1)))
    # Perturb one S2 map: only C3 maps connected to it may change.
    s2 = jax.random.normal(jax.random.PRNGKey(1), (1, 14, 14, 6))
    c3 = models.lenet.SparseConv(C3_TABLE)
    p = c3.init(jax.random.PRNGKey(2), s2)
    base = c3.apply(p, s2)
    for i in range(6):
        changed = np.asarray(jnp.abs(c3.apply(p, s2.at[..., i].add(1.0)) - base).max((0, 1, 2)))
        np.testing.assert_array_equal(changed > 0, C3_TABLE[i])
    assert variables["params"]["C3"]["kernel"].shape == (5, 5, 60)


@pytest.mark.parametrize("head", ["softmax", "rbf"])
def test_lenet5_heads_shapes_and_rbf_formula(head):
    model = models.create("lenet5", head=head)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 32, 32, 1))
    variables = model.init(jax.random.PRNGKey(1), x)
    out = model.apply(variables, x, train=False)
    assert out.shape == (4, 10) and bool(jnp.isfinite(out).all())
    if head == "rbf":
        _, state = model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
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
    x = jnp.ones((3, 28, 28, 1))
    variables = model.init(jax.random.PRNGKey(0), x)
    assert _count(variables["params"]) == (784 * 32 + 32) + (32 * 32 + 32) + (32 * 10 + 10)
    a = model.apply(variables, x, train=False)
    b = model.apply(variables, x, train=False)
    np.testing.assert_array_equal(a, b)
    c = model.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(1)})
    assert not np.allclose(a, c)


def test_registry_errors_name_the_fix():
    with pytest.raises(ValueError, match="Registered models"):
        models.create("lenet6")
    with pytest.raises(ValueError, match="no field"):
        models.create("mlp", widht=3)
