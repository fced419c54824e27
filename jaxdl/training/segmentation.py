"""Segmentation: per-pixel losses, IoU/Dice metrics as exact sums, and the step functions.

Shapes: logits ``[B, H, W, K]`` (K = num_classes for softmax, K = 1 for a sigmoid head of
a 2-class problem), labels integer class indices ``[B, H, W]``. A label outside
``[0, num_classes)`` (e.g. 255, "void" in VOC-style masks) is IGNORED by losses and
metrics, like padded examples (eval ``mask`` = 0).

Losses (per pixel, then a weighted mean over the valid pixels of the batch):

- softmax cross-entropy ``-log softmax(z)_y`` and binary cross-entropy
  ``-[y log s(z) + (1-y) log(1-s(z))]``; with ``class_weights`` w the mean is
  ``sum_i w_{y_i} l_i / sum_i w_{y_i}`` (PyTorch's weighted-mean convention): a weight
  per class counters the imbalance of thin structures (cracks are ~3% of pixels). The
  paper's weight map w(x) (border term for touching cells) is not implemented.
- soft Dice loss ``1 - mean_c (2 sum p_c g_c + eps) / (sum p_c + sum g_c + eps)`` over the
  foreground classes c (every class but 0), sums over all valid pixels of the batch.

Metrics are accumulated as SUMS of pixel counts over the whole evaluation set (the
mergeable metric ``PixelCounts``), so they are exact with padded batches and over any
number of devices: for each class c, the intersection ``I_c = #(pred = c and label =
c)``, ``P_c = #(pred = c)`` and ``T_c = #(label = c)``. Then ``IoU_c = I_c / (P_c + T_c -
I_c)`` (IoU of the whole set, not a mean of per-batch IoUs), ``Dice_c = 2 I_c / (P_c +
T_c)``, mIoU the mean IoU over classes present, pixel accuracy ``sum_c I_c / sum_c
T_c``; the loop reports them at every evaluation (``val_iou_<class>``, ``val_miou``,
...), so checkpoints can be ranked by ``val_miou``.

References:
  Long, Shelhamer, Darrell. Fully convolutional networks for semantic segmentation.
  CVPR 2015 (per-pixel cross-entropy; pixel accuracy, mean IoU).
  Ronneberger, Fischer, Brox. U-Net. MICCAI 2015 (pixel-wise softmax + cross-entropy).
  Milletari, Navab, Ahmadi. V-Net. 3DV 2016 (Dice loss).
  Everingham et al. The PASCAL VOC challenge. IJCV 2010 (IoU over the whole test set).
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.models.unet import center_crop_to, overlap_tile_pad
from jaxdl.optim import evaluation_point
from jaxdl.training.metrics import Average, Metric, compute_metrics
from jaxdl.training.segmentation_metrics import PixelCounts, class_key, confusion_counts
from jaxdl.training.state import TrainState
from jaxdl.training.steps import apply_model

__all__ = [
    "LOSSES",
    "PixelCounts",
    "binary_cross_entropy",
    "class_key",
    "class_probabilities",
    "confusion_counts",
    "dice_loss",
    "segmentation_preprocess",
    "segmentation_steps",
    "softmax_cross_entropy",
    "threshold_baseline",
    "threshold_scores",
]

LOSSES = ("softmax_ce", "binary_ce")
Batch = dict[str, jax.Array]


def _weights(labels: jax.Array, num_classes: int, class_weights, mask=None) -> jax.Array:
    """Per-pixel weight [B, H, W]: w_label for valid labels, 0 for ignored pixels/examples."""
    valid = (labels >= 0) & (labels < num_classes)
    w = valid.astype(jnp.float32)
    if class_weights is not None:
        cw = jnp.asarray(class_weights, jnp.float32)
        if cw.shape != (num_classes,):
            raise ValueError(
                f"class_weights must have one weight per class ({num_classes}), got {cw.shape}."
            )
        w = w * cw[jnp.clip(labels, 0, num_classes - 1)]
    if mask is not None:
        w = w * mask.astype(jnp.float32)[:, None, None]
    return w


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-pixel ``-log softmax(logits)[label]`` in float32, [B, H, W] (0 where ignored).

    Example:
      >>> ce = softmax_cross_entropy(jnp.zeros((1, 4, 4, 2)), jnp.zeros((1, 4, 4), int))
      >>> ce.shape, round(float(ce[0, 0, 0]), 4)  # log 2: two equal logits
      ((1, 4, 4), 0.6931)
    """
    k = logits.shape[-1]
    ce = optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), jnp.clip(labels, 0, k - 1)
    )
    return jnp.where((labels >= 0) & (labels < k), ce, 0.0)


def binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-pixel sigmoid cross-entropy of ``[B, H, W, 1]`` logits vs 0/1 labels, [B, H, W].

    Example:
      >>> bce = binary_cross_entropy(jnp.zeros((1, 4, 4, 1)), jnp.ones((1, 4, 4), int))
      >>> round(float(bce.mean()), 4)  # -log sigmoid(0)
      0.6931
    """
    if logits.shape[-1] != 1:
        raise ValueError(f"binary_cross_entropy needs [B, H, W, 1] logits, got {logits.shape}.")
    z = logits[..., 0].astype(jnp.float32)
    bce = optax.sigmoid_binary_cross_entropy(z, (labels == 1).astype(jnp.float32))
    return jnp.where((labels == 0) | (labels == 1), bce, 0.0)


def class_probabilities(logits: jax.Array) -> jax.Array:
    """Per-pixel class probabilities [B, H, W, C]: softmax, or (1 - s, s) for one logit."""
    logits = logits.astype(jnp.float32)
    if logits.shape[-1] == 1:
        p = jax.nn.sigmoid(logits)
        return jnp.concatenate([1.0 - p, p], axis=-1)
    return jax.nn.softmax(logits, axis=-1)


def dice_loss(probs: jax.Array, labels: jax.Array, weights: jax.Array, eps: float = 1.0):
    """Soft Dice loss over the foreground classes (1..C-1), sums over the batch's pixels.

    Args:
      probs: [B, H, W, C] class probabilities.
      labels: [B, H, W] integer labels.
      weights: [B, H, W] 0/1 validity of each pixel.
      eps: smoothing added to numerator and denominator (empty classes give loss 0).

    Returns:
      Scalar ``1 - mean_{c >= 1} (2 sum p_c g_c + eps) / (sum p_c + sum g_c + eps)``.

    Example:
      >>> labels = jnp.array([[[0, 1], [1, 0]]])  # [1, 2, 2]
      >>> probs = jax.nn.one_hot(labels, 2)  # a perfect prediction
      >>> round(float(dice_loss(probs, labels, jnp.ones(labels.shape))), 4)
      0.0
    """
    C = probs.shape[-1]
    g = jax.nn.one_hot(labels, C, dtype=jnp.float32) * weights[..., None]  # [B, H, W, C]
    p = probs.astype(jnp.float32) * weights[..., None]
    inter = jnp.sum(p * g, axis=(0, 1, 2))[1:]  # [C - 1]
    denom = jnp.sum(p, axis=(0, 1, 2))[1:] + jnp.sum(g, axis=(0, 1, 2))[1:]
    return 1.0 - jnp.mean((2.0 * inter + eps) / (denom + eps))


def segmentation_preprocess(
    mean: np.ndarray,
    std: np.ndarray,
    augment: Callable | None = None,
    dtype: Any = jnp.float32,
    overlap_tile_depth: int | None = None,
) -> Callable[[Batch, jax.Array, bool], Batch]:
    """Builds ``preprocess(batch, key, train)``: uint8 images + masks -> model inputs.

    ``image`` uint8 [B, H, W, C] -> [0, 1] -> (training) ``augment(key, x, masks=label)``
    applied JOINTLY to image and label -> ``(x - mean) / std`` -> (valid U-Net) mirror
    padding of the overlap-tile strategy -> ``dtype``; ``label`` -> int32 [B, H, W].

    Example:
      >>> pre = segmentation_preprocess(np.array([0.5]), np.array([0.25]))  # of x / 255
      >>> batch = {"image": np.full((1, 2, 2, 1), 255, np.uint8), "label": np.ones((1, 2, 2))}
      >>> out = pre(batch, jax.random.PRNGKey(0), False)
      >>> out["image"][0, 0, 0, 0], out["label"].dtype
      (Array(2., dtype=float32), dtype('int32'))
    """
    mean = jnp.asarray(mean, jnp.float32)
    inv_std = jnp.asarray(1.0 / np.maximum(std, 1e-8), jnp.float32)

    def preprocess(batch: Batch, key: jax.Array, train: bool) -> Batch:
        x = batch["image"].astype(jnp.float32) / 255.0  # [B, H, W, C]
        labels = batch["label"].astype(jnp.int32) if "label" in batch else None  # [B, H, W]
        if train and augment is not None:
            x, labels = augment(key, x, masks=labels)
        x = (x - mean) * inv_std
        if overlap_tile_depth is not None:
            x = overlap_tile_pad(x, overlap_tile_depth)
        out = {**batch, "image": x.astype(dtype)}
        return out if labels is None else {**out, "label": labels}

    return preprocess


def _align(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Centre-crop whichever of logits/labels is larger (valid convolutions shrink maps)."""
    h, w = min(logits.shape[1], labels.shape[1]), min(logits.shape[2], labels.shape[2])
    return center_crop_to(logits, h, w), center_crop_to(labels, h, w)


