"""Tests of jaxdl.data.augment.build_augment: config formats, composition, the same
result on 1 and 8 devices, and its error messages (the ops themselves: test_augment.py).
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from test_augment import B, C, H, W, _images, base_key

from jaxdl.data import augment as aug


def test_build_augment_formats_and_composition():
    spec = [
        ("random_crop", {"padding": 2, "mode": "reflect"}),
        "horizontal_flip",
        {"name": "cutout", "size": 3},
        ml_collections.ConfigDict({"name": "brightness", "max_delta": 0.1}),
    ]
    fn = aug.build_augment(spec)
    x = _images()

    p = 2

    @jax.jit
    def rest(key, cropped):  # the later ops, each with its own split key, in spec order
        k = jax.random.split(key, 4)
        ref = aug.horizontal_flip(k[1], cropped)
        ref = aug.cutout(k[2], ref, size=3)
        return aug.brightness(k[3], ref, max_delta=0.1)

    # The crop stage of the reference is numpy: numpy.pad's reflect padding sliced at the
    # documented draw (the crop's key is the first of split(key, 4); example i's
    # (row, column) offset is randint(key_i, (2,), 0, 2p + 1) with key_i the i-th of
    # split(crop key, B)), never the op itself.
    crop_key = jax.random.split(base_key(), 4)[0]
    offsets = np.stack(
        [
            np.asarray(jax.random.randint(k, (2,), 0, 2 * p + 1))
            for k in jax.random.split(crop_key, B)
        ]
    )  # [B, 2]
    assert len({tuple(o) for o in offsets}) > 1  # the examples get different crops
    padded = np.pad(np.asarray(x), ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    cropped = np.stack([padded[i, oy : oy + H, ox : ox + W] for i, (oy, ox) in enumerate(offsets)])
    masks = jnp.zeros((B, H, W), jnp.int32)
    y, (ym, m) = jax.jit(lambda k, x, masks: (fn(k, x), fn(k, x, masks)))(base_key(), x, masks)
    ref = rest(base_key(), jnp.asarray(cropped))
    np.testing.assert_allclose(np.asarray(y), np.asarray(ref), atol=1e-6)
    np.testing.assert_allclose(np.asarray(ym), np.asarray(ref), atol=1e-6)
    assert m.shape == masks.shape
    np.testing.assert_array_equal(np.asarray(aug.build_augment([])(base_key(), x)), np.asarray(x))


@pytest.mark.parametrize("axis_type", ["auto", "explicit"])
def test_same_result_on_1_and_8_devices(axis_type):
    assert jax.device_count() == 8, "tests/conftest.py must force 8 CPU devices"
    spec = [
        ("random_crop", {"padding": 2, "mode": "reflect"}),
        ("horizontal_flip", {}),
        ("rotate", {"degrees": 20.0}),
        ("brightness", {}),
        ("cutout", {"size": 3}),
    ]
    fn = jax.jit(aug.build_augment(spec))
    x = _images(shape=(16, H, W, C))
    masks = jnp.asarray(np.random.default_rng(1).integers(0, 3, (16, H, W)), jnp.int32)
    y1, m1 = fn(base_key(), jax.device_put(x, jax.devices()[0]), masks)
    # The project's meshes (jaxdl.training.parallel) have auto axes; jax.make_mesh's
    # default is explicit axes (sharding in types), which vmap checks strictly.
    if axis_type == "auto":
        mesh = Mesh(np.asarray(jax.devices()), ("data",))
    else:
        mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
    shard = NamedSharding(mesh, P("data"))
    y8, m8 = fn(base_key(), jax.device_put(x, shard), jax.device_put(masks, shard))
    assert len(y8.sharding.device_set) == 8
    np.testing.assert_allclose(np.asarray(y8), np.asarray(y1), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(m8), np.asarray(m1))


def test_build_augment_errors():
    with pytest.raises(ValueError, match="unknown op 'flip'.*horizontal_flip"):
        aug.build_augment([("flip", {})])
    with pytest.raises(TypeError, match="unexpected arguments \\['pad'\\].*padding"):
        aug.build_augment([("random_crop", {"pad": 4})])
    with pytest.raises(TypeError, match="masks"):
        aug.build_augment([("translate", {"masks": None})])
    with pytest.raises(ValueError, match="'name' key"):
        aug.build_augment([{"size": 3}])
    with pytest.raises(ValueError, match="expected"):
        aug.build_augment([3])


def test_bad_inputs_raise_clear_errors():
    x = _images()
    with pytest.raises(ValueError, match="NHWC"):
        aug.horizontal_flip(base_key(), x[0])
    with pytest.raises(TypeError, match="float or integer"):
        aug.cutout(base_key(), x > 0.5)
    with pytest.raises(ValueError, match="mode"):
        aug.random_crop(base_key(), x, mode="edge")
    with pytest.raises(ValueError, match="reflect padding"):
        aug.random_crop(base_key(), x, padding=10, mode="reflect")
    with pytest.raises(ValueError, match="padding"):
        aug.random_crop(base_key(), x, padding=-1)
    with pytest.raises(ValueError, match="p must"):
        aug.horizontal_flip(base_key(), x, p=1.5)
    with pytest.raises(ValueError, match="min_scale"):
        aug.zoom(base_key(), x, 1.2, 1.1)
    with pytest.raises(ValueError, match="masks"):
        aug.rotate(base_key(), x, masks=jnp.zeros((B, H + 1, W)))
    with pytest.raises(ValueError, match="size"):
        aug.cutout(base_key(), x, size=0)
