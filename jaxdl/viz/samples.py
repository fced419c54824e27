"""Sample grids and the latent tools of the generation chapter, written as PNG files.

- ``image_grid`` / ``save_grid``: tile uint8 images [N, H, W, C] into one picture.
- ``lerp`` / ``slerp`` and ``interpolation_latents``: rows of latents walking from one
  code to another, linearly or along the great circle (slerp keeps the norm of
  Gaussian latents near sqrt(dim), where the generator was trained, which the straight
  line's midpoints leave: Radford et al. 2016 interpolate linearly, White 2016 argues
  for slerp).
- ``latent_arithmetic``: Radford et al.'s vector arithmetic, each operand the AVERAGE of
  a group's latents (single latents are too noisy): ``mean(A) - mean(B) + mean(C)``.
- ``nearest_neighbours`` / ``neighbour_panel``: each generated sample next to its
  nearest training images in pixel (L2) distance, the course's memorisation check.

References:
  Radford, Metz, Chintala. Unsupervised representation learning with deep convolutional
  GANs. ICLR 2016 (sections 6.1 and 6.3, figures 4 and 7).
  White. Sampling generative networks. arXiv:1609.04468, 2016 (slerp).
  Shoemake. Animating rotation with quaternion curves. SIGGRAPH 1985 (slerp).
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "image_grid",
    "interpolation_latents",
    "latent_arithmetic",
    "lerp",
    "nearest_neighbours",
    "neighbour_panel",
    "save_grid",
    "save_png",
    "slerp",
]


def image_grid(images: np.ndarray, ncols: int, pad: int = 1, pad_value: int = 128) -> np.ndarray:
    """Tiles uint8 images [N, H, W, C] row by row into [rows*(H+pad)+pad, ..., C].

    Missing cells of the last row stay ``pad_value``.

    Example:
      >>> samples_uint8 = np.zeros((10, 4, 4, 1), np.uint8)
      >>> image_grid(samples_uint8, ncols=8).shape  # 8 per row: 2 rows, 1-pixel gaps
      (11, 41, 1)
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise TypeError(
            f"image_grid expects uint8 [N, H, W, C] images, got {images.dtype} {images.shape}; "
            "convert [-1, 1] generator output with jaxdl.training.gan.to_uint8."
        )
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}.")
    N, H, W, C = images.shape
    rows = -(-N // ncols)
    grid = np.full((rows * (H + pad) + pad, ncols * (W + pad) + pad, C), pad_value, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        y, x = pad + r * (H + pad), pad + c * (W + pad)
        grid[y : y + H, x : x + W] = img
    return grid


def save_png(image: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Writes a uint8 [H, W, C] (C in {1, 3}) array as PNG, enlarged ``scale`` x (nearest).

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> samples = np.zeros((16, 8, 8, 3), np.uint8)
      >>> path = Path(tempfile.mkdtemp()) / "figures" / "gen_samples.png"
      >>> out = save_png(image_grid(samples, 8), path, scale=2)
      >>> Image.open(out).size  # (8 * 9 + 1) x (2 * 9 + 1), doubled
      (146, 38)
    """
    img = np.asarray(image)
    if scale > 1:
        img = img.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
    pil.save(path, optimize=True)
    return path


def save_grid(images: np.ndarray, path: str | Path, ncols: int, scale: int = 2) -> Path:
    """``save_png(image_grid(images, ncols), path, scale)``."""
    return save_png(image_grid(images, ncols), path, scale)


def lerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation ``(1 - t) z0 + t z1`` for each t: [T, ...]."""
    t = np.asarray(t, np.float64).reshape(-1, *([1] * np.ndim(z0)))
    return (1 - t) * z0 + t * z1


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation of two vectors along the great circle: [T, dim].

    ``sin((1-t) w)/sin w z0 + sin(t w)/sin w z1`` with ``w`` the angle between them;
    falls back to ``lerp`` for (anti)parallel vectors, where the circle is undefined.
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cos = np.dot(z0, z1) / max(np.linalg.norm(z0) * np.linalg.norm(z1), 1e-300)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(z0, z1, t)
    t = np.asarray(t, np.float64)[:, None]
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


def interpolation_latents(
    starts: np.ndarray, ends: np.ndarray, steps: int, method: str = "slerp"
) -> np.ndarray:
    """Rows of ``steps`` latents from ``starts[r]`` to ``ends[r]``: [R * steps, dim].

    Example:
      >>> z = np.random.default_rng(0).normal(size=(8, 16))
      >>> zs = interpolation_latents(z[:4], z[4:8], steps=8)  # decode, then save_grid(.., 8)
      >>> zs.shape, bool(np.allclose(zs[0], z[0]) and np.allclose(zs[7], z[4]))
      ((32, 16), True)
    """
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}.")
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (both end points), got {steps}.")
    fn = slerp if method == "slerp" else lerp
    t = np.linspace(0.0, 1.0, steps)
    return np.concatenate([fn(a, b, t) for a, b in zip(starts, ends)]).astype(np.float32)


def latent_arithmetic(
    terms: Sequence[tuple[float, np.ndarray]],
) -> np.ndarray:
    """``sum_i sign_i * mean(group_i)``: Radford et al.'s averaged latent arithmetic, [dim].

    Args:
      terms: ``(coefficient, latents [n_i, dim])`` pairs, e.g.
        ``[(1, z_A), (-1, z_B), (1, z_C)]`` for ``A - B + C``.

    Example:
      >>> z_boot, z_sneaker, z_sandal = np.ones((3, 2)), np.zeros((4, 2)), np.full((2, 2), 2.0)
      >>> latent_arithmetic([(1, z_boot), (-1, z_sneaker), (1, z_sandal)])
      array([3., 3.], dtype=float32)
    """
    if not terms:
        raise ValueError("latent_arithmetic needs at least one (coefficient, latents) term.")
    return sum(c * np.asarray(z, np.float64).mean(axis=0) for c, z in terms).astype(np.float32)


def nearest_neighbours(
    queries: np.ndarray, reference: np.ndarray, k: int = 1, chunk: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Indices [Q, k] and squared L2 distances [Q, k] of each query's k nearest references.

    Images are compared as flattened float vectors (same scale for both), through
    ``|q|^2 - 2 q.r + |r|^2`` over chunks of the reference set.

    Example:
      >>> train_uint8 = (np.arange(5) * 10).astype(np.uint8).reshape(5, 1, 1, 1)  # 0, 10, ..
      >>> samples_uint8 = np.array([12, 38], np.uint8).reshape(2, 1, 1, 1)
      >>> idx, d2 = nearest_neighbours(samples_uint8, train_uint8, k=3)
      >>> idx
      array([[1, 2, 0],
             [4, 3, 2]])
      >>> d2.tolist()  # squared distances
      [[4.0, 64.0, 144.0], [4.0, 64.0, 324.0]]
    """
    q = np.asarray(queries, np.float32).reshape(len(queries), -1)
    r_all = np.asarray(reference).reshape(len(reference), -1)
    if q.shape[1] != r_all.shape[1]:
        raise ValueError(f"Queries have {q.shape[1]} values each, references {r_all.shape[1]}.")
    k = min(k, len(r_all))
    best_d = np.full((len(q), 0), np.inf, np.float32)
    best_i = np.zeros((len(q), 0), np.int64)
    qq = (q * q).sum(1, keepdims=True)
    for start in range(0, len(r_all), chunk):
        r = r_all[start : start + chunk].astype(np.float32)
        d = np.maximum(qq - 2 * q @ r.T + (r * r).sum(1)[None], 0.0)  # [Q, chunk]
        cand_d = np.concatenate([best_d, d], 1)
        cand_i = np.concatenate([best_i, start + np.arange(len(r))[None].repeat(len(q), 0)], 1)
        order = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(cand_d, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return best_i, best_d


def neighbour_panel(samples: np.ndarray, train_images: np.ndarray, k: int = 3) -> np.ndarray:
    """Rows ``[sample | its k nearest training images]`` as one uint8 grid.

    A gap column separates each sample from its neighbours. Memorisation shows as
    neighbours identical to the samples; a generator that generalises produces samples
    that resemble but differ from their neighbours.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> samples = rng.integers(0, 256, (8, 4, 4, 1), np.uint8)
      >>> train_uint8 = rng.integers(0, 256, (20, 4, 4, 1), np.uint8)
      >>> neighbour_panel(samples, train_uint8, k=4).shape  # 8 rows: sample, gap, 4 neighbours
      (41, 31, 1)
    """
    idx, _ = nearest_neighbours(samples, train_images, k)
    blank = np.full_like(samples[:1], 255)
    cells = []
    for s, row in zip(samples, idx):
        cells += [s[None], blank, train_images[row]]
    return image_grid(np.concatenate(cells), ncols=k + 2)
