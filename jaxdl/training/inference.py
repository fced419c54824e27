"""Evaluation of a whole split with mergeable metrics, and batched prediction.

``evaluate`` runs an ``eval_step(state, batch) -> {name: Metric}`` over every example
of a split once (the last batch padded, its padding masked), merges the per-batch
metrics on device and fetches them to the host once. ``predict`` returns a model's
outputs for a stack of images, preprocessed as in evaluation.
"""

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxdl.data.loader import (
    DeviceSplit,
    StreamedSplit,
    eval_batch,
    num_eval_batches,
    to_device,
)
from jaxdl.nn import normalization
from jaxdl.sharding import data_sharding
from jaxdl.training.metrics import compute_metrics, merge_metrics
from jaxdl.training.state import TrainState
from jaxdl.training.steps import Preprocess, apply_model, cross_entropy, split_outputs

__all__ = ["as_split", "evaluate", "metric_names", "per_example_losses", "predict"]


def as_split(split: Any, mesh: Mesh | None = None) -> Any:
    """A split the loop can read: a ``DeviceSplit``, a streamed split, or a dict of arrays.

    A dict of equally long (numpy) arrays is copied to the devices once: replicated
    over ``mesh``, or to the default device without one.

    Example:
      >>> split = as_split({"image": np.zeros((5, 2, 2, 1), np.uint8), "label": np.arange(5)})
      >>> split.size
      5
    """
    if isinstance(split, DeviceSplit | StreamedSplit):
        return split
    if not isinstance(split, Mapping):
        raise TypeError(
            f"A split must be a dict of arrays, a jaxdl.data.loader.DeviceSplit or a "
            f"jaxdl.data.loader.StreamedSplit, got {type(split).__name__}."
        )
    if mesh is not None:
        return to_device(split, mesh)
    sizes = {k: len(v) for k, v in split.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise ValueError(f"A split's arrays must have one common, non-zero length, got {sizes}.")
    return DeviceSplit(jax.device_put(dict(split)), next(iter(sizes.values())))


def evaluate(
    state: Any,
    eval_step: Callable,
    split: Any,
    batch_size: int,
    mesh: Mesh | None = None,
    prefix: str = "",
) -> dict[str, float]:
    """The metrics of ``eval_step`` over every example of ``split`` (one host fetch).

    Args:
      state: the state to evaluate.
      eval_step: pure ``(state, batch) -> {name: Metric}``; the batch carries a ``mask``
        [B] that is 0 on the padding of the last batch.
      split: a ``DeviceSplit``, a dict of arrays, or a ``StreamedSplit``.
      batch_size: evaluation batch size (a multiple of the mesh's device count).
      mesh: device mesh; batches are sharded on its ``'data'`` axis.
      prefix: name prefix, e.g. ``'val'`` gives ``'val_loss'``.

    Returns:
      ``{'<prefix>_<metric>': float}`` (see ``metrics.compute_metrics``).

    Example:
      >>> from jaxdl.training.metrics import Average
      >>> def eval_step(state, batch):  # the mean of the labels, padding masked
      ...     return {"mean": Average.from_model_output(batch["label"], mask=batch["mask"])}
      >>> evaluate(None, eval_step, {"label": np.arange(5.0)}, batch_size=2, prefix="val")
      {'val_mean': 2.0}
    """
    split = as_split(split, mesh)
    if isinstance(split, StreamedSplit):  # batches arrive ready, on the mesh
        fn = _eval_fn(eval_step, None, None, None)
        per_batch = (fn(state, batch) for batch in split.eval_batches(batch_size))
    else:
        fn = _eval_fn(eval_step, batch_size, split.size, mesh)
        batches = range(num_eval_batches(split.size, batch_size))
        per_batch = (fn(state, split.arrays, np.int32(i)) for i in batches)
    total = None
    for metrics in per_batch:
        total = metrics if total is None else _merge(total, metrics)
    return compute_metrics(total, prefix)


_merge = jax.jit(merge_metrics)


def metric_names(
    state: Any, eval_step: Callable, named_split: tuple[str, Any], batch_size: int, mesh=None
) -> list[str] | None:
    """The names ``evaluate`` will report for ``(prefix, split)``, from shapes only.

    ``eval_step`` is traced abstractly (``jax.eval_shape``: nothing compiles or runs) and
    each metric is computed on zeros of its shapes. None for a streamed split.

    Example:
      >>> from jaxdl.training.metrics import Average
      >>> def eval_step(state, batch):
      ...     return {"loss": Average.from_model_output(batch["label"], mask=batch["mask"])}
      >>> metric_names(None, eval_step, ("val", {"label": np.zeros(3)}), 2)
      ['val_loss']
    """
    prefix, split = named_split
    split = as_split(split, mesh)
    if isinstance(split, StreamedSplit):
        return None
    fn = _eval_fn(eval_step, batch_size, split.size, mesh)
    shapes = jax.eval_shape(fn, state, split.arrays, jnp.asarray(0, jnp.int32))
    zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    with np.errstate(all="ignore"):  # 0 / 0 of empty statistics: only the names matter
        return sorted(compute_metrics(zeros, prefix))


@functools.lru_cache(maxsize=32)
def _eval_fn(eval_step, batch_size, size, mesh):
    if size is None:
        return jax.jit(eval_step)

    def fn(state, arrays, i):
        return eval_step(state, eval_batch(arrays, i, batch_size, size, mesh))

    return jax.jit(fn)


def predict(
    state: TrainState,
    images: np.ndarray,
    *,
    preprocess: Preprocess | None = None,
    batch_size: int = 256,
    mesh: Mesh | None = None,
) -> np.ndarray:
    """The model's outputs (main logits) for ``images``, in order, as a numpy array.

    Images go through ``preprocess(batch, key, train=False)`` (the evaluation path of
    the step builders' preprocessing, e.g. ``jaxdl.data.preprocess.image_preprocess``),
    then the model in inference mode (``train=False``: batch statistics, no dropout),
    ``batch_size`` at a time (the last batch padded; one compilation per shape).

    Args:
      state: a ``TrainState``.
      images: ``[N, ...]`` raw images as the training split holds them (e.g. uint8).
      preprocess: ``(batch, key, train) -> batch``; None feeds ``images`` as they are.
      batch_size: images per call (a multiple of the mesh's device count).
      mesh: device mesh; batches are sharded on its ``'data'`` axis.

    Returns:
      ``[N, ...]`` float32 outputs (for a classifier, ``[N, num_classes]`` logits).

    Example:
      >>> import optax
      >>> from jaxdl.models import create
      >>> state = TrainState.create(model=create("mlp", num_classes=3, depth=1, width=8),
      ...     tx=optax.sgd(0.1), rng=jax.random.PRNGKey(0), example_input=np.zeros((1, 4)))
      >>> predict(state, np.ones((5, 4), np.float32), batch_size=2).shape
      (5, 3)
    """
    images = np.asarray(images)
    n = len(images)
    padded = np.concatenate([images, np.repeat(images[:1], -n % batch_size, axis=0)])
    fn = _predict_fn(preprocess)
    outputs = []
    for start in range(0, len(padded), batch_size):
        batch = padded[start : start + batch_size]
        if mesh is not None:
            batch = jax.device_put(batch, data_sharding(mesh))
        outputs.append(fn(state, batch))
    return np.concatenate(jax.device_get(outputs))[:n].astype(np.float32)


@functools.lru_cache(maxsize=32)
def _predict_fn(preprocess):
    def fn(state, images):
        if preprocess is not None:
            images = preprocess({"image": images}, jax.random.PRNGKey(0), False)["image"]
        outputs, _ = apply_model(state, state.params, images, False, state.rng)
        return split_outputs(outputs)[0]

    return jax.jit(fn)


def per_example_losses(
    apply_fn, variables: tuple, pre, split: DeviceSplit, batch_size: int, mesh=None
) -> np.ndarray:
    """Cross-entropy of every example of ``split`` in evaluation mode, float64 [N].

    Args:
      apply_fn: the model's ``apply``.
      variables: ``(params, model_state)``.
      pre: ``preprocess(batch, key, train)`` (normalization; called with train=False).
      split: a device-resident split with ``image`` and ``label``.
      batch_size: evaluation batch (the last one padded, its padding dropped).
      mesh: shard the batches on its ``'data'`` axis.
    """

    @jax.jit
    def losses(variables, arrays, i):
        batch = pre(eval_batch(arrays, i, batch_size, split.size, mesh), None, False)
        outputs, _ = normalization.apply_model(apply_fn, *variables, batch["image"], train=False)
        logits, _ = split_outputs(outputs)
        return cross_entropy(logits, batch["label"])  # [B]

    out = [
        losses(variables, split.arrays, np.int32(i))
        for i in range(num_eval_batches(split.size, batch_size))
    ]
    return np.concatenate(jax.device_get(out)).astype(np.float64)[: split.size]
