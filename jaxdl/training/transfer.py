"""Transfer learning: reuse a trained trunk, replace the head, train with per-group rates.

The course's recipe, in two phases that are two ordinary runs:

  1. start from another run's checkpoint (``read_variables``), keep every trunk
     variable, give the new task a fresh classifier head (``merge``), and train only
     the head: ``trunk_lr_factor = 0`` freezes the trunk (``group_optimizer`` gives it
     zero updates, ``stop_trunk_gradient`` makes its gradients constant zeros, so XLA
     does no backward work below the head);
  2. fine-tune everything from phase 1's checkpoint with a smaller trunk rate:
     ``eta_trunk = trunk_lr_factor * eta_head`` (e.g. 0.1).

The head is a set of parameter paths (tuples of keys below ``params``): a model's
classifier layers (``head_paths``). Everything else is the trunk.

References:
  Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural
  networks? NeurIPS 2014.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import optax
from flax import traverse_util

from jaxdl.models import torchvision_rules
from jaxdl.training.checkpoint import Checkpointer

Path_ = tuple[str, ...]


def head_paths(
    model: nn.Module, name: str, example: jax.Array, spec: str = ""
) -> tuple[Path_, ...]:
    """The parameter paths of ``model``'s classifier head(s).

    Args:
      model: the Flax module.
      name: its registry name (torchvision-convertible families know their heads,
        auxiliary classifiers included).
      example: an input of the model's shape, e.g. [1, H, W, C] (traced, not run).
      spec: explicit head, '/'-separated paths joined by commas (e.g. ``'fc,aux1/fc2'``);
        '' = the known classifier layers of ``name``, else the top-level module created
        last (the output layer of every sequential model).

    Returns:
      Tuple of paths, each a tuple of keys below ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxdl import models
      >>> head_paths(models.create("lenet5"), "lenet5", jnp.zeros((1, 32, 32, 1)))
      (('output',),)
      >>> mlp = models.create("mlp", depth=1, width=8)
      >>> head_paths(mlp, "mlp", jnp.zeros((1, 4, 4, 1)))  # the Dense created last
      (('Dense_1',),)
      >>> head_paths(mlp, "mlp", jnp.zeros((1, 4, 4, 1)), spec="fc,aux1/fc2")
      (('fc',), ('aux1', 'fc2'))
    """
    if spec:
        return tuple(tuple(p.strip().split("/")) for p in spec.split(",") if p.strip())
    if name in torchvision_rules.SUPPORTED:
        return torchvision_rules.classifier_paths(name)
    created: list[str] = []

    def init(x):  # tracing keeps Flax's creation order (a pytree would sort the keys)
        variables = model.init(jax.random.PRNGKey(0), x, train=False)
        created.extend(variables["params"])
        return variables

    jax.eval_shape(init, example)
    return ((created[-1],),)


def is_head(path: Path_, heads: tuple[Path_, ...]) -> bool:
    """Whether the parameter at ``path`` (keys below ``params``) belongs to a head."""
    return any(path[: len(h)] == h for h in heads)


def group_labels(params: Any, heads: tuple[Path_, ...]) -> Any:
    """A tree like ``params`` with 'head' or 'trunk' at every leaf."""
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({p: "head" if is_head(p, heads) else "trunk" for p in flat})


def group_optimizer(
    tx: optax.GradientTransformation, heads: tuple[Path_, ...], trunk_lr_factor: float
) -> optax.GradientTransformation:
    """Per-group learning rates: the head gets ``tx``, the trunk ``trunk_lr_factor`` x it.

    ``trunk_lr_factor = 0`` freezes the trunk: its updates are exact zeros and it keeps
    no optimizer state. Otherwise the trunk has its own copy of ``tx`` (own moments)
    whose updates are scaled, i.e. ``eta_trunk = factor * eta`` for SGD, momentum and
    Adam alike (their updates are linear in the learning rate).
    """
    if trunk_lr_factor < 0:
        raise ValueError(f"trunk_lr_factor must be >= 0 (0 = frozen), got {trunk_lr_factor}.")
    if trunk_lr_factor == 0:
        trunk = optax.set_to_zero()
    elif trunk_lr_factor == 1:
        trunk = tx
    else:
        trunk = optax.chain(tx, optax.scale(trunk_lr_factor))
    return optax.multi_transform(
        {"head": tx, "trunk": trunk}, lambda params: group_labels(params, heads)
    )


def stop_trunk_gradient(heads: tuple[Path_, ...]) -> Callable[[Any], Any]:
    """``params -> params`` with ``stop_gradient`` on every trunk leaf (frozen trunk)."""

    def freeze(params):
        flat = traverse_util.flatten_dict(params)
        return traverse_util.unflatten_dict(
            {p: v if is_head(p, heads) else jax.lax.stop_gradient(v) for p, v in flat.items()}
        )

    return freeze


def read_variables(workdir: str | Path, step: int | None = None) -> tuple[dict, dict, int]:
    """``(params, model_state, step)`` of a checkpoint of a ``python -m train`` run.

    The latest checkpoint, or the one at ``step``. Read without a target structure
    (numpy arrays), so the run's optimizer and class count need not be known; its
    recorded digest is still checked.

    Raises:
      FileNotFoundError: ``workdir`` holds no checkpoint (at ``step``).
    """
    directory = Path(workdir) / "checkpoints"
    ckpt = Checkpointer(directory, async_save=False)
    try:
        steps = ckpt.all_steps()
        if not steps or (step is not None and step not in steps):
            at = "" if step is None else f" at step {step} (it has {steps})"
            raise FileNotFoundError(
                f"{directory} holds no checkpoint{at}: give the --workdir of a finished "
                "(or checkpointed) `python -m train` run."
            )
        step = steps[-1] if step is None else step
        state, _ = ckpt.restore_raw(step)
    finally:
        ckpt.close()
    return state["params"], state.get("model_state") or {}, step


def merge(
    fresh: Mapping[str, Any], source: Mapping[str, Any], heads: tuple[Path_, ...]
) -> tuple[dict, list[str]]:
    """``fresh`` variables with every non-head leaf taken from ``source``.

    Args:
      fresh: the new model's variables (one collection, e.g. its ``params``).
      source: the trained run's variables of the same collection.
      heads: the head paths (kept fresh: the new task's classifier).

    Returns:
      ``(merged, kept_fresh)``: the merged tree and the '/'-joined fresh paths.

    Raises:
      ValueError: a trunk variable is missing from ``source`` or has another shape
        (the runs' architectures differ), naming it.
    """
    flat_fresh = traverse_util.flatten_dict(dict(fresh))
    flat_src = traverse_util.flatten_dict(dict(source))
    merged, kept = {}, []
    for path, value in flat_fresh.items():
        where = "/".join(path)
        if is_head(path, heads):
            merged[path] = value
            kept.append(where)
            continue
        if path not in flat_src:
            raise ValueError(
                f"The source run has no variable {where}: its model differs from this one "
                "(use the same model.name and model.kwargs, or name the extra layers in "
                "transfer.head to start them fresh)."
            )
        if tuple(flat_src[path].shape) != tuple(value.shape):
            raise ValueError(
                f"Variable {where} has shape {tuple(flat_src[path].shape)} in the source run "
                f"but {tuple(value.shape)} here; if it is a classifier layer, name it in "
                "transfer.head (comma-separated '/' paths) so it starts fresh."
            )
        merged[path] = flat_src[path].astype(value.dtype)
    return traverse_util.unflatten_dict(merged), sorted(kept)
