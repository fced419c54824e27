"""Normalized weight initializations of the course (section 1): Xavier, He and Kumar.

Each factory returns a standard JAX initializer ``init(key, shape, dtype) -> array``
usable as a Flax ``kernel_init``. Weights get zero mean and standard deviation

  - ``xavier``: sigma = 1 / sqrt(N)                      (identity / tanh units)
  - ``he``:     sigma = sqrt(2 / N)                      (ReLU units)
  - ``kumar``:  sigma^2 = 1 / (N g'(0)^2 (1 + g(0)^2))   (any g differentiable at 0)

where N is the fan-in: ``shape[-2]`` times the receptive field ``prod(shape[:-2])``,
i.e. ``in`` for a dense ``[in, out]`` kernel and ``kh * kw * cin`` for a conv
``[kh, kw, cin, cout]`` kernel (Flax layouts). ``distribution='normal'`` draws an
untruncated Gaussian N(0, sigma^2); ``'uniform'`` draws U(-sqrt(3) sigma, sqrt(3) sigma),
which has the same variance. Biases are initialized to zero (Flax's default).

How this differs from the Flax/JAX built-ins (``jax.nn.initializers``):
  - ``lecun_normal`` (Flax's default ``Dense``/``Conv`` kernel init) has the course's
    Xavier variance 1/N but is a *truncated* normal (cut at 2 std, std rescaled by
    1/0.8796 so the variance is still 1/N); ``xavier(...)`` here is untruncated.
  - ``glorot_normal``/``glorot_uniform`` use the fan *average* (fan_in + fan_out) / 2,
    i.e. variance 2 / (fan_in + fan_out), not the course's 1/N on the fan-in.
  - ``he_normal`` is a truncated normal with variance 2/N; ``he(...)`` is untruncated.
    ``he_uniform`` matches ``he('uniform')`` in distribution.
  - ``kumar`` has no built-in: its gain is derived by autodiff from the activation.
  - PyTorch's default ``Linear``/``Conv`` init is U(-1/sqrt(N), 1/sqrt(N)), variance
    1/(3N): a third of Xavier's.

References:
  Glorot, Bengio. Understanding the difficulty of training deep feedforward neural
  networks. AISTATS 2010.
  He, Zhang, Ren, Sun. Delving deep into rectifiers: surpassing human-level performance
  on ImageNet classification. ICCV 2015.
  Kumar. On weight initialization in deep neural networks. arXiv:1704.08863, 2017.
"""

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["fan_in", "he", "kumar", "kumar_gain", "xavier"]

Initializer = Callable[..., jax.Array]

_DISTRIBUTIONS = ("normal", "uniform")


