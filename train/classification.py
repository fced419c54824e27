"""Config -> objects -> ``fit`` for image classification (the only place reading configs)."""

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxdl import data as jdata
from jaxdl import models, optim
from jaxdl.data import imagenet, loader, preprocess
from jaxdl.models import torchvision_weights
from jaxdl.nn import regularizers
from jaxdl.training import checkpoint, guards, hooks, loop, parallel, restarts, steps
from jaxdl.training.console import Console, ProgressBar
from jaxdl.training.early_stopping import EarlyStop, EarlyStopping, RestartFromBest
from jaxdl.training.run import FitResult
from jaxdl.training.state import TrainState
from jaxdl.training.store import CheckpointOptions
from jaxdl.training.writers import MetricsFile, TensorBoard
from jaxdl.viz.hooks import Curves
from train import augment_spec, curriculum, multitask, transfer
from train import workdir as workdirs


def load_splits(cfg: ml_collections.ConfigDict) -> tuple[dict[str, dict], tuple[str, ...]]:
    """Loads the train/val/test splits named in ``cfg`` as numpy dicts (padded if asked)."""
    splits, names = {}, ()
    for role in ("train", "val", "test"):
        spec = cfg[f"{role}_split"]
        if not spec:
            continue
        loaded = jdata.load(cfg.name, spec, data_dir=cfg.data_dir or None, download=cfg.download)
        arrays = {"image": loaded.data["image"], "label": loaded.data["label"]}
        arrays.update(multitask.provided_labels(loaded.data))  # e.g. CIFAR-100's coarse
        names = tuple(loaded.class_names)
        if cfg.classes:
            arrays, names = select_classes(arrays, names, tuple(cfg.classes))
        if cfg.pad_to:
            arrays["image"] = preprocess.pad_to(arrays["image"], cfg.pad_to)
        splits[role] = arrays
    return splits, names


