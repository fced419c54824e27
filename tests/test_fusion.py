"""``jaxdl.nn.materialize``: an exact identity, forward and backward, on every value.

XLA:CPU's arithmetic flushes subnormal inputs and results to zero (``x + 0`` does it
too), so the reference for ``x / 1`` is ``x`` with its subnormals replaced by zeros of
the same sign; every other value, NaN and the infinities included, comes back bit for
bit.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import jaxdl.nn.layers as layers
from jaxdl import models
from jaxdl.nn import materialize

SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -1e-40, 3.4e38, -1.5, 2.0**-126]


def bits(a):
    a = np.asarray(a)
    return a.view({2: np.uint16, 4: np.uint32}[a.dtype.itemsize])


def flushed(a):
    """``a`` with subnormals set to a zero of their sign (float64 test, cast back)."""
    a = np.asarray(a)
    f = a.astype(np.float64)
    sub = (f != 0) & (np.abs(f) < np.finfo(np.float32).tiny)  # bf16 has float32's range
    return np.where(sub, np.copysign(0.0, f), f).astype(a.dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("first", [np.nan, np.inf, -np.inf, 0.0, 7.0])
def test_identity_bit_for_bit(dtype, first):
    # ``first`` sits where the divisor is read from: whatever it is, nothing changes.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 2)).astype(np.float32)
    x.flat[1 : 1 + len(SPECIAL)] = SPECIAL
    x.flat[0] = first
    x = jnp.asarray(x, dtype)
    y = jax.jit(materialize)(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_array_equal(bits(y), bits(flushed(x)))


def test_gradient_is_the_incoming_gradient():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((3, 4, 4, 2)), jnp.float32)
    w = rng.standard_normal((3, 4, 4, 2)).astype(np.float32)
    w.flat[:4] = [np.inf, -0.0, 1e-42, -3.0]
    g = jax.jit(jax.grad(lambda x: jnp.sum(materialize(x) * w)))(x)
    np.testing.assert_array_equal(bits(g), bits(flushed(w)))


def test_scalars_integers_and_other_backends_return_the_input(monkeypatch):
    s, i = jnp.float32(2.5), jnp.arange(6).reshape(2, 3)
    assert materialize(s) is s and materialize(i) is i
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    x = jnp.ones((2, 3))
    assert materialize(x) is x


def test_explicitly_sharded_input_passes_through():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
    x = jax.device_put(jnp.arange(32.0).reshape(16, 2), jax.NamedSharding(mesh, P("data")))
    with jax.set_mesh(mesh):
        y = jax.jit(lambda x: materialize(x) * 2)(x)
    np.testing.assert_array_equal(y, 2 * np.arange(32.0).reshape(16, 2))


def test_resnet_unchanged_by_it(monkeypatch):
    # The same CIFAR ResNet step (train mode: BN batch statistics) with the blocks'
    # materialize and with a plain identity: outputs and parameter gradients agree.
    # Depth 8 (n = 1) has every kind of block of ResNet-20 (identity and option-A
    # shortcuts) and a third of the blocks to compile (twice); 16x16 images: any size.
    model = models.create("resnet20", num_classes=10, depth=8)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 16, 16, 3)), jnp.float32)
    # Variables drawn on the host (kernels N(0, 2 / fan_in), BN scale 1 + N(0, 0.1), other
    # leaves N(0, 0.1)): no init to compile.
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(1), x, train=False))

    def draw(path, s):
        name = path[-1].key
        if name == "kernel":
            return rng.normal(0, np.sqrt(2 / np.prod(s.shape[:-1])), s.shape).astype(np.float32)
        if name == "var":
            return np.ones(s.shape, np.float32)
        return ((name == "scale") + rng.normal(0, 0.1, s.shape)).astype(np.float32)

    variables = jax.tree_util.tree_map_with_path(draw, shapes)

    def loss(params):
        out, _ = model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"]
        )
        return jnp.sum(out**2), out

    with_it = jax.jit(jax.grad(loss, has_aux=True))(variables["params"])
    monkeypatch.setattr(layers, "materialize", lambda y: y)
    without = jax.jit(jax.grad(loss, has_aux=True))(variables["params"])
    # Fused across the identity or not, XLA may round differently in float32: 2.4e-6 on a
    # gradient of 0.12 was seen with XLA:CPU's older code generator (conftest.py).
    for a, b in zip(jax.tree.leaves(with_it), jax.tree.leaves(without), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
