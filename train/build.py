"""Config -> the objects of a run: the one place of train/ that reads a config's sections.

Every task's runner (``train.classification``, ``train.segmentation``, ``train.gan``) is
a short recipe over these builders::

    frame = build.start(config, workdir)                   # folder, mesh, keys, clock
    splits, names = build.load_splits(config.data)          # numpy, per role
    model = build.model(config, num_classes=len(names))
    tx = build.optimizer(config, build.steps_per_epoch(config, splits))
    state = build.sharded_state(lambda: TrainState.create(...), frame)
    result = build.fit(config, frame, state, steps, build.to_device(splits, frame))
    build.write_summary(frame, build.summary(config, frame, result))

The extensions of a run contribute objects, not branches of a runner: a curriculum an
``epoch_order`` (``train.curriculum``), transfer learning an initialiser and optimizer
groups (``train.transfer``), multitask learning the label views (``train.multitask``),
streamed data its splits (``streamed_splits``), a caller's own hooks ``extra_hooks``.

This module imports only ``jaxdl`` (and nothing of train/), so every other module of
train/ may use it.
"""

import inspect
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
import optax

from jaxdl import data as jdata
from jaxdl import models, optim, sharding
from jaxdl.data import derived_labels, imagenet, loader, preprocess, seg_sources
from jaxdl.data.readers.paired_folder import load_paired_folder
from jaxdl.models.pix2pix import sobel_edges
from jaxdl.nn import regularizers
from jaxdl.training import checkpoint, guards, hooks, loop, restarts
from jaxdl.training.console import Console, ProgressBar
from jaxdl.training.early_stopping import EarlyStop, EarlyStopping, RestartFromBest
from jaxdl.training.run import FitResult
from jaxdl.training.store import CheckpointOptions
from jaxdl.training.writers import MetricsFile, TensorBoard
from jaxdl.viz.hooks import Curves

ROLES = ("train", "val", "test")


class Frame(NamedTuple):
    """What every run starts from: its folder, the device mesh, its keys and its clock."""

    workdir: Path
    mesh: jax.sharding.Mesh | None  # None: fitted on the host (start(devices=False))
    keys: tuple[jax.Array, ...]  # jax.random.split(PRNGKey(config.seed), num_keys)
    t0: float  # time.perf_counter() at the start


def start(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    num_keys: int = 2,
    per_step_batch: int | None = None,
    devices: bool = True,
) -> Frame:
    """Creates ``workdir``, the mesh over every device, and the run's keys.

    Checks that the training batch (``per_step_batch``, default ``train.batch_size``)
    and the evaluation batch divide over the devices, before anything loads.
    ``devices=False`` (a model fitted on the host): no mesh, no batch checks.
    """
    t0 = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = sharding.make_mesh() if devices else None
    if devices:
        sharding.check_batch_size(per_step_batch or config.train.batch_size, mesh)
        sharding.check_batch_size(config.train.eval_batch_size, mesh)
    return Frame(workdir, mesh, start_keys(config, num_keys), t0)


def start_keys(config: ml_collections.ConfigDict, num_keys: int = 2) -> tuple[jax.Array, ...]:
    """A run's keys: ``jax.random.split(PRNGKey(config.seed), num_keys)`` (the first
    initialises the model, the second orders the data)."""
    return tuple(jax.random.split(jax.random.PRNGKey(config.seed), num_keys))


# ----------------------------------------------------------------------------- data


def split_specs(data: ml_collections.ConfigDict) -> dict[str, str]:
    """``{role: data.<role>_split}`` for each role of ``ROLES`` whose split is set."""
    return {role: data[f"{role}_split"] for role in ROLES if data[f"{role}_split"]}


def load_splits(data: ml_collections.ConfigDict) -> tuple[dict[str, dict], tuple[str, ...]]:
    """The classification splits of ``config.data`` as numpy dicts, and the class names.

    Each role of ``data.<role>_split`` that is set gets ``{'image', 'label'}`` plus the
    loader's own extra labels (``derived_labels.provided_labels``, e.g. CIFAR-100's
    coarse), restricted to ``data.classes`` and padded to ``data.pad_to`` when asked.
    """
    splits, names = {}, ()
    for role, spec in split_specs(data).items():
        loaded = jdata.load(data.name, spec, data_dir=data.data_dir or None, download=data.download)
        arrays = {"image": loaded.data["image"], "label": loaded.data["label"]}
        arrays.update(derived_labels.provided_labels(loaded.data))
        names = tuple(loaded.class_names)
        if data.classes:
            arrays, names = select_classes(arrays, names, tuple(data.classes))
        if data.pad_to:
            arrays["image"] = preprocess.pad_to(arrays["image"], data.pad_to)
        splits[role] = arrays
    return splits, names


