"""CIFAR-10 and CIFAR-100, binary and python-pickle releases.

Both releases store each image as 3072 bytes: the 1024 red values of the 32x32 image
in row-major order, then green, then blue. The binary release prefixes each record
with its label byte (CIFAR-10) or its coarse then fine label bytes (CIFAR-100). The
python release pickles dicts with ``b'data'`` (uint8 [N, 3072]) and ``b'labels'``
(CIFAR-10) or ``b'fine_labels'`` / ``b'coarse_labels'`` (CIFAR-100).

Folder layouts of the original archives (after extraction):
  ``cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin``,
  ``cifar-10-batches-py/{data_batch_1..5,test_batch}``,
  ``cifar-100-binary/{train,test}.bin``, ``cifar-100-python/{train,test}``.

The python release is read with ``pickle``: only read files you trust.

References:
  Krizhevsky. Learning multiple layers of features from tiny images. Tech. report,
  University of Toronto, 2009.
"""

import os
import pickle
from pathlib import Path

import numpy as np

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_CLASSES",
    "CIFAR100_COARSE_CLASSES",
    "read_cifar10_binary",
    "read_cifar10_python",
    "read_cifar100_binary",
    "read_cifar100_python",
]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

CIFAR100_COARSE_CLASSES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)  # fmt: skip

_PIXELS = 32 * 32 * 3
_CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_CIFAR100_FILES = {"train": ("train",), "test": ("test",)}


def _to_nhwc(flat: np.ndarray) -> np.ndarray:
    """[N, 3072] planar R, G, B planes -> [N, 32, 32, 3]."""
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _check_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{where}: labels must lie in [0, {num_classes}), found "
            f"{labels.min()}..{labels.max()}; the file is corrupt or not the dataset named."
        )
    return labels.astype(np.int32)


