"""Config -> transfer learning: the head, per-group learning rates, init from another run.

  model.init_from = a run directory   start from that run's latest checkpoint
  transfer.head                        the head's parameter paths ('' = the model's own)
  transfer.reinit_head                 True: a fresh head (new task); False: keep it
  transfer.trunk_lr_factor             eta_trunk / eta_head (0 = frozen trunk)

See ``jaxdl.training.transfer`` for the recipe and docs/transfer.md for the experiment.
"""

from pathlib import Path

import jax
import ml_collections

from jaxdl.nn.normalization import split_variables
from jaxdl.training import parallel, transfer
from jaxdl.training.state import TrainState
from train import workdir as workdirs


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


def init_from_run(
    state: TrainState,
    config: ml_collections.ConfigDict,
    head: tuple,
    workdir: Path,
    mesh: jax.sharding.Mesh,
) -> TrainState:
    """The fresh ``state`` with the trunk (and head unless re-initialised) of another run.

    A run resuming from its own checkpoints keeps them (the source is then not read).
    The optimizer state starts afresh; BN statistics come from the source run.
    """
    if workdirs.has_checkpoints(workdir):
        print(f"init_from: not applied, the run resumes from its checkpoints in {workdir}")
        return state
    src = config.model.init_from
    src_params, src_state, src_step = transfer.read_variables(src)
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
    params, model_state = split_variables(jax.device_put(variables, parallel.replicated(mesh)))
    opt_state = jax.jit(state.tx.init, out_shardings=parallel.replicated(mesh))(params)
    return state.replace(params=params, model_state=model_state, opt_state=opt_state)
