"""Image classification: ``config`` -> ``train.build``'s objects -> ``fit`` -> summary.json.

The data stay on the devices (``data.name`` of ``jaxdl.data``) or stream from disk
(ImageNet). The extensions contribute through the builder: multitask learning the
label views (``train.multitask``), transfer learning the head, optimizer groups and
initial variables (``train.transfer``), a curriculum the epoch order
(``train.curriculum``).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections

from jaxdl.data import preprocess
from jaxdl.training import steps
from jaxdl.training.run import FitResult
from jaxdl.training.state import TrainState
from train import augment_spec, build, curriculum, multitask, transfer


def input_pipeline(config: ml_collections.ConfigDict, train_images, shape: tuple[int, ...]):
    """``preprocess(batch, key, train)``: normalisation and ``data.augment``.

    The statistics are ``transfer.image_stats``'s; AlexNet's PCA lighting takes the
    training pixels' PCA. The augmentation is traced once on shapes, so bad sizes fail
    before anything compiles.
    """
    spec = config.data.augment
    streamed = build.is_streamed(config.data)
    if streamed and augment_spec.needs_pca(spec):
        raise ValueError(
            f"data.augment {spec!r}: pca_lighting needs the training pixels' PCA, computed "
            "only for datasets held on device; streamed datasets do not support it yet. "
            "Remove pca_lighting from data.augment."
        )
    pca = preprocess.rgb_pca(train_images) if augment_spec.needs_pca(spec) else None
    augment = augment_spec.from_config(spec, pca=pca)
    if augment is not None:
        jax.eval_shape(augment, jax.random.PRNGKey(0), jax.ShapeDtypeStruct((2, *shape), "f4"))
    stats = transfer.image_stats(config, train_images)
    return preprocess.image_preprocess(*stats, augment, jnp.dtype(config.model.dtype))


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> FitResult:
    """Trains and evaluates the classifier described by ``config`` in ``workdir``.

    Writes the loop's files there (checkpoints, metrics, curves) and ``summary.json``;
    a workdir holding checkpoints of this run resumes from the latest.
    """
    frame = build.start(config, workdir)
    streamed = build.is_streamed(config.data)
    if streamed:  # already on the mesh; crops and flips happen on the host, per example
        splits, names = build.streamed_splits(config.data, frame.mesh, config.seed)
        n_train, shape = splits["train"].size, (config.data.image_size,) * 2 + (3,)
        train_images = None
    else:
        splits, names = build.load_splits(config.data)
        train_images = splits["train"]["image"]
        n_train, shape = len(train_images), train_images.shape[1:]
    tasks = multitask.prepare(config.multitask.tasks, splits, names, streamed)
    model = build.model(config, tasks.num_classes)
    example = jnp.zeros((1, *shape), jnp.dtype(config.model.dtype))
    head = transfer.heads(config, model, example)
    groups = transfer.optimizer_groups(config, head)
    tx = build.optimizer(config, build.steps_per_epoch(config, n_train), groups=groups)
    train_step, eval_step = steps.classification_steps(
        input_pipeline(config, train_images, shape),
        penalty=build.penalty(config.loss),
        aux_loss_weight=config.loss.aux_loss_weight,
        label_smoothing=config.loss.label_smoothing,
        freeze=transfer.freeze(config, head),
        tasks=tasks.views,
    )
    init_key, _ = frame.keys
    state = build.sharded_state(
        lambda: TrainState.create(model=model, tx=tx, rng=init_key, example_input=example), frame
    )
    state = transfer.initialise(state, config, head, frame.workdir, frame.mesh)
    device = splits if streamed else build.to_device(splits, frame)
    order = curriculum.epoch_order(config, n_train, frame.workdir, frame.mesh)  # None: random
    result = build.fit(config, frame, state, (train_step, eval_step), device, epoch_order=order)
    build.write_summary(frame, build.summary(config, frame, result))
    return result
