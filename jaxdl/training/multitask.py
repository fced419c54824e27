"""Multitask learning: one shared trunk, one linear head per task, ``L = sum_t w_t CE_t``.

The multitask model is any classifier of ``jaxdl.models`` built with
``num_classes = sum_t K_t``: the task heads are the column blocks of its output layer,
task ``t`` owning columns ``[o_t, o_t + K_t)``. A block of a dense output layer
``z = h W + b`` is ``z_t = h W[:, block_t] + b[block_t]``: exactly a separate linear head
on the shared penultimate features ``h``, with no parameter shared between heads (each
column has its own weights and bias; LeNet-5's RBF units likewise, one centre per
output). The initialisation matches separate heads too, since the usual schemes scale
by fan-in, which is the same. So no model changes, checkpoints keep their layout, and
the trunk (every layer below the output) is shared by all tasks (Caruana 1997, hard
parameter sharing). Models with auxiliary classifiers (GoogLeNet) get their auxiliary
outputs split the same way.

Loss (``classification_steps(..., tasks=task_views(tasks))``):

    L = sum_t w_t * (1/B) sum_b CE(z_t[b], y_t[b])

Labels of task ``t`` come from ``batch[label_key(t)]``: ``'label'`` for the dataset's
own label, ``'label_<name>'`` for derived ones (``jaxdl.data.derived_labels``).

Example:
  >>> import jax.numpy as jnp
  >>> from jaxdl import models
  >>> from jaxdl.training import steps
  >>> tasks = (TaskSpec("label", 10, 1.0), TaskSpec("parity", 2, 0.5))
  >>> total_classes(tasks)
  12
  >>> model = models.create("lenet5", num_classes=total_classes(tasks))
  >>> preprocess = lambda batch, key, train: batch
  >>> train_step, eval_step = steps.classification_steps(preprocess, tasks=task_views(tasks))
  >>> batch = {"label": jnp.array([3, 7]), "label_parity": jnp.array([1, 1])}
  >>> [(t.name, t.weight, t.logits.shape) for t in task_views(tasks)(jnp.zeros((2, 12)), batch)]
  [('label', 1.0, (2, 10)), ('parity', 0.5, (2, 2))]

References:
  Caruana. Multitask learning. Machine Learning 28, 1997.
  Ruder. An overview of multi-task learning in deep neural networks. arXiv:1706.05098.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax

from jaxdl.training.steps import Batch, TaskLogits, cross_entropy, split_outputs

__all__ = [
    "MultiTask",
    "TaskSpec",
    "label_key",
    "multitask_loss",
    "split_logits",
    "task_views",
    "total_classes",
]


class TaskSpec(NamedTuple):
    """One task: its name, its class count ``K_t`` and its loss weight ``w_t``."""

    name: str
    num_classes: int
    weight: float = 1.0


def label_key(name: str) -> str:
    """The batch key of task ``name``'s labels: ``'label'`` or ``'label_<name>'``."""
    return "label" if name == "label" else f"label_{name}"


def total_classes(tasks: Sequence[TaskSpec]) -> int:
    """``sum_t K_t``: the output width of the multitask model."""
    return sum(t.num_classes for t in tasks)


def check_tasks(tasks: Sequence[TaskSpec]) -> None:
    """Raises ValueError for an empty list, a duplicate name, ``K_t < 1`` or ``w_t < 0``."""
    if not tasks:
        raise ValueError("Multitask learning needs at least one task, got none.")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"Task names must be unique, got {names}.")
    for t in tasks:
        if t.num_classes < 1 or not t.weight >= 0:
            raise ValueError(
                f"Task {t.name!r}: num_classes must be >= 1 and weight >= 0, got "
                f"{t.num_classes} and {t.weight}."
            )


