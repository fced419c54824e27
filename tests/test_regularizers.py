"""Tests of jaxdl.nn.regularizers against float64 numpy sums."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.core import FrozenDict

from jaxdl.nn import regularizers as reg


class _Net(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(4, (3, 3))(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.Embed(5, 3)(jnp.zeros(x.shape[:1], jnp.int32)) + nn.Dense(3)(x.mean((1, 2)))
        return nn.Dense(2, use_bias=False)(x)


def _params():
    # The net's parameter tree, traced only (jax.eval_shape: nothing compiled), filled
    # with random values everywhere from numpy (BN scale starts at 1, biases at 0: make
    # them count).
    shapes = jax.eval_shape(lambda: _Net().init(jax.random.key(0), jnp.ones((2, 6, 6, 3))))
    rng = np.random.default_rng(1)
    return jax.tree.map(
        lambda s: jnp.asarray(rng.standard_normal(s.shape), s.dtype), shapes["params"]
    )


def _np_leaves(params):
    return {
        jax.tree_util.keystr(p): np.asarray(w, np.float64)
        for p, w in jax.tree_util.tree_leaves_with_path(params)
    }


def test_kernel_mask_selects_kernels_and_embeddings_only():
    mask = reg.kernel_mask(_params())
    flat = {jax.tree_util.keystr(p): m for p, m in jax.tree_util.tree_leaves_with_path(mask)}
    assert flat == {
        "['BatchNorm_0']['bias']": False,
        "['BatchNorm_0']['scale']": False,
        "['Conv_0']['bias']": False,
        "['Conv_0']['kernel']": True,
        "['Dense_0']['bias']": False,
        "['Dense_0']['kernel']": True,
        "['Dense_1']['kernel']": True,
        "['Embed_0']['embedding']": True,
    }
    # A 2-D leaf named bias/scale is still excluded; a 1-D 'kernel' is still included.
    odd = {"bias": jnp.ones((2, 2)), "scale": jnp.ones((2, 2)), "kernel": jnp.ones(3)}
    assert reg.kernel_mask(odd) == {"bias": False, "scale": False, "kernel": True}
    assert reg.kernel_mask(FrozenDict(odd)) == FrozenDict(
        {"bias": False, "scale": False, "kernel": True}
    )


def test_default_penalties_against_numpy():
    params = _params()
    w = _np_leaves(params)
    kernels = [v for k, v in w.items() if "kernel" in k or "embedding" in k]
    np.testing.assert_allclose(
        float(reg.l2_penalty(params)), 0.5 * sum((v**2).sum() for v in kernels), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(reg.l1_penalty(params)), sum(np.abs(v).sum() for v in kernels), rtol=1e-6
    )


def test_explicit_masks_pytree_and_callable():
    params = _params()
    w = _np_leaves(params)
    everything = jax.tree_util.tree_map(lambda _: True, params)
    np.testing.assert_allclose(
        float(reg.l2_penalty(params, everything)),
        0.5 * sum((v**2).sum() for v in w.values()),
        rtol=1e-6,
    )

    def only_conv(p):
        return jax.tree_util.tree_map_with_path(
            lambda path, _: "Conv_0" in jax.tree_util.keystr(path), p
        )

    conv = [v for k, v in w.items() if "Conv_0" in k]
    np.testing.assert_allclose(
        float(reg.l1_penalty(params, only_conv)), sum(np.abs(v).sum() for v in conv), rtol=1e-6
    )
    # Array flags inside jit (traced mask).
    jitted = jax.jit(reg.l1_penalty)(params, jax.tree_util.tree_map(jnp.asarray, only_conv(params)))
    np.testing.assert_allclose(float(jitted), sum(np.abs(v).sum() for v in conv), rtol=1e-6)
    nothing = jax.tree_util.tree_map(lambda _: False, params)
    assert float(reg.l2_penalty(params, nothing)) == 0.0


def test_l2_gradient_is_weight_decay():
    params = _params()
    kappa = 5e-4
    mask = reg.kernel_mask(params)
    tx = optax.add_decayed_weights(kappa, mask)

    @jax.jit  # one compilation instead of one per operation and leaf shape
    def gradients_and_decay(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        decayed, _ = tx.update(zeros, tx.init(params), params)
        grads = jax.grad(lambda p: kappa * reg.l2_penalty(p))(params)
        return grads, decayed, jax.grad(reg.l1_penalty)(params)

    grads, decayed, g1 = gradients_and_decay(params)
    for g, d in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(decayed)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(d), rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(
        np.asarray(g1["Dense_0"]["kernel"]), np.sign(np.asarray(params["Dense_0"]["kernel"]))
    )
    np.testing.assert_array_equal(np.asarray(g1["Dense_0"]["bias"]), 0.0)


def test_bf16_params_accumulate_in_float32():
    w = {"kernel": jnp.full((256, 256), 0.01, jnp.bfloat16)}
    out = reg.l2_penalty(w)
    assert out.dtype == jnp.float32
    expected = 0.5 * 256 * 256 * float(np.float64(jnp.bfloat16(0.01))) ** 2
    np.testing.assert_allclose(float(out), expected, rtol=1e-5)


def test_bad_mask_structure():
    with pytest.raises(ValueError, match="same structure"):
        reg.l2_penalty({"a": jnp.ones((2, 2)), "b": jnp.ones((2, 2))}, {"a": True})
