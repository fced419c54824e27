"""Tests of TTA and ensemble averaging (jaxdl.training.evaluation) against numpy."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdl.training.evaluation import (
    average_probabilities,
    ensemble_probabilities,
    flip_views,
    scale_views,
    stack_variables,
    top_k_errors,
    tta_probabilities,
)


def np_softmax(z):
    z = z.astype(np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class TinyNet(nn.Module):
    """Position-sensitive linear classifier, so flips and crops change its output."""

    num_classes: int = 5

    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


def np_tiny(params, x):
    p = params["params"]["Dense_0"]
    return x.reshape(x.shape[0], -1).astype(np.float64) @ np.asarray(p["kernel"]) + np.asarray(
        p["bias"]
    )


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 4, 4, 2)).astype(np.float32)
    labels = rng.integers(0, 5, size=16)
    model = TinyNet()
    members = [
        jax.jit(model.init)(jax.random.key(s, impl="rbg"), jnp.zeros((1, 4, 4, 2)))
        for s in range(3)
    ]
    # Bigger weights so the members' probabilities differ clearly.
    members = [jax.tree.map(lambda a: 3.0 * a, m) for m in members]
    return model, members, images, labels


def test_average_probabilities():
    z = np.random.default_rng(1).normal(size=(3, 4, 6)) * 3
    ref = np_softmax(z).mean(0)
    np.testing.assert_allclose(np.asarray(average_probabilities(jnp.asarray(z))), ref, rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(average_probabilities([jnp.asarray(a) for a in z])), ref, rtol=1e-5
    )
    # Averaging probabilities is not averaging logits.
    assert not np.allclose(ref, np_softmax(z.mean(0)), atol=1e-3)
    with pytest.raises(ValueError, match="at least one"):
        average_probabilities([])
    with pytest.raises(ValueError, match=r"\[V, B, C\]"):
        average_probabilities(jnp.zeros((4, 6)))


@pytest.mark.parametrize("vectorize", [False, True])
def test_tta_flip_matches_numpy(setup, vectorize):
    model, members, images, _ = setup
    v = members[0]
    got = tta_probabilities(lambda x: model.apply(v, x), flip_views(jnp.asarray(images)), vectorize)
    ref = (np_softmax(np_tiny(v, images)) + np_softmax(np_tiny(v, images[:, :, ::-1]))) / 2
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-4, atol=1e-6)


def test_tta_multiscale_list_of_sizes(setup):
    model, members, images, _ = setup
    v = members[1]
    views = scale_views(jnp.asarray(images), (1.0, 2.0), crop=4, method="nearest")
    # Nearest upscaling by 2 repeats every pixel; the centre 4x4 crop of the 8x8 image
    # is the original's pixels 1..2 each repeated twice.
    up = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)[:, 2:6, 2:6]
    np.testing.assert_allclose(np.asarray(views[1]), up)
    np.testing.assert_array_equal(np.asarray(views[0]), images)
    got = tta_probabilities(lambda x: model.apply(v, x), views)
    ref = (np_softmax(np_tiny(v, images)) + np_softmax(np_tiny(v, up))) / 2
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-4, atol=1e-6)
    assert [x.shape for x in scale_views(jnp.asarray(images), (0.5, 1.5))] == [
        (16, 2, 2, 2),
        (16, 6, 6, 2),
    ]
    with pytest.raises(ValueError, match="positive"):
        scale_views(jnp.asarray(images), (0.0,))
    with pytest.raises(ValueError, match=r"\[V, B, H, W, C\]"):
        tta_probabilities(lambda x: x, jnp.zeros((2, 3, 4)))


@pytest.mark.parametrize("vectorize", [True, False])
def test_ensemble_matches_numpy_sharded(setup, vectorize):
    model, members, images, labels = setup
    mesh = jax.make_mesh((8,), ("data",))
    x = jax.device_put(images, NamedSharding(mesh, P("data")))
    stacked = jax.device_put(stack_variables(members), NamedSharding(mesh, P()))

    @jax.jit
    def evaluate(stacked, x):
        p = ensemble_probabilities(lambda v, x: model.apply(v, x), stacked, x, vectorize)
        # TTA on top of the ensemble: log p are valid logits.
        p_tta = tta_probabilities(
            lambda y: jnp.log(ensemble_probabilities(lambda v, z: model.apply(v, z), stacked, y)),
            flip_views(x),
        )
        return p, p_tta

    got, got_tta = evaluate(stacked, x)
    probs = [np_softmax(np_tiny(m, images)) for m in members]
    ref = np.mean(probs, axis=0)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-4, atol=1e-6)
    flipped = np.mean([np_softmax(np_tiny(m, images[:, :, ::-1])) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(got_tta), (ref + flipped) / 2, rtol=1e-4, atol=1e-6)
    assert got.sharding.spec[0] == "data"  # stays sharded on the batch axis
    # The ensemble differs from each of its members.
    assert all(not np.allclose(ref, p, atol=1e-3) for p in probs)
    errors = top_k_errors(got, jnp.asarray(labels), ks=(1, 2))
    np.testing.assert_allclose(float(errors["top1_error"]), np.mean(ref.argmax(1) != labels))
    top2 = np.argsort(-ref, axis=1)[:, :2]
    ref2 = np.mean([labels[i] not in top2[i] for i in range(16)])
    np.testing.assert_allclose(float(errors["top2_error"]), ref2)


def test_top_k_errors_weighted():
    logits = jnp.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    labels = jnp.array([1, 1, 0])
    w = jnp.array([1.0, 1.0, 0.0])  # third example is padding
    assert float(top_k_errors(logits, labels, (1,), w)["top1_error"]) == pytest.approx(0.5)


def test_stack_variables_checks_structure():
    with pytest.raises(ValueError, match="same architecture"):
        stack_variables([{"a": jnp.zeros(2)}, {"b": jnp.zeros(2)}])
    with pytest.raises(ValueError, match="at least one"):
        stack_variables([])
    s = stack_variables([{"a": jnp.zeros(2)}, {"a": jnp.ones(2)}])
    assert s["a"].shape == (2, 2)