def split_logits(logits: jax.Array, tasks: Sequence[TaskSpec]) -> dict[str, jax.Array]:
    """Cuts ``[..., sum_t K_t]`` logits into the tasks' ``[..., K_t]`` column blocks.

    Args:
      logits: the model output, last axis ``sum_t K_t`` wide (task order).
      tasks: the tasks, in column order.

    Returns:
      ``{name: logits[..., o_t:o_t + K_t]}`` in task order.

    Raises:
      ValueError: the last axis is not ``sum_t K_t`` wide.

    Example:
      >>> import jax.numpy as jnp
      >>> tasks = (TaskSpec("label", 10), TaskSpec("parity", 2))
      >>> blocks = split_logits(jnp.arange(12.0).reshape(1, 12), tasks)
      >>> {name: z.shape for name, z in blocks.items()}
      {'label': (1, 10), 'parity': (1, 2)}
      >>> blocks["parity"]
      Array([[10., 11.]], dtype=float32)
    """
    width = total_classes(tasks)
    if logits.shape[-1] != width:
        raise ValueError(
            f"The model outputs {logits.shape[-1]} logits but the tasks "
            f"{[(t.name, t.num_classes) for t in tasks]} need {width}: build the model with "
            "num_classes=total_classes(tasks)."
        )
    out, start = {}, 0
    for t in tasks:
        out[t.name] = logits[..., start : start + t.num_classes]
        start += t.num_classes
    return out


def task_views(tasks: Sequence[TaskSpec]):
    """The ``tasks`` argument of ``classification_steps`` for these tasks.

    Returns:
      ``(logits [B, sum K_t], batch) -> (TaskLogits, ...)``, labels from
      ``batch[label_key(name)]``; the first task is the one reported as 'accuracy'.
    """
    tasks = tuple(tasks)
    check_tasks(tasks)

    def views(logits: jax.Array, batch: Batch) -> tuple[TaskLogits, ...]:
        blocks = split_logits(logits, tasks)
        return tuple(
            TaskLogits(t.name, t.weight, blocks[t.name], batch[label_key(t.name)]) for t in tasks
        )

    return views


def multitask_loss(
    logits: jax.Array,
    labels: Mapping[str, jax.Array],
    tasks: Sequence[TaskSpec],
    label_smoothing: float = 0.0,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``L = sum_t w_t mean_b CE_t`` and the per-task mean cross-entropies.

    Args:
      logits: ``[B, sum_t K_t]``.
      labels: ``{name: int [B]}`` for every task.
      tasks: the tasks, in column order.
      label_smoothing: applied to every task's cross-entropy.

    Returns:
      ``(L, {name: mean_b CE_t})``.
    """
    blocks = split_logits(logits, tasks)
    ces = {
        t.name: cross_entropy(blocks[t.name], labels[t.name], label_smoothing).mean() for t in tasks
    }
    return sum(t.weight * ces[t.name] for t in tasks), ces


class MultiTask(nn.Module):
    """A trunk classifier whose output columns are read as per-task heads.

    ``trunk`` is a classifier built with ``num_classes = sum_t K_t`` (its output layer
    holds the heads, see the module docstring); the call returns ``{name: [B, K_t]}``,
    or a tuple of such dicts for models with auxiliary classifiers (main first). Its
    parameters sit under ``'trunk'``. The training path applies the bare model and
    splits in the loss (``task_views``), so its checkpoints keep the model's own layout;
    this wrapper is the inference-side view of the same parameters.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from jaxdl import models
      >>> heads = (("label", 10), ("parity", 2))
      >>> model = MultiTask(models.create("mlp", num_classes=12, depth=1, width=8), heads)
      >>> x = jnp.ones((3, 4, 4, 1))
      >>> variables = jax.jit(model.init)(jax.random.PRNGKey(0), x)
      >>> list(variables["params"])
      ['trunk']
      >>> logits = jax.jit(model.apply)(variables, x)
      >>> {name: z.shape for name, z in logits.items()}
      {'label': (3, 10), 'parity': (3, 2)}
    """

    trunk: nn.Module
    heads: tuple[tuple[str, int], ...]

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> Any:
        tasks = tuple(TaskSpec(name, k) for name, k in self.heads)
        outputs = self.trunk(x, train=train)
        main, aux = split_outputs(outputs)
        if aux:
            return tuple(split_logits(o, tasks) for o in (main, *aux))
        return split_logits(main, tasks)