def fan_in(shape: Sequence[int]) -> int:
    """Fan-in N of a dense ``[in, out]`` or conv ``[*spatial, cin, cout]`` kernel.

    Args:
      shape: kernel shape, at least 2-D (last axis = outputs, second-to-last = inputs).

    Returns:
      ``prod(shape[:-1])``, the number of inputs feeding each output unit.

    Example:
      >>> fan_in((3, 3, 16, 32))  # 3 * 3 * 16
      144
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan-in needs a kernel of at least 2 dims ([in, out] or [kh, kw, cin, cout]); "
            f"got shape {shape}. Initialize biases and 1-D parameters with zeros instead."
        )
    n = math.prod(shape[:-1])
    if n <= 0:
        raise ValueError(f"kernel shape {shape} has an empty fan-in")
    return n


def _check_distribution(distribution: str) -> None:
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")


def _scaled(gain2: float, distribution: str) -> Initializer:
    """Initializer with variance ``gain2 / N``; every public factory goes through here,
    so equal gains give bit-identical samples for the same key."""
    _check_distribution(distribution)

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        sigma = math.sqrt(gain2 / fan_in(shape))
        if distribution == "normal":
            return sigma * jax.random.normal(key, tuple(shape), dtype)
        # U(-a, a) has variance a^2 / 3, so a = sqrt(3) sigma keeps the variance.
        a = math.sqrt(3.0) * sigma
        return jax.random.uniform(key, tuple(shape), dtype, -a, a)

    return init


def xavier(distribution: str = "normal") -> Initializer:
    """Xavier/Glorot initialization on the fan-in: sigma = 1/sqrt(N).

    Args:
      distribution: ``'normal'`` (untruncated Gaussian) or ``'uniform'``.

    Returns:
      An initializer ``(key, shape, dtype=float32) -> array``.

    Example:
      >>> layer = nn.Dense(128, kernel_init=xavier())
      >>> w = xavier()(jax.random.key(0), (256, 128))
      >>> w.shape, round(float(w.var() * 256), 1)  # N sigma^2 = 1
      ((256, 128), 1.0)
    """
    return _scaled(1.0, distribution)


def he(distribution: str = "normal") -> Initializer:
    """He initialization for ReLU units: sigma = sqrt(2/N).

    Args:
      distribution: ``'normal'`` (untruncated Gaussian) or ``'uniform'``.

    Returns:
      An initializer ``(key, shape, dtype=float32) -> array``.

    Example:
      >>> conv = nn.Conv(64, (3, 3), kernel_init=he())
      >>> w = he()(jax.random.key(0), (3, 3, 64, 128))
      >>> w.shape, round(float(w.var() * 3 * 3 * 64), 1)  # N sigma^2 = 2
      ((3, 3, 64, 128), 2.0)
    """
    return _scaled(2.0, distribution)


def kumar_gain(activation: Callable[[jax.Array], jax.Array]) -> float:
    """Kumar's variance gain ``1 / (g'(0)^2 (1 + g(0)^2))``, with g(0) and g'(0) by JAX.

    The derivative comes from ``jax.grad``. At a kink autodiff returns an arbitrary
    subgradient (``jax.grad(lambda a: jnp.maximum(a, 0))(0.)`` is 0.5, ``jax.nn.relu``
    gives 0), so differentiability at 0 is checked: the derivatives at -h and +h
    (h = 1e-3) must agree with g'(0) to 2% (a smooth g changes by O(h) there). ReLU,
    leaky ReLU and ELU with alpha != 1 fail this check and raise; use ``he()`` for ReLU.

    Args:
      activation: scalar function g, e.g. ``jnp.tanh`` or ``functools.partial(elu, alpha=1.)``.

    Returns:
      The gain as a Python float (1 for tanh, 16 / (1 + 1/4) = 12.8 for the sigmoid).

    Raises:
      ValueError: g(0) or g'(0) not finite, g'(0) = 0 (e.g. ``jax.nn.relu``), or g not
        differentiable at 0 (e.g. ``jnp.maximum(a, 0)``, whose autodiff slope at 0 is 0.5).

    Example:
      >>> round(kumar_gain(jax.nn.sigmoid), 4), round(kumar_gain(jnp.tanh), 4)
      (12.8, 1.0)
    """
    grad = jax.grad(lambda a: jnp.asarray(activation(a), jnp.float32).sum())
    name = getattr(activation, "__name__", repr(activation))
    h = 1e-3
    # Eager even when called while tracing (e.g. inside a jitted ``model.init``).
    with jax.ensure_compile_time_eval():
        g0 = float(jnp.asarray(activation(jnp.float32(0.0))).sum())
        d0, left, right = (float(grad(jnp.float32(a))) for a in (0.0, -h, h))
    if not (np.isfinite(g0) and np.isfinite(d0)):
        raise ValueError(f"kumar: g(0)={g0} or g'(0)={d0} of {name} is not finite")
    if d0 == 0.0:
        raise ValueError(
            f"kumar: g'(0) = 0 for {name} (as JAX differentiates it), so sigma would be "
            f"infinite. ReLU is not differentiable at 0 (jax.nn.relu reports 0 there): "
            f"use he() for ReLU units."
        )
    if max(abs(left - d0), abs(right - d0)) > 0.02 * max(abs(d0), abs(left), abs(right)):
        raise ValueError(
            f"kumar: {name} is not differentiable at 0 (derivative {left:.3g} just left of 0, "
            f"{d0:.3g} at 0, {right:.3g} just right): Kumar's formula does not apply. "
            f"For ReLU use he(); for other piecewise-linear units derive the gain by hand."
        )
    return 1.0 / (d0 * d0 * (1.0 + g0 * g0))


def kumar(
    activation: Callable[[jax.Array], jax.Array], distribution: str = "normal"
) -> Initializer:
    """Kumar's initialization for any activation g differentiable at 0.

    sigma^2 = 1 / (N g'(0)^2 (1 + g(0)^2)); g(0) and g'(0) are computed once, eagerly,
    by JAX from ``activation`` (see ``kumar_gain``). With ``tanh`` this is exactly
    ``xavier`` (same samples for the same key).

    Args:
      activation: the unit's activation function g.
      distribution: ``'normal'`` (untruncated Gaussian) or ``'uniform'``.

    Returns:
      An initializer ``(key, shape, dtype=float32) -> array``.

    Raises:
      ValueError: bad ``distribution`` or an activation Kumar's formula cannot handle.

    Example:
      >>> layer = nn.Dense(256, kernel_init=kumar(jax.nn.sigmoid))
      >>> w = kumar(jax.nn.sigmoid)(jax.random.key(0), (512, 256))
      >>> round(float(w.var() * 512), 1)  # N sigma^2 = 12.8
      12.8
    """
    _check_distribution(distribution)
    return _scaled(kumar_gain(activation), distribution)
