"""Metrics: mergeable evaluation metrics, top-k accuracy/error, the confusion matrix.

An evaluation step returns a dict of **mergeable metrics** (``clu.metrics.Metric``
objects: sufficient statistics such as a sum and a count, or per-class pixel counts),
built from one batch inside ``jax.jit``. With the batch sharded over a mesh, the sums
inside ``from_model_output`` are cross-device sums already, so one batch gives the same
statistics on 1 or 8 devices. ``merge_metrics`` accumulates them over batches and
``compute_metrics`` turns the totals into named floats once, at the end: ratios of
totals (an exact mean over every example, an IoU over the whole set), never means of
per-batch ratios.

Every other function is a pure ``jnp`` function of device arrays, safe under ``jax.jit``.
Per-example metrics return a ``[B]`` float array so that the caller can mask padded
examples or weight them before averaging.

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional
  neural networks. NeurIPS 2012 (top-1 / top-5 error as the ILSVRC measures).
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from clu.metrics import Average, Metric

__all__ = [
    "Average",
    "Metric",
    "compute_metrics",
    "confusion_matrix",
    "merge_metrics",
    "top_k_accuracy",
    "top_k_error",
]

Metrics = Mapping[str, Metric]


def merge_metrics(a: Metrics, b: Metrics) -> dict[str, Metric]:
    """Accumulates two dicts of mergeable metrics (same names), e.g. two batches' metrics.

    Example:
      >>> a = {"loss": Average.from_model_output(jnp.array([1.0, 2.0]))}
      >>> b = {"loss": Average.from_model_output(jnp.array([6.0]))}
      >>> compute_metrics(merge_metrics(a, b))
      {'loss': 3.0}
    """
    if set(a) != set(b):
        raise ValueError(f"Cannot merge metrics with different names: {sorted(a)} vs {sorted(b)}.")
    return {k: a[k].merge(b[k]) for k in a}


def compute_metrics(metrics: Metrics, prefix: str = "") -> dict[str, float]:
    """Named Python floats of merged metrics, ``'<prefix>_<name>'`` (``'<name>'`` without one).

    A metric whose ``compute()`` returns a dict (e.g. per-class IoUs and their mean)
    contributes one entry per key of that dict, named ``'<prefix>_<key>'``.

    Example:
      >>> m = {"accuracy": Average.from_model_output(jnp.array([1.0, 0.0, 1.0, 1.0]))}
      >>> compute_metrics(m, "val")
      {'val_accuracy': 0.75}
    """
    out: dict[str, float] = {}
    for name, metric in jax.device_get(dict(metrics)).items():
        value = metric.compute()
        items = value.items() if isinstance(value, Mapping) else [(name, value)]
        for key, v in items:
            out[f"{prefix}_{key}" if prefix else key] = float(np.asarray(v))
    return out


def _check(logits: jax.Array, labels: jax.Array, k: int) -> None:
    if logits.ndim != 2:
        raise ValueError(
            f"logits must be [B, num_classes], got shape {logits.shape}; "
            "flatten extra axes (e.g. pixels) into the batch axis first."
        )
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels must be integer class indices of shape [B]={logits.shape[:1]}, got "
            f"{labels.shape}; convert one-hot labels with argmax(-1)."
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}.")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= logits.shape[1]:
        raise ValueError(
            f"k must be a Python int in [1, num_classes={logits.shape[1]}], got {k!r}."
        )


def top_k_accuracy(logits: jax.Array, labels: jax.Array, k: int = 1) -> jax.Array:
    """Per-example top-k correctness: 1.0 if the label is among the k highest scores.

    Ties are broken like ``jnp.argmax`` and ``jax.lax.top_k`` (the lower class index
    ranks first), so ``k=1`` equals ``argmax(logits) == labels`` exactly and constant
    logits never count as correct. A NaN score for the true class counts as wrong.
    Works on logits or probabilities (any monotone transform gives the same ranks).
    Costs O(B * num_classes) comparisons, no sort.

    Args:
      logits: ``[B, C]`` scores.
      labels: ``[B]`` integer class indices.
      k: how many top classes count (1 for top-1, 5 for the ImageNet top-5).

    Returns:
      ``[B]`` float32 array of 0.0/1.0; ``mean`` it (or weight it) for the accuracy.

    Example:
      >>> top_k_accuracy(jnp.array([[0.1, 0.7, 0.2]]), jnp.array([2]), k=2)
      Array([1.], dtype=float32)
    """
    _check(logits, labels, k)
    true_score = jnp.take_along_axis(logits, labels[:, None], axis=1)  # [B, 1]
    classes = jnp.arange(logits.shape[1])[None, :]  # [1, C]
    # Rank of the true class (0 = best) with argmax's lower-index-first tie rule.
    ahead = (logits > true_score) | ((logits == true_score) & (classes < labels[:, None]))
    rank = jnp.sum(ahead, axis=1)  # [B]
    correct = (rank < k) & ~jnp.isnan(true_score[:, 0])
    return correct.astype(jnp.float32)


def top_k_error(logits: jax.Array, labels: jax.Array, k: int = 1) -> jax.Array:
    """Per-example top-k error, ``1 - top_k_accuracy`` (the ILSVRC measure for k=5).

    Args:
      logits: ``[B, C]`` scores.
      labels: ``[B]`` integer class indices.
      k: how many top classes count.

    Returns:
      ``[B]`` float32 array of 0.0/1.0.

    Example:
      >>> logits = jnp.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
      >>> top_k_error(logits, jnp.array([2, 2]), k=2)  # the second example misses its top 2
      Array([0., 1.], dtype=float32)
    """
    return 1.0 - top_k_accuracy(logits, labels, k)


def confusion_matrix(
    labels: jax.Array,
    predictions: jax.Array,
    num_classes: int,
    weights: jax.Array | None = None,
) -> jax.Array:
    """Counts ``M[i, j]`` of examples with true class i predicted as class j.

    Built as ``onehot(labels)^T @ onehot(predictions)`` so that it is a plain
    reduction over the (possibly sharded) batch axis. Indices outside
    ``[0, num_classes)`` contribute nothing (``jax.nn.one_hot`` gives a zero row), which
    lets padding use label -1.

    Args:
      labels: ``[B]`` integer true classes.
      predictions: ``[B]`` integer predicted classes (e.g. ``logits.argmax(-1)``).
      num_classes: C.
      weights: optional ``[B]`` per-example weights (e.g. a 0/1 mask for padding).

    Returns:
      ``[C, C]`` float32 matrix; rows are true classes, columns predictions.

    Example:
      >>> confusion_matrix(jnp.array([0, 1, 1]), jnp.array([0, 0, 1]), 2)
      Array([[1., 0.],
             [1., 1.]], dtype=float32)
    """
    if labels.ndim != 1 or predictions.shape != labels.shape:
        raise ValueError(
            f"labels and predictions must both be [B]; got {labels.shape} and "
            f"{predictions.shape}. Pass class indices, e.g. logits.argmax(-1)."
        )
    if weights is not None and weights.shape != labels.shape:
        raise ValueError(f"weights must be [B]={labels.shape}, got {weights.shape}.")
    truth = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)  # [B, C]
    if weights is not None:
        truth = truth * weights.astype(jnp.float32)[:, None]
    pred = jax.nn.one_hot(predictions, num_classes, dtype=jnp.float32)  # [B, C]
    return truth.T @ pred
