"""A ``python -m train`` run directory, read back: its config and its model variables.

The one way to read a run: its ``config.json`` onto today's defaults, and the variables
of a checkpoint read raw (numpy arrays; no model, optimizer or data rebuilt to give the
restore a target). Used by transfer learning (``model.init_from``), curriculum
references (``data.curriculum.score``), ``train.visualize``, ``train.doctor`` and the
test-time augmentation / ensemble tool (``train.experiments.tta_ensemble``).
"""

import json
from pathlib import Path

import jax
import ml_collections

from jaxdl import sharding
from jaxdl.training.transfer import read_variables as read_raw
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


def read_variables(
    workdir: str | Path, step: int | None = None, mesh: jax.sharding.Mesh | None = None
) -> tuple[dict, dict]:
    """``(params, model_state)`` of the run's latest checkpoint (or the one at ``step``).

    Numpy arrays, or replicated on ``mesh`` when one is given.

    Raises:
      FileNotFoundError: the run holds no checkpoint (at ``step``).
      CorruptCheckpointError: the checkpoint differs from the digest saved with it.
    """
    params, model_state, _ = read_raw(workdir, step)
    if mesh is None:
        return params, model_state
    return jax.device_put((params, model_state), sharding.replicated(mesh))
