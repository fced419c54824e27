"""Image + mask folders for users' own segmentation data.

Layout (file stems pair an image with its mask; masks are PNG)::

    root/images/0001.jpg   root/masks/0001.png          one base split, "train"
    root/<split>/images/.. root/<split>/masks/..        named splits (train, val, test...)
    root/classes.txt                                    optional: one class name per line

Mask values are class indices. A mask file in palette mode ('P', the PASCAL VOC
convention) gives its palette indices; a grey mask gives its values, except that a
dataset whose masks only hold 0 and 255 is read as binary 0/1 (the common "white =
object" export). Values >= the number of classes (e.g. 255 "void") are ignored by the
segmentation losses and metrics. Without ``classes.txt`` the classes are named
``background``, ``class_1``, ... up to the largest index found.

Images are decoded to uint8 [H, W, C] (grey stays 1 channel, RGBA drops alpha). All
images of a split must share one size unless ``image_size`` is given (then images are
resized bilinearly and masks by nearest neighbour, so labels are never blended).

References:
  Everingham et al. The PASCAL VOC challenge. IJCV 2010 (palette masks, void label 255).
"""

from pathlib import Path

import numpy as np
from PIL import Image

from jaxdl.data.readers.image_folder import IMAGE_EXTENSIONS
from jaxdl.data.splits import parse_split

__all__ = ["load_seg_folder", "read_seg_folder", "seg_folder_classes", "seg_folder_splits"]


def seg_folder_splits(root: str | Path) -> list[str]:
    """Base split names of a folder: its ``<split>/images`` sub-folders, or ``['train']``."""
    root = _check_root(root)
    if (root / "images").is_dir():
        return ["train"]
    return sorted(p.parent.name for p in root.glob("*/images") if (p.parent / "masks").is_dir())


def _check_root(root: str | Path) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"Segmentation folder {root} does not exist. Expected root/images + root/masks "
            "(or root/<split>/images + root/<split>/masks) with masks named like the images."
        )
    return root


def _split_dir(root: Path, split: str) -> Path:
    if (root / "images").is_dir():
        if split != "train":
            raise ValueError(
                f"{root} has no named splits (images/ and masks/ at the top form split "
                f"'train'); got split {split!r}. Slice it instead, e.g. 'train[90%:]'."
            )
        return root
    d = root / split
    if not ((d / "images").is_dir() and (d / "masks").is_dir()):
        raise FileNotFoundError(
            f"No split {split!r} in {root}: expected {d}/images and {d}/masks. Splits found: "
            f"{seg_folder_splits(root) or 'none'}."
        )
    return d


def _read(path: Path, size: int | None, mask: bool) -> np.ndarray:
    with Image.open(path) as im:
        if mask:
            if im.mode not in ("P", "L", "I", "I;16", "1"):
                raise ValueError(
                    f"Mask {path} has mode {im.mode}; masks must be single-channel class indices "
                    "(grey or palette PNG), not colour images."
                )
            im = im if im.mode == "P" else im.convert("I")
            if size:
                im = im.resize((size, size), Image.NEAREST)
            return np.asarray(im).astype(np.int64)
        im = im.convert("L") if im.mode in ("1", "L", "I", "I;16", "F", "LA") else im.convert("RGB")
        if size:
            im = im.resize((size, size), Image.BILINEAR)
        arr = np.asarray(im, np.uint8)
        return arr[..., None] if arr.ndim == 2 else arr


