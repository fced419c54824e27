"""Curriculum learning: batches drawn from the easiest examples first, then from all.

Each training example gets a difficulty score (higher = harder, e.g. the loss of a
reference model). The examples are ranked easiest first (``difficulty_ranks``). A
pacing function ``g(t)`` in ``(0, 1]`` gives the fraction of the ranking available at
training step ``t``; the batch of step ``t`` is drawn uniformly WITHOUT replacement
from the first

    n_t = min(N, max(B, ceil(g(t) N)))

ranked examples (B: batch size, N: training examples). ``g`` grows from ``start`` at
step 0 to 1 at step ``T = round(full_at * total_steps)`` and stays there, so after
``T`` every batch is a uniform draw from the whole split (per batch: an example may
come back in the next batch of the same epoch, unlike the baseline's permutation).

Pacing functions (``t`` the step, ``c0 = start``, ``tau = min(t / T, 1)``):

  - ``linear``: ``g(t) = c0 + (1 - c0) tau`` (Platanios et al.'s linear competence).
  - ``root``: ``g(t) = (c0^p + (1 - c0^p) tau)^(1/p)``, p = 2 (their square-root
    competence: many examples are added early and fewer later, since the later an
    example arrives the fewer steps remain to learn it).
  - ``exponential``: ``g(t) = min(1, c0 inc^floor(t K / T))``, inc = 2, with
    ``K = ceil(log(1 / c0) / log(inc))`` stages of ``T / K`` steps: Hacohen &
    Weinshall's fixed exponential pacing, a step function that doubles the pool at
    each stage, the K-th stage (at t = T) being the whole split.

``class_balanced_scores`` turns scores into within-class quantiles, so that every pool
holds each class in proportion (a loss ranking alone can leave classes out early).

The epoch order (``curriculum_order``) is computed on device, one ``lax.map`` step per
batch (memory O(N)): the batch of a step is the top-B of independent uniform keys with
every rank at or beyond ``n_t`` masked out, which is a uniform B-subset of the allowed
pool. It is a pure function of ``(key, epoch)``, so a resumed run sees exactly the same
batches as an uninterrupted one.

References:
  Bengio, Louradour, Collobert, Weston. Curriculum learning. ICML 2009.
  Platanios, Stretcu, Neubig, Poczos, Mitchell. Competence-based curriculum learning
  for neural machine translation. NAACL 2019 (linear and root competence functions).
  Hacohen, Weinshall. On the power of curriculum learning in training deep networks.
  ICML 2019 (pacing functions; fixed exponential pacing).
"""

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

PACINGS = ("linear", "root", "exponential")
ROOT_POWER = 2.0  # Platanios et al.'s "sqrt" competence
EXPONENTIAL_INC = 2.0  # Hacohen & Weinshall's growth factor per stage

EpochOrder = Callable[[jax.Array, int], jax.Array]


def check_pacing(pacing: str, start: float, full_at: float) -> None:
    """Raises ValueError naming the problem if a pacing's parameters are invalid.

    Args:
      pacing: one of ``PACINGS``.
      start: fraction of the examples available at step 0, in (0, 1].
      full_at: fraction of the training steps after which all are available, in [0, 1].
    """
    if pacing not in PACINGS:
        raise ValueError(f"Unknown curriculum pacing {pacing!r}; choose one of {PACINGS}.")
    if not 0 < start <= 1:
        raise ValueError(
            f"Curriculum start={start} must be in (0, 1]: the fraction of the easiest "
            "examples available at step 0 (1 = no curriculum)."
        )
    if not 0 <= full_at <= 1:
        raise ValueError(
            f"Curriculum full_at={full_at} must be in [0, 1]: the fraction of the training "
            "steps after which every example is available."
        )


def full_step(total_steps: int, full_at: float) -> int:
    """``T = round(full_at * total_steps)``: the first step with every example available."""
    return int(round(full_at * total_steps))


def linear_pacing(t: np.ndarray, full: int, start: float) -> np.ndarray:
    """Platanios et al.'s linear competence ``g(t) = min(1, c0 + (1 - c0) t / T)``."""
    return start + (1.0 - start) * _progress(t, full)


def root_pacing(t: np.ndarray, full: int, start: float, power: float = ROOT_POWER) -> np.ndarray:
    """Platanios et al.'s root competence ``g(t) = min(1, (c0^p + (1 - c0^p) t / T)^(1/p))``."""
    c0p = start**power
    return (c0p + (1.0 - c0p) * _progress(t, full)) ** (1.0 / power)


