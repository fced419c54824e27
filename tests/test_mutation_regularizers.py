"""Tests that kill mutants of jaxdl.nn.regularizers which the other tests let survive.

Found by ``python -m mutation.run --modules nn/regularizers`` (docs/testing.md). They pin
the mask error message word for word, a ``None`` mask flag (left out, like ``False``),
and the dtype of the penalties with ``jax.enable_x64``: float32 parameters give a
float32 penalty, float64 ones a float64 penalty. Expected values are the course's
formulas (1/2 sum W^2, sum |W|) in float64 NumPy.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.nn import regularizers


def test_a_mask_of_another_structure_is_refused_word_for_word():
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    msg = (
        "mask must be a pytree of bools with the same structure as params "
        "(or a callable returning one): "
    )
    with pytest.raises(ValueError, match="^" + re.escape(msg)):
        regularizers.l2_penalty(params, {"a": True})


def test_a_none_flag_leaves_the_leaf_out():
    a, b = np.array([1.0, -2.0]), np.array([3.0, 4.0])
    params = {"a": jnp.asarray(a, jnp.float32), "b": jnp.asarray(b, jnp.float32)}
    mask = {"a": True, "b": None}
    np.testing.assert_allclose(regularizers.l2_penalty(params, mask), 0.5 * np.sum(a**2), rtol=1e-6)
    np.testing.assert_allclose(regularizers.l1_penalty(params, mask), np.sum(np.abs(a)), rtol=1e-6)


def test_penalty_dtypes_follow_the_parameters_with_x64():
    w = np.array([[0.5, -1.5], [2.0, 0.25]])
    with jax.enable_x64(True):
        p32 = {"kernel": jnp.asarray(w, jnp.float32)}
        for penalty, ref in ((regularizers.l2_penalty, 0.5 * np.sum(w**2)),
                             (regularizers.l1_penalty, np.sum(np.abs(w)))):  # fmt: skip
            out = penalty(p32)
            assert out.dtype == jnp.float32
            np.testing.assert_allclose(out, ref, rtol=1e-6)
            assert penalty({"kernel": jnp.asarray(w, jnp.float64)}).dtype == jnp.float64
        assert regularizers.l2_penalty({"bias": jnp.ones(2, jnp.float32)}).dtype == jnp.float32
