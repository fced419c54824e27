"""Tests that kill mutants of jaxdl.nn.activations which the other tests let survive.

Found by ``python -m mutation.run --modules activations`` (docs/testing.md). At ``a = 0``
the values of both branches agree, so only the derivative tells ``a >= 0`` from ``a > 0``:
the right-hand derivative, 1, as ``jax.nn``'s ReLU family takes it.
"""

import jax
import pytest

from jaxdl.nn.activations import elu, leaky_relu


@pytest.mark.parametrize("slope", [0.1, 0.3])
def test_leaky_relu_derivative_at_zero_is_one(slope):
    assert float(jax.grad(lambda a: leaky_relu(a, slope))(0.0)) == 1.0
    assert float(jax.grad(lambda a: leaky_relu(a, slope))(-1.0)) == pytest.approx(slope)


def test_elu_derivative_at_zero_is_one_for_any_alpha():
    # (alpha 2 would not do: the left branch's derivative at 0, alpha exp(0) times half
    # of min(a, 0)'s derivative at the tie, happens to be 1 too)
    assert float(jax.grad(lambda a: elu(a, 3.0))(0.0)) == 1.0
    assert float(jax.grad(lambda a: elu(a, 3.0))(-1e-3)) == pytest.approx(3.0, rel=1e-2)
