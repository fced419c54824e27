"""Annealed Gaussian gradient noise (Neelakantan et al. 2015), course parameterization.

The course adds ``N(0, sigma_t^2)`` to every gradient coordinate with
``sigma_t = sigma_0 / (1 + t)^kappa``, ``t = 0`` at the first update. optax's
``add_noise(eta, gamma, key)`` does the same thing but parameterizes the VARIANCE,
``eta / (1 + t)^gamma`` (its counter is incremented before use, so its first update
also has ``1 + t = 1``). The exact mapping is

    eta = sigma_0 ** 2,   gamma = 2 * kappa,

so `add_gradient_noise` is optax's transformation under the course's names, with
argument checks. The RNG key lives in the state (``optax.AddNoiseState.rng_key``) and
is split at every update, so the noise is a pure function of (key, step).

References:
    Neelakantan et al., "Adding Gradient Noise Improves Learning for Very Deep
    Networks", 2015, arXiv:1511.06807 (kappa = 0.55, eta in {0.01, 0.3, 1.0}).
"""

from __future__ import annotations

import math
import numbers

import jax
import optax
from optax import AddNoiseState

__all__ = ["AddNoiseState", "add_gradient_noise"]


def add_gradient_noise(
    sigma0: float, kappa: float = 0.55, *, key: jax.Array | int
) -> optax.GradientTransformation:
    """Add ``N(0, sigma_t^2)`` to each gradient coordinate, ``sigma_t = sigma0/(1+t)^kappa``.

    Args:
        sigma0: standard deviation at the first update (``t = 0``), ``>= 0``.
        kappa: annealing exponent of the standard deviation, ``>= 0`` (0.55 as in
            Neelakantan et al., who anneal the variance with exponent 2 * 0.55).
        key: a JAX PRNG key (``jax.random.key(seed)``) or an int seed; keyword-only so
            that the noise stream is always chosen explicitly.

    Returns:
        An optax gradient transformation with state ``optax.AddNoiseState(count,
        rng_key)``; equal to ``optax.add_noise(eta=sigma0**2, gamma=2*kappa, key=key)``.

    Example:
        >>> import jax, optax
        >>> tx = optax.chain(add_gradient_noise(0.1, key=jax.random.key(0)), optax.sgd(0.01))

    References:
        Neelakantan et al., "Adding Gradient Noise Improves Learning for Very Deep
        Networks", 2015, arXiv:1511.06807.
    """
    for name, value in (("sigma0", sigma0), ("kappa", kappa)):
        if isinstance(value, jax.Array):
            continue  # traced hyperparameter (optax.inject_hyperparams)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}.")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value}.")
    if key is None:
        raise ValueError("add_gradient_noise needs key=jax.random.key(seed) or an int seed.")
    return optax.add_noise(eta=sigma0**2, gamma=2.0 * kappa, key=key)