def segmentation_steps(
    preprocess: Callable[[Batch, jax.Array, bool], Batch],
    class_names: Sequence[str],
    loss: str = "softmax_ce",
    class_weights: Sequence[float] | None = None,
    ce_weight: float = 1.0,
    dice_weight: float = 0.0,
    penalty: Callable[[Any], jax.Array] | None = None,
    probe: Callable[[Batch, jax.Array, jax.Array], None] | None = None,
) -> tuple[Callable, Callable]:
    """Builds the segmentation ``train_step`` and ``eval_step`` for ``jaxdl.training.loop.fit``.

    Args:
      preprocess: ``(batch, key, train) -> batch`` (see ``segmentation_preprocess``).
      class_names: names of the label classes (their number C fixes the metrics).
      loss: ``'softmax_ce'`` (model outputs C logits) or ``'binary_ce'`` (C = 2, one logit).
      class_weights: optional per-class weights of the cross-entropy.
      ce_weight: weight of the cross-entropy term (0: Dice only).
      dice_weight: weight of the Dice term (0: cross-entropy only).
      penalty: optional ``params -> scalar`` added to the loss.
      probe: optional traced ``(raw_batch, probs, step) -> None`` called by ``eval_step``
        on batches carrying an ``index`` entry (``jaxdl.viz.segmentation.PredictionProbe``
        draws pictures at every evaluation with it).

    Returns:
      ``(train_step, eval_step)``. ``train_step``'s metrics: ``loss`` (the cross-entropy,
      without Dice or penalty terms), ``dice_loss`` (when ``dice_weight > 0``),
      ``accuracy`` (pixel accuracy), ``iou`` (last class, this batch), ``grad_norm``.
      ``eval_step`` returns mergeable metrics: ``loss`` (the mean over images of each
      image's mean cross-entropy) and ``pixels`` (``PixelCounts``: ``iou_<class>``,
      ``dice_<class>``, ``miou``, ``accuracy`` over the whole split).

    Example:
      >>> pre = segmentation_preprocess(np.array([0.5]), np.array([0.25]))
      >>> train_step, eval_step = segmentation_steps(pre, ("background", "crack"))
    """
    C = len(class_names)
    if loss not in LOSSES:
        raise ValueError(f"Unknown segmentation loss {loss!r}; use one of {LOSSES}.")
    if loss == "binary_ce" and C != 2:
        raise ValueError(f"loss='binary_ce' needs exactly 2 classes, got {C}; use 'softmax_ce'.")
    if ce_weight < 0 or dice_weight < 0 or ce_weight + dice_weight == 0:
        raise ValueError(
            f"ce_weight and dice_weight must be >= 0 and not both 0, got {ce_weight}, "
            f"{dice_weight}."
        )
    pixel_ce = binary_cross_entropy if loss == "binary_ce" else softmax_cross_entropy

    def objective(logits, labels, mask=None):
        """(total loss, {'loss': CE, 'dice_loss': ...}, per-image CE [B], probs, valid)."""
        valid = _weights(labels, C, None, mask)
        w = _weights(labels, C, class_weights, mask)
        ce_px = pixel_ce(logits, labels)  # [B, H, W]
        ce = jnp.sum(w * ce_px) / jnp.maximum(jnp.sum(w), 1e-12)
        ce_img = jnp.sum(w * ce_px, (1, 2)) / jnp.maximum(jnp.sum(w, (1, 2)), 1e-12)
        probs = class_probabilities(logits)
        terms = {"loss": ce}  # the cross-entropy, reported like the eval step's
        total = ce_weight * ce
        if dice_weight:
            terms["dice_loss"] = dice_loss(probs, labels, valid)
            total = total + dice_weight * terms["dice_loss"]
        return total, terms, ce_img, probs, valid

    def loss_fn(params, state, batch, key):
        logits, new_model_state = apply_model(state, params, batch["image"], True, key)
        logits, labels = _align(logits, batch["label"])
        total, terms, _, probs, valid = objective(logits, labels)
        if penalty is not None:
            total = total + penalty(params)
        return total, (terms, probs, labels, valid, new_model_state)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        aug_key, model_key = jax.random.split(state.step_key())
        batch = preprocess(batch, aug_key, True)
        at = evaluation_point(state.opt_state, state.params)
        grads, (terms, probs, labels, valid, new_model_state) = jax.grad(loss_fn, has_aux=True)(
            at, state, batch, model_key
        )
        updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            model_state=new_model_state,
            opt_state=opt_state,
        )
        inter, pred, true = confusion_counts(probs.argmax(-1), labels, C, valid)
        metrics = {
            **terms,
            "accuracy": jnp.sum(inter) / jnp.maximum(jnp.sum(true), 1.0),
            # Batch IoU of the last class (the foreground of a binary task), for monitoring.
            "iou": inter[-1] / jnp.maximum(pred[-1] + true[-1] - inter[-1], 1.0),
            "grad_norm": optax.global_norm(grads),
        }
        return new_state, metrics

    def eval_step(state: TrainState, batch: Batch) -> dict[str, Metric]:
        raw = batch
        batch = preprocess(batch, jax.random.PRNGKey(0), False)
        logits, _ = apply_model(state, state.params, batch["image"], False, state.rng)
        logits, labels = _align(logits, batch["label"])
        mask = batch["mask"]  # [B]: 0 for the padding of the last batch
        _, _, ce_img, probs, valid = objective(logits, labels, mask)
        if probe is not None and "index" in raw:
            probe(raw, probs, state.step)
        return {
            "loss": Average.from_model_output(ce_img, mask=mask),
            "pixels": PixelCounts.from_model_output(probs.argmax(-1), labels, class_names, valid),
        }

    return train_step, eval_step


