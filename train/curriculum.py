"""Config -> the curriculum's epoch order for ``loop.fit`` (``jaxdl.data.curriculum``).

  data.curriculum.score    '' (random order, the baseline) | a .npy of per-example
                           difficulty scores of the training split (higher = harder) |
                           a run directory: the per-example cross-entropy of that run's
                           latest model on this training split
  data.curriculum.pacing   linear | root | exponential
  data.curriculum.start    fraction of the easiest examples available at step 0
  data.curriculum.full_at  fraction of the training steps after which all are available

The pacing's time axis is the planned run, ``train.num_epochs`` epochs (``max_steps``
only interrupts it; resuming with more epochs, which the workdir check allows, stretches
the pacing from there on). The scores a run uses are saved in its workdir
(``curriculum_scores.npy``) and reused when it resumes, so a resumed run sees exactly
the batches of an uninterrupted one even if the reference could be re-evaluated
differently (another device count, another reduction order).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxdl.data import curriculum, loader, preprocess
from jaxdl.training import inference
from train import build, run_dir, transfer
from train.workdir import has_checkpoints

SCORES_FILE = "curriculum_scores.npy"
# Data keys that must agree between a reference run and this run: they fix which
# examples the training split holds, and in what order.
SAME_EXAMPLES = ("name", "train_split", "classes")


def check(config: ml_collections.ConfigDict) -> None:
    """Value checks of ``data.curriculum`` (cheap: nothing is loaded).

    Raises:
      ValueError: naming the key, the problem and the fix.
    """
    cur = config.data.curriculum
    if not cur.score:
        return
    try:
        curriculum.check_pacing(cur.pacing, cur.start, cur.full_at)
    except ValueError as e:
        raise ValueError(f"data.curriculum: {e}") from None
    if build.is_streamed(config.data):
        raise ValueError(
            f"data.curriculum.score is set, but {config.data.name!r} is streamed from disk: a "
            "curriculum samples batches from a device-resident training split. Use a dataset "
            "held on device, or set data.curriculum.score=''."
        )
    path = Path(cur.score).expanduser()
    if path.suffix == ".npy":
        if not path.is_file():
            raise FileNotFoundError(
                f"data.curriculum.score={cur.score!r}: no such file ({path.absolute()}). Save "
                "one score per training example with np.save, or give a run directory."
            )
    elif path.is_dir():
        if not (path / "config.json").is_file() or not (path / "checkpoints").is_dir():
            raise FileNotFoundError(
                f"data.curriculum.score={cur.score!r} is a directory without config.json and "
                "checkpoints/: give the --workdir of a trained `python -m train` run."
            )
    else:
        raise FileNotFoundError(
            f"data.curriculum.score={cur.score!r} is neither a .npy file nor a run directory "
            f"({path.absolute()} does not exist); '' trains in random order."
        )


def epoch_order(
    config: ml_collections.ConfigDict, n_train: int, workdir: Path, mesh: jax.sharding.Mesh
) -> curriculum.EpochOrder | None:
    """The curriculum's ``epoch_order`` for ``loop.fit``, or None for random order.

    Args:
      config: the run's config.
      n_train: examples of the training split.
      workdir: the run directory (the scores are saved there, and reused on resume).
      mesh: device mesh (a reference model is evaluated on it).

    Returns:
      ``(data_key, epoch) -> int32 [steps_per_epoch * batch_size]`` or None.
    """
    cur = config.data.curriculum
    if not cur.score:
        return None
    check(config)
    workdir = Path(workdir)
    saved, source = workdir / SCORES_FILE, Path(cur.score).expanduser()
    if has_checkpoints(workdir) and saved.is_file():
        scores = load_scores(saved, n_train)
    elif source.is_dir():
        scores = reference_losses(source, config, n_train, mesh)
    else:
        scores = load_scores(source, n_train)
    np.save(saved, scores)
    spe = build.steps_per_epoch(config, n_train)
    order = curriculum.curriculum_order(
        curriculum.difficulty_ranks(scores),
        batch_size=config.train.batch_size,
        steps_per_epoch=spe,
        total_steps=config.train.num_epochs * spe,
        pacing=cur.pacing,
        start=cur.start,
        full_at=cur.full_at,
    )
    print(
        f"curriculum: {cur.pacing} pacing of {n_train} examples ranked by {cur.score}, "
        f"{cur.start:.0%} at step 0, all from {cur.full_at:.0%} of the training steps",
        flush=True,
    )
    return order


def load_scores(path: Path, n_train: int) -> np.ndarray:
    """A .npy file of ``n_train`` finite scores, as float64 [N]."""
    try:
        scores = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"data.curriculum.score: cannot read {path} as a .npy array ({e})."
        ) from None
    if scores.shape != (n_train,):
        raise ValueError(
            f"data.curriculum.score: {path} holds an array of shape {scores.shape}, but the "
            f"training split has {n_train} examples: give one score per training example, "
            "in the split's order (the same data.name, train_split and classes)."
        )
    curriculum.difficulty_ranks(scores)  # finite, real: its errors name the problem
    return scores.astype(np.float64)


def reference_losses(
    run: Path, config: ml_collections.ConfigDict, n_train: int, mesh: jax.sharding.Mesh
) -> np.ndarray:
    """Per-example cross-entropy of run ``run``'s latest model on this training split.

    The reference model sees the training split through its own input pipeline (its
    ``pad_to`` and normalization; no augmentation), evaluated on device in batches of
    ``train.eval_batch_size``.
    """
    ref = run_dir.read_config(run)  # on today's defaults
    if ref.task != "classification" or ref.multitask.tasks:
        raise ValueError(
            f"data.curriculum.score={str(run)!r}: the reference run must be a single-task "
            f"classification run (task {ref.task!r}, multitask.tasks {ref.multitask.tasks!r})."
        )
    for key in SAME_EXAMPLES:
        mine, theirs = config.data[key], ref.data[key]
        if key == "classes":
            mine, theirs = tuple(mine), tuple(theirs)
        if mine != theirs:
            raise ValueError(
                f"data.curriculum.score={str(run)!r}: the reference run was trained with "
                f"data.{key}={theirs!r}, this run has {mine!r}; its scores would belong to "
                "other examples. Train the reference on the same split."
            )
    data = ml_collections.ConfigDict(ref.data.to_dict())
    data.val_split = data.test_split = ""
    data.data_dir = config.data.data_dir or data.data_dir
    splits, class_names = build.load_splits(data)
    train_np = splits["train"]
    if len(train_np["label"]) != n_train:
        raise ValueError(
            f"The reference run's training split has {len(train_np['label'])} examples, this "
            f"run's {n_train}: they must be the same examples."
        )
    model = build.model(ref, num_classes=len(class_names))
    variables = run_dir.read_variables(run, mesh=mesh)
    stats = transfer.image_stats(ref, train_np["image"])  # the reference's own normalisation
    pre = preprocess.image_preprocess(*stats, None, jnp.dtype(ref.model.dtype))
    split = loader.to_device(train_np, mesh)
    losses = inference.per_example_losses(
        model.apply, variables, pre, split, config.train.eval_batch_size
    )
    print(
        f"curriculum: reference {run}: mean training loss {losses.mean():.4f}, "
        f"scores in [{losses.min():.3g}, {losses.max():.3g}]",
        flush=True,
    )
    return losses
