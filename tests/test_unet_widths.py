"""U-Net channel widths: doubled per level, capped at ``max_width`` (pix2pix's generator
caps at 8 x base width: 64, 128, 256, 512, 512, ...), against hand tables."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.models.pix2pix import Pix2PixGenerator
from jaxdl.models.unet import UNet


def kernel_widths(model, x):
    """{layer name: output channels of its kernel}, from shapes only (nothing runs)."""
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    params = variables["params"]
    params = params.get("UNet_0", params)
    widths = {}
    for name, sub in params.items():
        paths = jax.tree_util.tree_flatten_with_path(sub)[0]
        (kernel,) = [leaf for path, leaf in paths if path[-1].key == "kernel"]
        widths[name] = int(kernel.shape[-1])
    return widths


def test_pix2pix_generator_widths_stop_at_eight_times_the_base():
    widths = kernel_widths(Pix2PixGenerator(3, depth=7, base_width=64), jnp.zeros((1, 128, 128, 3)))
    down = [widths[f"down{i}_conv2"] for i in range(7)]
    assert down == [64, 128, 256, 512, 512, 512, 512]  # pix2pix's encoder (ngf = 64)
    assert widths["bottom_conv2"] == 512
    assert [widths[f"up{i}_upconv"] for i in range(7)] == down


def test_parameters_of_the_facades_generator_are_of_pix2pixs_order():
    """Depth 7, base 64: about 59M parameters (pix2pix's own U-Net: 54.4M); without the
    cap the widths reach 64 x 2^7 = 8192 channels and 2.0e9 parameters."""
    g = Pix2PixGenerator(3, depth=7, base_width=64)
    v = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((1, 128, 128, 3)), train=False))
    n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(v["params"]))
    assert 50e6 < n < 70e6, n


def test_no_cap_keeps_the_papers_doubling_and_a_cap_below_the_base_is_refused():
    widths = kernel_widths(UNet(num_classes=2, depth=4, base_width=8), jnp.zeros((1, 188, 188, 1)))
    assert [widths[f"down{i}_conv2"] for i in range(4)] + [widths["bottom_conv2"]] == [
        8,
        16,
        32,
        64,
        128,
    ]
    with pytest.raises(ValueError, match="max_width=4 is below base_width=8"):
        jax.eval_shape(
            lambda: UNet(base_width=8, max_width=4, padding="same").init(
                jax.random.key(0), jnp.zeros((1, 16, 16, 1))
            )
        )
