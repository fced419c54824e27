"""Tests that kill mutants of jaxdl.data.augment._common which the other tests let survive.

Found by ``python -m mutation.run --modules _common`` (docs/testing.md). ``_common`` is
private, so it is pinned through the public ops that use it: the input checks (images
that are not 4-D, or neither float nor integer, are refused; masks are refused on their
rank and on their shape, each on its own) and the checks of integer hyperparameters
(bools, floats and values under the bound are refused; ``cutout``'s bound is 1, the
others' 0, and a one-pixel cutout is allowed), all with their exact messages, which name
the op; that the float32 working copy of integer and half-precision images is asked for
as float32 (no "float64 not available" warning); and, as ``_per_example``'s docstring
says, that under a mesh with explicit axes the per-example parameters are sharded along
the images' batch axis. References: the messages written out word for word, a one-pixel
cutout worked out by hand, and the draws made here as documented (key i of
``jax.random.split(key, B)``).
"""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdl.data import augment as aug

_X = np.random.default_rng(0).uniform(0, 1, (2, 4, 5, 3)).astype(np.float32)  # H = 4, W = 5
_OPS = ["horizontal_flip", "translate", "brightness", "cutout"]


@pytest.mark.parametrize("name", _OPS)
def test_images_that_are_not_nhwc_float_or_integer_are_refused_word_for_word(name):
    op, key = aug.AUGMENTATIONS[name], jax.random.key(0)
    msg = f"{name}: images must be NHWC [B, H, W, C], got shape (4, 5, 3)"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        op(key, _X[0])
    for dtype in ("bool", "complex64"):
        msg = f"{name}: images must be float or integer (e.g. uint8), got {dtype}"
        with pytest.raises(TypeError, match=f"^{re.escape(msg)}$"):
            op(key, _X.astype(dtype))


@pytest.mark.parametrize(
    "shape",
    [
        (2, 4, 6),  # a valid rank, the wrong width
        (2, 4, 5, 1, 1),  # the right [B, H, W], rank 5
        (2, 4),  # rank 2
        (3, 4, 5, 2),  # a valid rank, the wrong batch
    ],
)
@pytest.mark.parametrize("name", _OPS)
def test_masks_are_checked_on_rank_and_shape_each_on_its_own(name, shape):
    msg = f"{name}: masks must be [B, H, W] or [B, H, W, K] matching images (2, 4, 5), got {shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        aug.AUGMENTATIONS[name](jax.random.key(0), _X, masks=np.zeros(shape, np.int32))


@pytest.mark.parametrize(
    "name, arg, value, bound",
    [
        ("random_crop", "padding", -1, ">= 0"),
        ("random_crop", "padding", True, ">= 0"),
        ("random_crop", "padding", 2.0, ">= 0"),
        ("translate", "max_shift", -3, ">= 0"),
        ("translate", "max_shift", False, ">= 0"),
        ("translate", "max_shift", 1.5, ">= 0"),
        ("cutout", "size", 0, ">= 1"),
        ("cutout", "size", -1, ">= 1"),
        ("cutout", "size", True, ">= 1"),
        ("cutout", "size", 3.0, ">= 1"),
    ],
)
def test_integer_hyperparameters_are_checked_word_for_word(name, arg, value, bound):
    msg = f"{name}: {arg} must be an int {bound}, got {value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        aug.AUGMENTATIONS[name](jax.random.key(0), _X, **{arg: value})


def test_a_one_pixel_cutout_is_allowed_and_zeroes_one_pixel():
    # size 1: top = centre - 1 // 2 = centre, so the hole is the centre pixel, always inside.
    x = jnp.ones((8, 4, 5, 2), jnp.uint8)
    y = np.asarray(jax.jit(lambda k, x: aug.cutout(k, x, size=1))(jax.random.key(1), x))
    zero = y == 0
    assert zero.any(-1).sum((1, 2)).tolist() == [1] * 8  # one pixel per image...
    np.testing.assert_array_equal(zero.all(-1), zero.any(-1))  # ...in every channel
    np.testing.assert_array_equal(y[~zero], 1)


def test_integer_and_half_images_are_worked_on_in_float32_without_warnings():
    x8 = jnp.asarray(np.round(_X * 255), jnp.uint8)
    x16 = jnp.asarray(_X, jnp.float16)

    def ops(k, x8, x16):  # every op on a float working copy (_to_float)
        return [
            aug.brightness(k, x8, 0.0),
            aug.contrast(k, x16, 0.0),
            aug.gaussian_noise(k, x8, 0.0),
            aug.rotate(k, x16, 0.0),
        ]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = jax.jit(ops)(jax.random.key(2), x8, x16)  # a new function: traced here
    assert [str(w.message) for w in caught if "dtype" in str(w.message)] == []
    for y, x in zip(outs, [x8, x16, x8, x16]):  # zero strength: the identity
        assert y.dtype == x.dtype
        np.testing.assert_allclose(np.asarray(y, np.float64), np.asarray(x, np.float64))


def test_per_example_params_are_sharded_along_the_images_batch_axis():
    n = jax.device_count()
    mesh = jax.make_mesh((n,), ("data",), axis_types=(AxisType.Explicit,))
    x = np.random.default_rng(3).uniform(0, 1, (2 * n, 3, 2, 3)).astype(np.float32)

    def fn(k, x):
        return aug.lighting_alphas(k, x, 0.1), aug.brightness(k, x, 0.2)

    key = jax.random.key(4)
    with jax.set_mesh(mesh):
        xs = jax.device_put(x, NamedSharding(mesh, P("data")))
        alphas, bright = jax.jit(fn)(key, xs)
    assert jax.typeof(alphas).sharding.spec == P("data", None)
    assert jax.typeof(bright).sharding.spec[0] == "data"

    @jax.jit  # the documented draws: key i of split(key, B), built here
    def draws(key):
        keys = jax.random.split(key, 2 * n)
        return (
            [jax.random.normal(k, (3,)) for k in keys],
            [jax.random.uniform(k, (), jnp.float32, -0.2, 0.2) for k in keys],
        )

    normal, delta = (np.stack([np.asarray(a, np.float64) for a in d]) for d in draws(key))
    np.testing.assert_allclose(np.asarray(alphas), 0.1 * normal, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(np.asarray(bright), x + delta[:, None, None, None], atol=1e-6)
