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

import jax
import numpy as np
import optax
from optax import AddNoiseState

from jaxdl.optim._checks import as_key, concrete_reals

__all__ = ["AddNoiseState", "add_gradient_noise"]


def add_gradient_noise(
    sigma0: float, kappa: float = 0.55, *, key: jax.Array | int
) -> optax.GradientTransformation:
    """Add ``N(0, sigma_t^2)`` to each gradient coordinate, ``sigma_t = sigma0/(1+t)^kappa``.

    Args:
        sigma0: standard deviation at the first update (``t = 0``), ``>= 0``.
        kappa: annealing exponent of the standard deviation, ``>= 0`` (0.55 as in
            Neelakantan et al., who anneal the variance with exponent 2 * 0.55).
        key: a typed PRNG key (``jax.random.key(seed)``), a legacy
            ``jax.random.PRNGKey(seed)`` (``uint32[2]``, same stream as
            ``jax.random.key(seed)``) or an int seed; keyword-only so that the noise
            stream is always chosen explicitly. Anything else is refused here.

    ``sigma0`` and ``kappa`` may be traced (``optax.inject_hyperparams``,
    ``jax.vmap``); only concrete values are checked.

    Returns:
        An optax gradient transformation with state ``optax.AddNoiseState(count,
        rng_key)``; equal to ``optax.add_noise(eta=sigma0**2, gamma=2*kappa, key=key)``.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from jaxdl.optim import add_gradient_noise
        >>> tx = add_gradient_noise(0.1, key=jax.random.key(0))
        >>> state = tx.init(jnp.zeros(3))
        >>> u, state = tx.update(jnp.zeros(3), state)  # one N(0, 0.1^2) draw per weight
        >>> u.shape, int(state.count)
        ((3,), 1)
        >>> legacy = add_gradient_noise(0.1, key=jax.random.PRNGKey(0))  # same stream
        >>> bool((legacy.update(jnp.zeros(3), legacy.init(jnp.zeros(3)))[0] == u).all())
        True

    References:
        Neelakantan et al., "Adding Gradient Noise Improves Learning for Very Deep
        Networks", 2015, arXiv:1511.06807.
    """
    for name, value in (("sigma0", sigma0), ("kappa", kappa)):
        values = concrete_reals(name, value)  # None when traced
        if values is not None and not np.all(np.isfinite(values) & (values >= 0)):
            raise ValueError(f"{name} must be finite and >= 0, got {value}.")
    return optax.add_noise(eta=sigma0**2, gamma=2.0 * kappa, key=as_key(key, "add_gradient_noise"))
