"""Tests that kill mutants of jaxdl.nn.layers which the other tests let survive.

Found by ``python -m mutation.run --modules nn/layers`` (docs/testing.md). They pin He et
al.'s option-A shortcut of ``BasicBlock``: with a stride and the same channel count it
subsamples (every s-th pixel) instead of refusing, and it refuses to drop channels with
its message word for word. Reference: a block with ``zero_init_last_bn`` in eval mode is
``relu(S(x))`` (the second BN's scale is 0, its running mean 0), with ``S`` the
subsampling worked out in NumPy.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.nn import layers


def test_option_a_with_a_stride_and_the_same_channels_subsamples():
    x = np.arange(1.0, 33.0).reshape(1, 4, 4, 2)  # positive: relu keeps it
    blk = layers.BasicBlock(2, strides=2, shortcut="option_a", zero_init_last_bn=True)
    y, _ = blk.init_with_output(jax.random.key(0), jnp.asarray(x, jnp.float32), train=False)
    np.testing.assert_allclose(y, x[:, ::2, ::2, :], rtol=1e-6)


def test_option_a_refuses_to_drop_channels_word_for_word():
    blk = layers.BasicBlock(3, shortcut="option_a")
    msg = (
        "option_a shortcut can only add channels (6 -> 3); "
        "use shortcut='projection' to reduce them."
    )
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "(\n|$)"):  # a note may follow
        blk.init(jax.random.key(0), jnp.ones((1, 4, 5, 6)), train=False)
