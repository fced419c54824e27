"""Tests that kill mutants of jaxdl.data.augment.crops which the other tests let survive.

Found by ``python -m mutation.run --modules augment/crops`` (docs/testing.md). They pin
the edges of the crop-size check (a side of 1 is allowed, a side of 0 or one larger
than the image is refused, each side checked on its own) and the exact error messages,
which name the function called. References: the crops of a hand-made 4 x 5 image
(pixel ``5 i + j``) worked out by hand, and the error messages written out word for word.
"""

import re

import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data.augment import center_crop, five_crop, ten_crop

# x[0, i, j, 0] = 5 i + j: H = 4, W = 5 (not square, so h and w cannot be swapped unseen)
_IMAGE = np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1)


def test_a_crop_one_pixel_high_or_wide_is_allowed():
    x = jnp.asarray(_IMAGE)
    # (1, 1): top = (4 - 1) // 2 = 1, left = (5 - 1) // 2 = 2 -> pixel 5 + 2 = 7
    np.testing.assert_array_equal(np.asarray(center_crop(x, 1)).ravel(), [7.0])
    # (1, 2): corners [0, 1], [3, 4], [15, 16], [18, 19]; centre top 1, left 1: [6, 7];
    # then the same five mirrored left-right
    ten = np.asarray(ten_crop(x, (1, 2)))
    assert ten.shape == (10, 1, 1, 2, 1)
    expected = [[0, 1], [3, 4], [15, 16], [18, 19], [6, 7],
                [1, 0], [4, 3], [16, 15], [19, 18], [7, 6]]  # fmt: skip
    np.testing.assert_array_equal(ten.reshape(10, 2), expected)
    # (2, 1): corners [0, 5], [4, 9], [10, 15], [14, 19]; centre top 1, left 2: [7, 12]
    five = np.asarray(five_crop(x, (2, 1)))
    assert five.shape == (5, 1, 2, 1, 1)
    expected = [[0, 5], [4, 9], [10, 15], [14, 19], [7, 12]]
    np.testing.assert_array_equal(five.reshape(5, 2), expected)


@pytest.mark.parametrize("size", [0, (0, 2), (2, 0), (5, 2), (2, 6), (-1, 2), 5])
def test_a_crop_that_does_not_fit_is_refused_word_for_word(size):
    x = jnp.asarray(_IMAGE)
    h, w = (size, size) if isinstance(size, int) else size
    for op, fn in [("center_crop", center_crop), ("five_crop", five_crop)]:
        msg = f"{op}: crop size ({h}, {w}) must fit in the images' (4, 5)"
        with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
            fn(x, size)
    phrase = f"crop size ({h}, {w}) must fit in the images' (4, 5)"
    with pytest.raises(ValueError, match=re.escape(phrase)):
        ten_crop(x, size)


def test_the_input_checks_name_the_function():
    flat = jnp.zeros((4, 5, 1))  # no batch axis
    booleans = jnp.zeros((1, 4, 5, 1), dtype=bool)
    for op, fn in [("center_crop", center_crop), ("five_crop", five_crop)]:
        msg = f"{op}: images must be NHWC [B, H, W, C], got shape (4, 5, 1)"
        with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
            fn(flat, 2)
        msg = f"{op}: images must be float or integer (e.g. uint8), got bool"
        with pytest.raises(TypeError, match=f"^{re.escape(msg)}$"):
            fn(booleans, 2)
