"""Tests that kill mutants of jaxdl.data.loader which the other tests let survive.

Found by ``python -m mutation.run --modules data/loader`` (docs/testing.md). They pin
the error messages word for word, the boundaries (one example, ``size == batch_size``),
the replicated placement of a device split, and the evaluation batch: padding that
repeats example 0, a float32 ``mask``, every leaf sharded one row per device on the
8-device test mesh, and no mesh at all. Expected values are worked out by hand from the
module docstring.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import loader
from jaxdl.training import parallel


@pytest.fixture(scope="module")
def mesh():
    return parallel.make_mesh()


def test_zero_examples_is_refused_word_for_word_and_one_example_is_a_split(mesh):
    with pytest.raises(
        ValueError, match="^" + re.escape("Cannot build a device split from zero examples.") + "$"
    ):
        loader.to_device({"x": np.zeros((0, 2))}, mesh)
    split = loader.to_device({"x": np.array([[1.0, 2.0]])}, mesh)
    assert split.size == 1
    np.testing.assert_array_equal(split.arrays["x"], [[1.0, 2.0]])


def test_a_device_split_is_replicated_on_every_device_of_the_mesh(mesh):
    split = loader.to_device({"x": np.arange(4.0)}, mesh)
    x = split.arrays["x"]
    assert len(mesh.devices.flat) == 8
    assert x.sharding.device_set == set(mesh.devices.flat)
    assert [s.data.shape for s in x.addressable_shards] == [(4,)] * 8  # whole copy each


def test_steps_per_epoch_at_exactly_one_batch_and_its_message():
    assert loader.steps_per_epoch(16, 16) == 1
    msg = (
        "The training split has 10 examples, fewer than one batch of 16; "
        "lower batch_size or use more data."
    )
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        loader.steps_per_epoch(10, 16)


def test_eval_batch_pads_with_example_zero_and_shards_every_leaf(mesh):
    x = np.array([10.0, 11.0, 12.0, 13.0, 14.0])  # N = 5, B = 8: 3 padded rows
    split = loader.to_device({"x": x}, mesh)
    batch = jax.jit(lambda a: loader.eval_batch(a, jnp.int32(0), 8, 5, mesh))(split.arrays)
    assert set(batch) == {"x", "mask"}
    np.testing.assert_array_equal(batch["x"], [10, 11, 12, 13, 14, 10, 10, 10])
    assert batch["mask"].dtype == jnp.float32
    np.testing.assert_array_equal(batch["mask"], [1, 1, 1, 1, 1, 0, 0, 0])
    for leaf in (batch["x"], batch["mask"]):  # sharded on 'data': one row per device
        assert [s.data.shape for s in leaf.addressable_shards] == [(1,)] * 8


def test_eval_batch_without_a_mesh():
    arrays = {"x": jnp.array([1.0, 2.0, 3.0])}
    batch = loader.eval_batch(arrays, jnp.int32(1), 2, 3)  # positions 2, 3 -> 3 is padding
    np.testing.assert_array_equal(batch["x"], [3.0, 1.0])
    assert batch["mask"].dtype == jnp.float32
    np.testing.assert_array_equal(batch["mask"], [1.0, 0.0])
    with jax.enable_x64(True):  # float32 even where the default float is float64
        assert loader.eval_batch(arrays, jnp.int32(1), 2, 3)["mask"].dtype == jnp.float32
