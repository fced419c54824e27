"""Tests that kill mutants of the model building blocks (jaxdl/models/) which the other
tests let survive.

Found by ``python -m mutation.run --modules mlp lenet googlenet ...`` (docs/testing.md).
They pin LeNet-5's initialisation (LeCun et al. 1998, appendix C: U(-2.4/F, 2.4/F) with F
the fan-in, every axis but the last), GoogLeNet's adaptive average pooling on an input
whose height, width and channels all differ, and the unknown-activation message.
References: the bounds worked out by hand, the pooling windows written in float64 NumPy
from PyTorch's rule, and the message written out.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.models.googlenet import adaptive_avg_pool
from jaxdl.models.lenet import lecun_uniform_init
from jaxdl.models.mlp import get_activation
from jaxdl.nn import activations


@pytest.mark.parametrize(
    ("shape", "fan_in"),
    [((5, 5, 6, 16), 150), ((400, 120), 400), ((5, 5, 1, 6), 25)],
)
def test_lenet_init_is_uniform_within_2_4_over_the_fan_in(shape, fan_in):
    bound = 2.4 / fan_in
    key = jax.random.key(3)
    w = np.asarray(lecun_uniform_init(key, shape), np.float64)
    assert w.shape == shape
    # the very draw U(-b, b) of this key, and its range: both ends nearly reached
    expected = np.asarray(jax.random.uniform(key, shape, jnp.float32, -bound, bound))
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-7)
    assert -bound <= w.min() < -0.9 * bound and 0.9 * bound < w.max() <= bound


def test_lenet_init_keeps_the_dtype_asked_for():
    w = lecun_uniform_init(jax.random.key(0), (4, 8), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16
    assert np.abs(np.asarray(w, np.float64)).max() <= 2.4 / 4


def _adaptive_pool_reference(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Cell i of an axis of n averages rows floor(i n / m) to ceil((i + 1) n / m) - 1."""
    out = np.zeros((x.shape[0], *size, x.shape[3]))
    for i in range(size[0]):
        h0, h1 = (i * x.shape[1]) // size[0], -(-(i + 1) * x.shape[1] // size[0])
        for j in range(size[1]):
            w0, w1 = (j * x.shape[2]) // size[1], -(-(j + 1) * x.shape[2] // size[1])
            out[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return out


def test_adaptive_avg_pool_with_height_width_and_channels_all_different():
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 3))
    out = adaptive_avg_pool(jnp.asarray(x, jnp.float32), (2, 3))
    assert out.shape == (2, 2, 3, 3)
    np.testing.assert_allclose(out, _adaptive_pool_reference(x, (2, 3)), rtol=1e-5, atol=1e-6)


def test_an_unknown_activation_is_named_with_the_choices():
    choices = sorted(activations.__all__)
    message = f"Unknown activation 'swishy'; choose one of {choices}."
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        get_activation("swishy")


def _cifar_resnet(depth, dtype=jnp.float32):
    from jaxdl.models.resnet import CifarResNet

    return CifarResNet(depth=depth, num_classes=32, widths=(2, 4, 64), dtype=dtype)


@pytest.mark.parametrize(("depth", "blocks"), [(8, 1), (14, 2)])
def test_resnet_blocks_are_named_by_stage_and_position(depth, blocks):
    model = _cifar_resnet(depth)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.ones((1, 8, 8, 3)), False))
    names = {f"stage{i}_block{j}" for i in (1, 2, 3) for j in range(1, blocks + 1)}
    assert set(variables["params"]) == names | {"stem", "fc"}


def test_resnet_halves_the_map_at_the_first_block_of_stages_2_and_3_and_trains_its_bn():
    model = _cifar_resnet(14)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 8, 8, 3)), jnp.float32)
    variables = model.init(jax.random.key(0), x, False)
    _, state = model.apply(
        variables, x, True, mutable=["batch_stats", "intermediates"], capture_intermediates=True
    )
    shapes = {k: v["__call__"][0].shape for k, v in state["intermediates"].items() if "stage" in k}
    assert shapes == {
        "stage1_block1": (2, 8, 8, 2), "stage1_block2": (2, 8, 8, 2),
        "stage2_block1": (2, 4, 4, 4), "stage2_block2": (2, 4, 4, 4),
        "stage3_block1": (2, 2, 2, 64), "stage3_block2": (2, 2, 2, 64),
    }  # fmt: skip
    # train=True reaches every block: each one's running statistics moved off their init
    for name in shapes:
        before = jax.tree.leaves(variables["batch_stats"][name])
        after = jax.tree.leaves(state["batch_stats"][name])
        assert any(not np.array_equal(a, b) for a, b in zip(before, after)), name


