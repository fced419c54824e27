"""Tests that kill mutants of jaxdl.data.augment.compose which the other tests let survive.

Found by ``python -m mutation.run --modules compose`` (docs/testing.md). They pin the
one-element ``(name,)`` entry (no keyword arguments: the op's defaults), and the error
message of a malformed entry, word for word, with the entry's position in the list.
References: a horizontal flip with ``p=1`` worked out by hand, and the messages written
out.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data.augment import build_augment

# one image, 1 x 3, pixel values 0, 1, 2: flipped left-right it reads 2, 1, 0
_ROW = np.arange(3, dtype=np.float32).reshape(1, 1, 3, 1)


def test_a_one_element_entry_is_the_op_with_its_defaults():
    # ("horizontal_flip",) takes horizontal_flip's default p = 0.5; ("...", {"p": 1.0})
    # always flips. Both are accepted as (name,) / (name, kwargs) tuples.
    default = build_augment([("horizontal_flip",)])
    always = build_augment([("horizontal_flip", {"p": 1.0})])
    x = jnp.asarray(_ROW)
    np.testing.assert_array_equal(np.asarray(always(jax.random.key(0), x)).ravel(), [2, 1, 0])
    seen = {tuple(np.asarray(default(jax.random.key(s), x)).ravel()) for s in range(16)}
    assert seen == {(0.0, 1.0, 2.0), (2.0, 1.0, 0.0)}  # p = 0.5: kept and flipped both seen


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ([("a", {}, "extra")], "#0 ('a', {}, 'extra')"),
        (["horizontal_flip", 5], "#1 5"),
        (["horizontal_flip", "brightness", ()], "#2 ()"),
    ],
)
def test_a_malformed_entry_is_named_with_its_position_word_for_word(spec, shown):
    message = f"augmentation {shown}: expected 'name', (name, kwargs) or {{'name': name, **kwargs}}"
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        build_augment(spec)
