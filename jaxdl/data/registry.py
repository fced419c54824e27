"""Dataset registry: ``load(name, split)`` -> numpy arrays and class names.

Names: ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``svhn``, ``stl10`` and
``image_folder:<path>``. Each split string may be sliced (see ``jaxdl.data.splits``).

Look-up order (the first place holding the requested split wins):
  1. ``data_dir`` (the argument), 2. every folder in ``$JAXDL_DATA_DIR``
  (``os.pathsep``-separated), 3. ``/usr/share/datasets`` (Debian's ``dataset-*``
  packages), 4. the copy embedded in the package (MNIST only), 5. TFDS: a dataset
  already prepared (array_record format) in one of those folders or in TFDS's own
  ``$TFDS_DATA_DIR`` / ``~/tensorflow_datasets``; downloaded only with
  ``download=True``. A folder may hold the dataset's files itself, or be a parent
  holding a sub-folder named after the dataset (``data_dir=/data`` finds ``/data/mnist``).
  In a folder, the original releases are preferred to re-encoded copies (CIFAR-10
  binary, then python, then the JPEG archive). A dataset found nowhere raises
  ``DatasetNotFoundError`` after file-system checks only (well under a second), with a
  message listing every place looked and the files expected.

Example order. Slices are contiguous in file order, except for image folders (and the
CIFAR-10 JPEG archive), whose files are class-sorted: there ``load`` first applies a
fixed permutation ``np.random.default_rng(seed).permutation(n)`` of the base split,
then slices, so ``train[:90%]`` / ``train[90%:]`` are a random, reproducible,
disjoint train/validation split with every class in both.
"""

import importlib.resources
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxdl.data.readers.catalog import CATALOG, DatasetSpec
from jaxdl.data.readers.idx import read_idx_dataset
from jaxdl.data.readers.image_folder import read_image_folder
from jaxdl.data.splits import parse_split

__all__ = ["DataSplit", "DatasetNotFoundError", "label_names", "load", "names"]

_SYSTEM_DIRS = ("/usr/share/datasets",)
_IMAGE_FOLDER = "image_folder:"


