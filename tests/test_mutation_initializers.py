"""Tests that kill mutants of jaxdl.nn.initializers which the other tests let survive.

Found by ``python -m mutation.run --modules nn/initializers`` (docs/testing.md). They
pin the fan-in's smallest legal value (1) and its empty case (0), the dtype of a
uniform sample, the exact error messages of ``kumar_gain`` (with the activation's name,
or its repr when it has none), a step function (boolean output) and an infinite g(0),
and the 2% differentiability check exactly at its boundary (the derivatives at -h, 0
and +h chosen as whole numbers so that 0.02 * max is exact). Expected values follow
COURSE.md section 1 (sigma = sqrt(2/N) for He, U(-sqrt(3) sigma, sqrt(3) sigma),
Kumar's sigma^2 = 1 / (N g'(0)^2 (1 + g(0)^2))), worked out by hand in float64.
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.nn.initializers import fan_in, he, kumar_gain

_KINK = 5e-4  # where the piecewise-linear test units change slope (h = 1e-3 is beyond)


class Slopes:
    """Continuous piecewise-linear unit: slope ``left`` below -5e-4, ``mid`` on
    [-5e-4, 5e-4], ``right`` above; g(0) = 0. No ``__name__``: errors show its repr."""

    def __init__(self, left, mid, right):
        self.left, self.mid, self.right = left, mid, right

    def __call__(self, a):
        t = _KINK
        return jnp.where(
            a < -t,
            -self.mid * t + self.left * (a + t),
            jnp.where(a > t, self.mid * t + self.right * (a - t), self.mid * a),
        )

    def __repr__(self):
        return f"Slopes({self.left}, {self.mid}, {self.right})"


@pytest.mark.parametrize("shape, n", [((1, 7), 1), ([1, 1, 1, 3], 1), ((2, 1, 5), 2)])
def test_a_fan_in_of_one_is_legal(shape, n):
    assert fan_in(shape) == n


@pytest.mark.parametrize("shape", [(0, 4), [3, 3, 0, 8]])
def test_an_empty_fan_in_is_refused_word_for_word(shape):
    msg = f"kernel shape {tuple(shape)} has an empty fan-in"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        fan_in(shape)


def test_uniform_he_keeps_a_bfloat16_dtype_and_its_bound():
    # N = 64, sigma = sqrt(2 / 64), a = sqrt(3) sigma = sqrt(6 / 64) = 0.30619...
    a = math.sqrt(6.0 / 64.0)
    w = he("uniform")(jax.random.key(0), (64, 32), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16 and w.shape == (64, 32)
    w = np.asarray(w.astype(jnp.float32), np.float64)
    assert np.all(np.abs(w) <= a * (1 + 2**-8))  # the bound, rounded to bfloat16
    assert np.abs(w).max() > 0.95 * a  # 2048 draws: P(all below 0.95 a) = 0.95^2048


def test_a_step_unit_has_a_zero_slope_message_not_a_grad_error():
    def step(a):  # Heaviside: boolean output, slope 0 everywhere autodiff sees
        return a > 0

    msg = (
        "kumar: g'(0) = 0 for step (as JAX differentiates it), so sigma would be "
        "infinite. ReLU is not differentiable at 0 (jax.nn.relu reports 0 there): "
        "use he() for ReLU units."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        kumar_gain(step)


def test_an_infinite_g0_with_a_finite_slope_is_refused():
    def shifted(a):  # g(0) = inf, g'(0) = 1
        return a + jnp.inf

    msg = "kumar: g(0)=inf or g'(0)=1.0 of shifted is not finite"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        kumar_gain(shifted)


def test_an_infinite_slope_with_a_finite_g0_is_refused():
    def root(a):  # cube root: g(0) = 0, g'(0) = 1 / (3 * 0^(2/3)) = inf
        return jnp.cbrt(a)

    msg = "kumar: g(0)=0.0 or g'(0)=inf of root is not finite"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        kumar_gain(root)


# Each case sits exactly at 2%: |deviation| = 1 = 0.02 * 50 (exact in float64), with
# the largest slope 50 at 0, on the left or on the right; the others are 49, and
# 0.02 * 49 = 0.98 < 1, so forgetting the largest slope would refuse the unit.
@pytest.mark.parametrize("left, mid, right", [(49, 50, 49), (50, 49, 49), (49, 49, 50)])
def test_slopes_differing_by_exactly_two_percent_are_accepted(left, mid, right):
    assert 0.02 * 50 == 1.0  # the boundary is hit exactly
    gain = kumar_gain(Slopes(left, mid, right))
    assert gain == pytest.approx(1.0 / (mid * mid * (1.0 + 0.0**2)), rel=1e-12)


def test_slopes_beyond_two_percent_are_refused_with_the_repr():
    unit = Slopes(49, 50, 48)  # |48 - 50| = 2 > 0.02 * 50 = 1
    msg = (
        "kumar: Slopes(49, 50, 48) is not differentiable at 0 (derivative 49 just left "
        "of 0, 50 at 0, 48 just right): Kumar's formula does not apply. For ReLU use "
        "he(); for other piecewise-linear units derive the gain by hand."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        kumar_gain(unit)


def test_a_named_unit_beyond_two_percent_is_refused_by_its_name():
    def kinked(a):  # slope 1 left of 0 and at 0, 0.5 right of 5e-4
        return Slopes(1.0, 1.0, 0.5)(a)

    msg = (
        "kumar: kinked is not differentiable at 0 (derivative 1 just left of 0, 1 at 0, "
        "0.5 just right): Kumar's formula does not apply. For ReLU use he(); for other "
        "piecewise-linear units derive the gain by hand."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        kumar_gain(kinked)
