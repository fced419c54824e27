"""``conv_as_matmul``: a convolution computed as patches @ kernel (im2col), for XLA:CPU.

A drop-in for ``jax.lax.conv_general_dilated`` in ``flax.linen.Conv``
(``nn.Conv(..., conv_general_dilated=conv_as_matmul)``): the k x k shifted views of the
padded input are concatenated along channels into rows ``[B H' W', k k C]`` and
multiplied by the kernel reshaped to ``[k k C, O]``. The forward pass and the kernel's
gradient (``patches^T @ dY``) are then matrix products, which XLA:CPU runs far better
than its convolution where the input has one or a few channels, or where the window
covers the whole input (a dense layer written as a convolution). Measured on 2 cores
(benchmarks/NOTES.md, "im2col"), forward and gradients: LeNet-5's C1 (1 -> 6 maps,
5x5) 1.7x faster, its C5 (16 -> 120 maps, 5x5 on a 5x5 input) 4.6x, a 3x3 64 -> 64
conv on an 8x8 map 1.4x; but 3x3 convolutions of 8 to 16 channels on 13x13 to 32x32
maps are slower this way (the patch matrix is k^2 times the input): 0.25-0.7x.

Same values as the convolution up to float rounding (another summation order). On
other backends, and for what the patch form does not cover (dilation, feature groups,
layouts other than NHWC / HWIO), it is ``jax.lax.conv_general_dilated`` itself.
"""

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["conv_as_matmul"]

_LAYOUT = ("NHWC", "HWIO", "NHWC")


def conv_as_matmul(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    precision=None,
    **kwargs,
) -> jax.Array:
    """``lax.conv_general_dilated(lhs [B, H, W, C], rhs [kh, kw, C, O], ...)`` as a matmul.

    Example:
      >>> x = jax.random.normal(jax.random.key(0), (2, 8, 8, 1))
      >>> w = jax.random.normal(jax.random.key(1), (5, 5, 1, 6))
      >>> ref = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=_LAYOUT)
      >>> y = conv_as_matmul(x, w, (1, 1), "VALID", dimension_numbers=_LAYOUT)
      >>> y.shape, bool(jnp.allclose(y, ref, atol=1e-5))
      ((2, 4, 4, 6), True)
    """
    args = dict(
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        precision=precision,
        **kwargs,
    )
    plain = (
        lhs.ndim == 4
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _LAYOUT)
        and all(d is None or all(v == 1 for v in d) for d in (lhs_dilation, rhs_dilation))
        and feature_group_count == 1
        and not kwargs
    )
    if not plain or jax.default_backend() != "cpu":
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, **args)
    kh, kw, c, o = rhs.shape
    sh, sw = window_strides
    pads = lax.padtype_to_pads(lhs.shape[1:3], (kh, kw), window_strides, padding)
    x = jnp.pad(lhs, ((0, 0), *pads, (0, 0)))  # [B, H + pads, W + pads, C]
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    views = [
        x[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]  # kh kw views [B, oh, ow, C], in the kernel's (kh, kw, C) order
    cols = jnp.concatenate(views, axis=-1).reshape(-1, kh * kw * c)
    out = jnp.matmul(cols, rhs.reshape(kh * kw * c, o), precision=precision)
    return out.reshape(lhs.shape[0], oh, ow, o)