def _files(directory: str | os.PathLike, names: tuple[str, ...], suffix: str) -> list[Path]:
    paths = [Path(directory) / (n + suffix) for n in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Missing CIFAR file(s) {missing} in {directory}.")
    return paths


def _read_binary(paths: list[Path], label_bytes: int) -> np.ndarray:
    """Concatenated records [N, label_bytes + 3072] of the binary release."""
    record = label_bytes + _PIXELS
    chunks = []
    for p in paths:
        raw = np.fromfile(p, np.uint8)
        if raw.size == 0 or raw.size % record:
            raise ValueError(
                f"CIFAR binary file {p} holds {raw.size} bytes, not a positive multiple of the "
                f"{record}-byte record ({label_bytes} label byte(s) + 3072 pixels): truncated, "
                "or the CIFAR-10 file given for CIFAR-100 (or the reverse)."
            )
        chunks.append(raw.reshape(-1, record))
    return np.concatenate(chunks)


def _check_split(split: str, files: dict) -> None:
    if split not in files:
        raise ValueError(f"CIFAR has splits {sorted(files)}, not {split!r}.")


def read_cifar10_binary(directory: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """Reads a CIFAR-10 split from the binary release.

    Args:
      directory: the ``cifar-10-batches-bin`` folder.
      split: ``'train'`` (data_batch_1..5.bin, 50,000 images) or ``'test'`` (10,000).

    Returns:
      ``{'image': uint8 [N, 32, 32, 3], 'label': int32 [N]}``, in file order.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> folder = Path(tempfile.mkdtemp()) / "cifar-10-batches-bin"
      >>> folder.mkdir()
      >>> records = np.zeros((2, 1 + 3072), np.uint8)  # label byte, then R, G, B planes
      >>> records[:, 0] = [3, 8]
      >>> records.tofile(folder / "test_batch.bin")
      >>> d = read_cifar10_binary(folder, "test")
      >>> d["image"].shape, d["label"]
      ((2, 32, 32, 3), array([3, 8], dtype=int32))
    """
    _check_split(split, _CIFAR10_FILES)
    rec = _read_binary(_files(directory, _CIFAR10_FILES[split], ".bin"), 1)
    return {
        "image": _to_nhwc(rec[:, 1:]),
        "label": _check_labels(rec[:, 0], 10, str(directory)),
    }


def read_cifar100_binary(directory: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """Reads a CIFAR-100 split from the binary release.

    Args:
      directory: the ``cifar-100-binary`` folder.
      split: ``'train'`` (train.bin, 50,000 images) or ``'test'`` (test.bin, 10,000).

    Returns:
      ``{'image': uint8 [N, 32, 32, 3], 'label': int32 [N] (fine, 0..99),
      'coarse_label': int32 [N] (superclass, 0..19)}``.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> folder = Path(tempfile.mkdtemp()) / "cifar-100-binary"
      >>> folder.mkdir()
      >>> records = np.zeros((2, 2 + 3072), np.uint8)  # coarse, fine label bytes, pixels
      >>> records[:, :2] = [[4, 30], [19, 99]]
      >>> records.tofile(folder / "train.bin")
      >>> d = read_cifar100_binary(folder, "train")
      >>> d["image"].shape, d["label"], d["coarse_label"]
      ((2, 32, 32, 3), array([30, 99], dtype=int32), array([ 4, 19], dtype=int32))
    """
    _check_split(split, _CIFAR100_FILES)
    rec = _read_binary(_files(directory, _CIFAR100_FILES[split], ".bin"), 2)
    return {
        "image": _to_nhwc(rec[:, 2:]),
        "label": _check_labels(rec[:, 1], 100, str(directory)),
        "coarse_label": _check_labels(rec[:, 0], 20, str(directory)),
    }


def _unpickle(path: Path, keys: tuple[bytes, ...]) -> dict:
    with open(path, "rb") as f:
        try:
            d = pickle.load(f, encoding="bytes")
        except Exception as e:
            raise ValueError(f"CIFAR python file {path} cannot be unpickled: {e}") from e
    if not isinstance(d, dict) or any(k not in d for k in keys):
        found = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"CIFAR python file {path}: expected keys {list(keys)}, found {found}.")
    data = np.asarray(d[b"data"], np.uint8)
    if data.ndim != 2 or data.shape[1] != _PIXELS:
        raise ValueError(f"CIFAR python file {path}: 'data' must be [N, 3072], got {data.shape}.")
    return d


def read_cifar10_python(directory: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """Reads a CIFAR-10 split from the python (pickle) release.

    Args:
      directory: the ``cifar-10-batches-py`` folder.
      split: ``'train'`` or ``'test'``.

    Returns:
      ``{'image': uint8 [N, 32, 32, 3], 'label': int32 [N]}``, in file order.

    Example:
      >>> import pickle, tempfile
      >>> from pathlib import Path
      >>> folder = Path(tempfile.mkdtemp()) / "cifar-10-batches-py"
      >>> folder.mkdir()
      >>> for i in range(1, 6):  # one image per training batch file
      ...     batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [i]}
      ...     _ = (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
      >>> d = read_cifar10_python(folder, "train")
      >>> d["image"].shape, d["label"]
      ((5, 32, 32, 3), array([1, 2, 3, 4, 5], dtype=int32))
    """
    _check_split(split, _CIFAR10_FILES)
    images, labels = [], []
    for p in _files(directory, _CIFAR10_FILES[split], ""):
        d = _unpickle(p, (b"data", b"labels"))
        images.append(np.asarray(d[b"data"], np.uint8))
        labels.append(np.asarray(d[b"labels"]))
    return {
        "image": _to_nhwc(np.concatenate(images)),
        "label": _check_labels(np.concatenate(labels), 10, str(directory)),
    }


def read_cifar100_python(directory: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """Reads a CIFAR-100 split from the python (pickle) release.

    Args:
      directory: the ``cifar-100-python`` folder.
      split: ``'train'`` or ``'test'``.

    Returns:
      ``{'image': uint8 [N, 32, 32, 3], 'label': int32 [N] (fine),
      'coarse_label': int32 [N]}``.

    Example:
      >>> import pickle, tempfile
      >>> from pathlib import Path
      >>> folder = Path(tempfile.mkdtemp()) / "cifar-100-python"
      >>> folder.mkdir()
      >>> test = {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [30, 99],
      ...         b"coarse_labels": [0, 19]}
      >>> _ = (folder / "test").write_bytes(pickle.dumps(test))
      >>> d = read_cifar100_python(folder, "test")
      >>> d["image"].shape, d["label"], d["coarse_label"]
      ((2, 32, 32, 3), array([30, 99], dtype=int32), array([ 0, 19], dtype=int32))
    """
    _check_split(split, _CIFAR100_FILES)
    (p,) = _files(directory, _CIFAR100_FILES[split], "")
    d = _unpickle(p, (b"data", b"fine_labels", b"coarse_labels"))
    return {
        "image": _to_nhwc(np.asarray(d[b"data"], np.uint8)),
        "label": _check_labels(np.asarray(d[b"fine_labels"]), 100, str(p)),
        "coarse_label": _check_labels(np.asarray(d[b"coarse_labels"]), 20, str(p)),
    }