def select_classes(
    arrays: dict[str, np.ndarray], names: tuple[str, ...], classes: tuple[int, ...]
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """The examples whose label is in ``classes``, relabelled ``0..k-1`` in that order.

    Example:
      >>> arrays = {"label": np.array([3, 0, 2, 3]), "image": np.arange(4)}
      >>> out, names = select_classes(arrays, ("a", "b", "c", "d"), (3, 2))
      >>> out["label"].tolist(), out["image"].tolist(), names
      ([0, 1, 0], [0, 2, 3], ('d', 'c'))
    """
    bad = [c for c in classes if not 0 <= c < len(names)]
    if bad or len(set(classes)) != len(classes):
        raise ValueError(
            f"data.classes={classes} must be distinct labels in [0, {len(names)}) of this "
            f"dataset ({', '.join(names)})."
        )
    relabel = np.full(len(names), -1, np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    keep = relabel[arrays["label"]] >= 0
    out = {k: v[keep] for k, v in arrays.items()}
    out["label"] = relabel[out["label"]].astype(arrays["label"].dtype)
    return out, tuple(names[c] for c in classes)


def is_streamed(data: ml_collections.ConfigDict) -> bool:
    """Whether ``data.name`` streams from disk (too large for device memory)."""
    return data.name in imagenet.STREAMING


def streamed_splits(
    data: ml_collections.ConfigDict, mesh: jax.sharding.Mesh, seed: int
) -> tuple[dict, tuple[str, ...]]:
    """The streamed splits of a dataset too large for device memory (``jaxdl.data.imagenet``)."""
    return imagenet.stream_splits(
        split_specs(data),
        mesh,
        name=data.name,
        data_dir=data.data_dir or None,
        image_size=data.image_size,
        train_crop=data.train_crop,
        scale_range=tuple(data.scale_range),
        eval_resize=data.eval_resize,
        seed=seed,
        num_workers=data.num_workers,
    )


def load_segmentation_splits(
    data: ml_collections.ConfigDict, seg: ml_collections.ConfigDict
) -> tuple[dict[str, dict[str, np.ndarray]], tuple[str, ...]]:
    """``{role: {'image': uint8 [N, H, W, C], 'label': uint8 [N, H, W]}}`` and class names
    of ``data.name`` (``jaxdl.data.seg_sources``), images resized to
    ``segmentation.image_size``; the cracks are generated from ``segmentation.data_seed``."""
    splits = {
        role: seg_sources.load_segmentation(
            data.name,
            spec,
            image_size=seg.image_size,
            seed=seg.data_seed,
            data_dir=data.data_dir or None,
            download=data.download,
        )
        for role, spec in split_specs(data).items()
    }
    if "train" not in splits:
        raise ValueError("data.train_split is empty: segmentation needs a training split.")
    return splits, seg_sources.segmentation_classes(data.name, splits["train"]["label"])


_PAIRED = "paired_folder:"


def mask_image(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices [N, H, W] -> a grey uint8 input [N, H, W, 1] (void labels -> 0).

    Example:
      >>> mask_image(np.array([[[0, 1, 2, 255]]]), 3)[..., 0].tolist()
      [[[0, 127, 254, 0]]]
    """
    step = 255 // max(num_classes - 1, 1)
    return np.where(labels < num_classes, labels * step, 0).astype(np.uint8)[..., None]


def load_generation_splits(
    config: ml_collections.ConfigDict,
) -> tuple[dict[str, dict], tuple[str, ...]]:
    """The splits of ``config.data`` for task 'gan', with pix2pix's inputs.

    ``gan.condition`` gives every split a ``'condition'``: ``'sobel_edges'``: binary
    Sobel edge maps of its images (edges -> image); ``'mask'``: the per-pixel masks of a
    segmentation dataset (``load_segmentation_splits``), the image is the target (crack
    mask -> surface); ``'paired'``: the input halves of a pix2pix folder
    (``data.name='paired_folder:<root>'``, ``jaxdl.data.readers.paired_folder``).
    """
    cond = config.gan.condition  # checked against data.name by train.validate_ranges
    if cond == "mask":
        splits, names = load_segmentation_splits(config.data, config.segmentation)
        for arrays in splits.values():
            arrays["condition"] = mask_image(arrays.pop("label"), len(names))
        return splits, names
    if cond == "paired":
        root, size = config.data.name[len(_PAIRED) :], config.segmentation.image_size or None
        splits = {
            role: load_paired_folder(root, spec, size, config.gan.paired_direction)
            for role, spec in split_specs(config.data).items()
        }
        return splits, ()
    splits, names = load_splits(config.data)
    for arrays in splits.values():
        if cond == "sobel_edges":
            arrays["condition"] = sobel_edges(arrays["image"], config.gan.edge_threshold)
    return splits, names


def to_device(splits: dict[str, dict[str, np.ndarray]], frame: Frame) -> dict[str, Any]:
    """Each role's numpy arrays as a device-resident split, sharded over ``frame.mesh``."""
    return {role: loader.to_device(arrays, frame.mesh) for role, arrays in splits.items()}


def steps_per_epoch(config: ml_collections.ConfigDict, train_size: int) -> int:
    """Training steps of one epoch of ``train_size`` examples at ``train.batch_size``."""
    return loader.steps_per_epoch(train_size, config.train.batch_size)


# ----------------------------------------------------------------- model, optimizer


def model(config: ml_collections.ConfigDict, num_classes: int):
    """``config.model.name`` with ``num_classes`` outputs, its dtype and ``model.kwargs``."""
    return models.create(
        config.model.name,
        num_classes=num_classes,
        dtype=jax.numpy.dtype(config.model.dtype),
        **config.model.kwargs.to_dict(),
    )


def schedule(config: ml_collections.ConfigDict, steps_per_epoch: int) -> tuple[Any, int]:
    """The learning-rate schedule of ``config.optimizer``'s updates, and ``every``.

    With gradient accumulation over ``every`` steps (``accumulate_steps``; 0 = a whole
    epoch, i.e. batch gradient descent) the inner optimizer and its schedule see one
    update per ``every`` loop steps, so the schedule's epoch is ``steps_per_epoch //
    every`` updates long. A cosine schedule without ``decay_epochs`` decays over the
    whole run (``train.num_epochs``).
    """
    opt = config.optimizer
    every = steps_per_epoch if opt.accumulate_steps == 0 else opt.accumulate_steps
    if every < 1 or steps_per_epoch % every:
        raise ValueError(
            f"optimizer.accumulate_steps={opt.accumulate_steps} must divide the "
            f"{steps_per_epoch} steps of an epoch (0 = the whole epoch: batch gradient "
            "descent), so that per-epoch schedules stay exact."
        )
    warmup = (opt.warmup_learning_rate, opt.warmup_epochs) if opt.warmup_epochs else None
    kwargs = opt.schedule_kwargs.to_dict()
    if opt.schedule in ("cosine", "warmup_cosine"):
        kwargs.setdefault("decay_epochs", config.train.num_epochs)
    out = optim.create_schedule(
        opt.schedule, opt.learning_rate, steps_per_epoch // every, constant_warmup=warmup, **kwargs
    )
    return out, every


def optimizer(
    config: ml_collections.ConfigDict,
    steps_per_epoch: int,
    *,
    groups: Callable[[optax.GradientTransformation], optax.GradientTransformation] | None = None,
    with_restarts: bool | None = None,
) -> optax.GradientTransformation:
    """The optax optimizer of ``config.optimizer`` (schedule, clipping, accumulation).

    ``groups`` (e.g. transfer learning's per-group learning rates) wraps the base
    optimizer, inside gradient accumulation and restarts. Restarts (``with_restarts``,
    default ``train.restart_patience > 0``) scale the updates by ``restarts``'s factor.
    """
    opt = config.optimizer
    rate, every = schedule(config, steps_per_epoch)
    kwargs = opt.kwargs.to_dict()
    factory = optim.OPTIMIZERS.get(opt.name)
    if factory is not None and "key" in inspect.signature(factory).parameters:
        kwargs.setdefault("key", config.seed)  # gradient noise: the run's seed unless given
    tx = optim.create(
        opt.name, rate, clipping=opt.clip, clipping_kwargs=opt.clip_kwargs.to_dict(), **kwargs
    )
    if opt.renormalize_filters > 0:  # ZFNet: constrain the updated params (last in chain)
        tx = optax.chain(tx, optim.renormalize_filters(opt.renormalize_filters))
    if groups is not None:
        tx = groups(tx)
    if every > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=every)
    if with_restarts is None:
        with_restarts = config.train.restart_patience > 0
    return restarts.with_restarts(tx) if with_restarts else tx


def penalty(loss: ml_collections.ConfigDict) -> Callable | None:
    """``params -> l1 * ||W||_1 + l2 * (1/2)||W||^2`` over kernels, or None."""
    if not loss.l1 and not loss.l2:
        return None
    return lambda params: (
        loss.l1 * regularizers.l1_penalty(params) + loss.l2 * regularizers.l2_penalty(params)
    )


def guard(config: ml_collections.ConfigDict, train_step: Callable) -> Callable:
    """``train_step`` skipping non-finite updates when ``train.on_nonfinite='skip'``."""
    return guards.skip_nonfinite(train_step) if config.train.on_nonfinite == "skip" else train_step


def sharded_state(init: Callable[[], Any], frame: Frame) -> Any:
    """``init()``'s state, created directly with its shardings on ``frame.mesh``."""
    return sharding.create_sharded(init, frame.mesh)


# --------------------------------------------------------------------- hooks, fit


def recipe_hooks(cfg: ml_collections.ConfigDict) -> list[hooks.Hook]:
    """Early stopping and restart-from-best of ``config.train`` (ranked runs only)."""
    if cfg.early_stopping_patience < 0:
        if cfg.restart_patience:
            raise ValueError(
                "train.restart_patience needs early stopping: set "
                "train.early_stopping_patience >= 0 (e.g. a large value to only restart)."
            )
        return []
    stop = EarlyStop(
        EarlyStopping(
            monitor=cfg.best_metric,
            mode=cfg.best_mode,
            patience=cfg.early_stopping_patience,
            min_delta=cfg.early_stopping_min_delta,
        )
    )
    if not cfg.restart_patience:
        return [stop]
    return [stop, RestartFromBest(stop, cfg.restart_patience, cfg.max_restarts, cfg.restart_decay)]


def run_hooks(
    config: ml_collections.ConfigDict,
    frame: Frame,
    device: dict[str, Any],
    ranked: bool,
    supervised: bool = True,
) -> list[hooks.Hook]:
    """The hooks of a command-line run: guard, recipes, learning rate, test, reporters.

    ``supervised``: the task minimises one loss with ``config.optimizer`` (log its
    learning rate, and say at the end when the loss did not fall); False for GANs.
    """
    cfg = config.train
    out: list[hooks.Hook] = [hooks.NonFinite(cfg.max_skipped_steps)]
    out += recipe_hooks(cfg) if ranked else []
    if supervised:
        spe = steps_per_epoch(config, device["train"].size)
        out.append(hooks.LearningRate(*schedule(config, spe)))
        out.append(hooks.TrainingHealth())
    if "test" in device:
        out.append(hooks.FinalEvaluation({"test": device["test"]}, cfg.final_from_best and ranked))
    out += [Console(), ProgressBar(None if cfg.progress else False)]
    out += [MetricsFile(), TensorBoard(), Curves(title=frame.workdir.name)]
    if os.environ.get("JAXDL_PHASE_FILE"):  # fault injection (reliability/fault_injection.py)
        out.append(hooks.PhaseMarks(os.environ["JAXDL_PHASE_FILE"]))
    return out + [hooks.StopOnSignal()]


def fit(
    config: ml_collections.ConfigDict,
    frame: Frame,
    state: Any,
    steps: tuple[Callable, Callable],
    device: dict[str, Any],
    *,
    ranked: bool = True,
    supervised: bool = True,
    epoch_order: Callable[[jax.Array, int], jax.Array] | None = None,
    extra_hooks: Sequence[hooks.Hook] = (),
) -> FitResult:
    """``loop.fit`` with the options and hooks of ``config.train`` (every task's runner).

    ``steps`` is ``(train_step, eval_step)``; ``train_step`` gets ``guard``. ``device``
    maps split roles to splits: 'train', and optionally 'val' (evaluated every
    ``eval_every_epochs``) and 'test' (evaluated once, at the end). ``ranked=False``
    (GANs: their losses do not rank checkpoints) keeps only the latest checkpoints and
    turns off the recipes that need a validation metric. ``epoch_order`` (e.g. a
    curriculum) is forwarded to ``loop.fit``; ``extra_hooks`` run beside the run's own.
    The data key is ``frame.keys[1]``.
    """
    cfg = config.train
    ranked = ranked and "val" in device
    options = loop.LoopOptions(
        batch_size=cfg.batch_size,
        num_epochs=cfg.num_epochs,
        eval_batch_size=cfg.eval_batch_size,
        log_every_steps=cfg.log_every_steps,
        eval_every_epochs=cfg.eval_every_epochs,
        max_steps=None if cfg.max_steps < 0 else cfg.max_steps,
        best_metric=cfg.best_metric if ranked else None,
        best_mode=cfg.best_mode,
    )
    train_step, eval_step = steps
    return loop.fit(
        state=state,
        train_step=guard(config, train_step),
        eval_step=eval_step,
        train=device["train"],
        evals={"val": device["val"]} if "val" in device else {},
        options=options,
        hooks=[*run_hooks(config, frame, device, ranked, supervised), *extra_hooks],
        workdir=frame.workdir,
        checkpoints=CheckpointOptions(max_to_keep=cfg.max_to_keep),
        data_key=frame.keys[1],
        mesh=frame.mesh,
        epoch_order=epoch_order,
    )


# ------------------------------------------------------------------------ summary


def count(tree: Any) -> int:
    """The number of scalars in a pytree of arrays."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def train_seconds(frame: Frame, result: FitResult) -> float:
    """Seconds of training over every call of this run: this call's plus those that
    earlier calls recorded in ``train_time.json`` (a resumed run), which it updates."""
    path = frame.workdir / "train_time.json"
    spent = result.wall_time
    if path.exists():  # a run file (train.workdir): an earlier call of this same run
        spent += json.loads(path.read_text())["train_wall_s"]
    path.write_text(json.dumps({"train_wall_s": spent}))
    return spent


def summary(
    config: ml_collections.ConfigDict,
    frame: Frame,
    result: FitResult,
    params: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """summary.json of a trained run: model, data, size, steps, health, speed, metrics.

    ``params`` names the parameter trees to count and digest (default ``{'params':
    state.params}``; a GAN's ``g_params`` and ``d_params``). ``train_wall_s`` sums every
    call of the run (``train_seconds``); ``steps_per_second`` is this call's. ``extra``
    entries come after the common ones and before the final metrics.
    """
    trees = {"params": result.state.params} if params is None else params
    return {
        "model": config.model.name,
        "dataset": config.data.name,
        **{name: count(tree) for name, tree in trees.items()},
        **{f"{name}_sha256": checkpoint.tree_digest(tree) for name, tree in trees.items()},
        "steps": int(result.state.step),
        "finished": result.finished,
        "healthy": not result.warnings,
        **({"warnings": result.warnings} if result.warnings else {}),
        "steps_per_second": round(result.steps_per_second, 2),
        "train_wall_s": round(train_seconds(frame, result), 1),
        **extra,
        **{k: round(v, 5) for k, v in result.final_metrics.items()},
    }


def write_summary(frame: Frame, summary: dict[str, Any], hide: Sequence[str] = ()) -> None:
    """Writes ``summary.json`` (with ``total_wall_s``) and prints its flat entries."""
    summary["total_wall_s"] = round(time.perf_counter() - frame.t0, 1)
    (frame.workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    flat = {k: v for k, v in summary.items() if not isinstance(v, dict | list) and k not in hide}
    print("summary: " + " ".join(f"{k}={v}" for k, v in flat.items()), flush=True)