def select_classes(
    arrays: dict[str, np.ndarray], names: tuple[str, ...], classes: tuple[int, ...]
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """The examples whose label is in ``classes``, relabelled ``0..k-1`` in that order.

    Example:
      >>> select_classes(mnist, names, (5, 6, 7, 8, 9))  # digits 5-9 as labels 0-4
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


def streamed_splits(
    cfg: ml_collections.ConfigDict, mesh, seed: int
) -> tuple[dict, tuple[str, ...]]:
    """The streamed splits of a dataset too large for device memory (``jaxdl.data.imagenet``)."""
    roles = {
        role: cfg[f"{role}_split"] for role in ("train", "val", "test") if cfg[f"{role}_split"]
    }
    return imagenet.stream_splits(
        roles,
        mesh,
        name=cfg.name,
        data_dir=cfg.data_dir or None,
        image_size=cfg.image_size,
        train_crop=cfg.train_crop,
        scale_range=tuple(cfg.scale_range),
        eval_resize=cfg.eval_resize,
        seed=seed,
        num_workers=cfg.num_workers,
    )


def build_schedule(cfg: ml_collections.ConfigDict, steps_per_epoch: int) -> tuple[Any, int]:
    """The config's learning-rate schedule of the optimizer's updates, and ``every``.

    With gradient accumulation over ``every`` steps (``accumulate_steps``; 0 = a whole
    epoch, i.e. batch gradient descent) the inner optimizer and its schedule see one
    update per ``every`` loop steps, so the schedule's epoch is ``steps_per_epoch //
    every`` updates long.
    """
    every = steps_per_epoch if cfg.accumulate_steps == 0 else cfg.accumulate_steps
    if every < 1 or steps_per_epoch % every:
        raise ValueError(
            f"optimizer.accumulate_steps={cfg.accumulate_steps} must divide the "
            f"{steps_per_epoch} steps of an epoch (0 = the whole epoch: batch gradient "
            "descent), so that per-epoch schedules stay exact."
        )
    warmup = (cfg.warmup_learning_rate, cfg.warmup_epochs) if cfg.warmup_epochs else None
    schedule = optim.create_schedule(
        cfg.schedule,
        cfg.learning_rate,
        steps_per_epoch // every,
        constant_warmup=warmup,
        **cfg.schedule_kwargs.to_dict(),
    )
    return schedule, every


def build_optimizer(
    cfg: ml_collections.ConfigDict,
    steps_per_epoch: int,
    with_restarts: bool = False,
    groups: Callable[[optax.GradientTransformation], optax.GradientTransformation] | None = None,
):
    """The optax optimizer of the config (schedule, clipping, accumulation, restarts).

    ``groups`` (e.g. transfer learning's per-group learning rates) wraps the base
    optimizer, inside gradient accumulation and restarts. The schedule and the
    accumulation are ``build_schedule``'s.
    """
    schedule, every = build_schedule(cfg, steps_per_epoch)
    tx = optim.create(
        cfg.name,
        schedule,
        clipping=cfg.clip,
        clipping_kwargs=cfg.clip_kwargs.to_dict(),
        **cfg.kwargs.to_dict(),
    )
    if cfg.renormalize_filters > 0:  # ZFNet: constrain the updated params (last in chain)
        tx = optax.chain(tx, optim.renormalize_filters(cfg.renormalize_filters))
    if groups is not None:
        tx = groups(tx)
    if every > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=every)
    return restarts.with_restarts(tx) if with_restarts else tx


def build_penalty(cfg: ml_collections.ConfigDict):
    """``params -> l1 * ||W||_1 + l2 * (1/2)||W||^2`` over kernels, or None."""
    if not cfg.l1 and not cfg.l2:
        return None

    def penalty(params):
        return cfg.l1 * regularizers.l1_penalty(params) + cfg.l2 * regularizers.l2_penalty(params)

    return penalty


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
    workdir: Path,
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
        spe = loader.steps_per_epoch(device["train"].size, cfg.batch_size)
        out.append(hooks.LearningRate(*build_schedule(config.optimizer, spe)))
        out.append(hooks.TrainingHealth())
    if "test" in device:
        out.append(hooks.FinalEvaluation({"test": device["test"]}, cfg.final_from_best and ranked))
    out += [Console(), ProgressBar(None if cfg.progress else False)]
    out += [MetricsFile(), TensorBoard(), Curves(title=workdir.name)]
    if os.environ.get("JAXDL_PHASE_FILE"):  # fault injection (train/fault_injection.py)
        out.append(hooks.PhaseMarks(os.environ["JAXDL_PHASE_FILE"]))
    return out + [hooks.StopOnSignal()]


def fit_from_config(
    config: ml_collections.ConfigDict,
    state: Any,
    train_step: Callable,
    eval_step: Callable,
    device: dict[str, Any],
    workdir: Path,
    data_key: jax.Array,
    mesh: jax.sharding.Mesh,
    *,
    ranked: bool = True,
    epoch_order: Callable[[jax.Array, int], jax.Array] | None = None,
    supervised: bool = True,
) -> FitResult:
    """``loop.fit`` with the options and hooks of ``config.train`` (every task's runner).

    ``device`` maps split roles to device-resident arrays: 'train', and optionally 'val'
    (evaluated every ``eval_every_epochs``) and 'test' (evaluated once, at the end).
    ``ranked=False`` (GANs: their losses do not rank checkpoints) keeps only the latest
    checkpoints and turns off the recipes that need a validation metric.
    ``epoch_order`` (e.g. a curriculum, ``train.curriculum``) is forwarded to ``loop.fit``.
    ``supervised``: see ``run_hooks``.
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
    return loop.fit(
        state=state,
        train_step=train_step,
        eval_step=eval_step,
        train=device["train"],
        evals={"val": device["val"]} if "val" in device else {},
        options=options,
        hooks=run_hooks(config, workdir, device, ranked, supervised),
        workdir=workdir,
        checkpoints=CheckpointOptions(max_to_keep=cfg.max_to_keep),
        data_key=data_key,
        mesh=mesh,
        epoch_order=epoch_order,
    )


def health(result: FitResult) -> dict[str, Any]:
    """``{"healthy": bool}`` plus the run's warnings, for summary.json."""
    return {
        "healthy": not result.warnings,
        **({"warnings": result.warnings} if result.warnings else {}),
    }


def init_from_pretrained(
    state: TrainState, model_cfg: ml_collections.ConfigDict, workdir: Path, mesh: jax.sharding.Mesh
) -> TrainState:
    """The fresh ``state`` with the variables of ``model.init_from`` (a torchvision file).

    Transfer learning: the converted trunk replaces the fresh one; classifier heads of
    another class count (and variables the file lacks) stay fresh; the optimizer
    state is re-initialised for the new parameters. A run resuming from its own
    checkpoint keeps it: the file is then not read.
    """
    if workdirs.has_checkpoints(workdir):
        print(f"init_from: not applied, the run resumes from its checkpoints in {workdir}")
        return state
    name = model_cfg.name
    loaded = models.load_torchvision_weights(name, model_cfg.init_from, num_classes=None)
    fresh = {"params": state.params, **state.model_state}
    variables, kept = torchvision_weights.transfer(fresh, loaded, name)
    print(
        f"init_from: {name} variables from {model_cfg.init_from}; kept fresh (new head or "
        f"absent from the file): {', '.join(kept) or 'none'}",
        flush=True,
    )
    return transfer.with_variables(state, variables, mesh)


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> FitResult:
    """Trains and evaluates the classifier described by ``config`` in ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.train.batch_size, mesh)
    parallel.check_batch_size(config.train.eval_batch_size, mesh)
    dtype = jnp.dtype(config.model.dtype)
    streamed = config.data.name in imagenet.STREAMING
    if streamed:
        splits, class_names = streamed_splits(config.data, mesh, config.seed)
    else:
        splits, class_names = load_splits(config.data)
    tasks = multitask.prepare(config.multitask.tasks, splits, class_names, streamed)
    model = models.create(
        config.model.name,
        num_classes=tasks.num_classes,
        dtype=dtype,
        **config.model.kwargs.to_dict(),
    )
    train_np = splits["train"]
    if streamed:  # crops and flips happen on the host, per example
        n_train, shape = train_np.size, (config.data.image_size, config.data.image_size, 3)
    else:
        n_train, shape = len(train_np["label"]), train_np["image"].shape[1:]
    spe = loader.steps_per_epoch(n_train, config.train.batch_size)
    order = curriculum.epoch_order(config, n_train, workdir, mesh)  # None: random order
    example = jnp.zeros((1, *shape), dtype)
    head = transfer.heads(config, model, example)
    tx = build_optimizer(
        config.optimizer,
        spe,
        with_restarts=config.train.restart_patience > 0,
        groups=transfer.optimizer_groups(config, head),
    )
    spec = config.data.augment
    if streamed:
        stats = (imagenet.IMAGENET_MEAN, imagenet.IMAGENET_STD)
    else:
        stats = preprocess.channel_stats(train_np["image"])
    # AlexNet's colour augmentation: the training pixels' PCA, kept with the statistics.
    if streamed and augment_spec.needs_pca(spec):
        raise ValueError(
            f"data.augment {spec!r}: pca_lighting needs the training pixels' PCA, computed "
            "only for datasets held on device; streamed datasets do not support it yet. "
            "Remove pca_lighting from data.augment."
        )
    pca = preprocess.rgb_pca(train_np["image"]) if augment_spec.needs_pca(spec) else None
    augment = augment_spec.from_config(spec, pca=pca)
    if augment is not None:  # trace once on shapes only: bad sizes fail before compiling
        images = jax.ShapeDtypeStruct((2, *shape), jnp.float32)
        jax.eval_shape(augment, jax.random.PRNGKey(0), images)
    if config.model.init_from and not transfer.from_run(config):  # torchvision: ImageNet's
        stats = torchvision_weights.IMAGENET_MEAN_STD
    pre = preprocess.image_preprocess(*stats, augment, dtype)
    train_step, eval_step = steps.classification_steps(
        pre,
        penalty=build_penalty(config.loss),
        aux_loss_weight=config.loss.aux_loss_weight,
        label_smoothing=config.loss.label_smoothing,
        freeze=transfer.freeze(config, head),
        tasks=tasks.views,
    )
    if config.train.on_nonfinite == "skip":
        train_step = guards.skip_nonfinite(train_step)
    root = jax.random.PRNGKey(config.seed)
    init_key, data_key = jax.random.split(root)
    state = parallel.create_sharded(
        lambda: TrainState.create(model=model, tx=tx, rng=init_key, example_input=example), mesh
    )
    if transfer.from_run(config):
        state = transfer.init_from_run(state, config, head, workdir, mesh)
    elif config.model.init_from:
        state = init_from_pretrained(state, config.model, workdir, mesh)
    if streamed:
        device = splits
    else:
        device = {role: loader.to_device(arrays, mesh) for role, arrays in splits.items()}
    result = fit_from_config(
        config, state, train_step, eval_step, device, workdir, data_key, mesh, epoch_order=order
    )
    summary = {
        "model": config.model.name,
        "dataset": config.data.name,
        "params": int(sum(np.prod(x.shape) for x in jax.tree.leaves(result.state.params))),
        "params_sha256": checkpoint.tree_digest(result.state.params),
        "steps": int(result.state.step),
        "finished": result.finished,
        **health(result),
        "steps_per_second": round(result.steps_per_second, 2),
        "train_wall_s": round(result.wall_time, 1),
        "total_wall_s": round(time.perf_counter() - t0, 1),
        **{k: round(v, 5) for k, v in result.final_metrics.items()},
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    print("summary: " + " ".join(f"{k}={v}" for k, v in summary.items()), flush=True)
    return result
