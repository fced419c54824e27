"""Segmentation metrics as exact sums: per-class pixel counts, IoU, Dice, mIoU, accuracy.

For each class c, over every valid pixel of a split: the intersection ``I_c = #(pred =
c and label = c)``, ``P_c = #(pred = c)`` and ``T_c = #(label = c)``. Then ``IoU_c =
I_c / (P_c + T_c - I_c)`` (IoU of the whole set, not a mean of per-batch IoUs),
``Dice_c = 2 I_c / (P_c + T_c)``, mIoU the mean IoU over the classes present, pixel
accuracy ``sum_c I_c / sum_c T_c``. ``PixelCounts`` is the mergeable metric that holds
the counts (sums over batches and devices are exact while a class's total stays below
2^24 pixels, float32).

References:
  Everingham et al. The PASCAL VOC challenge. IJCV 2010 (IoU over the whole test set).
  Long, Shelhamer, Darrell. Fully convolutional networks for semantic segmentation.
  CVPR 2015 (pixel accuracy, mean IoU).
"""

import re

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.training.metrics import Metric

__all__ = ["PixelCounts", "class_key", "confusion_counts"]


def confusion_counts(
    predictions: jax.Array, labels: jax.Array, num_classes: int, weights: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Weighted pixel counts ``(I_c, P_c, T_c)``, each [num_classes] float32.

    ``I_c = sum w [pred = c][label = c]``, ``P_c = sum w [pred = c]``,
    ``T_c = sum w [label = c]`` over every pixel (``weights`` 0 removes a pixel).

    Example:
      >>> pred, labels = jnp.array([[0, 1, 1]]), jnp.array([[0, 1, 0]])
      >>> inter, predicted, true = confusion_counts(pred, labels, 2, jnp.ones(labels.shape))
      >>> [c.tolist() for c in (inter, predicted, true)]
      [[1.0, 1.0], [1.0, 2.0], [2.0, 1.0]]
    """
    p = jax.nn.one_hot(predictions, num_classes, dtype=jnp.float32) * weights[..., None]
    t = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) * weights[..., None]
    axes = tuple(range(p.ndim - 1))
    return jnp.sum(p * t, axes), jnp.sum(p, axes), jnp.sum(t, axes)


def class_key(name: str) -> str:
    """The metric-name form of a class name: ``'Crack width'`` -> ``'crack_width'``."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "class"


@flax.struct.dataclass
class PixelCounts(Metric):
    """Mergeable per-class pixel counts ``I_c``, ``P_c``, ``T_c`` (float32 [C] each).

    ``compute()`` gives ``iou_<class>``, ``dice_<class>`` per class, ``miou`` (a class
    absent from predictions and labels has IoU/Dice NaN and is left out of the mean)
    and ``accuracy`` (pixel accuracy), all over everything merged so far.

    Example:
      >>> pred = jnp.array([[0, 1, 1, 0]]); labels = jnp.array([[0, 1, 0, 0]])
      >>> m = PixelCounts.from_model_output(pred, labels, ("background", "crack"))
      >>> scores = m.compute()  # crack: I = 1, P = 2, T = 1; background: I = 2, P = 2, T = 3
      >>> [round(scores[k], 4) for k in ("iou_crack", "iou_background", "miou", "accuracy")]
      [0.5, 0.6667, 0.5833, 0.75]
    """

    intersection: jax.Array
    predicted: jax.Array
    true: jax.Array
    class_names: tuple[str, ...] = flax.struct.field(pytree_node=False, default=())

    @classmethod
    def from_model_output(cls, predictions, labels, class_names, weights=None, **_):
        """Counts of one batch; ``weights`` (default 1) of 0 remove a pixel."""
        weights = jnp.ones(labels.shape, jnp.float32) if weights is None else weights
        counts = confusion_counts(predictions, labels, len(class_names), weights)
        return cls(*counts, class_names=tuple(class_names))

    def merge(self, other: "PixelCounts") -> "PixelCounts":
        return self.replace(
            intersection=self.intersection + other.intersection,
            predicted=self.predicted + other.predicted,
            true=self.true + other.true,
        )

    def compute(self) -> dict[str, float]:
        i, p, t = (
            np.asarray(x, np.float64) for x in (self.intersection, self.predicted, self.true)
        )
        union, out, ious = p + t - i, {}, []
        for c, name in enumerate(self.class_names):
            k = class_key(name)
            out[f"iou_{k}"] = i[c] / union[c] if union[c] > 0 else float("nan")
            out[f"dice_{k}"] = 2 * i[c] / (p[c] + t[c]) if p[c] + t[c] > 0 else float("nan")
            if union[c] > 0:
                ious.append(out[f"iou_{k}"])
        out["miou"] = float(np.mean(ious)) if ious else float("nan")
        out["accuracy"] = i.sum() / t.sum() if t.sum() > 0 else float("nan")
        return {k: float(v) for k, v in out.items()}