def test_resnet_head_is_xavier_computes_in_the_model_dtype_and_returns_float32():
    model = _cifar_resnet(8, jnp.bfloat16)
    x = jnp.ones((1, 8, 8, 3))
    variables = model.init(jax.random.key(0), x, False)
    kernel = np.asarray(variables["params"]["fc"]["kernel"], np.float64)  # [64, 32]
    sigma = 1 / np.sqrt(64)  # Xavier on the fan-in: an untruncated N(0, 1/64)
    assert abs(kernel.std() / sigma - 1) < 0.1
    assert np.abs(kernel).max() > 2.4 * sigma  # a normal truncated at 2 sigma never reaches it
    logits, state = model.apply(variables, x, False, capture_intermediates=True)
    assert state["intermediates"]["fc"]["__call__"][0].dtype == jnp.bfloat16
    assert logits.dtype == jnp.float32


def _alexnet_params_and_shapes(model, size):
    x = jnp.ones((1, size, size, 3))
    variables = model.init(jax.random.key(0), x, False)
    _, state = model.apply(variables, x, False, capture_intermediates=True)
    outputs = {k: v["__call__"][0] for k, v in state["intermediates"].items() if k != "__call__"}
    return variables["params"], outputs


_SMALL = {"num_classes": 16, "hidden_features": 64, "widths": (4, 4, 4, 4, 4)}


def _kernel(params, name):  # ConvBN keeps its convolution under "conv"
    return np.asarray(params[name].get("conv", params[name])["kernel"], np.float64)


def _bias(params, name):
    return np.asarray(params[name].get("conv", params[name])["bias"], np.float64)


def test_alexnet_paper_init_is_normal_0_01_with_bias_1_in_conv2_conv4_conv5_fc6_fc7():
    from jaxdl.models.alexnet import AlexNet

    params, _ = _alexnet_params_and_shapes(AlexNet(paper_init=True, **_SMALL), 227)
    assert set(params) == {"conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"}
    for name in ("conv1", "fc6", "fc7", "fc8"):  # 1,452 / 9,216 / 4,096 / 1,024 weights
        assert abs(_kernel(params, name).std() / 0.01 - 1) < 0.1, name
    for name in params:
        ones = name in ("conv2", "conv4", "conv5", "fc6", "fc7")
        np.testing.assert_array_equal(_bias(params, name), 1.0 if ones else 0.0, err_msg=name)


def test_alexnet_default_init_is_he_with_an_xavier_output_layer_and_zero_biases():
    from jaxdl.models.alexnet import AlexNet

    params, _ = _alexnet_params_and_shapes(AlexNet(**_SMALL), 227)
    # fan-ins: conv1 11 * 11 * 3, fc6 6 * 6 * 4, fc7 64, fc8 64 (Xavier: 1 / N, not 2 / N)
    for name, sigma in (("conv1", np.sqrt(2 / 363)), ("fc6", np.sqrt(2 / 144)),
                        ("fc7", np.sqrt(2 / 64)), ("fc8", np.sqrt(1 / 64))):  # fmt: skip
        assert abs(_kernel(params, name).std() / sigma - 1) < 0.1, name
    for name in params:
        np.testing.assert_array_equal(_bias(params, name), 0.0, err_msg=name)


def test_alexnet_and_zfnet_first_layers_use_their_papers_padding_and_the_model_dtype():
    from jaxdl.models.alexnet import AlexNet, ZFNet

    # AlexNet conv1 11x11/4, no padding: (227 - 11) / 4 + 1 = 55; ZFNet 7x7/2 pad 1 on
    # 224: (224 + 2 - 7) // 2 + 1 = 110, then pool 3x3/2 pad 1 -> 55, conv2 5x5/2 -> 26
    _, out = _alexnet_params_and_shapes(AlexNet(dtype=jnp.bfloat16, **_SMALL), 227)
    assert out["conv1"].shape == (1, 55, 55, 4) and out["conv3"].shape == (1, 13, 13, 4)
    for name in ("conv1", "conv2", "conv5", "fc6", "fc8"):
        assert out[name].dtype == jnp.bfloat16, name
    _, out = _alexnet_params_and_shapes(ZFNet(**_SMALL), 224)
    assert out["conv1"].shape == (1, 110, 110, 4) and out["conv2"].shape == (1, 26, 26, 4)


