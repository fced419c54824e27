"""Config validation: unknown keys and invalid values fail before anything compiles."""

import difflib
import re
from pathlib import Path
from typing import Any

import ml_collections

from jaxdl.data.cracks import CRACK_CLASSES
from jaxdl.data.seg_tfds import SEG_DATASETS
from jaxdl.models.gan import GAN_MODELS
from jaxdl.models.torchvision_weights import SUPPORTED
from jaxdl.training.segmentation import class_key
from train import curriculum, multitask, validate_ranges
from train.configs import defaults
from train.validate_ranges import ConfigError

__all__ = ["FREE_FORM", "TASKS", "ConfigError", "validate"]

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
    """Checks ``config`` against ``train/configs/defaults.py`` and the value rules.

    Types and unknown keys, then the ranges of ``train.validate_ranges``, the choices,
    the files named by the config and ``train.best_metric``.

    Raises:
      ConfigError: one line naming the key, the value, the problem and the fix.
    """
    _check_loaded(config)
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
        wrong = not isinstance(value, want) or (want is not bool and isinstance(value, bool))
        if wrong and not isinstance(schema[key], ml_collections.ConfigDict):
            raise ConfigError(
                f"Config key {key!r} must be {want.__name__}, got {value!r} "
                f"({type(value).__name__})."
            )
    problem = validate_ranges.check(given, schema)
    if problem:
        raise ConfigError(problem)
    if "num_classes" in config.model.kwargs.to_dict():
        raise ConfigError(
            "model.kwargs.num_classes must not be set: the class count comes from the "
            "dataset's class names (remove the key, or choose another data.name)."
        )
    if given.get("task") not in TASKS:
        raise ConfigError(f"task must be one of {sorted(TASKS)}, got {given.get('task')!r}.")
    if given.get("data.curriculum.score"):
        try:
            curriculum.check(config)
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(str(e)) from None
    for key in ("model.init_from", "multitask.tasks"):
        if given.get(key) and given.get("task") != "classification":
            raise ConfigError(
                f"{key} is only used by task 'classification', not {given.get('task')!r}; "
                f"set {key}=''."
            )
    _check_init_from(given)
    if given.get("multitask.tasks"):
        try:
            multitask.parse_tasks(given["multitask.tasks"])
        except ValueError as e:
            raise ConfigError(str(e)) from None
    _check_generator(config, given)
    _check_best_metric(given)


def _check_generator(config: ml_collections.ConfigDict, given: dict[str, Any]) -> None:
    """Task 'gan': a generator family, its fields in gan.*, and pix2pix with a condition."""
    if given.get("task") != "gan":
        return
    name = given.get("model.name")
    if name != "gaussian" and name not in GAN_MODELS:
        raise ConfigError(
            f"model.name {name!r} is not a generator; use 'gaussian' or one of "
            f"{sorted(GAN_MODELS)} for task 'gan'."
        )
    if config.model.kwargs.to_dict():
        raise ConfigError(
            "task 'gan' takes generator/discriminator fields in gan.generator / "
            "gan.discriminator, not model.kwargs."
        )
    conditional = name != "gaussian" and GAN_MODELS[name][2] == "image"
    if name != "gaussian" and conditional != bool(given.get("gan.condition")):
        raise ConfigError(
            f"model {name!r} {'needs' if conditional else 'takes no'} gan.condition "
            f"(got {given.get('gan.condition')!r}); pix2pix needs gan.condition "
            "'sobel_edges', 'mask' or 'paired'."
        )


def _check_init_from(given: dict[str, Any]) -> None:
    """``model.init_from``: an existing torchvision .pth/.npz for a convertible model."""
    path = given.get("model.init_from", "")
    if not path:
        return
    file = Path(path).expanduser()
    if file.is_dir():  # another run (transfer.py)
        if not (file / "checkpoints").is_dir():
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


def _check_loaded(config: Any) -> None:
    """The ``--config`` file loaded: ml_collections defers a missing file's error to the
    first use of the config (an object that raises OSError), and passes on whatever
    ``get_config()`` returned."""
    if isinstance(config, ml_collections.ConfigDict):
        return
    try:
        error = object.__getattribute__(config, "_error")  # ml_collections' _ErrorConfig
    except AttributeError:
        raise ConfigError(
            f"The --config file's get_config() returned {type(config).__name__}, not an "
            "ml_collections.ConfigDict: start from train.configs.defaults.get_config() and "
            "return it."
        ) from None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = re.sub(r"^\[Errno \d+\] ", "", lines[-1] if lines else repr(error))
    raise ConfigError(
        f"Cannot load the --config file ({cause}): pass the path of a config module, e.g. "
        "--config=train/configs/mnist_mlp.py (the configs are in train/configs/)."
    )


def _metric_names(given: dict[str, Any]) -> tuple[list[str], tuple[str, ...]]:
    """The validation metrics the task reports, and prefixes of names known only at load."""
    names = ["val_loss", "val_accuracy"]
    if given.get("task") == "classification":
        names.append("val_top5_accuracy")
        if given.get("multitask.tasks"):
            for task, _ in multitask.parse_tasks(given["multitask.tasks"]):
                names += [f"val_{task}_loss", f"val_{task}_accuracy"]
        return names, ()
    names.append("val_miou")
    data = str(given.get("data.name", ""))
    tfds = SEG_DATASETS.get(data[len("tfds:") :]) if data.startswith("tfds:") else None
    classes = CRACK_CLASSES if data == "cracks" else tfds.classes if tfds is not None else None
    if classes is None:  # a folder's classes are read with its masks
        return names, ("val_iou_", "val_dice_")
    for prefix in ("val_iou_", "val_dice_"):
        names += [prefix + class_key(c) for c in classes]
    return names, ()


def _check_best_metric(given: dict[str, Any]) -> None:
    """``train.best_metric`` is a metric the task's evaluation reports (GANs do not rank)."""
    if given.get("task") == "gan":
        return
    metric = given.get("train.best_metric", "")
    names, prefixes = _metric_names(given)
    if metric in names or any(metric.startswith(p) and len(metric) > len(p) for p in prefixes):
        return
    known = ", ".join(names + [f"{p}<class>" for p in prefixes])
    raise ConfigError(
        f"train.best_metric={metric!r} is not a metric of task {given.get('task')!r}: "
        f"choose one of {known} (with train.best_mode 'min' for losses, 'max' otherwise)."
    )
