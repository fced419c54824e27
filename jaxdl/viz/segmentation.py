"""Segmentation pictures: input / ground truth / predicted probability / overlay grids (PNG).

``save_prediction_grid`` draws one row per example with four panels: the input image,
the ground-truth mask, the predicted probability of the foreground class (for more than
two classes: the predicted class map) and an overlay of the prediction on the input,
coloured by outcome (green: true positive, red: false positive, blue: missed).

``PredictionProbe`` brings the predictions of the first examples of an evaluation split
to the host while the training loop evaluates (a ``jax.debug.callback`` from inside the
jitted eval step), so the runner can draw them at every evaluation without a second
forward pass or access to the loop's (donated) state.

References:
  Ronneberger, Fischer, Brox. U-Net. MICCAI 2015 (figure 3/4 style: input, ground
  truth, segmentation result).
"""

import logging
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from jax.sharding import Mesh

from jaxdl.models.unet import center_crop_to
from jaxdl.training.parallel import replicated
from jaxdl.training.run import Hook
from jaxdl.viz.plots import new_figure, save_figure

__all__ = ["PredictionProbe", "overlay", "save_prediction_grid"]


def overlay(image: np.ndarray, label: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """RGB float [H, W, 3]: grey input with TP green, FP red, FN blue (foreground = 1..C-1).

    Args:
      image: [H, W] or [H, W, C] image, any range (rescaled to [0, 1] for display).
      label: [H, W] integer ground truth.
      pred: [H, W] integer prediction.

    Returns:
      The blended picture in [0, 1].

    Example:
      >>> img = np.zeros((1, 3))
      >>> gt, prob = np.array([[1, 1, 0]]), np.array([[0.9, 0.2, 0.7]])
      >>> overlay(img, gt, prob > 0.5)[0].round(3)  # TP green, missed blue, FP red
      array([[0.065, 0.585, 0.065],
             [0.13 , 0.26 , 0.65 ],
             [0.65 , 0.065, 0.065]])
    """
    img = np.asarray(image, np.float64)
    grey = img.mean(-1) if img.ndim == 3 else img
    lo, hi = grey.min(), grey.max()
    grey = (grey - lo) / (hi - lo) if hi > lo else np.zeros_like(grey)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    label, pred = np.asarray(label), np.asarray(pred)
    fg_t, fg_p = label > 0, pred > 0
    colours = {
        (0.1, 0.9, 0.1): fg_t & fg_p & (label == pred),  # true positive
        (1.0, 0.1, 0.1): fg_p & ~(fg_t & (label == pred)),  # false positive / wrong class
        (0.2, 0.4, 1.0): fg_t & ~fg_p,  # missed
    }
    for colour, where in colours.items():
        rgb[where] = 0.35 * rgb[where] + 0.65 * np.asarray(colour)
    return np.clip(rgb, 0.0, 1.0)


def save_prediction_grid(
    images: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    path: str | Path,
    title: str = "",
    class_names: Sequence[str] | None = None,
) -> Path:
    """Writes the input / ground truth / probability / overlay grid of a few examples.

    Args:
      images: [N, H, W, C] images (uint8 or float).
      labels: [N, H, W] integer ground truth.
      probs: [N, H, W, K] predicted class probabilities (K >= 2).
      path: output PNG path (parent folders are created).
      title: figure title (e.g. the step and the IoU).
      class_names: names for the panel titles (default: class indices).

    Returns:
      The written path.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> x, y = np.zeros((2, 8, 8, 1), np.uint8), np.zeros((2, 8, 8), np.int64)
      >>> p = np.full((2, 8, 8, 2), 0.5)  # [N, H, W, K] class probabilities
      >>> workdir = Path(tempfile.mkdtemp())
      >>> save_prediction_grid(x, y, p, workdir / "pictures" / "final.png").name
      'final.png'
    """
    images, labels, probs = np.asarray(images), np.asarray(labels), np.asarray(probs)
    n, K = images.shape[0], probs.shape[-1]
    if (
        labels.shape[0] != n
        or probs.shape[:3] != labels.shape
        or images.shape[1:3] != (labels.shape[1:])
    ):
        raise ValueError(
            f"images {images.shape}, labels {labels.shape} and probs {probs.shape} must be "
            "[N, H, W, C], [N, H, W] and [N, H, W, K] for the same N, H, W."
        )
    names = list(class_names) if class_names else [str(k) for k in range(K)]
    pred = probs.argmax(-1)
    cols = ("input", "ground truth", f"P({names[-1]})" if K == 2 else "prediction", "overlay")
    fig, axes = new_figure(n, 4, figsize=(8, 2 * n + (0.4 if title else 0)), squeeze=False)
    for i in range(n):
        img = images[i].astype(np.float64)
        panels = [
            (img[..., 0] if img.shape[-1] == 1 else img / max(img.max(), 1e-12), "gray", None),
            (labels[i], "gray" if K == 2 else "tab20", (0, K - 1)),
            (probs[i, ..., 1], "magma", (0, 1)) if K == 2 else (pred[i], "tab20", (0, K - 1)),
            (overlay(img, labels[i], pred[i]), None, None),
        ]
        for j, (data, cmap, lim) in enumerate(panels):
            ax = axes[i, j]
            vmin, vmax = lim if lim else (None, None)
            ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(cols[j], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=80)


class PredictionProbe(Hook):
    """Draws the predictions of each evaluation split's first examples, at every evaluation.

    Give an evaluation split an ``index`` array (``arange(N)``) and a ``split_id`` array
    (the position of its name in ``split_names``, repeated N times; ``mark``), and pass the probe
    to ``jaxdl.training.segmentation.segmentation_steps``. Inside the jitted eval step,
    the batch holding example 0 sends its first ``count`` examples (raw image, label,
    class probabilities) and the train step number to the host by
    ``jax.debug.callback``. The callback only keeps what it is given: reading the
    arrays inside it can deadlock a multi-device evaluation (the device holding them is
    still inside the program, the others wait for it in a reduction). They are read and
    drawn by ``flush``, after the evaluation: the probe is also a hook of the loop (pass
    it to ``fit``'s hooks), whose ``on_eval`` and ``on_end`` flush; reading ``last``
    flushes too. ``flush`` writes ``<directory>/<split>_step<step>.png`` and keeps the
    arrays in ``last[split]``. Operands are replicated first so the callback does not
    gather shards itself. Drawing errors are logged, never raised into the training run.

    Args:
      count: how many examples to draw (the first ones of the split; at most the eval
        batch size).
      directory: where the PNG files go.
      split_names: names of the ``split_id`` values.
      class_names: class names for the panel titles.
      mesh: the device mesh of the run (None: single device).

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> workdir = Path(tempfile.mkdtemp())
      >>> probe = PredictionProbe(2, workdir / "pictures", ("val", "test"), ("bg", "crack"))
      >>> batch = {  # the first eval batch of "val" (split_id 0), as the eval step sees it
      ...     "index": jnp.arange(4), "split_id": jnp.zeros(4, jnp.int32),
      ...     "image": jnp.zeros((4, 8, 8, 1)), "label": jnp.zeros((4, 8, 8), jnp.int32),
      ... }
      >>> probs = jnp.full((4, 8, 8, 2), 0.5)
      >>> jax.jit(probe)(batch, probs, jnp.int32(100))  # in segmentation_steps' eval step
      >>> probe.flush()  # what its on_eval does after each evaluation
      >>> [p.name for p in (workdir / "pictures").iterdir()], probe.last["val"][2].shape
      (['val_step0000100.png'], (2, 8, 8, 2))
    """

    def __init__(
        self,
        count: int,
        directory: str | Path,
        split_names: Sequence[str],
        class_names: Sequence[str] | None = None,
        mesh: Mesh | None = None,
    ):
        if count < 1:
            raise ValueError(f"PredictionProbe count must be >= 1, got {count}.")
        self.count = count
        self.directory = Path(directory)
        self.split_names = tuple(split_names)
        self.class_names = class_names
        self._mesh = mesh
        self._last: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        self._pending: list[dict[str, jax.Array]] = []

    order = 100  # a reporter; after FinalEvaluation (50), whose test pictures it draws

    @property
    def last(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        """``{split: (images, labels, probs, step)}`` of the latest drawn evaluation."""
        self.flush()
        return self._last

    def mark(self, splits: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
        """``splits`` (numpy arrays per role) with the ``index`` and ``split_id`` arrays
        the probe finds its examples by, added to the roles of ``split_names``."""
        out = dict(splits)
        for i, role in enumerate(self.split_names):
            if role in out:
                n = len(out[role]["image"])
                ids = {"index": np.arange(n, dtype=np.int32), "split_id": np.full(n, i, np.int32)}
                out[role] = {**out[role], **ids}
        return out

    def __call__(self, batch: dict[str, jax.Array], probs: jax.Array, step: jax.Array) -> None:
        """Traced inside the eval step: ship the batch's first ``count`` examples."""
        k = min(self.count, probs.shape[0])
        h, w = probs.shape[1:3]
        data = {
            "index": batch["index"][:k],
            "split_id": batch["split_id"][:k],
            "image": center_crop_to(batch["image"], h, w)[:k],
            "label": center_crop_to(batch["label"], h, w)[:k],
            "probs": probs[:k],
            "step": step,
        }
        if self._mesh is not None:
            data = jax.lax.with_sharding_constraint(data, replicated(self._mesh))
        jax.debug.callback(self._receive, data)

    def _receive(self, data: dict[str, jax.Array]) -> None:
        self._pending.append(data)  # not read here: see the class docstring

    def flush(self) -> None:
        """Waits for the evaluations' callbacks, then reads and draws what they sent."""
        jax.effects_barrier()
        pending, self._pending = self._pending, []
        for data in pending:
            index = np.asarray(data["index"])
            if index[0] != 0:  # not the split's first batch
                continue
            n = int(np.sum(index < self.count))
            split = self.split_names[int(np.asarray(data["split_id"])[0])]
            step = int(np.asarray(data["step"]))
            arrays = tuple(np.asarray(data[k])[:n] for k in ("image", "label", "probs"))
            self._last[split] = (*arrays, step)
            try:
                save_prediction_grid(
                    *arrays,
                    self.directory / f"{split}_step{step:07d}.png",
                    title=f"{split}, step {step}",
                    class_names=self.class_names,
                )
            except Exception as e:  # a picture must never kill a training run
                logging.warning("PredictionProbe: could not draw %s step %d: %s", split, step, e)

    def on_eval(self, run, record) -> None:
        self.flush()

    def on_end(self, run) -> None:
        self.flush()
