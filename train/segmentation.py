"""Config -> objects -> ``fit`` for semantic segmentation (U-Net and baselines).

Data: ``data.name = 'cracks'`` (the procedural crack dataset, generated on device, split
strings over ``train`` / ``val`` / ``test``), ``'seg_folder:<path>'`` (image + mask
folders, ``jaxdl.data.readers.seg_folder``) or ``'tfds:<name>'``
(``jaxdl.data.seg_tfds``: Oxford-IIIT Pet, for users with internet or a prepared TFDS
folder). The model is any registered model that returns per-pixel logits; a valid-
convolution U-Net gets the paper's overlap-tile input padding so its output covers the
whole image. Evaluation sums pixel counts (``PixelCounts``): the exact IoU / Dice /
accuracy over each split are reported at every evaluation (so ``train.best_metric`` may
be ``val_miou``) and written to ``scores.jsonl`` and ``summary.json``. Pictures of the
first validation examples are drawn at every evaluation (``pictures/val_step*.png``) and
of the test examples at the end (``pictures/test_step*.png`` and ``predictions_test.png``).
"""

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxdl import models
from jaxdl.data import loader, preprocess
from jaxdl.data.cracks import CRACK_CLASSES, load_cracks
from jaxdl.data.readers.seg_folder import load_seg_folder, seg_folder_classes
from jaxdl.data.seg_tfds import load_tfds_segmentation
from jaxdl.training import checkpoint, guards, parallel
from jaxdl.training import segmentation as seg
from jaxdl.training.metrics import compute_metrics
from jaxdl.training.run import FitResult
from jaxdl.training.state import TrainState
from jaxdl.viz.segmentation import PredictionProbe, save_prediction_grid
from train import augment_spec
from train.classification import build_optimizer, build_penalty, fit_from_config, health

_FOLDER = "seg_folder:"
_TFDS = "tfds:"
_EVAL_SPLITS = ("val", "test")


def load_segmentation_splits(
    data: ml_collections.ConfigDict, cfg: ml_collections.ConfigDict
) -> tuple[dict[str, dict[str, np.ndarray]], tuple[str, ...]]:
    """``{role: {'image': uint8 [N, H, W, C], 'label': uint8 [N, H, W]}}`` and class names."""
    splits, classes = {}, None
    for role in ("train", "val", "test"):
        spec = data[f"{role}_split"]
        if not spec:
            continue
        if data.name == "cracks":
            splits[role] = load_cracks(spec, seed=cfg.data_seed, size=cfg.image_size)
        elif data.name.startswith(_FOLDER):
            root = data.name[len(_FOLDER) :]
            splits[role] = load_seg_folder(root, spec, image_size=cfg.image_size or None)
        elif data.name.startswith(_TFDS):
            splits[role], classes = load_tfds_segmentation(
                data.name[len(_TFDS) :],
                spec,
                cfg.image_size,
                data_dir=data.data_dir or None,
                download=data.download,
            )
        else:
            raise ValueError(
                "Segmentation data.name must be 'cracks', 'seg_folder:<path>' or "
                f"'tfds:<name>', got {data.name!r}."
            )
    if "train" not in splits:
        raise ValueError("data.train_split is empty: segmentation needs a training split.")
    if data.name == "cracks":
        return splits, CRACK_CLASSES
    if classes is not None:
        return splits, classes
    return splits, seg_folder_classes(data.name[len(_FOLDER) :], splits["train"]["label"])


def threshold_scores(splits: dict, names: tuple[str, ...]) -> dict[str, float]:
    """The training-set-tuned intensity threshold, scored like the models (foreground 1)."""
    t, train_iou = seg.threshold_baseline(splits["train"]["image"], splits["train"]["label"])
    out = {"threshold": t, "threshold_train_iou": round(train_iou, 5)}
    for role in _EVAL_SPLITS:
        if role not in splits:
            continue
        pred = (splits[role]["image"][..., 0] <= t).astype(np.int32)
        labels = jnp.asarray(splits[role]["label"], jnp.int32)
        counts = seg.PixelCounts.from_model_output(jnp.asarray(pred), labels, names)
        scores = compute_metrics({"pixels": counts}, f"threshold_{role}")
        out.update({k: round(v, 5) for k, v in scores.items()})
    return out


