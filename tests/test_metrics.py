"""Tests of jaxdl.training.metrics against float64 numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdl.training.metrics import confusion_matrix, top_k_accuracy, top_k_error

# Jitted: one compilation per (shapes, k) instead of one per operation in eager mode.
_top_k_accuracy = jax.jit(top_k_accuracy, static_argnums=2)
_top_k_error = jax.jit(top_k_error, static_argnums=2)


def _np_top_k(logits, labels, k):
    """Reference: stable sort by descending score, lower index first on ties."""
    order = np.argsort(-logits.astype(np.float64), axis=1, kind="stable")
    return np.array([labels[i] in order[i, :k] for i in range(len(labels))], np.float64)


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_top_k_matches_numpy(k):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=64)
    got = _top_k_accuracy(jnp.asarray(logits), jnp.asarray(labels), k)
    assert got.shape == (64,) and got.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(got), _np_top_k(logits, labels, k))
    np.testing.assert_array_equal(
        np.asarray(_top_k_error(jnp.asarray(logits), jnp.asarray(labels), k)),
        1.0 - _np_top_k(logits, labels, k),
    )
    if k == 10:
        assert np.all(np.asarray(got) == 1.0)


def test_top_k_ties_follow_argmax_and_nan_is_wrong():
    # Heavy ties: scores drawn from {0, 1, 2}.
    rng = np.random.default_rng(1)
    logits = rng.integers(0, 3, size=(200, 6)).astype(np.float32)
    labels = rng.integers(0, 6, size=200)
    for k in (1, 3):
        got = np.asarray(_top_k_accuracy(jnp.asarray(logits), jnp.asarray(labels), k))
        np.testing.assert_array_equal(got, _np_top_k(logits, labels, k))
    top1 = np.asarray(_top_k_accuracy(jnp.asarray(logits), jnp.asarray(labels), 1))
    np.testing.assert_array_equal(top1, (logits.argmax(1) == labels).astype(np.float64))
    # Constant logits: only class 0 wins top-1.
    const = jnp.zeros((4, 5))
    np.testing.assert_array_equal(
        np.asarray(_top_k_accuracy(const, jnp.array([0, 1, 2, 4]), 1)), [1, 0, 0, 0]
    )
    nan_logits = jnp.array([[jnp.nan, 0.0, 1.0]])
    assert float(_top_k_accuracy(nan_logits, jnp.array([0]), 3)[0]) == 0.0


def test_top_k_sharded_under_jit():
    mesh = jax.make_mesh((8,), ("data",))
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(32, 20)).astype(np.float32)
    labels = rng.integers(0, 20, size=32)
    shard = NamedSharding(mesh, P("data"))
    fn = jax.jit(lambda lg, lb: top_k_accuracy(lg, lb, 5).mean())
    got = fn(jax.device_put(logits, shard), jax.device_put(labels, shard))
    np.testing.assert_allclose(float(got), _np_top_k(logits, labels, 5).mean(), rtol=1e-6)


def test_top_k_bad_input():
    lg, lb = jnp.zeros((3, 4)), jnp.zeros((3,), jnp.int32)
    with pytest.raises(ValueError, match="k must be"):
        top_k_accuracy(lg, lb, 5)
    with pytest.raises(ValueError, match="k must be"):
        top_k_accuracy(lg, lb, 0)
    with pytest.raises(ValueError, match="labels must be"):
        top_k_accuracy(lg, jnp.zeros((3, 4), jnp.int32), 1)
    with pytest.raises(ValueError, match="logits must be"):
        top_k_accuracy(jnp.zeros((3,)), lb, 1)
    with pytest.raises(TypeError, match="integers"):
        top_k_accuracy(lg, jnp.zeros((3,)), 1)


def test_confusion_matrix_matches_numpy():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=50)
    preds = rng.integers(0, 4, size=50)
    weights = rng.uniform(size=50)
    ref = np.zeros((4, 4))
    ref_w = np.zeros((4, 4))
    for t, p, w in zip(labels, preds, weights):
        ref[t, p] += 1
        ref_w[t, p] += w
    got = confusion_matrix(jnp.asarray(labels), jnp.asarray(preds), 4)
    np.testing.assert_array_equal(np.asarray(got), ref)
    got_w = confusion_matrix(jnp.asarray(labels), jnp.asarray(preds), 4, jnp.asarray(weights))
    np.testing.assert_allclose(np.asarray(got_w), ref_w, rtol=1e-5)
    # Padding rows with label -1 are ignored.
    padded = confusion_matrix(jnp.array([0, -1]), jnp.array([1, 1]), 2)
    np.testing.assert_array_equal(np.asarray(padded), [[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="must both be"):
        confusion_matrix(jnp.zeros(3, int), jnp.zeros(4, int), 2)
