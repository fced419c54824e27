"""Argument checks shared by the factories of `jaxdl.optim`, aware of traced values.

Every hyperparameter of the factories may be traced: ``optax.inject_hyperparams``
rebuilds the transformation from its (jitted) state at every update, and ``jax.vmap``
over a sweep of values calls the factory with a batch tracer. A wrong CONCRETE value
(a Python/NumPy number or a concrete ``jax.Array``) is still refused at construction;
a tracer has no value to check and passes through unchanged.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["as_key", "call_by_name", "concrete_ints", "concrete_reals", "is_traced"]


def is_traced(value: Any) -> bool:
    """True for a value being traced (jit, vmap, grad): no concrete value to check."""
    return isinstance(value, jax.core.Tracer)


def _dtype(value: Any) -> Any:
    """The dtype of an array (NumPy, JAX, tracer) or NumPy scalar; None for the rest."""
    is_array = isinstance(value, jax.Array | np.ndarray | np.generic)
    return value.dtype if is_array else None


def concrete_reals(name: str, value: Any) -> np.ndarray | None:
    """The values of a real hyperparameter as float64 NumPy, or None when it is traced.

    Raises:
        TypeError: ``value`` is a bool, or neither a real number nor a real array.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got bool.")
    dtype = _dtype(value)
    if dtype is not None:
        if not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)):
            raise TypeError(f"{name} must be a real number, got an array of dtype {dtype}.")
        return None if is_traced(value) else np.asarray(value, np.float64)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}.")
    return np.asarray(float(value), np.float64)


def concrete_ints(name: str, value: Any) -> np.ndarray | None:
    """The values of an integer hyperparameter (int64 NumPy), or None when traced.

    Raises:
        ValueError: ``value`` is a bool or not an integer (number or integer array).
    """
    dtype = _dtype(value)
    if dtype is not None and jnp.issubdtype(dtype, jnp.integer):
        return None if is_traced(value) else np.asarray(value, np.int64)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return np.asarray(int(value), np.int64)


def as_key(key: Any, owner: str) -> jax.Array:
    """A typed PRNG key from a typed key, a legacy ``uint32[2]`` key or an int seed.

    ``jax.random.PRNGKey(s)`` (raw ``uint32[2]`` data) is wrapped with
    ``jax.random.wrap_key_data``, so it gives the same stream as ``jax.random.key(s)``;
    an int seed (or integer scalar array) becomes ``jax.random.key(seed)``, as optax
    does. Works on traced keys and seeds.

    Raises:
        ValueError: ``key`` is None.
        TypeError: anything else (e.g. a float, a batch of keys), with what to pass.
    """
    expected = (
        f"{owner} needs key=jax.random.key(seed) (a typed key), a legacy "
        "jax.random.PRNGKey(seed) (uint32[2]) or an int seed"
    )
    if key is None:
        raise ValueError(f"{expected}; got None.")
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return jax.random.key(int(key))
    dtype = _dtype(key)
    shape = tuple(np.shape(key)) if dtype is not None else None
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and shape == ():
        return key
    if dtype == np.uint32 and shape == (2,):
        return jax.random.wrap_key_data(jnp.asarray(key))
    if dtype is not None and jnp.issubdtype(dtype, jnp.integer) and shape == ():
        return jax.random.key(key)
    got = f"an array of dtype {dtype} and shape {shape}" if dtype is not None else repr(key)
    raise TypeError(f"{expected}; got {got} (for a batch of keys, jax.vmap the factory).")


def call_by_name(kind: str, table: dict, name: str, args: tuple, kwargs: dict) -> Any:
    """Look up ``name`` and call it, turning bad names/arguments into clear errors.

    ``kwargs == {"kwargs": {...}}`` is unwrapped: ``optax.inject_hyperparams`` binds a
    factory's ``**kwargs`` as ONE argument named "kwargs" and calls the factory with
    ``kwargs={...}`` (no builder has a parameter of that name).
    """
    if set(kwargs) == {"kwargs"} and isinstance(kwargs["kwargs"], dict):
        kwargs = kwargs["kwargs"]
    if name not in table:
        raise ValueError(f"Unknown {kind} {name!r}; valid names: {sorted(table)}.")
    builder = table[name]
    sig = inspect.signature(builder)
    keyword_only = [
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ][len(args) :]
    try:
        sig.bind(*args, **kwargs)
    except TypeError as err:
        raise ValueError(
            f"Bad arguments {sorted(kwargs)} for {kind} {name!r} ({err}); "
            f"valid keyword arguments: {keyword_only}."
        ) from None
    return builder(*args, **kwargs)