def exponential_pacing(
    t: np.ndarray, full: int, start: float, inc: float = EXPONENTIAL_INC
) -> np.ndarray:
    """Hacohen & Weinshall's fixed exponential pacing, full at step ``T``.

    ``g(t) = min(1, c0 inc^floor(t K / T))`` with ``K = ceil(log(1/c0) / log(inc))``
    stages of ``T / K`` steps each (``K = 0``: ``c0 = 1``, always full).
    """
    t = np.asarray(t, np.int64)
    stages = max(0, math.ceil(math.log(1.0 / start) / math.log(inc) - 1e-12))
    if stages == 0 or full <= 0:
        return np.ones(t.shape)
    k = (t * stages) // full  # integer arithmetic: stage boundaries are exact
    return np.minimum(1.0, start * inc ** k.astype(np.float64))


def pacing_fraction(
    pacing: str, t: np.ndarray, total_steps: int, start: float, full_at: float
) -> np.ndarray:
    """``g(t)``: fraction of the easiest examples available at steps ``t`` (float64).

    Example:
      >>> pacing_fraction("linear", np.array([0, 50, 100]), 100, 0.2, 0.5)
      array([0.2, 1. , 1. ])
    """
    check_pacing(pacing, start, full_at)
    fn = {"linear": linear_pacing, "root": root_pacing, "exponential": exponential_pacing}
    g = fn[pacing](np.asarray(t), full_step(total_steps, full_at), start)
    return np.minimum(1.0, np.asarray(g, np.float64))


def pool_sizes(
    pacing: str,
    t: np.ndarray,
    total_steps: int,
    num_examples: int,
    batch_size: int,
    start: float,
    full_at: float,
) -> np.ndarray:
    """``n_t = min(N, max(B, ceil(g(t) N)))``, int32, for the steps ``t``.

    ``g(t) N`` is rounded to 6 decimals before the ceiling, so float round-off (e.g.
    0.2 * 60000 = 12000.000000000002) does not add an example.
    """
    g = pacing_fraction(pacing, t, total_steps, start, full_at)
    n = np.ceil(np.round(g * num_examples, 6)).astype(np.int64)
    return np.clip(n, batch_size, num_examples).astype(np.int32)


def difficulty_ranks(scores: np.ndarray) -> np.ndarray:
    """Example indices sorted easiest first (ascending score; ties keep index order).

    Args:
      scores: [N] finite per-example difficulty (higher = harder).

    Returns:
      int32 [N]: ``ranking[r]`` is the example of rank ``r``.

    Example:
      >>> difficulty_ranks(np.array([0.5, 0.1, 0.5, 0.0]))
      array([3, 1, 0, 2], dtype=int32)
    """
    scores = np.asarray(scores)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(
            f"Difficulty scores must be a non-empty 1-D array (one per training example), "
            f"got shape {scores.shape}."
        )
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(
        scores.dtype, np.complexfloating
    ):
        raise ValueError(f"Difficulty scores must be real numbers, got dtype {scores.dtype}.")
    if not np.all(np.isfinite(scores)):
        bad = np.flatnonzero(~np.isfinite(scores))[:5]
        raise ValueError(
            f"Difficulty scores must be finite numbers; examples {bad.tolist()} are not. "
            "Recompute the scores (e.g. a reference model whose loss diverged)."
        )
    return np.argsort(scores, kind="stable").astype(np.int32)


