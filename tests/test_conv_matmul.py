"""``conv_as_matmul`` against a float64 numpy convolution written out as sums, and its
gradients against the same reference's (by the chain rule, written out below)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxdl.nn import conv_as_matmul

LAYOUT = ("NHWC", "HWIO", "NHWC")


def _conv64(x, w, stride, padding):
    """out[b, i, j, o] = sum_{u, v, c} xp[b, s i + u, s j + v, c] w[u, v, c, o] (float64)."""
    kh, kw = w.shape[:2]
    if padding == "SAME":
        oh, ow = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
        ph = max((oh - 1) * stride + kh - x.shape[1], 0)
        pw = max((ow - 1) * stride + kw - x.shape[2], 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    oh = (x.shape[1] - kh) // stride + 1
    ow = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for u in range(kh):
        for v in range(kw):
            window = x[:, u : u + stride * oh : stride, v : v + stride * ow : stride]
            out += np.einsum("bijc,co->bijo", window, w[u, v])
    return out


@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [
        ((2, 12, 12, 1), (5, 5, 1, 6), 1, "VALID"),  # LeNet-5's C1, smaller
        ((2, 9, 7, 3), (3, 3, 3, 4), 2, "SAME"),
        ((1, 6, 6, 2), (2, 3, 2, 5), 1, "SAME"),
        ((2, 5, 5, 4), (5, 5, 4, 3), 1, "VALID"),  # C5: the window covers the whole map
    ],
)
def test_values_and_gradients_match_a_float64_convolution(shape, kernel, stride, padding):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=shape), rng.normal(size=kernel)
    g = rng.normal(size=_conv64(x, w, stride, padding).shape)  # dL/dy of L = sum(g * y)

    def loss(x, w):
        y = conv_as_matmul(x, w, (stride, stride), padding, dimension_numbers=LAYOUT)
        return jnp.sum(jnp.asarray(g, jnp.float32) * y), y

    (_, y), (dx, dw) = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(
        jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32)
    )
    np.testing.assert_allclose(y, _conv64(x, w, stride, padding), rtol=1e-5, atol=1e-5)
    # L is linear in w: dL/dw[u, v, c, o] = L(x, e_{u v c o}); likewise in x.
    eye_w = np.eye(w.size).reshape(w.size, *w.shape)
    ref_dw = [np.sum(g * _conv64(x, e, stride, padding)) for e in eye_w]
    np.testing.assert_allclose(dw, np.reshape(ref_dw, w.shape), rtol=1e-4, atol=1e-4)
    eye_x = np.eye(x.size).reshape(x.size, *x.shape)
    ref_dx = [np.sum(g * _conv64(e, w, stride, padding)) for e in eye_x]
    np.testing.assert_allclose(dx, np.reshape(ref_dx, x.shape), rtol=1e-4, atol=1e-4)


def _primitives(x, w, padding, **kwargs) -> str:
    """The jaxpr of ``conv_as_matmul(x, w, (1, 1), padding, **kwargs)`` as text."""
    return str(jax.make_jaxpr(lambda x, w: conv_as_matmul(x, w, (1, 1), padding, **kwargs))(x, w))


def test_on_cpu_the_plain_case_is_a_matmul_with_the_callers_precision():
    x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
    for dilation in (None, (1, 1)):  # unit dilations are plain
        text = _primitives(
            x, w, "SAME", dimension_numbers=LAYOUT,
            lhs_dilation=dilation, rhs_dilation=dilation,
            precision=lax.Precision.HIGHEST,
        )  # fmt: skip
        assert "conv_general_dilated" not in text and "dot_general" in text, text
        assert "precision=(Precision.HIGHEST, Precision.HIGHEST)" in text, text


@pytest.mark.parametrize(
    "case",
    [
        dict(lhs_dilation=(2, 2)),
        dict(rhs_dilation=(2, 1)),
        dict(feature_group_count=2),
        dict(preferred_element_type=jnp.float32),
        dict(layout=("NCHW", "OIHW", "NCHW")),
    ],
    ids=["lhs_dilation", "rhs_dilation", "groups", "preferred_element_type", "NCHW"],
)
def test_what_the_patch_form_does_not_cover_is_the_convolution_itself(case):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(1, 8, 8, 4)), jnp.bfloat16)
    w = jnp.asarray(rng.normal(size=(3, 3, 2 if "feature_group_count" in case else 4, 4)))
    w = w.astype(jnp.bfloat16)
    kw = dict(case, dimension_numbers=case.pop("layout", LAYOUT), precision=lax.Precision.HIGHEST)
    if kw["dimension_numbers"][0] == "NCHW":
        x, w = jnp.transpose(x, (0, 3, 1, 2)), jnp.transpose(w, (3, 2, 0, 1))
    pad = [(1, 1), (1, 1)]  # explicit: lax refuses "SAME" with an input dilation
    got = conv_as_matmul(x, w, (1, 1), pad, **kw)
    want = lax.conv_general_dilated(x, w, (1, 1), pad, **kw)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want, np.float32))
    text = _primitives(x, w, pad, **kw)
    assert "conv_general_dilated" in text and "Precision.HIGHEST" in text, text
