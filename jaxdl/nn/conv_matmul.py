"""``conv_as_matmul``: a convolution computed as patches @ kernel (im2col), for XLA:CPU.

A drop-in for ``jax.lax.conv_general_dilated`` in ``flax.linen.Conv``
(``nn.Conv(..., conv_general_dilated=conv_as_matmul)``): the input's k x k patches are
laid out as rows ``[B H' W', C k k]`` (``jax.lax.conv_general_dilated_patches``) and
multiplied by the kernel reshaped to ``[C k k, O]``. The forward pass and the kernel's
gradient (``patches^T @ dY``) are then matrix products, which XLA:CPU runs far better
than its convolution when the input has one or a few channels: LeNet-5's C1 (1 -> 6
maps, 5x5) forward and kernel gradient 1.9x faster, the whole LeNet-5 train step 1.15x
at batch 128 on 2 cores. With more channels the patch matrix is k^2 times the input and
the convolution wins (3x3, 8 -> 16 maps: 0.2x); see benchmarks/NOTES.md ("im2col").

Same values as the convolution up to float rounding (a different summation order). On
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
    layout = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _LAYOUT)
    plain = (
        lhs.ndim == 4
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == layout
        and all(d in (None, 1, (1, 1)) for d in (lhs_dilation, rhs_dilation))
        and feature_group_count == 1
        and not kwargs
    )
    if not plain or jax.default_backend() != "cpu":
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, **args)
    kh, kw, c, o = rhs.shape
    cols = lax.conv_general_dilated_patches(
        lhs, (kh, kw), window_strides, padding, dimension_numbers=_LAYOUT, precision=precision
    )  # [B, H', W', C kh kw], channel-major
    kernel = jnp.transpose(rhs, (2, 0, 1, 3)).reshape(c * kh * kw, o)  # the same order
    b, h, w, _ = cols.shape
    out = jnp.matmul(cols.reshape(b * h * w, -1), kernel, precision=precision)
    return out.reshape(b, h, w, o)
