"""Pure step functions of the classification task.

``train_step(state, batch) -> (state, metrics)`` and ``eval_step(state, batch) ->
{name: Metric}`` (mergeable metrics) are built by ``classification_steps`` from a
``preprocess`` function (augmentation + normalisation, run on device inside the
step) and an optional parameter penalty. Other tasks (segmentation, GANs) provide
their own step functions to the same loop.

The gradient is taken at ``jaxdl.optim.evaluation_point(opt_state, params)``: the
params themselves for every optimizer except look-ahead ones (literal Nesterov),
which ask for ``W - rho V``.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxdl.nn import normalization
from jaxdl.optim import evaluation_point
from jaxdl.training.metrics import Average, top_k_accuracy
from jaxdl.training.state import TrainState

Batch = dict[str, jax.Array]
Preprocess = Callable[[Batch, jax.Array, bool], Batch]


def apply_model(
    state: TrainState, params: Any, images: jax.Array, train: bool, rng: jax.Array
) -> tuple[Any, Any]:
    """``jaxdl.nn.apply_model`` with the state's ``apply_fn`` and model state."""
    return normalization.apply_model(
        state.apply_fn, params, state.model_state, images, train=train, rng=rng
    )


def split_outputs(outputs: Any) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """(main logits, auxiliary logits): models with auxiliary heads (GoogLeNet) return a tuple."""
    if isinstance(outputs, tuple | list):
        return outputs[0], tuple(outputs[1:])
    return outputs, ()


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """Per-example softmax cross-entropy in float32, [B]."""
    logits = logits.astype(jnp.float32)
    if label_smoothing:
        targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
        return optax.softmax_cross_entropy(logits, targets)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


class TaskLogits(NamedTuple):
    """One task's logits and labels (multitask learning: ``jaxdl.training.multitask``)."""

    name: str  # '' = the only task: reported as 'loss' / 'accuracy' only
    weight: float  # w_t in the loss sum_t w_t CE_t
    logits: jax.Array  # [B, K_t]
    labels: jax.Array  # int [B]


# (logits [B, K], batch) -> the tasks' views of them; the first task is the reported one.
TaskViews = Callable[[jax.Array, Batch], Sequence[TaskLogits]]


def single_task(logits: jax.Array, batch: Batch) -> tuple[TaskLogits]:
    """The plain classifier: one unnamed task, all the logits, ``batch['label']``."""
    return (TaskLogits("", 1.0, logits, batch["label"]),)


def classification_steps(
    preprocess: Preprocess,
    penalty: Callable[[Any], jax.Array] | None = None,
    aux_loss_weight: float = 0.3,
    label_smoothing: float = 0.0,
    freeze: Callable[[Any], Any] | None = None,
    tasks: TaskViews = single_task,
) -> tuple[Callable, Callable]:
    """Builds the classification ``train_step`` and ``eval_step``.

    Args:
      preprocess: ``(batch, key, train) -> batch`` mapping raw uint8 images to model inputs.
      penalty: optional ``params -> scalar`` added to the loss (e.g. l1/l2 penalties).
      aux_loss_weight: weight of each auxiliary classifier's loss (GoogLeNet: 0.3).
      label_smoothing: optional label smoothing of the cross-entropy.
      freeze: optional ``params -> params`` wrapping frozen leaves in ``stop_gradient``
        (``jaxdl.training.transfer.stop_trunk_gradient``): their gradients are constant
        zeros, so XLA drops the backward work below the trainable layers.
      tasks: splits the logits into tasks (``TaskLogits``); the loss is
        ``sum_t w_t CE_t``, each auxiliary output split the same way. Metrics 'loss'
        (the weighted total), 'accuracy' / 'top5_accuracy' (the first task's), and
        ``'<name>_loss'`` / ``'<name>_accuracy'`` per named task. Default: one task.

    Returns:
      ``(train_step, eval_step)``, both pure and jit-able.

    Example:
      >>> train_step, eval_step = classification_steps(lambda b, k, t: b)
    """

    def task_loss(logits, batch):
        """``sum_t w_t mean_b CE_t``, the tasks' views and their mean CEs."""
        views = tasks(logits, batch)
        ces = [cross_entropy(v.logits, v.labels, label_smoothing).mean() for v in views]
        return sum(v.weight * ce for v, ce in zip(views, ces)), views, ces

    def loss_fn(params, state, batch, key):
        if freeze is not None:  # inside the differentiated function, so its zeros count
            params = freeze(params)
        outputs, new_model_state = apply_model(state, params, batch["image"], True, key)
        logits, aux = split_outputs(outputs)
        ce, views, ces = task_loss(logits, batch)
        loss = ce + sum(aux_loss_weight * task_loss(a, batch)[0] for a in aux)
        if penalty is not None:
            loss = loss + penalty(params)
        metrics = {"loss": ce, "accuracy": top_k_accuracy(views[0].logits, views[0].labels, 1)}
        for v, v_ce in zip(views, ces):
            if v.name:
                metrics[f"{v.name}_loss"] = v_ce
                metrics[f"{v.name}_accuracy"] = top_k_accuracy(v.logits, v.labels, 1)
        return loss, (jax.tree.map(jnp.mean, metrics), new_model_state)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        aug_key, model_key = jax.random.split(state.step_key())
        batch = preprocess(batch, aug_key, True)
        at = evaluation_point(state.opt_state, state.params)
        grads, (metrics, new_model_state) = jax.grad(loss_fn, has_aux=True)(
            at, state, batch, model_key
        )
        updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            model_state=new_model_state,
            opt_state=opt_state,
        )
        return new_state, {**metrics, "grad_norm": optax.global_norm(grads)}

    def eval_step(state: TrainState, batch: Batch) -> dict[str, Average]:
        batch = preprocess(batch, jax.random.PRNGKey(0), False)
        outputs, _ = apply_model(state, state.params, batch["image"], False, state.rng)
        logits, _ = split_outputs(outputs)
        views = tasks(logits, batch)
        ces = [cross_entropy(v.logits, v.labels) for v in views]  # [B] each
        first = views[0]
        k5 = min(5, first.logits.shape[-1])

        def mean(values):  # over the real examples (mask 0 on the last batch's padding)
            return Average.from_model_output(values, mask=batch["mask"])

        metrics = {
            "loss": mean(sum(v.weight * ce for v, ce in zip(views, ces))),
            "accuracy": mean(top_k_accuracy(first.logits, first.labels, 1)),
            "top5_accuracy": mean(top_k_accuracy(first.logits, first.labels, k5)),
        }
        for v, ce in zip(views, ces):
            if v.name:
                metrics[f"{v.name}_loss"] = mean(ce)
                metrics[f"{v.name}_accuracy"] = mean(top_k_accuracy(v.logits, v.labels, 1))
        return metrics

    return train_step, eval_step
