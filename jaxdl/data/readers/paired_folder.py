"""Paired image-to-image folders in pix2pix's distributed format (facades, maps, ...).

Each file holds one training pair side by side, ``[A | B]``: an image twice as wide as
it is high, A on the left half and B on the right. pix2pix's archives (e.g.
``facades.tar.gz``: ``facades/train``, ``facades/val``, ``facades/test`` with 400 /
100 / 106 pairs of 256x256 halves, A = photo, B = label map) use this layout::

    root/<split>/<name>.jpg     (or .png), split = train, val, test, ...

``direction`` says which half is the input: pix2pix trains facades ``'BtoA'`` (labels
-> photo). Images are decoded to RGB (grey files stay one channel) and resized
bilinearly to ``image_size`` when given. Split strings slice a base split after the
fixed permutation ``np.random.default_rng(seed).permutation(n)``, as for
``seg_folder``.

TFDS has no paired facades dataset (its ``cycle_gan/facades`` is unpaired: two
separately shuffled domains), so users download pix2pix's archive, extract it, and
point ``data.name='paired_folder:<root>'`` at it.

References:
  Isola, Zhu, Zhou, Efros. Image-to-image translation with conditional adversarial
  networks. CVPR 2017 (the datasets of section 4 and the authors' release).
  Tylecek, Sara. Spatial pattern templates for recognition of objects with regular
  structure. GCPR 2013 (CMP facades).
"""

from pathlib import Path

import numpy as np
from PIL import Image

from jaxdl.data.readers.image_folder import IMAGE_EXTENSIONS
from jaxdl.data.splits import parse_split

__all__ = ["DIRECTIONS", "load_paired_folder", "read_paired_folder"]

DIRECTIONS = ("AtoB", "BtoA")


def _split_dir(root: str | Path, split: str) -> Path:
    root = Path(root).expanduser()
    d = root / split
    if not d.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise FileNotFoundError(
            f"Paired folder split {d} does not exist (splits found: {found or 'none'}). "
            "Expected root/<split>/*.jpg, each image [A | B] side by side, as in pix2pix's "
            "archives (download and extract e.g. facades.tar.gz)."
        )
    return d


def _halves(path: Path, image_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(path) as im:
        im = im.convert("L") if im.mode in ("1", "L", "I", "I;16", "F", "LA") else im.convert("RGB")
        w, h = im.size
        if w != 2 * h:
            raise ValueError(
                f"{path} is {w}x{h}; a paired image must be twice as wide as high ([A | B])."
            )
        halves = [im.crop((0, 0, h, h)), im.crop((h, 0, w, h))]
        if image_size:
            halves = [x.resize((image_size, image_size), Image.BILINEAR) for x in halves]
        arrays = [np.asarray(x, np.uint8) for x in halves]
    return tuple(a[..., None] if a.ndim == 2 else a for a in arrays)


def read_paired_folder(
    root: str | Path, split: str, image_size: int | None = None, direction: str = "BtoA"
) -> dict[str, np.ndarray]:
    """Every pair of one base split, sorted by file name.

    Returns:
      ``{'condition': uint8 [N, S, S, C] (the input half), 'image': uint8 [N, S, S, C]
      (the target half)}``.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> from PIL import Image
      >>> root = Path(tempfile.mkdtemp())
      >>> (root / "train").mkdir()
      >>> pair = np.zeros((8, 16, 3), np.uint8)  # [A | B], 8x8 halves
      >>> pair[:, 8:] = 255  # B is white
      >>> Image.fromarray(pair).save(root / "train" / "1.png")
      >>> pairs = read_paired_folder(root, "train", direction="BtoA")
      >>> pairs["condition"].shape, int(pairs["condition"].max()), int(pairs["image"].max())
      ((1, 8, 8, 3), 255, 0)
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
    d = _split_dir(root, split)
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"{d} holds no {'/'.join(IMAGE_EXTENSIONS)} files.")
    pairs = [_halves(p, image_size) for p in files]
    shapes = {a.shape for pair in pairs for a in pair}
    if len(shapes) > 1:
        raise ValueError(
            f"{d}: pairs of different sizes {sorted(shapes)[:3]}; pass image_size to resize them."
        )
    a, b = (np.stack(x) for x in zip(*pairs))
    return {"condition": b, "image": a} if direction == "BtoA" else {"condition": a, "image": b}


def load_paired_folder(
    root: str | Path,
    split: str,
    image_size: int | None = None,
    direction: str = "BtoA",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A split string over a paired folder's base splits, e.g. ``'train[:90%]'``.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> from PIL import Image
      >>> root = Path(tempfile.mkdtemp())
      >>> (root / "train").mkdir()
      >>> for i in range(10):
      ...     Image.new("RGB", (16, 8)).save(root / "train" / f"{i}.png")
      >>> val = load_paired_folder(root, "train[80%:]", image_size=4)
      >>> val["condition"].shape, val["image"].shape
      ((2, 4, 4, 3), (2, 4, 4, 3))
    """
    parts = []
    for part in parse_split(split):
        data = read_paired_folder(root, part.name, image_size, direction)
        n = len(data["image"])
        order = np.random.default_rng(seed).permutation(n)[part.indices(n)]
        parts.append({k: v[order] for k, v in data.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
