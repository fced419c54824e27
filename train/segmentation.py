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
from pathlib import Path

import jax.numpy as jnp
import ml_collections

from jaxdl.data import preprocess
from jaxdl.training import segmentation as seg
from jaxdl.training.run import FitResult
from jaxdl.training.state import TrainState
from jaxdl.viz.segmentation import PredictionProbe, save_prediction_grid
from train import augment_spec, build


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
    cfg = config.segmentation
    frame = build.start(config, workdir)
    splits, names = build.load_segmentation_splits(config.data, cfg)
    model = build.model(config, 1 if cfg.loss == "binary_ce" else len(names))
    train_np = splits["train"]
    tx = build.optimizer(config, build.steps_per_epoch(config, len(train_np["label"])))
    valid_unet = getattr(model, "padding", None) == "valid"
    pre = seg.segmentation_preprocess(
        *preprocess.channel_stats(train_np["image"]),
        augment_spec.from_config(config.data.augment),
        jnp.dtype(config.model.dtype),
        overlap_tile_depth=model.depth if valid_unet else None,
    )
    probe = None
    if cfg.num_pictures:  # drawn from the first eval batch: train.validate_ranges' rule
        probe = PredictionProbe(
            cfg.num_pictures, frame.workdir / "pictures", ("val", "test"), names, frame.mesh
        )
    steps = seg.segmentation_steps(
        pre,
        names,
        loss=cfg.loss,
        class_weights=tuple(cfg.class_weights) or None,
        ce_weight=cfg.ce_weight,
        dice_weight=cfg.dice_weight,
        penalty=build.penalty(config.loss),
        probe=probe,
    )
    init_key, _ = frame.keys
    raw = {k: jnp.zeros((1, *train_np[k].shape[1:]), jnp.uint8) for k in ("image", "label")}
    example = pre(raw, init_key, False)["image"]  # [1, H', W', C]: padded for a valid U-Net
    state = build.sharded_state(
        lambda: TrainState.create(model=model, tx=tx, rng=init_key, example_input=example), frame
    )
    device = build.to_device(probe.mark(splits) if probe else splits, frame)
    result = build.fit(config, frame, state, steps, device, extra_hooks=[probe] if probe else [])
    rows = _write_scores(frame.workdir, result.history) if "val" in device else []
    last = {"last_val": {k: round(v, 5) for k, v in rows[-1].items()}} if rows else {}
    summary = build.summary(config, frame, result, **last)
    if cfg.threshold_baseline and len(names) == 2 and train_np["image"].shape[-1] == 1:
        summary["baseline"] = seg.threshold_scores(splits, names)
    if probe is not None and "test" in probe.last:
        images, labels, probs, step = probe.last["test"]
        key = f"test_iou_{seg.class_key(names[-1])}"
        title = f"{config.model.name}, test, step {step}"
        if key in result.final_metrics:
            title += f": IoU({names[-1]}) {result.final_metrics[key]:.3f} over the test set"
        path = frame.workdir / "predictions_test.png"
        save_prediction_grid(images, labels, probs, path, title, names)
    build.write_summary(frame, summary)
    return result
