"""Config -> transfer learning: the head, per-group learning rates, the initial variables.

  model.init_from = a run directory   start from that run's latest checkpoint
  model.init_from = a .pth/.npz file  start from torchvision's ImageNet weights
  transfer.head                        the head's parameter paths ('' = the model's own)
  transfer.reinit_head                 True: a fresh head (new task); False: keep it
  transfer.trunk_lr_factor             eta_trunk / eta_head (0 = frozen trunk)

See ``jaxdl.training.transfer`` for the recipe and docs/transfer.md for the experiment.
"""

from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxdl import models, sharding
from jaxdl.data import imagenet, preprocess
from jaxdl.models import torchvision_weights
from jaxdl.nn.normalization import split_variables
from jaxdl.training import transfer
from jaxdl.training.state import TrainState
from train.workdir import has_checkpoints


def from_run(config: ml_collections.ConfigDict) -> bool:
    """Whether ``model.init_from`` names a run directory (not a torchvision file)."""
    return bool(config.model.init_from) and Path(config.model.init_from).is_dir()


def heads(config: ml_collections.ConfigDict, model, example: jax.Array) -> tuple | None:
    """The head paths when transfer options are in use, else None."""
    if not from_run(config) and config.transfer.trunk_lr_factor == 1:
        return None
    return transfer.head_paths(model, config.model.name, example, config.transfer.head)


def optimizer_groups(config: ml_collections.ConfigDict, head: tuple | None):
    """``tx -> per-group tx`` for ``build_optimizer``, or None (one group)."""
    factor = config.transfer.trunk_lr_factor
    if head is None or factor == 1:
        return None
    return lambda tx: transfer.group_optimizer(tx, head, factor)


def freeze(config: ml_collections.ConfigDict, head: tuple | None):
    """The train step's ``freeze`` (stop_gradient on the trunk) when the trunk is frozen."""
    if head is None or config.transfer.trunk_lr_factor != 0:
        return None
    return transfer.stop_trunk_gradient(head)


def image_stats(config: ml_collections.ConfigDict, train_images: np.ndarray | None) -> tuple:
    """The input normalisation ``(mean, std)`` of a classifier.

    ImageNet's for torchvision weights (what the trunk was trained on) and for streamed
    data (``train_images=None``); otherwise the training images' per-channel statistics
    (a run directory's trunk was trained on its own split's).
    """
    if config.model.init_from and not from_run(config):
        return torchvision_weights.IMAGENET_MEAN_STD
    if train_images is None:
        return imagenet.IMAGENET_MEAN, imagenet.IMAGENET_STD
    return preprocess.channel_stats(train_images)


def initialise(
    state: TrainState,
    config: ml_collections.ConfigDict,
    head: tuple | None,
    workdir: Path,
    mesh: jax.sharding.Mesh,
) -> TrainState:
    """The fresh ``state``, or the one ``model.init_from`` starts from (the run's initialiser).

    A run resuming from its own checkpoints keeps them: the source is then not read.
    """
    if not config.model.init_from:
        return state
    if has_checkpoints(workdir):
        print(f"init_from: not applied, the run resumes from its checkpoints in {workdir}")
        return state
    if from_run(config):
        return init_from_run(state, config, head, mesh)
    return init_from_pretrained(state, config.model, mesh)


def init_from_pretrained(
    state: TrainState, model_cfg: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
) -> TrainState:
    """The fresh ``state`` with the variables of a torchvision weights file.

    The converted trunk replaces the fresh one; classifier heads of another class count
    (and variables the file lacks) stay fresh; the optimizer state is re-initialised.
    """
    name = model_cfg.name
    loaded = models.load_torchvision_weights(name, model_cfg.init_from, num_classes=None)
    fresh = {"params": state.params, **state.model_state}
    variables, kept = torchvision_weights.transfer(fresh, loaded, name)
    print(
        f"init_from: {name} variables from {model_cfg.init_from}; kept fresh (new head or "
        f"absent from the file): {', '.join(kept) or 'none'}",
        flush=True,
    )
    return with_variables(state, variables, mesh)


def init_from_run(
    state: TrainState, config: ml_collections.ConfigDict, head: tuple, mesh: jax.sharding.Mesh
) -> TrainState:
    """The fresh ``state`` with the trunk (and head unless re-initialised) of another run.

    The optimizer state starts afresh; BN statistics come from the source run.
    """
    src = config.model.init_from
    try:
        src_params, src_state, src_step = transfer.read_variables(src)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"model.init_from={str(src)!r}: {e}") from None
    fresh_head = head if config.transfer.reinit_head else ()
    params, kept = transfer.merge(jax.device_get(state.params), src_params, fresh_head)
    model_state = {
        name: transfer.merge(jax.device_get(tree), src_state.get(name, {}), fresh_head)[0]
        for name, tree in state.model_state.items()
    }
    print(
        f"init_from: {config.model.name} variables of {src} (step {src_step}); fresh: "
        f"{', '.join(kept) or 'none'}; trunk learning rate x{config.transfer.trunk_lr_factor}",
        flush=True,
    )
    return with_variables(state, {"params": params, **model_state}, mesh)


def with_variables(state: TrainState, variables: dict, mesh: jax.sharding.Mesh) -> TrainState:
    """``state`` holding ``variables`` (replicated on ``mesh``) and a fresh optimizer state."""
    params, model_state = split_variables(jax.device_put(variables, sharding.replicated(mesh)))
    opt_state = jax.jit(state.tx.init, out_shardings=sharding.replicated(mesh))(params)
    return state.replace(params=params, model_state=model_state, opt_state=opt_state)
