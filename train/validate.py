"""Config validation: unknown keys and invalid values fail before anything compiles."""

import difflib
from pathlib import Path
from typing import Any

import ml_collections

from train.configs import defaults

# Sub-dicts whose keys are free-form (forwarded as keyword arguments and checked by
# the function that receives them).
# task name -> module under train/ whose ``run(config, workdir)`` trains it.
TASKS = {
    "classification": "train.classification",
    "gan": "train.gan",
    "segmentation": "train.segmentation",
}

FREE_FORM = {
    "model.kwargs",
    "optimizer.kwargs",
    "optimizer.schedule_kwargs",
    "optimizer.clip_kwargs",
    "gan.generator",
    "gan.discriminator",
}


class ConfigError(ValueError):
    """A configuration key or value is invalid."""


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict) and path not in FREE_FORM:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks ``config`` against ``train/configs/defaults.py`` and basic value rules.

    Raises:
      ConfigError: naming the key, the problem and the fix.
    """
    schema = _flatten(defaults.get_config())
    given = _flatten(config)
    for key, value in given.items():
        if key not in schema:
            close = difflib.get_close_matches(key, schema, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown config key {key!r}.{hint} Valid keys are listed in "
                "train/configs/defaults.py."
            )
        want = type(schema[key])
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, want) and not isinstance(schema[key], ml_collections.ConfigDict):
            raise ConfigError(
                f"Config key {key!r} must be {want.__name__}, got {value!r} "
                f"({type(value).__name__})."
            )
    positive = [
        "train.batch_size",
        "train.eval_batch_size",
        "train.num_epochs",
        "train.log_every_steps",
        "train.eval_every_epochs",
        "train.max_to_keep",
    ]
    for key in positive:
        if given.get(key, 1) < 1:
            raise ConfigError(f"Config key {key!r} must be >= 1, got {given[key]}.")
    if given.get("optimizer.learning_rate", 1.0) <= 0:
        raise ConfigError(
            f"optimizer.learning_rate must be > 0, got {given['optimizer.learning_rate']}."
        )
    if given.get("model.dtype") not in ("float32", "bfloat16"):
        raise ConfigError(
            f"model.dtype must be 'float32' or 'bfloat16', got {given['model.dtype']!r}."
        )
    if given.get("train.best_mode") not in ("max", "min"):
        raise ConfigError(
            f"train.best_mode must be 'max' or 'min', got {given['train.best_mode']!r}."
        )
    if given.get("train.on_nonfinite") not in ("stop", "skip"):
        raise ConfigError(
            f"train.on_nonfinite must be 'stop' or 'skip', got {given['train.on_nonfinite']!r}."
        )
    model_kwargs = config.model.kwargs.to_dict()
    for key, value in model_kwargs.items():
        if key.endswith("dropout_rate") and not 0 <= value < 1:
            raise ConfigError(
                f"model.kwargs.{key} must be in [0, 1) (it is the DROP probability; the "
                f"course's keep probability p is 1 - rate), got {value}."
            )
    if "num_classes" in model_kwargs:
        raise ConfigError(
            "model.kwargs.num_classes must not be set: the class count comes from the "
            "dataset's class names (remove the key, or choose another data.name)."
        )
    if given.get("task") not in TASKS:
        raise ConfigError(f"task must be one of {sorted(TASKS)}, got {given.get('task')!r}.")
    if given.get("data.curriculum.score"):
        from train import curriculum  # pacing values, score file/run dir, streamed data

        try:
            curriculum.check(config)
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(str(e)) from None
    _check_init_from(given)
    if given.get("transfer.trunk_lr_factor", 1.0) < 0:
        raise ConfigError(
            "transfer.trunk_lr_factor must be >= 0 (the trunk's learning rate over the "
            f"head's; 0 freezes the trunk), got {given['transfer.trunk_lr_factor']}."
        )
    if given.get("multitask.tasks"):
        from train import multitask  # names and weights; the fit to the data is checked at load

        if given.get("task") != "classification":
            raise ConfigError(
                f"multitask.tasks is only used by task 'classification', not "
                f"{given.get('task')!r}; set multitask.tasks=''."
            )
        try:
            multitask.parse_tasks(given["multitask.tasks"])
        except ValueError as e:
            raise ConfigError(str(e)) from None


def _check_init_from(given: dict[str, Any]) -> None:
    """``model.init_from``: an existing torchvision .pth/.npz for a convertible model."""
    path = given.get("model.init_from", "")
    if not path:
        return
    from jaxdl.models.torchvision_weights import SUPPORTED

    if given.get("task") != "classification":
        raise ConfigError(
            f"model.init_from is only used by task 'classification', not {given['task']!r}; "
            "set model.init_from=''."
        )
    if Path(path).expanduser().is_dir():  # another run (transfer.py)
        if not (Path(path).expanduser() / "checkpoints").is_dir():
            raise ConfigError(
                f"model.init_from={path!r} is a directory without checkpoints/: give the "
                "--workdir of a trained `python -m train` run, or a torchvision .pth/.npz file."
            )
        return
    if given.get("model.name") not in SUPPORTED:
        raise ConfigError(
            f"model.init_from needs a model with a torchvision counterpart, not "
            f"{given.get('model.name')!r}: one of {', '.join(SUPPORTED)}."
        )
    file = Path(path).expanduser()
    if file.suffix not in (".pth", ".pt", ".npz"):
        raise ConfigError(
            f"model.init_from={path!r} must be a run directory or a torchvision state_dict "
            "file: .pth/.pt (needs torch) or .npz (np.savez of its arrays); '' trains from "
            "scratch."
        )
    if not file.is_file():
        raise ConfigError(
            f"model.init_from={path!r}: no such file ({file.absolute()}). Download the "
            "torchvision weights (e.g. https://download.pytorch.org/models/"
            "resnet18-f37072fd.pth) and give their path, or set model.init_from='' to "
            "train from scratch."
        )
