"""STL-10 binary release (``stl10_binary/``).

``{train,test,unlabeled}_X.bin`` hold uint8 images of 3 x 96 x 96 bytes each: the red,
green and blue planes, each stored column-major (the row index varies fastest), as
MATLAB wrote them. ``{train,test}_y.bin`` hold one uint8 label per image in 1..10. The
reader returns NHWC images and labels 0..9; the unlabelled split gets label -1 (as in
TFDS). Images are memory-mapped, so reading a slice of the 100,000 unlabelled images
(2.8 GB) touches only that slice: the returned ``image`` is a (non-contiguous) view of
the file; copy the part you need with ``np.ascontiguousarray``.

References:
  Coates, Ng, Lee. An analysis of single-layer networks in unsupervised feature
  learning. AISTATS 2011.
"""

import os
from pathlib import Path

import numpy as np

__all__ = ["STL10_CLASSES", "read_stl10"]

STL10_CLASSES = (
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
)  # fmt: skip

_SIZE = 96
_IMAGE_BYTES = 3 * _SIZE * _SIZE
_SPLITS = {"train": "train", "test": "test", "unlabelled": "unlabeled"}  # split -> file stem


def read_stl10(directory: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """Reads one STL-10 split from the binary release.

    Args:
      directory: the ``stl10_binary`` folder.
      split: ``'train'`` (5,000), ``'test'`` (8,000) or ``'unlabelled'`` (100,000;
        ``'unlabeled'``, the file's spelling, is accepted too).

    Returns:
      ``{'image': uint8 [N, 96, 96, 3] (memory-mapped view), 'label': int32 [N]}``
      with labels 0..9, or -1 for the unlabelled split.

    Raises:
      ValueError: unknown split, a size that is not a whole number of images, or labels
        outside 1..10 / not one per image.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> folder = Path(tempfile.mkdtemp()) / "stl10_binary"
      >>> folder.mkdir()
      >>> np.zeros((2, 3, 96, 96), np.uint8).tofile(folder / "train_X.bin")
      >>> np.array([1, 10], np.uint8).tofile(folder / "train_y.bin")  # labels 1..10
      >>> d = read_stl10(folder, "train")
      >>> d["image"].shape, d["label"]
      ((2, 96, 96, 3), array([0, 9], dtype=int32))
    """
    split = "unlabelled" if split == "unlabeled" else split
    if split not in _SPLITS:
        raise ValueError(f"STL-10 has splits {list(_SPLITS)}, not {split!r}.")
    directory = Path(directory)
    x_path = directory / f"{_SPLITS[split]}_X.bin"
    if not x_path.is_file():
        raise FileNotFoundError(f"Missing STL-10 file {x_path.name} in {directory}.")
    size = x_path.stat().st_size
    if size == 0 or size % _IMAGE_BYTES:
        raise ValueError(
            f"STL-10 file {x_path} holds {size} bytes, not a positive multiple of "
            f"{_IMAGE_BYTES} (one 3x96x96 image): truncated or not STL-10."
        )
    n = size // _IMAGE_BYTES
    raw = np.memmap(x_path, np.uint8, mode="r", shape=(n, 3, _SIZE, _SIZE))  # [N, C, W, H]
    images = raw.transpose(0, 3, 2, 1)  # column-major planes: [N, C, W, H] -> [N, H, W, C]
    if split == "unlabelled":
        return {"image": images, "label": np.full(n, -1, np.int32)}
    y_path = directory / f"{_SPLITS[split]}_y.bin"
    if not y_path.is_file():
        raise FileNotFoundError(f"Missing STL-10 file {y_path.name} in {directory}.")
    labels = np.fromfile(y_path, np.uint8)
    if labels.size != n:
        raise ValueError(f"STL-10: {y_path} holds {labels.size} labels for {n} images.")
    if labels.min() < 1 or labels.max() > 10:
        raise ValueError(
            f"STL-10: labels in {y_path} must lie in 1..10, got {labels.min()}..{labels.max()}."
        )
    return {"image": images, "label": labels.astype(np.int32) - 1}