_POOLS_ODD = (
    "Input side {} is invalid for the valid U-Net of depth {}: level {} pools an odd or empty "
    "side {}. Use valid_input_size(...) to pick a valid size (e.g. 572 for depth 4) or "
    "padding='same'."
)
_TOO_SMALL = "Input side {} is too small for the valid U-Net of depth {}."


@pytest.mark.parametrize(
    ("size", "depth", "message"),
    [
        (4, 1, _POOLS_ODD.format(4, 1, 0, 0)),  # 4 - 4 = 0: an empty side to pool
        (19, 1, _POOLS_ODD.format(19, 1, 0, 15)),
        (12, 1, _TOO_SMALL.format(12, 1)),  # 8 -> 4 -> bottom 0
        (14, 1, _TOO_SMALL.format(14, 1)),  # 10 -> 5 -> bottom 1 -> 2 - 4 < 0
        (16, 1, _TOO_SMALL.format(16, 1)),  # 12 -> 6 -> bottom 2 -> 4 - 4 = 0
        (4, 0, _TOO_SMALL.format(4, 0)),  # no pooling: 4 - 4 = 0
    ],
)
def test_unet_valid_sizes_that_come_out_empty_are_refused_word_for_word(size, depth, message):
    from jaxdl.models.unet import UNet, valid_output_size

    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        valid_output_size(size, depth)
    model = UNet(num_classes=2, depth=depth, base_width=2)  # the model refuses it too
    with pytest.raises(ValueError, match=re.escape(message)):
        jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 1))))


def test_unet_valid_sizes_at_their_smallest():
    from jaxdl.models.unet import valid_input_size, valid_output_size

    # depth 0: two 3x3 convs, 5 -> 1; depth 1: 18 -> 14 -> 7 -> 3 -> 2 * 3 - 4 = 2,
    # 20 -> 16 -> 8 -> 4 -> 4
    assert (valid_output_size(5, 0), valid_output_size(18, 1), valid_output_size(20, 1)) == (
        1,
        2,
        4,
    )
    assert (valid_input_size(1, 0), valid_input_size(2, 1), valid_input_size(3, 1)) == (5, 18, 20)


def test_overlap_tile_pad_mirrors_height_and_width_each_by_its_own_amount():
    from jaxdl.models.unet import overlap_tile_pad

    # depth 1: H = 20 needs a 36-pixel input (pads 8, 8), W = 23 needs 40 (pads 8, 9)
    x = np.random.default_rng(2).normal(size=(1, 20, 23, 1)).astype(np.float32)
    expected = np.pad(x, ((0, 0), (8, 8), (8, 9), (0, 0)), mode="symmetric")
    np.testing.assert_array_equal(overlap_tile_pad(jnp.asarray(x), 1), expected)


def test_unet_widths_double_per_level_until_the_cap():
    from jaxdl.models.unet import UNet

    capped = UNet(base_width=4, max_width=8, depth=3)
    assert [capped.width(level) for level in range(4)] == [4, 8, 8, 8]
    assert [UNet(base_width=4, depth=3).width(level) for level in range(4)] == [4, 8, 16, 32]


def test_unet_convs_are_named_by_level_and_compute_in_the_model_dtype():
    from jaxdl.models.unet import UNet

    model = UNet(num_classes=2, depth=1, base_width=2, max_width=2, dtype=jnp.bfloat16)
    x = jnp.ones((1, 20, 20, 1))
    variables = model.init(jax.random.key(0), x)
    assert set(variables["params"]) == {
        "down0_conv1", "down0_conv2", "bottom_conv1", "bottom_conv2", "up0_upconv",
        "up0_conv1", "up0_conv2", "head",
    }  # fmt: skip
    assert variables["params"]["bottom_conv1"]["conv"]["kernel"].shape == (3, 3, 2, 2)  # capped
    logits, state = model.apply(variables, x, capture_intermediates=True)
    for name in ("down0_conv1", "bottom_conv2", "up0_conv2"):
        assert state["intermediates"][name]["__call__"][0].dtype == jnp.bfloat16, name
    assert logits.shape == (1, 4, 4, 2) and logits.dtype == jnp.float32