def threshold_baseline(
    train_images: np.ndarray, train_labels: np.ndarray, dark: bool = True
) -> tuple[int, float]:
    """The intensity threshold maximising the training set's foreground IoU.

    A pixel is called foreground when its grey value is ``<= t`` (``dark=True``, e.g.
    cracks) or ``> t``; ``t`` is searched over all 256 levels with cumulative histograms
    (exact, one pass).

    Args:
      train_images: uint8 [N, H, W] or [N, H, W, 1] grey images.
      train_labels: [N, H, W] 0/1 labels (1 = foreground).
      dark: whether the foreground is darker than the background.

    Returns:
      ``(t, training IoU at t)``; evaluate it with ``confusion_counts`` on ``x <= t``.

    Example:
      >>> images = np.array([[[[10], [200]], [[30], [220]]]], np.uint8)  # dark = crack
      >>> threshold_baseline(images, np.array([[[1, 0], [1, 0]]]))
      (30, 1.0)
    """
    x = np.asarray(train_images).reshape(-1).astype(np.int64)
    y = np.asarray(train_labels).reshape(-1) == 1
    if x.shape != y.shape:
        raise ValueError(
            f"threshold_baseline needs one grey channel: {x.size} pixels vs {y.size} labels."
        )
    all_h = np.bincount(x, minlength=256).astype(np.float64)
    fg_h = np.bincount(x[y], minlength=256).astype(np.float64)
    if not dark:
        all_h, fg_h = all_h[::-1], fg_h[::-1]
    inter, pred = np.cumsum(fg_h), np.cumsum(all_h)  # predictions of "value <= t"
    iou = inter / np.maximum(pred + y.sum() - inter, 1.0)
    best = int(np.argmax(iou))
    return (best if dark else 254 - best), float(iou[best])


def threshold_scores(
    splits: dict[str, dict[str, np.ndarray]], names: Sequence[str], roles=("val", "test")
) -> dict[str, float]:
    """``threshold_baseline`` tuned on ``splits['train']``, scored on ``roles`` like a model.

    A pixel is foreground (class 1) when its grey value is ``<= t``. Returns the
    threshold, its training IoU and, per evaluated split, the ``PixelCounts`` metrics
    prefixed ``threshold_<role>_``.
    """
    t, train_iou = threshold_baseline(splits["train"]["image"], splits["train"]["label"])
    out = {"threshold": t, "threshold_train_iou": round(train_iou, 5)}
    for role in roles:
        if role not in splits:
            continue
        pred = (splits[role]["image"][..., 0] <= t).astype(np.int32)
        labels = jnp.asarray(splits[role]["label"], jnp.int32)
        counts = PixelCounts.from_model_output(jnp.asarray(pred), labels, tuple(names))
        scores = compute_metrics({"pixels": counts}, f"threshold_{role}")
        out.update({k: round(v, 5) for k, v in scores.items()})
    return out
