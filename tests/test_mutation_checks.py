"""Tests that kill mutants of jaxdl.optim._checks which the other tests let survive.

Found by ``python -m mutation.run --modules optim/_checks`` (docs/testing.md). They pin
the helpers' contracts, called directly and through the factories: the values (and the
float64/int64 dtypes) of concrete hyperparameters, None for traced ones, every accepted
key form giving the stream of ``jax.random.key(seed)`` (key data ``[0, seed]`` with the
default threefry implementation), and every error message word for word. Expected
values are written by hand; the noise reference is ``optax.add_noise`` itself.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.optim import add_gradient_noise, all_together, create
from jaxdl.optim._checks import as_key, call_by_name, concrete_ints, concrete_reals


def _raises(error, message):
    return pytest.raises(error, match=f"^{re.escape(message)}$")


# (value, its values as float64): NumPy only at collection (JAX arrays made in tests).
REALS = [
    (2, 2.0),
    (0.25, 0.25),
    (np.int32(3), 3.0),
    (np.float32(0.5), 0.5),
    (np.array([1, 2], np.int64), [1.0, 2.0]),
    (np.array([0.5, 1.5], np.float32), [0.5, 1.5]),
]


NOT_REALS = [
    (True, "x must be a real number, got bool."),
    ("0.5", "x must be a real number, got str."),
    (None, "x must be a real number, got NoneType."),
    (np.array([True, False]), "x must be a real number, got an array of dtype bool."),
    (np.complex64(1j), "x must be a real number, got an array of dtype complex64."),
]


@pytest.mark.parametrize("value, message", NOT_REALS)
def test_concrete_reals_refuses_non_reals_word_for_word(value, message):
    with _raises(TypeError, message):
        concrete_reals("x", value)


# (value, its values as int64).
INTS = [
    (7, 7),
    (np.int32(3), 3),
    (np.array(4, np.uint8), 4),
    (np.array([1, 2], np.int32), [1, 2]),
]


# (helper, value, its values, their dtype): reals as float64, integers as int64.
CONCRETE = [(concrete_reals, v, e, np.float64) for v, e in REALS]
CONCRETE += [(concrete_ints, v, e, np.int64) for v, e in INTS]


@pytest.mark.parametrize("helper, value, expected, dtype", CONCRETE)
def test_concrete_values_and_their_dtypes(helper, value, expected, dtype):
    values = helper("x", value)
    assert values.dtype == dtype
    np.testing.assert_array_equal(values, expected)


def test_concrete_values_of_jax_arrays():  # made here: no JAX array at collection
    for helper, value, expected, dtype in [
        (concrete_reals, jnp.array([1, 2], jnp.int32), [1.0, 2.0], np.float64),
        (concrete_reals, jnp.array(0.5, jnp.bfloat16), 0.5, np.float64),
        (concrete_ints, jnp.array([5, 6], jnp.int32), [5, 6], np.int64),
    ]:
        test_concrete_values_and_their_dtypes(helper, value, expected, dtype)


NOT_INTS = [
    (2.5, "n must be a positive integer, got 2.5."),
    (True, "n must be a positive integer, got True."),
    ("3", "n must be a positive integer, got '3'."),
    (np.array([1.5]), "n must be a positive integer, got array([1.5])."),
    (np.array([True]), "n must be a positive integer, got array([ True])."),
]


@pytest.mark.parametrize("value, message", NOT_INTS)
def test_concrete_ints_refuses_non_integers_word_for_word(value, message):
    with _raises(ValueError, message):
        concrete_ints("n", value)


def test_concrete_ints_refuses_an_int_beyond_int64():
    # int64 values or an error: never an object array holding the Python int
    with pytest.raises((OverflowError, ValueError)):
        concrete_ints("n", 2**64)


def test_traced_values_pass_through_as_none():
    seen = []

    def f(x, n):
        seen.extend([concrete_reals("x", x), concrete_reals("x", n), concrete_ints("n", n)])
        return x * n

    jax.jit(f)(jnp.float32(0.5), jnp.int32(2))
    jax.vmap(f)(jnp.array([0.5, 1.0]), jnp.array([1, 2], jnp.int32))
    assert seen == [None] * 6


# Key forms the helper takes, each giving the stream of jax.random.key(3).
KEYS_OF_SEED_3 = [
    3,
    np.int32(3),
    np.array(3, np.int32),
    np.array(3, np.uint32),
    np.array([0, 3], np.uint32),  # = jax.random.PRNGKey(3)
]


def _assert_key_of_seed_3(key):
    assert key.shape == ()
    assert jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    data = jax.random.key_data(key)
    assert data.dtype == jnp.uint32
    np.testing.assert_array_equal(data, np.array([0, 3], np.uint32))


@pytest.mark.parametrize("key", KEYS_OF_SEED_3)
def test_as_key_accepts_seeds_and_legacy_keys(key):
    _assert_key_of_seed_3(as_key(key, "owner"))


def test_as_key_accepts_jax_seeds_and_keys_traced_or_not():
    for key in [jnp.int32(3), jax.random.key(3), jax.random.PRNGKey(3)]:
        _assert_key_of_seed_3(as_key(key, "owner"))
    data = jax.jit(lambda s: jax.random.key_data(as_key(s, "owner")))(jnp.int32(3))
    np.testing.assert_array_equal(data, np.array([0, 3], np.uint32))
    batch = jax.vmap(lambda s: jax.random.key_data(as_key(s, "owner")))(jnp.array([3, 4]))
    np.testing.assert_array_equal(batch, np.array([[0, 3], [0, 4]], np.uint32))


EXPECTED = (
    "owner needs key=jax.random.key(seed) (a typed key), a legacy "
    "jax.random.PRNGKey(seed) (uint32[2]) or an int seed; got "
)
BATCH = " (for a batch of keys, jax.vmap the factory)."

BAD_KEYS = [
    (1.5, "1.5"),
    (True, "True"),
    ([[0], [0, 1]], "[[0], [0, 1]]"),  # ragged: NumPy has no shape for it
    (np.array(1.5, np.float32), "an array of dtype float32 and shape ()"),
    (np.array([1, 2], np.int32), "an array of dtype int32 and shape (2,)"),
    (np.array([0, 1, 2], np.uint32), "an array of dtype uint32 and shape (3,)"),
]


@pytest.mark.parametrize("key, got", BAD_KEYS)
def test_as_key_refuses_other_keys_word_for_word(key, got):
    with _raises(TypeError, EXPECTED + got + BATCH):
        as_key(key, "owner")


def test_as_key_refuses_a_batch_of_typed_keys_and_none():
    keys = jax.random.split(jax.random.key(0), 2)
    with _raises(TypeError, EXPECTED + "an array of dtype key<fry> and shape (2,)" + BATCH):
        as_key(keys, "owner")
    with _raises(ValueError, EXPECTED + "None."):
        as_key(None, "owner")


def test_factories_take_legacy_keys_and_name_themselves():
    g = jnp.zeros(4)
    tx = add_gradient_noise(1.0, 0.5, key=np.array([0, 3], np.uint32))
    ref = optax.add_noise(eta=1.0, gamma=1.0, key=jax.random.key(3))
    u, _ = tx.update(g, tx.init(g))
    u_ref, _ = ref.update(g, ref.init(g))
    np.testing.assert_array_equal(u, u_ref)
    message = (
        "all_together's gradient noise needs key=jax.random.key(seed) (a typed key), a "
        "legacy jax.random.PRNGKey(seed) (uint32[2]) or an int seed; got 1.5" + BATCH
    )
    with _raises(TypeError, message):
        all_together(0.1, key=1.5)


def test_call_by_name_unwraps_the_kwargs_of_inject_hyperparams():
    table = {"f": lambda x, *, a=0: (x, a)}
    assert call_by_name("thing", table, "f", (1,), {"kwargs": {"a": 2}}) == (1, 2)
    assert call_by_name("thing", table, "f", (1,), {"a": 3}) == (1, 3)


def test_injected_create_passes_its_kwargs_to_the_optimizer():
    # momentum, rho 0.5, rate 0.1, g = 1: V_1 = 0.1, V_2 = 0.5 * 0.1 + 0.1 = 0.15
    tx = optax.inject_hyperparams(functools.partial(create, "momentum"))(learning_rate=0.1, rho=0.5)
    params = jnp.zeros(1)
    state = tx.init(params)
    ups = []
    for _ in range(2):
        u, state = tx.update(jnp.ones(1), state, params)
        ups.append(float(u[0]))
    np.testing.assert_allclose(ups, [-0.1, -0.15], rtol=1e-6)