class DataSplit(NamedTuple):
    """A loaded split: arrays plus the names of the ``'label'`` classes.

    ``data``: ``{'image': uint8 [N, H, W, C], 'label': int32 [N]}``; CIFAR-100 adds
    ``'coarse_label'`` (names: ``label_names('cifar100', 'coarse_label')``); STL-10's
    unlabelled split has label -1. ``class_names[i]`` names label ``i``.
    """

    data: dict[str, np.ndarray]
    class_names: tuple[str, ...]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in none of the places looked; the message lists them and the fix."""


class _Table(NamedTuple):
    """A base split, readable by index before anything is copied."""

    n: int
    take: Callable[[Any], dict[str, np.ndarray]]  # slice or int array -> arrays
    class_sorted: bool


def names() -> list[str]:
    """Registered dataset names (``image_folder:<path>`` is accepted besides these)."""
    return sorted(CATALOG)


def _spec(name: str) -> DatasetSpec:
    if name not in CATALOG:
        raise ValueError(
            f"Unknown dataset {name!r}. Known: {', '.join(names())}, or 'image_folder:<path>' "
            "for root/<class>/*.png|jpg folders and .tar/.tar.gz archives of them."
        )
    return CATALOG[name]


def label_names(name: str, key: str = "label") -> tuple[str, ...]:
    """Class names of a registered dataset's label ``key`` (no file is read).

    Args:
      name: a registered name, e.g. ``'cifar100'``.
      key: ``'label'``, or ``'coarse_label'`` for CIFAR-100's 20 superclasses.

    Returns:
      ``names[i]`` is the name of label ``i``.

    Example:
      >>> label_names("cifar100", "coarse_label")[0]
      'aquatic_mammals'
    """
    spec = _spec(name)
    if key not in spec.class_names:
        raise ValueError(f"{name!r} has label keys {sorted(spec.class_names)}, not {key!r}.")
    return spec.class_names[key]


def _roots(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """(how it was given, folder) for every user-facing place, in look-up order."""
    roots = []
    if data_dir is not None:
        roots.append(("data_dir", Path(data_dir).expanduser()))
    env = os.environ.get("JAXDL_DATA_DIR", "")
    roots += [("$JAXDL_DATA_DIR", Path(p).expanduser()) for p in env.split(os.pathsep) if p]
    roots += [("system folder", Path(p)) for p in _SYSTEM_DIRS]
    return roots


def _tfds_default_dir() -> Path:
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets")


def _tfds_prepared(root: Path, tfds_name: str) -> bool:
    """Whether ``root`` holds a prepared TFDS dataset (version folder with its metadata)."""
    base = root / tfds_name
    if not base.is_dir():
        return False
    return any(base.glob("*/dataset_info.json")) or any(base.glob("*/*/dataset_info.json"))


def _array_table(arrays: dict[str, np.ndarray], class_sorted: bool) -> _Table:
    def take(index: Any) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v[index]) for k, v in arrays.items()}

    return _Table(len(arrays["label"]), take, class_sorted)


def _tfds_table(tfds_name: str, split: str, root: Path | None, download: bool) -> _Table:
    import tensorflow_datasets as tfds  # heavy: imported only when TFDS is actually used

    source = tfds.data_source(tfds_name, split=split, data_dir=root, download=download)

    def take(index: Any) -> dict[str, np.ndarray]:
        rows = [source[int(i)] for i in np.arange(len(source))[index]]
        out = {"image": np.stack([np.asarray(r["image"], np.uint8) for r in rows])}
        for key in ("label", "coarse_label"):
            if key in rows[0]:
                out[key] = np.array([r[key] for r in rows], np.int32)
        return out

    return _Table(len(source), take, False)


def _how_to_provide(spec: DatasetSpec) -> list[str]:
    lines = [f"Expected, in a folder or in its sub-folder {' or '.join(spec.folders)}, one of:"]
    lines += [f"  - {f.description}" for f in spec.formats]
    lines.append(
        "To provide it: pass data_dir=FOLDER, or set JAXDL_DATA_DIR=FOLDER (several folders "
        f"separated by {os.pathsep!r}), or pass download=True to fetch and prepare it with "
        f"TFDS as {spec.tfds_name!r} (needs internet; building needs tensorflow: "
        "pip install 'jaxdl[tf]')."
    )
    return lines


def _find_in(root: Path, spec: DatasetSpec, split: str) -> _Table | None:
    """Reads ``split`` from ``root`` or its dataset-named sub-folders, if there."""
    for folder in (root, *(root / f for f in spec.folders)):
        if not folder.is_dir():
            continue
        for fmt in spec.formats:
            path = fmt.locate(folder, split)
            if path is not None:
                return _array_table(fmt.read(path, split), fmt.class_sorted)
    return None


def _find(name: str, spec: DatasetSpec, split: str, data_dir: Any, download: bool) -> _Table:
    """Walks the look-up order for one base split of a registered dataset."""
    looked = []
    if data_dir is None:
        looked.append("data_dir: not given")
    if not os.environ.get("JAXDL_DATA_DIR"):
        looked.append("$JAXDL_DATA_DIR: not set")
    for how, root in _roots(data_dir):
        table = _find_in(root, spec, split) if root.is_dir() else None
        if table is not None:
            return table
        state = "no matching files" if root.is_dir() else "does not exist"
        looked.append(f"{how} {root} (and sub-folders {', '.join(spec.folders)}): {state}")
    if spec.embedded is not None:
        embedded = importlib.resources.files("jaxdl.data") / "files" / spec.embedded
        return _array_table(read_idx_dataset(embedded, split), False)
    looked.append("embedded copy: jaxdl embeds MNIST only")
    tfds_roots = [root for _, root in _roots(data_dir)] + [_tfds_default_dir()]
    for root in tfds_roots:
        if _tfds_prepared(root, spec.tfds_name):
            try:
                return _tfds_table(spec.tfds_name, split, root, download=False)
            except Exception as e:  # e.g. prepared as tfrecord, which has no random access
                looked.append(f"TFDS {spec.tfds_name!r} prepared in {root} but unreadable: {e}")
    if download:
        try:
            return _tfds_table(spec.tfds_name, split, data_dir, download=True)
        except Exception as e:
            looked.append(f"TFDS download of {spec.tfds_name!r} failed: {type(e).__name__}: {e}")
    else:
        where = ", ".join(str(r) for r in tfds_roots)
        looked.append(f"TFDS {spec.tfds_name!r}: not prepared in {where} (download=False)")
    lines = [f"Dataset {name!r} (split {split!r}) was not found. Looked in:"]
    lines += [f"  {i}. {place}" for i, place in enumerate(looked, 1)]
    raise DatasetNotFoundError("\n".join(lines + _how_to_provide(spec)))


def _find_image_folder(path: str, data_dir: Any) -> Path:
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p]
    if not p.is_absolute():
        candidates += [root / p for _, root in _roots(data_dir)]
    for c in candidates:
        if c.exists():
            return c
    looked = "\n".join(f"  {i}. {c}: does not exist" for i, c in enumerate(candidates, 1))
    raise DatasetNotFoundError(
        f"Dataset {_IMAGE_FOLDER + path!r} was not found. Looked in:\n{looked}\n"
        "Expected a folder root/<class>/*.png|jpg|jpeg (optionally root/<split>/<class>/...)"
        " or a .tar/.tar.gz archive of it; a relative path is looked up in the current "
        "folder, data_dir and $JAXDL_DATA_DIR."
    )


def load(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    *,
    seed: int | None = 0,
    image_size: tuple[int, int] | None = None,
) -> DataSplit:
    """Loads a (sliced) split of a dataset into host memory as numpy arrays.

    Args:
      name: ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``svhn``, ``stl10``
        or ``image_folder:<path>``.
      split: ``'train'``, ``'test'`` (``'extra'`` for svhn, ``'unlabelled'`` for stl10;
        any split folder for image folders), optionally sliced and joined with ``+``:
        ``'train[:90%]'``, ``'train[90%:]'``, ``'train[:1000]'``, ``'train+extra'``.
      data_dir: folder looked in first (the dataset's folder or a parent of it).
      download: allow TFDS to download and prepare the dataset when no local copy exists.
      seed: seed of the permutation applied to class-sorted sources (image folders, the
        CIFAR-10 JPEG archive) before slicing; ``None`` keeps the class-sorted order.
        File-ordered formats are never permuted.
      image_size: ``(H, W)`` to resize image-folder images to (bilinear).

    Returns:
      ``DataSplit(data, class_names)``; ``data['image']`` uint8 [N, H, W, C],
      ``data['label']`` int32 [N] (CIFAR-100 also ``'coarse_label'``, whose names are
      ``label_names('cifar100', 'coarse_label')``).

    Raises:
      DatasetNotFoundError: no copy found (message: places looked, how to provide it).
      ValueError: unknown name, malformed split string, out-of-range slice.

    Example:
      >>> train = load("mnist", "test[:90%]")  # the embedded copy: no download
      >>> val = load("mnist", "test[90%:]")
      >>> train.data["image"].shape, val.data["label"].shape
      ((9000, 28, 28, 1), (1000,))
    """
    parts = parse_split(split)
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        warnings.warn(f"data_dir {data_dir} is not a folder; looking elsewhere.", stacklevel=2)
    if name.startswith(_IMAGE_FOLDER):
        root = _find_image_folder(name[len(_IMAGE_FOLDER) :], data_dir)
        spec, class_names = None, None
    else:
        spec = _spec(name)
        parts = [p._replace(name="unlabelled" if p.name == "unlabeled" else p.name) for p in parts]
        for p in parts:
            if p.name not in spec.splits:
                raise ValueError(f"{name!r} has splits {list(spec.splits)}, not {p.name!r}.")
        class_names = spec.class_names["label"]
    tables: dict[str, _Table] = {}
    pieces = []
    for part in parts:
        if part.name not in tables:
            if spec is None:
                arrays, class_names = read_image_folder(root, part.name, image_size=image_size)
                tables[part.name] = _array_table(arrays, class_sorted=True)
            else:
                tables[part.name] = _find(name, spec, part.name, data_dir, download)
        table = tables[part.name]
        index = part.indices(table.n)
        if table.class_sorted and seed is not None:
            index = np.random.default_rng(seed).permutation(table.n)[index]  # [n_part]
        pieces.append(table.take(index))
    data = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    data["image"] = data["image"].astype(np.uint8, copy=False)
    data["label"] = data["label"].astype(np.int32, copy=False)
    return DataSplit(data, tuple(class_names))
