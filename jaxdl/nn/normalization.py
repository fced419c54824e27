"""Glue for Flax's BatchNorm and Dropout: one call that applies a model in train or eval mode.

Models use Flax's layers directly, switched by the ``train: bool`` call argument:

  - ``nn.BatchNorm(use_running_average=not train)``: the course's
    a_BN = beta + alpha (a - mu) / sqrt(sigma^2 + eps). In training mu and sigma^2 are
    the batch mean and (biased) variance and the running averages in the ``batch_stats``
    collection are updated as ``r <- momentum r + (1 - momentum) stat`` (Flax's momentum
    m is PyTorch's 1 - m: Flax's default 0.99 is PyTorch's 0.01, PyTorch's default 0.1 is
    Flax's 0.9; PyTorch's running variance is unbiased, Flax's is the biased batch
    variance). In evaluation the running averages are used and nothing changes.
  - ``nn.Dropout(rate, deterministic=not train)``: *inverted* dropout. In training each
    unit is kept with probability p = 1 - rate and kept units are scaled by 1/p, so
    expectations already match at test time, where dropout is the identity. Note the
    course's p is the KEEP probability (p = .5 hidden, p ~ 1 input); Flax's ``rate`` is
    the DROP probability: rate = 1 - p. The mask comes from the ``'dropout'`` RNG stream.

Data parallelism: under ``jax.jit`` with the batch sharded over a mesh's ``'data'`` axis
and the variables replicated, BatchNorm's mean/variance are reductions over the whole
(global) batch, so XLA inserts the cross-device all-reduce itself: statistics are
synchronized over all devices with no ``axis_name`` (that argument is only for
``shard_map``/``pmap`` code). The dropout mask is the same on 1 and N devices because
JAX's default ``jax_threefry_partitionable`` random bits do not depend on sharding.
``tests/test_normalization.py`` checks both claims on 8 devices.

References:
  Ioffe, Szegedy. Batch normalization: accelerating deep network training by reducing
  internal covariate shift. ICML 2015.
  Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov. Dropout: a simple way to
  prevent neural networks from overfitting. JMLR 2014.
"""

from collections.abc import Callable
from typing import Any

import jax

__all__ = ["apply_model", "split_variables"]


def split_variables(variables: Any) -> tuple[Any, dict]:
    """Split Flax variables into ``params`` and the mutable model state.

    Args:
      variables: the dict returned by ``model.init`` (``{'params': ..., 'batch_stats': ...}``).

    Returns:
      ``(params, model_state)`` where ``model_state`` holds every other collection
      (``{}`` for a model without BatchNorm; ``params`` is ``{}`` for a parameter-free one).

    Example:
      >>> class Net(nn.Module):
      ...     @nn.compact
      ...     def __call__(self, x, train):
      ...         x = nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x))
      ...         return nn.Dropout(0.5, deterministic=not train)(x)
      >>> x = jnp.ones((2, 3))
      >>> params, model_state = split_variables(Net().init(jax.random.key(0), x, train=False))
      >>> sorted(params), sorted(model_state)
      (['BatchNorm_0', 'Dense_0'], ['batch_stats'])
    """
    variables = dict(variables)
    # A parameter-free model (e.g. only Dropout) has no 'params' collection at all.
    params = variables.pop("params", {})
    return params, variables


def apply_model(
    apply_fn: Callable[..., Any],
    params: Any,
    model_state: dict,
    *args: Any,
    train: bool,
    rng: jax.Array | None = None,
    **kwargs: Any,
) -> tuple[Any, dict]:
    """Apply a Flax model in train or eval mode, handling ``batch_stats`` and dropout RNG.

    In train mode the model-state collections (``batch_stats``) are mutable and their
    updated values are returned, and ``rng`` feeds the ``'dropout'`` stream. In eval
    mode nothing is mutable, ``rng`` is ignored and ``model_state`` comes back unchanged,
    so evaluation is deterministic.

    Args:
      apply_fn: a Flax module's ``apply`` (e.g. ``model.apply`` or ``TrainState.apply_fn``);
        the module's ``__call__`` takes a ``train: bool`` keyword.
      params: the ``'params'`` collection.
      model_state: the other collections (e.g. ``{'batch_stats': ...}``), possibly ``{}``.
      *args: model inputs, e.g. the image batch ``# [B, H, W, C]``.
      train: training mode (batch statistics, dropout active) or evaluation.
      rng: dropout key for this step (e.g. ``fold_in(state.rng, state.step)``); needed in
        train mode when the model has Dropout.
      **kwargs: extra keyword arguments for the model call.

    Returns:
      ``(outputs, new_model_state)``.

    Example:
      >>> class Net(nn.Module):
      ...     @nn.compact
      ...     def __call__(self, x, train):
      ...         x = nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x))
      ...         return nn.Dropout(0.5, deterministic=not train)(x)
      >>> model, x = Net(), jnp.arange(6.0).reshape(2, 3)
      >>> params, model_state = split_variables(model.init(jax.random.key(0), x, train=False))
      >>> logits, new_state = apply_model(
      ...     model.apply, params, model_state, x, train=True, rng=jax.random.key(1)
      ... )
      >>> logits.shape, sorted(new_state)
      ((2, 4), ['batch_stats'])
      >>> _, same_state = apply_model(model.apply, params, model_state, x, train=False)
      >>> same_state is model_state  # evaluation changes nothing
      True
    """
    variables = {"params": params, **model_state}
    if not train:
        return apply_fn(variables, *args, train=False, **kwargs), model_state
    rngs = {} if rng is None else {"dropout": rng}
    if not model_state:
        return apply_fn(variables, *args, train=True, rngs=rngs, **kwargs), model_state
    outputs, updates = apply_fn(
        variables, *args, train=True, rngs=rngs, mutable=list(model_state), **kwargs
    )
    return outputs, {**model_state, **updates}
