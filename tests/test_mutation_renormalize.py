"""Tests that kill mutants of jaxdl.optim.renormalize which the other tests let survive.

Found by ``python -m mutation.run --modules renormalize`` (docs/testing.md). Expected
values are worked out by hand from the docstrings' formulas.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.optim import filter_rms, renormalize_filters


def test_a_kernel_without_a_filter_axis_is_refused_with_its_shape():
    message = (
        "filter renormalization needs kernels [..., filters] (ndim >= 2), got shape (3,); "
        "leave biases and scales out of the mask."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        filter_rms(jnp.ones(3))


def test_rms_is_computed_in_float32_or_wider():
    kernel = jnp.full((3, 3, 2, 4), 0.5, jnp.bfloat16)
    assert filter_rms(kernel).dtype == jnp.float32
    with jax.enable_x64(True):  # the kernel's own float dtype, not the default float
        assert filter_rms(jnp.full((2, 2), 0.5, jnp.float64)).dtype == jnp.float64
        assert filter_rms(jnp.full((2, 2), 0.5, jnp.float32)).dtype == jnp.float32


def test_default_radius_is_0_1_and_updates_keep_their_dtype():
    params = {"w": jnp.zeros((1, 1, 1, 2), jnp.float32)}
    updates = {"w": jnp.array([[[[1.0, 0.05]]]], jnp.bfloat16)}  # new filters: rms 1, 0.05
    tx = renormalize_filters()
    u, _ = tx.update(updates, tx.init(params), params)
    assert u["w"].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(u["w"], np.float32).ravel(), [0.1, 0.05], rtol=1e-2)


def test_the_missing_params_and_a_bad_radius_are_explained_word_for_word():
    tx = renormalize_filters(0.1)
    message = (
        "renormalize_filters needs the params: call tx.update(updates, state, params) "
        "(it constrains the NEW parameters params + updates)."
    )
    w = {"w": jnp.ones((1, 1, 1, 1))}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tx.update(w, tx.init(w))
    bad = "renormalize_filters: max_rms must be a number > 0 (Zeiler & Fergus: 0.1), got '0.1'."
    with pytest.raises(ValueError, match=f"^{re.escape(bad)}$"):
        renormalize_filters("0.1")
