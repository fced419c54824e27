"""A finished ``python -m train`` run directory: its config and its latest model variables.

Used wherever a run's trained model is needed again: test-time augmentation and
ensembles (``train.experiments.tta_ensemble``), curriculum difficulty scores
(``train.curriculum``).
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections

from jaxdl import models
from jaxdl.data import loader
from jaxdl.training import parallel
from jaxdl.training.checkpoint import Checkpointer
from jaxdl.training.state import TrainState
from train.configs import defaults


def read_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """The config a run directory was trained with (its ``config.json``).

    Recorded onto today's defaults: keys added since the run was made take their
    default values, which keep the behaviour the run was trained with.
    """
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: {workdir} is not a finished `python -m train` run "
            "directory (train one with --workdir first)."
        )
    config = defaults.get_config()
    config.update(json.loads(path.read_text()))
    return config


def restore_variables(cfg: ml_collections.ConfigDict, workdir: Path, train_np: dict, mesh):
    """(model, (params, model_state)) of the run's latest checkpoint, replicated on ``mesh``.

    ``cfg`` is the run's config (``read_config``) with ``num_classes`` set; ``train_np``
    its training split (numpy), which fixes the input shape and the optimizer's
    steps per epoch (the optimizer state is part of the checkpoint's structure).
    """
    from train import classification  # the optimizer of a config; imports this module's users

    model = models.create(
        cfg.model.name,
        num_classes=cfg.num_classes,
        dtype=jnp.dtype(cfg.model.dtype),
        **cfg.model.kwargs.to_dict(),
    )
    spe = loader.steps_per_epoch(len(train_np["label"]), cfg.train.batch_size)
    tx = classification.build_optimizer(
        cfg.optimizer, spe, with_restarts=cfg.train.restart_patience > 0
    )
    example = jnp.zeros((1, *train_np["image"].shape[1:]), jnp.dtype(cfg.model.dtype))
    key = jax.random.PRNGKey(cfg.seed)
    state = parallel.create_sharded(
        lambda: TrainState.create(model=model, tx=tx, rng=key, example_input=example), mesh
    )
    restored = Checkpointer(Path(workdir) / "checkpoints", async_save=False).restore_latest(state)
    if restored is None:
        raise FileNotFoundError(f"{Path(workdir) / 'checkpoints'} holds no checkpoint to evaluate.")
    state = restored[0]
    return model, (state.params, state.model_state)
