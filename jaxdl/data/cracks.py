"""Offline crack-detection dataset: procedural concrete-like surfaces with thin cracks.

The course's segmentation example (per-pixel crack probability), generated with JAX on
the device, so it needs no download and no disk. Each image is a function of
``(seed, split, index)`` only: the same example comes out whatever the batch it is
generated in, on any number of devices (``jax.random`` keys are folded from the three).

What an image holds (grey, ``size`` x ``size``):

- a surface: base grey level, multi-scale smooth noise (aggregate texture) and fine
  grain, under an illumination gradient of random direction and strength;
- distractors that are NOT cracks: a few large soft stains (dark or light blotches),
  several small dark pits (which look like a crack's cross-section locally) and up to
  three scratches: short (0.15 to 0.35 of the side), nearly straight dark strokes with
  the width and contrast of cracks, so that only their length, seen in context, tells
  them apart;
- 0, 1 or 2 cracks (probabilities 0.15 / 0.5 / 0.35): random-walk polylines of
  ``_SEGMENTS`` segments, 0.6 to 1.4 times the side long, centred in the middle half
  of the image, of varying width (about 1 to 3.5 pixels at size 64, changing along the
  crack) and varying contrast; a second crack branches off the first one half of the
  time;
- pixel noise of random strength, then quantisation to uint8.

The label is 1 where a pixel centre lies within half the local width of a crack's
centre line, else 0. The crack is rendered with the pixel's area coverage (an
anti-aliased line), so a pixel is labelled crack exactly when at least half of it is
covered: the label is determined by the image up to the noise.

Split strings as in ``jaxdl.data.splits`` (``'train[:4000]'``, ``'val'``, ``'test[:50%]'``)
over nominal split sizes ``SPLIT_SIZES``; the splits use disjoint random streams.

References:
  Shi, Cui, Qi, Meng, Chen. Automatic road crack detection using random structured
  forests. IEEE T-ITS 2016 (CrackForest: the look of real pavement cracks: thin dark
  curves of varying width on textured surfaces with stains and shadows).
  Ronneberger, Fischer, Brox. U-Net. MICCAI 2015 (the segmentation task it serves).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data.splits import parse_split

__all__ = ["CRACK_CLASSES", "SPLIT_SIZES", "generate_cracks", "load_cracks"]

CRACK_CLASSES = ("background", "crack")
SPLIT_SIZES = {"train": 100_000, "val": 10_000, "test": 10_000}
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_SEGMENTS = 16  # polyline segments per crack
_STAINS = 3
_PITS = 8
_SCRATCHES = 3
_CLEARANCE = 4.0  # pixels (at size 64) kept free between a scratch and other strokes
_OCTAVES = (3, 6, 12, 24)  # coarse-grid sides of the texture's noise octaves
_N_UNIFORM = 128  # scalars drawn per image (see _Draws)
_N_NORMAL = 1280
_CHUNK = 256  # images generated per jitted call (bounds the memory of the distance maps)


@functools.cache
def _upsample_matrix(size: int, cells: int) -> np.ndarray:
    """[size, cells] smoothstep-interpolation weights from a coarse grid to pixels."""
    u = np.clip((np.arange(size) + 0.5) * cells / size - 0.5, 0, cells - 1)
    lo = np.minimum(np.floor(u).astype(int), cells - 2)
    t = u - lo
    t = t * t * (3 - 2 * t)  # smoothstep: no creases at the grid lines
    m = np.zeros((size, cells), np.float32)
    m[np.arange(size), lo] = 1 - t
    m[np.arange(size), lo + 1] += t
    return m


def _box_muller(u: jax.Array) -> jax.Array:
    """Standard normals [2n] from uniforms [2, n] in [0, 1) (both Box-Muller outputs)."""
    r = jnp.sqrt(-2.0 * jnp.log1p(-u[0]))  # 1 - u in (0, 1]: finite log
    return jnp.concatenate([r * jnp.cos(2 * jnp.pi * u[1]), r * jnp.sin(2 * jnp.pi * u[1])])


class _Draws:
    """Consecutive slices of the uniform and normal numbers drawn from an image's key.

    ONE PRNG call per image (normals by Box-Muller): threefry is inlined per call, and
    one call compiles many times faster than one per quantity.
    """

    def __init__(self, key: jax.Array, size: int):
        n_pix = size * size
        u = jax.random.uniform(key, (_N_UNIFORM + _N_NORMAL + 2 * n_pix,))
        self._u = u[:_N_UNIFORM]
        self._z = _box_muller(u[_N_UNIFORM : _N_UNIFORM + _N_NORMAL].reshape(2, -1))
        self.pixels = _box_muller(u[_N_UNIFORM + _N_NORMAL :].reshape(2, -1)).reshape(
            2, size, size
        )  # grain, sensor noise
        self._iu = self._iz = 0

    def uniform(self, shape=(), lo=0.0, hi=1.0) -> jax.Array:
        n = int(np.prod(shape))
        if self._iu + n > _N_UNIFORM:
            raise AssertionError("crack generator: raise _N_UNIFORM")
        v = self._u[self._iu : self._iu + n].reshape(shape)
        self._iu += n
        return lo + (hi - lo) * v

    def normal(self, shape) -> jax.Array:
        n = int(np.prod(shape))
        if self._iz + n > _N_NORMAL:
            raise AssertionError("crack generator: raise _N_NORMAL")
        v = self._z[self._iz : self._iz + n].reshape(shape)
        self._iz += n
        return v


def _smooth_noise(draws: _Draws, size: int, cells: int) -> jax.Array:
    """Smooth noise [S, S]: a ``cells`` x ``cells`` Gaussian grid, interpolated (2 matmuls)."""
    m = jnp.asarray(_upsample_matrix(size, cells))
    return m @ draws.normal((cells, cells)) @ m.T


def _polyline(
    draws: _Draws, size: int, start: jax.Array, lengths=(0.8, 1.4), turn: float = 0.3
) -> tuple[jax.Array, jax.Array]:
    """Vertices [_SEGMENTS + 1, 2] of a stroke grown both ways from ``start``, and widths.

    The length is ``size`` times a uniform draw in ``lengths``; the heading is a random
    walk with steps of std ``turn`` (a jagged path with a persistent overall direction).
    """
    n = _SEGMENTS + 1
    theta0 = draws.uniform((), 0.0, 2 * np.pi)
    theta = theta0 + jnp.cumsum(turn * draws.normal((n,)))  # [n]
    length = size * draws.uniform((), *lengths)
    steps = (length / _SEGMENTS) * jnp.stack([jnp.sin(theta), jnp.cos(theta)], -1)  # [n, 2]
    pts = jnp.cumsum(steps, axis=0)
    pts = pts - pts[n // 2] + start  # the middle vertex sits at ``start``
    scale = size / 64.0
    base_w = scale * draws.uniform((), 1.0, 3.0)
    widths = base_w * jnp.exp(0.25 * jnp.cumsum(0.35 * draws.normal((n,))))
    return pts, jnp.clip(widths, 0.8 * scale, 3.6 * scale)  # [n, 2], [n]


def _margin(pts: jax.Array, widths: jax.Array, yy: jax.Array, xx: jax.Array) -> jax.Array:
    """``w/2 - distance`` to the polyline for every pixel centre, max over segments, [S, S]."""
    a, b = pts[:-1], pts[1:]  # [K, 2]
    wa, wb = widths[:-1], widths[1:]
    ab = b - a
    p = jnp.stack([yy, xx], -1)[None]  # [1, S, S, 2]
    ap = p - a[:, None, None, :]  # [K, S, S, 2]
    denom = jnp.maximum(jnp.sum(ab * ab, -1), 1e-6)[:, None, None]
    t = jnp.clip(jnp.sum(ap * ab[:, None, None, :], -1) / denom, 0.0, 1.0)  # [K, S, S]
    d = jnp.linalg.norm(ap - t[..., None] * ab[:, None, None, :], axis=-1)
    w = wa[:, None, None] + t * (wb - wa)[:, None, None]
    return jnp.max(0.5 * w - d, axis=0)


def _blobs(draws: _Draws, n: int, size: int, yy, xx, sigma_range) -> jax.Array:
    """``n`` random anisotropic Gaussian bumps of height 1 (each present w.p. 0.6), [n, S, S]."""
    centre = draws.uniform((n, 2), 0.0, size)
    sig = size / 64.0 * draws.uniform((n, 2), *sigma_range)
    rot = draws.uniform((n,), 0.0, np.pi)
    on = (draws.uniform((n,)) < 0.6).astype(jnp.float32)[:, None, None]
    dy = yy[None] - centre[:, 0, None, None]
    dx = xx[None] - centre[:, 1, None, None]
    c, s = jnp.cos(rot)[:, None, None], jnp.sin(rot)[:, None, None]
    u, v = c * dy + s * dx, -s * dy + c * dx
    g = jnp.exp(-0.5 * ((u / sig[:, 0, None, None]) ** 2 + (v / sig[:, 1, None, None]) ** 2))
    return g * on


def _one(key: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """One (uint8 image [S, S, 1], uint8 label [S, S]) from its key."""
    draws = _Draws(key, size)
    yy, xx = jnp.meshgrid(
        jnp.arange(size, dtype=jnp.float32), jnp.arange(size, dtype=jnp.float32), indexing="ij"
    )
    # Surface texture: octaves of smooth noise plus per-pixel grain.
    base = draws.uniform((), 0.35, 0.75)
    tex_amp = draws.uniform((), 0.03, 0.09)
    texture = sum(
        w * _smooth_noise(draws, size, c) for c, w in zip(_OCTAVES, (0.5, 0.35, 0.25, 0.2))
    )
    surface = 1.0 + tex_amp * (texture + 0.5 * draws.pixels[0])
    # Illumination: a linear ramp in a random direction (shadow / uneven light).
    phi = draws.uniform((), 0.0, 2 * np.pi)
    slope = draws.uniform((), 0.0, 0.45)
    ramp = (jnp.cos(phi) * (yy / size - 0.5) + jnp.sin(phi) * (xx / size - 0.5)) * 2
    light = 1.0 + slope * ramp
    # Distractors: big soft stains (dark or light) and small dark pits.
    stain_amp = draws.uniform((_STAINS,), -0.35, 0.2)
    stains = jnp.tensordot(stain_amp, _blobs(draws, _STAINS, size, yy, xx, (3.0, 12.0)), 1)
    pit_amp = draws.uniform((_PITS,), 0.15, 0.5)
    pits = jnp.tensordot(pit_amp, _blobs(draws, _PITS, size, yy, xx, (0.7, 2.5)), 1)
    # Cracks: 0, 1 or 2 (p = 0.15, 0.5, 0.35); the second branches off the first half
    # of the time.
    r = draws.uniform()
    n_cracks = (r >= 0.15).astype(jnp.int32) + (r >= 0.65).astype(jnp.int32)
    pts1, w1 = _polyline(draws, size, draws.uniform((2,), 0.25 * size, 0.75 * size))
    branch = draws.uniform() < 0.5
    vertex = pts1[(2 + draws.uniform() * (_SEGMENTS - 3)).astype(jnp.int32)]
    start2 = jnp.where(branch, vertex, draws.uniform((2,), 0.25 * size, 0.75 * size))
    pts2, w2 = _polyline(draws, size, start2)
    m1 = jnp.where(n_cracks >= 1, _margin(pts1, w1, yy, xx), -jnp.inf)
    m2 = jnp.where(n_cracks >= 2, _margin(pts2, w2, yy, xx), -jnp.inf)
    contrast = draws.uniform((2,), 0.15, 0.55)
    # Scratches: up to 3 short strokes (19-32 px at size 64) that look like a piece of
    # crack but are NOT cracks: only their length, seen in context, tells them apart (a
    # crack is at least 0.8 * size long, so it mostly leaves the image). A scratch that would come
    # within _CLEARANCE pixels of a crack or of another scratch is left out: touching,
    # it would read as a crack's branch or extend another stroke (an ambiguous label).
    scratch = jnp.zeros((size, size))
    occupied = jnp.maximum(m1, m2)  # margin map of everything drawn so far
    clearance = _CLEARANCE * size / 64.0
    for _ in range(_SCRATCHES):
        start = draws.uniform((2,), 0.2 * size, 0.8 * size)
        # The heading wanders as much per pixel as a crack's: locally the same look.
        pts, w = _polyline(draws, size, start, (0.3, 0.5), turn=0.19)
        m = _margin(pts, w, yy, xx)
        clash = jnp.any((m > -0.5) & (occupied > -clearance))
        on = (draws.uniform() < 0.6) & ~clash
        m = jnp.where(on, m, -jnp.inf)
        occupied = jnp.maximum(occupied, m)
        scratch = jnp.maximum(scratch, draws.uniform((), 0.15, 0.55) * jnp.clip(m + 0.5, 0, 1))
    # Area coverage of the pixel by the crack line (anti-aliasing): clip(margin + 1/2).
    cov1, cov2 = jnp.clip(m1 + 0.5, 0.0, 1.0), jnp.clip(m2 + 0.5, 0.0, 1.0)
    crack_dark = jnp.maximum(contrast[0] * cov1, contrast[1] * cov2)
    label = (jnp.maximum(m1, m2) >= 0).astype(jnp.uint8)
    img = base * light * surface * (1.0 - stains) * (1.0 - pits) * (1.0 - scratch)
    img = img * (1.0 - crack_dark)
    img = img + draws.uniform((), 0.01, 0.035) * draws.pixels[1]
    img = jnp.clip(jnp.round(img * 255.0), 0, 255).astype(jnp.uint8)
    return img[..., None], label


@functools.partial(jax.jit, static_argnames=("size",))
def _batch(indices: jax.Array, split_id: jax.Array, seed: jax.Array, size: int):
    root = jax.random.fold_in(jax.random.PRNGKey(seed), split_id)
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(indices)
    return jax.vmap(lambda k: _one(k, size))(keys)


def generate_cracks(
    indices: jax.Array | np.ndarray, split: str = "train", seed: int = 0, size: int = 64
) -> dict[str, jax.Array]:
    """Generates the examples ``indices`` of ``split`` on the default device.

    Args:
      indices: int [N] example indices (any order, repeats allowed).
      split: ``'train'``, ``'val'`` or ``'test'`` (disjoint random streams).
      seed: dataset seed.
      size: image side in pixels (>= 16; crack widths scale with it).

    Returns:
      ``{'image': uint8 [N, size, size, 1], 'label': uint8 [N, size, size]}`` (label 1 =
      crack), as device arrays.

    Example:
      >>> ex = generate_cracks(jnp.arange(4), "val", seed=0, size=16)
      >>> ex["image"].shape, ex["label"].shape, ex["image"].dtype
      ((4, 16, 16, 1), (4, 16, 16), dtype('uint8'))
    """
    if split not in _SPLIT_IDS:
        raise ValueError(f"Unknown crack split {split!r}; use one of {sorted(_SPLIT_IDS)}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ValueError(f"Crack image size must be an int >= 16, got {size!r}.")
    idx = jnp.asarray(indices, jnp.int32).reshape(-1)
    images, labels = [], []
    for start in range(0, idx.shape[0], _CHUNK):
        chunk = idx[start : start + _CHUNK]
        n = chunk.shape[0]
        chunk = jnp.pad(chunk, (0, _CHUNK - n))  # one compiled shape for every chunk
        im, lb = _batch(chunk, jnp.int32(_SPLIT_IDS[split]), jnp.uint32(seed), size)
        images.append(im[:n])
        labels.append(lb[:n])
    if not images:
        raise ValueError("generate_cracks needs at least one index.")
    return {"image": jnp.concatenate(images), "label": jnp.concatenate(labels)}


def load_cracks(split: str = "train", seed: int = 0, size: int = 64) -> dict[str, np.ndarray]:
    """The examples of a split string as numpy arrays, e.g. ``'train[:4000]'``.

    Args:
      split: a split string over ``train`` / ``val`` / ``test`` (``+`` joins parts);
        percentages refer to the nominal ``SPLIT_SIZES``.
      seed: dataset seed.
      size: image side in pixels.

    Returns:
      ``{'image': uint8 [N, size, size, 1], 'label': uint8 [N, size, size]}``.

    Example:
      >>> val = load_cracks("val[:4]", size=16)  # the examples generate_cracks makes
      >>> val["image"].shape, type(val["label"]).__name__
      ((4, 16, 16, 1), 'ndarray')
    """
    images, labels = [], []
    for part in parse_split(split):
        if part.name not in SPLIT_SIZES:
            raise ValueError(
                f"Crack split {split!r}: unknown base split {part.name!r}; use "
                f"{sorted(SPLIT_SIZES)}, e.g. 'train[:4000]'."
            )
        sl = part.indices(SPLIT_SIZES[part.name])
        ex = generate_cracks(np.arange(sl.start, sl.stop), part.name, seed, size)
        images.append(np.asarray(ex["image"]))
        labels.append(np.asarray(ex["label"]))
    return {"image": np.concatenate(images), "label": np.concatenate(labels)}
