"""First-layer filters as images (the course's "track first-layer features").

A first convolution's kernel ``[kh, kw, C, F]`` holds F small images with the
input's C channels; a first dense layer's kernel ``[H*W*C, F]`` holds F input-sized
images. Each filter is min-max normalized to [0, 1] on its own,
``(w - min w) / (max w - min w)`` (a constant filter becomes 0.5), and tiled into a
grid, RGB for C = 3 and grey for C = 1. Rows taken at several checkpoints show how
the filters evolve from random noise to edge, blob and colour detectors.

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional
  neural networks. NeurIPS 2012 (figure 3: the 96 first-layer kernels).
  Zeiler, Fergus. Visualizing and understanding convolutional networks. ECCV 2014.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxdl.viz.plots import new_figure, save_figure
from jaxdl.viz.samples import image_grid

__all__ = [
    "filter_evolution",
    "filter_grid",
    "first_layer_kernel",
    "normalize_filters",
    "save_filter_evolution",
]


def first_layer_kernel(
    params: Any, input_shape: Sequence[int], path: str | None = None
) -> tuple[str, np.ndarray]:
    """Finds the kernel applied to the input and returns it as ``[kh, kw, C, F]``.

    Args:
      params: the model's ``params`` collection.
      input_shape: ``(H, W, C)`` of the model input.
      path: ``'/'``-joined parameter path (``'conv1/conv/kernel'``) to pick a kernel
        explicitly; by default the unique 4-D kernel with C input channels, else the
        unique 2-D kernel with H*W*C inputs (an MLP's first layer, reshaped to images).

    Returns:
      ``(path, kernel)`` with the kernel as float64 ``[kh, kw, C, F]``.

    Raises:
      ValueError: no kernel (or several) fits; the message lists the candidates.

    Example:
      >>> params = {  # LeNet-5-like: C1 [5, 5, 1, 6], C3 [5, 5, 6, 16]
      ...     "C1": {"kernel": np.zeros((5, 5, 1, 6)), "bias": np.zeros(6)},
      ...     "C3": {"kernel": np.zeros((5, 5, 6, 16)), "bias": np.zeros(16)},
      ... }
      >>> name, k = first_layer_kernel(params, (32, 32, 1))
      >>> name, k.shape
      ('C1/kernel', (5, 5, 1, 6))
    """
    H, W, C = input_shape
    leaves = {
        "/".join(str(getattr(k, "key", k)) for k in p): np.asarray(v, np.float64)
        for p, v in jax.tree_util.tree_flatten_with_path(params)[0]
    }
    if path is not None:
        if path not in leaves:
            raise ValueError(f"No parameter {path!r}; kernels: {sorted(leaves)}.")
        k = leaves[path]
        return path, (k.reshape(H, W, C, -1) if k.ndim == 2 else k)
    kernels = {p: v for p, v in leaves.items() if p.endswith("kernel")}
    convs = [p for p, v in kernels.items() if v.ndim == 4 and v.shape[2] == C]
    dense = [p for p, v in kernels.items() if v.ndim == 2 and v.shape[0] == H * W * C]
    for found, reshape in ((convs, False), (dense, True)):
        if len(found) == 1:
            k = kernels[found[0]]
            return found[0], (k.reshape(H, W, C, -1) if reshape else k)
        if len(found) > 1:
            raise ValueError(
                f"Several kernels take {C}-channel input: {sorted(found)}; pass path=... "
                "to pick the first layer."
            )
    raise ValueError(
        f"No kernel applies to a {tuple(input_shape)} input (kernels: "
        f"{ {p: v.shape for p, v in kernels.items()} }); pass path=..."
    )


def normalize_filters(kernel: np.ndarray) -> np.ndarray:
    """``[kh, kw, C, F]`` -> ``[F, kh, kw, C]`` with each filter min-max scaled to [0, 1].

    Example:
      >>> float(normalize_filters(np.ones((3, 3, 1, 2)))[0, 0, 0, 0])  # constant -> 0.5
      0.5
      >>> normalize_filters(np.arange(3.0).reshape(1, 3, 1, 1))[0, 0, :, 0]
      array([0. , 0.5, 1. ])
    """
    k = np.asarray(kernel, np.float64)
    if k.ndim != 4:
        raise ValueError(f"Expected a [kh, kw, C, F] kernel, got shape {k.shape}.")
    f = np.moveaxis(k, -1, 0)  # [F, kh, kw, C]
    lo = f.min(axis=(1, 2, 3), keepdims=True)
    span = f.max(axis=(1, 2, 3), keepdims=True) - lo
    return np.where(span > 0, (f - lo) / np.where(span > 0, span, 1.0), 0.5)


def _to_uint8(filters: np.ndarray) -> np.ndarray:
    C = filters.shape[-1]
    if C not in (1, 3):
        raise ValueError(
            f"Filters with {C} input channels cannot be shown as grey or RGB images; "
            "only a first layer (1 or 3 input channels) can."
        )
    return np.round(filters * 255).astype(np.uint8)


def filter_grid(
    kernel: np.ndarray, ncols: int = 16, max_filters: int | None = None, pad: int = 1
) -> np.ndarray:
    """The (first ``max_filters``) normalized filters tiled ``ncols`` per row, uint8.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> from jaxdl.viz.samples import save_png
      >>> k = np.random.default_rng(0).normal(size=(5, 5, 3, 32))  # 32 RGB 5x5 filters
      >>> grid = filter_grid(k, ncols=16)
      >>> grid.shape, grid.dtype  # 2 rows of 16, 1-pixel gaps
      ((13, 97, 3), dtype('uint8'))
      >>> save_png(grid, Path(tempfile.mkdtemp()) / "filters.png", scale=4).name
      'filters.png'
    """
    f = normalize_filters(kernel)[:max_filters]
    return image_grid(_to_uint8(f), ncols=ncols, pad=pad)


def filter_evolution(
    kernels: Sequence[np.ndarray], max_filters: int = 32, pad: int = 1
) -> np.ndarray:
    """One row per kernel (e.g. per checkpoint step) of its first ``max_filters`` filters."""
    if not kernels:
        raise ValueError("filter_evolution needs at least one kernel.")
    rows = [_to_uint8(normalize_filters(k)[:max_filters]) for k in kernels]
    n = rows[0].shape[0]
    return image_grid(np.concatenate(rows), ncols=n, pad=pad)


def save_filter_evolution(
    kernels: Sequence[np.ndarray],
    steps: Sequence[int],
    path: str | Path,
    title: str = "",
    max_filters: int = 32,
) -> Path:
    """Writes ``filter_evolution`` as a PNG with each row labelled by its step.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> k0, k100 = np.random.default_rng(0).normal(size=(2, 5, 5, 1, 8))  # two checkpoints
      >>> workdir = Path(tempfile.mkdtemp())
      >>> save_filter_evolution([k0, k100], [0, 100], workdir / "filters.png").name
      'filters.png'
    """
    grid = filter_evolution(kernels, max_filters)
    kh = np.shape(kernels[0])[0]
    fig_w = max(4.0, grid.shape[1] / 12)
    fig, ax = new_figure(figsize=(fig_w, fig_w * grid.shape[0] / grid.shape[1] + 0.6))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", interpolation="nearest")
    ax.set_yticks([1 + i * (kh + 1) + kh / 2 for i in range(len(steps))])
    ax.set_yticklabels([f"step {s}" for s in steps])
    ax.set_xticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