def class_balanced_scores(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Scores whose ranking keeps every prefix class-balanced: within-class quantiles.

    An example of class c with within-class rank ``r`` (0 = easiest of its class, ties
    in index order) gets ``(r + 1/2) / N_c``. Any prefix of the ranking of these scores
    then holds each class in proportion to its size (within about one example), while
    inside a class the order is still easiest first. A loss-based ranking alone can
    leave whole classes out of the first pools (e.g. Fashion-MNIST's trousers are easy,
    its shirts hard).

    Args:
      scores: [N] difficulty (higher = harder).
      labels: [N] integer class labels.

    Returns:
      float64 [N] in (0, 1).

    Example:
      >>> class_balanced_scores(np.array([5.0, 1.0, 9.0, 2.0]), np.array([0, 0, 1, 1]))
      array([0.75, 0.25, 0.75, 0.25])
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(
            f"scores {scores.shape} and labels {labels.shape} must be 1-D of the same length."
        )
    out = np.empty(len(scores), np.float64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank = np.empty(len(idx))
        rank[np.argsort(scores[idx], kind="stable")] = np.arange(len(idx))
        out[idx] = (rank + 0.5) / len(idx)
    return out


@functools.partial(jax.jit, static_argnames="batch_size")
def sample_epoch(
    key: jax.Array, epoch: jax.Array, ranking: jax.Array, sizes: jax.Array, batch_size: int
) -> jax.Array:
    """One epoch's example indices: batch ``i`` is a uniform B-subset of ranks ``< sizes[i]``.

    Step ``i`` draws ``u ~ U[0, 1)^N`` from ``fold_in(fold_in(key, epoch), i)``, sets
    ``u_r = -1`` for every rank ``r >= sizes[i]`` and keeps the ranks of the top-B
    values: with ``sizes[i] >= B`` these are B distinct allowed ranks, every B-subset
    equally likely (the order statistics of i.i.d. keys are exchangeable).

    Args:
      key: the run's data key.
      epoch: epoch number (traced: no recompilation per epoch).
      ranking: int32 [N] example indices, easiest first (``difficulty_ranks``).
      sizes: int32 [S] pool size of each step of the epoch, in [B, N].
      batch_size: B (static).

    Returns:
      int32 [S * B] example indices; batch ``i`` is entries ``[i B, (i + 1) B)``.
    """
    n = ranking.shape[0]
    epoch_key = jax.random.fold_in(key, epoch)
    rank = jnp.arange(n)

    def one_batch(args):
        i, size = args
        u = jax.random.uniform(jax.random.fold_in(epoch_key, i), (n,))  # [N]
        _, ranks = jax.lax.top_k(jnp.where(rank < size, u, -1.0), batch_size)  # [B]
        return ranking[ranks]

    steps = jnp.arange(sizes.shape[0], dtype=jnp.int32)
    return jax.lax.map(one_batch, (steps, sizes)).reshape(-1).astype(jnp.int32)


def curriculum_order(
    ranking: np.ndarray,
    *,
    batch_size: int,
    steps_per_epoch: int,
    total_steps: int,
    pacing: str = "linear",
    start: float = 0.2,
    full_at: float = 0.5,
) -> EpochOrder:
    """The ``epoch_order`` of ``jaxdl.training.loop.fit`` for a curriculum.

    Args:
      ranking: int32 [N] example indices, easiest first (``difficulty_ranks``).
      batch_size: B.
      steps_per_epoch: S (``loader.steps_per_epoch(N, B)``).
      total_steps: steps of the whole run (``num_epochs * S``): the pacing's time axis.
      pacing: one of ``PACINGS``.
      start: fraction available at step 0.
      full_at: fraction of ``total_steps`` after which every example is available.

    Returns:
      ``(key, epoch) -> int32 [S * B]``, a pure function of its arguments.

    Example:
      >>> losses = np.random.default_rng(0).random(64)  # e.g. a reference model's losses
      >>> order = curriculum_order(difficulty_ranks(losses), batch_size=8,
      ...                          steps_per_epoch=8, total_steps=24)
      >>> idx = order(jax.random.key(0), 0)  # epoch 0: what loop.fit(..., epoch_order=order) uses
      >>> idx.shape, idx.dtype
      ((64,), dtype('int32'))
    """
    check_pacing(pacing, start, full_at)
    n = len(ranking)
    if n < batch_size:
        raise ValueError(f"The ranking has {n} examples, fewer than one batch of {batch_size}.")
    if sorted(np.asarray(ranking).tolist()) != list(range(n)):
        raise ValueError("ranking must be a permutation of range(N) (see difficulty_ranks).")
    ranking_device = jnp.asarray(ranking, jnp.int32)

    def order(key: jax.Array, epoch: int) -> jax.Array:
        steps = int(epoch) * steps_per_epoch + np.arange(steps_per_epoch)
        sizes = pool_sizes(pacing, steps, total_steps, n, batch_size, start, full_at)
        return sample_epoch(key, jnp.asarray(epoch, jnp.int32), ranking_device, sizes, batch_size)

    return order


def _progress(t: np.ndarray, full: int) -> np.ndarray:
    """``tau = min(t / T, 1)``; ``T = 0`` means full from the first step."""
    t = np.asarray(t, np.float64)
    return np.ones_like(t) if full <= 0 else np.minimum(t / full, 1.0)