def _write_scores(workdir: Path, history: list[dict]) -> list[dict]:
    """The validation scores of every evaluation, one JSON line each."""
    rows = [
        {k: v for k, v in r.items() if k in ("step", "epoch") or k.startswith("val_")}
        for r in history
    ]
    (workdir / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def run(config: ml_collections.ConfigDict, workdir: str | Path) -> FitResult:
    """Trains and evaluates the segmentation model described by ``config`` in ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cfg = config.segmentation
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.train.batch_size, mesh)
    parallel.check_batch_size(config.train.eval_batch_size, mesh)
    if cfg.num_pictures > config.train.eval_batch_size:
        raise ValueError(
            f"segmentation.num_pictures={cfg.num_pictures} must be <= train.eval_batch_size="
            f"{config.train.eval_batch_size} (pictures come from the first eval batch)."
        )
    dtype = jnp.dtype(config.model.dtype)
    splits, names = load_segmentation_splits(config.data, cfg)
    binary = cfg.loss == "binary_ce"
    model = models.create(
        config.model.name,
        num_classes=1 if binary else len(names),
        dtype=dtype,
        **config.model.kwargs.to_dict(),
    )
    train_np = splits["train"]
    spe = loader.steps_per_epoch(len(train_np["label"]), config.train.batch_size)
    tx = build_optimizer(config.optimizer, spe, with_restarts=config.train.restart_patience > 0)
    augment = augment_spec.from_config(config.data.augment)
    valid_unet = getattr(model, "padding", None) == "valid"
    pre = seg.segmentation_preprocess(
        *preprocess.channel_stats(train_np["image"]),
        augment,
        dtype,
        overlap_tile_depth=model.depth if valid_unet else None,
    )
    probe = None
    if cfg.num_pictures:
        probe = PredictionProbe(cfg.num_pictures, workdir / "pictures", _EVAL_SPLITS, names, mesh)
    train_step, eval_step = seg.segmentation_steps(
        pre,
        names,
        loss=cfg.loss,
        class_weights=tuple(cfg.class_weights) or None,
        ce_weight=cfg.ce_weight,
        dice_weight=cfg.dice_weight,
        penalty=build_penalty(config.loss),
        probe=probe,
    )
    if config.train.on_nonfinite == "skip":
        train_step = guards.skip_nonfinite(train_step)
    root = jax.random.PRNGKey(config.seed)
    init_key, data_key = jax.random.split(root)
    raw = {"image": jnp.zeros((1, *train_np["image"].shape[1:]), jnp.uint8)}
    raw["label"] = jnp.zeros((1, *train_np["label"].shape[1:]), jnp.uint8)
    example = pre(raw, init_key, False)["image"]  # [1, H', W', C]: padded for a valid U-Net
    state = parallel.create_sharded(
        lambda: TrainState.create(model=model, tx=tx, rng=init_key, example_input=example), mesh
    )
    device = {}
    for role, arrays in splits.items():
        if role in _EVAL_SPLITS:  # lets the probe find each split's first examples
            n = len(arrays["label"])
            arrays = {**arrays, "index": np.arange(n, dtype=np.int32)}
            arrays["split_id"] = np.full(n, _EVAL_SPLITS.index(role), np.int32)
        device[role] = loader.to_device(arrays, mesh)
    result = fit_from_config(config, state, train_step, eval_step, device, workdir, data_key, mesh)
    jax.effects_barrier()  # the probe's host callbacks of the last evaluation have run
    rows = _write_scores(workdir, result.history) if "val" in device else []
    final = result.final_metrics
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
        **({"last_val": {k: round(v, 5) for k, v in rows[-1].items()}} if rows else {}),
        **{k: round(v, 5) for k, v in final.items()},
    }
    if cfg.threshold_baseline and len(names) == 2 and train_np["image"].shape[-1] == 1:
        summary["baseline"] = threshold_scores(splits, names)
    if probe is not None and "test" in probe.last:
        images, labels, probs, step = probe.last["test"]
        key = f"test_iou_{seg.class_key(names[-1])}"
        title = f"{config.model.name}, test, step {step}"
        if key in final:
            title += f": IoU({names[-1]}) {final[key]:.3f} over the test set"
        save_prediction_grid(images, labels, probs, workdir / "predictions_test.png", title, names)
    summary["total_wall_s"] = round(time.perf_counter() - t0, 1)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    flat = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    print("summary: " + " ".join(f"{k}={v}" for k, v in flat.items()), flush=True)
    return result