def read_seg_folder(
    root: str | Path, split: str = "train", image_size: int | None = None
) -> dict[str, np.ndarray]:
    """Reads every (image, mask) pair of one base split, sorted by file name.

    Args:
      root: dataset folder (see the module docstring for the layout).
      split: a base split name (``seg_folder_splits(root)``).
      image_size: resize to ``image_size`` x ``image_size`` (None: keep; sizes must agree).

    Returns:
      ``{'image': uint8 [N, H, W, C], 'label': uint8 [N, H, W]}``.

    Raises:
      FileNotFoundError: missing folder or split. ValueError: an image without a mask
      (or the reverse), mixed sizes without ``image_size``, or a colour mask.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> from PIL import Image
      >>> root = Path(tempfile.mkdtemp())
      >>> for sub in ("images", "masks"):
      ...     (root / sub).mkdir()
      >>> mask = np.zeros((8, 8), np.uint8)
      >>> mask[2:4] = 255  # a white stripe: a binary 0/255 export
      >>> Image.new("RGB", (8, 8)).save(root / "images" / "0001.jpg")
      >>> Image.fromarray(mask).save(root / "masks" / "0001.png")
      >>> data = read_seg_folder(root, "train", image_size=4)
      >>> data["image"].shape, data["label"][0]
      ((1, 4, 4, 3), array([[0, 0, 0, 0],
             [1, 1, 1, 1],
             [0, 0, 0, 0],
             [0, 0, 0, 0]], dtype=uint8))
    """
    d = _split_dir(_check_root(root), split)
    images = {p.stem: p for p in (d / "images").iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS}
    masks = {p.stem: p for p in (d / "masks").iterdir() if p.suffix.lower() == ".png"}
    if set(images) != set(masks):
        lonely = sorted(set(images) ^ set(masks))[:5]
        raise ValueError(
            f"{d}: every image needs a mask with the same name (PNG) and vice versa; "
            f"unpaired: {lonely}."
        )
    if not images:
        raise ValueError(f"{d}/images holds no {'/'.join(IMAGE_EXTENSIONS)} files.")
    names = sorted(images)
    xs = [_read(images[n], image_size, False) for n in names]
    ys = [_read(masks[n], image_size, True) for n in names]
    for n, x, y in zip(names, xs, ys):
        if x.shape[:2] != y.shape or x.shape != xs[0].shape:
            raise ValueError(
                f"{d}: {n} has image {x.shape} and mask {y.shape}, first image {xs[0].shape}; "
                "all must share one size. Pass image_size to resize them."
            )
    labels = np.stack(ys)
    if set(np.unique(labels).tolist()) <= {0, 255}:
        labels = labels // 255  # a binary export: white = foreground
    if labels.max() > 255 or labels.min() < 0:
        raise ValueError(
            f"{d}: mask values must lie in [0, 255], got {labels.min()}..{labels.max()}."
        )
    return {"image": np.stack(xs), "label": labels.astype(np.uint8)}


def seg_folder_classes(root: str | Path, labels: np.ndarray) -> tuple[str, ...]:
    """Class names: ``root/classes.txt`` if present, else inferred from the largest label."""
    path = _check_root(root) / "classes.txt"
    if path.exists():
        return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    valid = labels[labels < 255]
    top = max(int(valid.max()) if valid.size else 1, 1)
    return ("background", *(f"class_{k}" for k in range(1, top + 1)))


def load_seg_folder(
    root: str | Path, split: str, image_size: int | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """A split string over a folder's base splits, e.g. ``'train[:90%]'``.

    Each base split is shuffled by the fixed permutation
    ``np.random.default_rng(seed).permutation(n)`` before slicing (file names are often
    ordered by scene), so ``train[:90%]`` and ``train[90%:]`` are disjoint random halves.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> from PIL import Image
      >>> root = Path(tempfile.mkdtemp())
      >>> for sub in ("images", "masks"):
      ...     (root / sub).mkdir()
      >>> for i in range(10):
      ...     Image.new("L", (8, 8)).save(root / "images" / f"{i:04d}.png")
      ...     Image.new("L", (8, 8)).save(root / "masks" / f"{i:04d}.png")
      >>> val = load_seg_folder(root, "train[90%:]", image_size=4)
      >>> val["image"].shape, val["label"].shape
      ((1, 4, 4, 1), (1, 4, 4))
    """
    parts = []
    for part in parse_split(split):
        data = read_seg_folder(root, part.name, image_size)
        n = len(data["label"])
        order = np.random.default_rng(seed).permutation(n)[part.indices(n)]
        parts.append({k: v[order] for k, v in data.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
