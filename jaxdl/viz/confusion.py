"""Confusion matrix of a classifier on a split: counts, a PNG heat map and a JSON file.

``M[i, j]`` counts the examples of true class i predicted as class j
(``jaxdl.training.metrics.confusion_matrix``, summed over batches). Rows are
normalized in the picture (each row shows where a class goes; the counts are
printed in the cells), never in the JSON, which keeps the raw counts.
"""

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.nn.normalization import apply_model
from jaxdl.training.metrics import confusion_matrix
from jaxdl.viz.plots import new_figure, save_figure

__all__ = ["plot_confusion", "predict_confusion", "save_confusion"]


def predict_confusion(
    apply_fn: Callable,
    params: Any,
    model_state: dict,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    preprocess: Callable[[jax.Array], jax.Array] = lambda x: x,
    batch_size: int = 500,
) -> np.ndarray:
    """The ``[C, C]`` int64 confusion matrix of a model (evaluation mode) on a split.

    Args:
      apply_fn: the Flax module's ``apply``.
      params: its ``params``; model_state: the other collections (``batch_stats``).
      images: raw split images [N, H, W, C]; labels: [N] integer classes.
      num_classes: C.
      preprocess: ``images -> model inputs`` (e.g. scaling and standardization).
      batch_size: examples per forward pass (the last batch is padded and masked).

    Example:
      >>> class Classifier(nn.Module):
      ...     @nn.compact
      ...     def __call__(self, x, train):
      ...         return nn.Dense(3)(x.reshape(len(x), -1))
      >>> model = Classifier()
      >>> x = np.random.default_rng(0).normal(size=(10, 2, 2, 1)).astype(np.float32)
      >>> y = np.arange(10) % 3
      >>> params = model.init(jax.random.key(0), x, train=False)["params"]
      >>> m = predict_confusion(model.apply, params, {}, x, y, 3, batch_size=4)
      >>> m.shape, m.dtype, int(m.sum())  # every example counted once (last batch padded)
      ((3, 3), dtype('int64'), 10)
    """

    @jax.jit
    def counts(images, labels, mask):
        out, _ = apply_model(apply_fn, params, model_state, preprocess(images), train=False)
        logits = out[0] if isinstance(out, tuple | list) else out  # auxiliary heads dropped
        return confusion_matrix(labels, logits.argmax(-1), num_classes, mask)

    n = len(labels)
    total = np.zeros((num_classes, num_classes), np.int64)
    for start in range(0, n, batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        mask = np.ones(batch_size, np.float32)
        if len(y) < batch_size:  # pad: one compiled shape
            mask[len(y) :] = 0
            x = np.concatenate([x, np.zeros((batch_size - len(y), *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros(batch_size - len(y), y.dtype)])
        total += np.rint(np.asarray(counts(jnp.asarray(x), jnp.asarray(y), mask))).astype(np.int64)
    return total


def plot_confusion(
    matrix: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Row-normalized heat map with the counts in the cells, as PNG."""
    m = np.asarray(matrix)
    C = len(m)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * C + 2)
    fig, ax = new_figure(figsize=(size, size))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    if C <= 20:
        for i in range(C):
            for j in range(C):
                color = "white" if rows[i, j] > 0.5 else "black"
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7, color=color)
    ticks = range(C)
    ax.set_xticks(ticks, [str(c) for c in class_names], rotation=90, fontsize=7)
    ax.set_yticks(ticks, [str(c) for c in class_names], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(m) / max(m.sum(), 1)
    ax.set_title(f"{title} accuracy {100 * acc:.2f}% ({m.sum()} examples)".strip(), fontsize=9)
    return save_figure(fig, path)


def save_confusion(
    matrix: np.ndarray, class_names: Sequence[str], png: str | Path, title: str = ""
) -> tuple[Path, Path]:
    """Writes the PNG and, next to it (same stem, ``.json``), the raw counts.

    Returns:
      ``(png path, json path)``; the JSON holds ``class_names``, ``matrix`` (rows: true
      classes) and ``accuracy``.
    """
    m = np.asarray(matrix, np.int64)
    png = plot_confusion(m, class_names, png, title)
    record = {
        "class_names": [str(c) for c in class_names],
        "matrix": m.tolist(),
        "accuracy": float(np.trace(m) / max(m.sum(), 1)),
    }
    js = png.with_suffix(".json")
    js.write_text(json.dumps(record, indent=1))
    return png, js
