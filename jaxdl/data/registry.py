"""Dataset registry: ``load(name, split)`` -> numpy arrays and class names.

Names: ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``svhn``, ``stl10`` and
``image_folder:<path>``. Each split string may be sliced (see ``jaxdl.data.splits``).

Where data is looked for. The folders you name are the only places looked: ``data_dir``
(the argument) or, without it, every folder in ``$JAXDL_DATA_DIR`` (``os.pathsep``-
separated, in order; ignored when ``data_dir`` is given). There the dataset must be on
disk, or prepared by TFDS in that folder, or downloaded into it with ``download=True``.
A named folder that does not exist, or that holds no copy, raises
``DatasetNotFoundError`` listing what it holds and the expected layout: never a silent
fall-back to another copy. Only when neither is given are the defaults looked in:
``/usr/share/datasets`` (Debian's ``dataset-*`` packages), then the copy embedded in
the package (MNIST only), then TFDS (prepared in ``$TFDS_DATA_DIR`` /
``~/tensorflow_datasets``; downloaded only with ``download=True``).

Identification. In a folder, a dataset is read from its own sub-folder
(``<data_dir>/mnist/``, ``<data_dir>/fashion_mnist/``; the names are
``DatasetSpec.folders``), or from the folder itself when it bears such a name
(``data_dir=/data/mnist``). Files whose names several datasets share are read only
there: IDX files (MNIST and Fashion-MNIST alike) at the top of ``data_dir=/data`` are
an error for both names, as are CIFAR-100's bare ``train``/``test``. Names that
identify the dataset are accepted directly in any looked-in folder: the release folders
(``cifar-10-batches-bin/``, ``cifar-100-python/``, ``stl10_binary/``...), SVHN's
``*_32x32.mat`` and ``cifar10-jpeg.tar.gz``. A folder named after the dataset without
a complete copy of the split, or with a damaged file, is an error naming it. The
original releases are preferred to re-encoded copies (CIFAR-10 binary, then python,
then the JPEG archive). Every label is checked to lie in ``[0, number of classes)``.

Example order. Slices are contiguous in file order, except for image folders (and the
CIFAR-10 JPEG archive), whose files are class-sorted: there ``load`` first applies a
fixed permutation ``np.random.default_rng(seed).permutation(n)`` of the base split,
then slices, so ``train[:90%]`` / ``train[90%:]`` are a random, reproducible,
disjoint train/validation split with every class in both.
"""

import importlib.resources
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxdl.data.readers.catalog import (
    CATALOG,
    DatasetSpec,
    Format,
    folder_listing,
    misplaced_notes,
)
from jaxdl.data.readers.idx import read_idx_dataset
from jaxdl.data.readers.image_folder import read_image_folder
from jaxdl.data.splits import SplitSlice, parse_split

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


def _use_defaults(how: str) -> str:
    drop = "unset JAXDL_DATA_DIR" if how == "$JAXDL_DATA_DIR" else "drop data_dir"
    if how == "data_dir" and os.environ.get("JAXDL_DATA_DIR"):
        drop += " and unset JAXDL_DATA_DIR"
    return f"{drop} to use the default places (system folders, the embedded MNIST, TFDS)"


def _given_roots(data_dir: Any, spec: DatasetSpec | None = None) -> list[tuple[str, Path]]:
    """(how it was given, folder) for the folders the user named, each checked to exist:
    ``data_dir``, else every ``$JAXDL_DATA_DIR`` folder; empty when neither is given."""
    if data_dir is not None:
        roots = [("data_dir", Path(data_dir).expanduser())]
    else:
        env = os.environ.get("JAXDL_DATA_DIR", "")
        roots = [("$JAXDL_DATA_DIR", Path(p).expanduser()) for p in env.split(os.pathsep) if p]
    for how, root in roots:
        if root.is_dir():
            continue
        state, near = "is a file, not a folder", ""
        if not root.exists():
            state = "does not exist"
            parent = next((a for a in root.absolute().parents if a.is_dir()), None)
            near = f" ({parent} holds: {folder_listing(parent)})" if parent is not None else ""
        layout = "".join(f"\n{line}" for line in spec.expected(str(root))) if spec else ""
        raise DatasetNotFoundError(
            f"{how} {root} {state}{near}.{layout}\nFix the path, or {_use_defaults(how)}."
        )
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


def _tfds(spec: DatasetSpec, split: str, roots: list[Path], target, download, looked):
    """A TFDS copy prepared in one of ``roots``, else downloaded into ``target`` when
    ``download``; ``None`` with the reasons appended to ``looked``."""
    for root in roots:
        if _tfds_prepared(root, spec.tfds_name):
            try:
                return _tfds_table(spec.tfds_name, split, root, download=False)
            except Exception as e:  # e.g. prepared as tfrecord, which has no random access
                looked.append(f"TFDS {spec.tfds_name!r} prepared in {root} but unreadable: {e}")
    if not download:
        where = ", ".join(str(r) for r in roots)
        looked.append(f"TFDS {spec.tfds_name!r}: not prepared in {where} (download=False)")
        return None
    try:
        return _tfds_table(spec.tfds_name, split, target, download=True)
    except Exception as e:
        looked.append(f"TFDS download of {spec.tfds_name!r} failed: {type(e).__name__}: {e}")
    return None


def _read(fmt: Format, path: Path, name: str, split: str) -> _Table:
    try:
        arrays = fmt.read(path, split)
    except ValueError as e:  # damaged file: the reader's message names it
        raise ValueError(f"Dataset {name!r} (split {split!r}) cannot be read: {e}") from e
    return _array_table(arrays, fmt.class_sorted)


def _find_in(root: Path, name: str, spec: DatasetSpec, split: str) -> _Table | None:
    """Reads ``split`` from ``root`` or its dataset-named sub-folders; a named folder
    without the split is an error, not a reason to look further."""
    named = spec.named_folders(root)
    for folder in [*named, *([] if root in named else [root])]:
        for fmt in spec.formats:
            path = fmt.locate(folder, split, folder in named)
            if path is not None:
                return _read(fmt, path, name, split)
    if not named:
        return None
    lines = [f"Dataset {name!r} (split {split!r}): no complete copy in its own folder(s):"]
    lines += [f"  {folder} holds: {folder_listing(folder)}" for folder in named]
    lines += spec.expected(str(root))
    lines.append("Restore the missing or misnamed files (download them again), or move them.")
    raise DatasetNotFoundError("\n".join(lines))


def _find_given(name, spec, split, roots, data_dir, download) -> _Table:
    """Only the folders the user named: the dataset is there, or it is an error."""
    looked = []
    for how, root in roots:
        table = _find_in(root, name, spec, split)
        if table is not None:
            return table
        looked.append(f"{how} {root}: no copy. It holds: {folder_listing(root)}")
        looked[-1] += "".join(f"\n     {n}" for n in misplaced_notes(root, name, split))
    table = _tfds(spec, split, [r for _, r in roots], roots[0][1], download, looked)
    if table is not None:
        return table
    if data_dir is not None and os.environ.get("JAXDL_DATA_DIR"):
        looked.append("$JAXDL_DATA_DIR: not looked in (data_dir is given)")
    how = roots[0][0]
    lines = [f"Dataset {name!r} (split {split!r}) is not in the folder(s) given by {how}:"]
    lines += [f"  {i}. {place}" for i, place in enumerate(looked, 1)]
    lines += spec.expected(str(roots[0][1]) if len(roots) == 1 else "<folder>")
    lines.append(
        "To fix: put the files there, or pass download=True to prepare it with TFDS there; "
        f"or {_use_defaults(how)}."
    )
    raise DatasetNotFoundError("\n".join(lines))


def _find(name: str, spec: DatasetSpec, split: str, data_dir: Any, download: bool) -> _Table:
    """Looks up one base split of a registered dataset (see the module docstring)."""
    roots = _given_roots(data_dir, spec)
    if roots:
        return _find_given(name, spec, split, roots, data_dir, download)
    looked = ["data_dir: not given", "$JAXDL_DATA_DIR: not set"]
    system = [Path(p) for p in _SYSTEM_DIRS]
    for root in system:
        table = _find_in(root, name, spec, split) if root.is_dir() else None
        if table is not None:
            return table
        state = "no copy" if root.is_dir() else "does not exist"
        looked.append(f"system folder {root} (and sub-folders {', '.join(spec.folders)}): {state}")
    if spec.embedded is not None:
        embedded = importlib.resources.files("jaxdl.data") / "files" / spec.embedded
        return _array_table(read_idx_dataset(embedded, split), False)
    looked.append("embedded copy: jaxdl embeds MNIST only")
    table = _tfds(spec, split, [*system, _tfds_default_dir()], None, download, looked)
    if table is not None:
        return table
    lines = [f"Dataset {name!r} (split {split!r}) was not found. Looked in:"]
    lines += [f"  {i}. {place}" for i, place in enumerate(looked, 1)]
    lines += spec.expected()
    lines.append(
        "To provide it: pass data_dir=FOLDER, or set JAXDL_DATA_DIR=FOLDER (several folders "
        f"separated by {os.pathsep!r}), or pass download=True to fetch and prepare it with "
        f"TFDS as {spec.tfds_name!r} (needs internet; building needs tensorflow: "
        "pip install 'jaxdl[tf]')."
    )
    raise DatasetNotFoundError("\n".join(lines))


def _find_image_folder(path: str, data_dir: Any) -> Path:
    p = Path(path).expanduser()
    candidates = [p]
    if not p.is_absolute():  # relative to data_dir only, else to the current folder, then env
        roots = [root / p for _, root in _given_roots(data_dir)]
        candidates = roots if data_dir is not None else [Path.cwd() / p, *roots]
    for c in candidates:
        if c.exists():
            return c
    looked = "\n".join(f"  {i}. {c}: does not exist" for i, c in enumerate(candidates, 1))
    raise DatasetNotFoundError(
        f"Dataset {_IMAGE_FOLDER + path!r} was not found. Looked in:\n{looked}\n"
        "Expected a folder root/<class>/*.png|jpg|jpeg (optionally root/<split>/<class>/...)"
        " or a .tar/.tar.gz archive of it; a relative path is looked up in data_dir when "
        "given, else in the current folder, then $JAXDL_DATA_DIR."
    )


def _check_labels(piece: dict[str, np.ndarray], name: str, part: SplitSlice, counts: dict):
    """Every label in ``[0, count)`` (STL-10's unlabelled split: -1)."""
    for key, count in counts.items():
        labels = piece[key]
        bad = (labels < 0) | (labels >= count)
        if part.name == "unlabelled":
            bad &= labels != -1
        if bad.any():
            values = np.unique(labels[bad])
            shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
            raise ValueError(
                f"Dataset {name!r} split {str(part)!r}: {int(bad.sum())} of {len(labels)} {key}s "
                f"lie outside [0, {count}) ({count} classes): values {shown}. The files do "
                "not hold this dataset's labels (another dataset, or damaged label files)."
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
      data_dir: the folder to read from (the dataset's own folder, or a parent of it);
        when given, the only place looked (``$JAXDL_DATA_DIR`` and the embedded MNIST
        are not used). ``None``: ``$JAXDL_DATA_DIR``, else the default places.
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
      DatasetNotFoundError: no copy found, a given folder that does not exist or lacks
        the dataset, an incomplete dataset folder (message: places looked and what they
        hold, the expected layout, how to fix it).
      ValueError: unknown name, malformed split string, out-of-range slice, a damaged
        file (named), a label outside ``[0, number of classes)``.

    Example:
      >>> train = load("mnist", "test[:90%]")  # the embedded copy: no download
      >>> val = load("mnist", "test[90%:]")
      >>> train.data["image"].shape, val.data["label"].shape
      ((9000, 28, 28, 1), (1000,))
    """
    parts = parse_split(split)
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
        piece = table.take(index)
        counts = {"label": len(class_names)}
        if "coarse_label" in piece:
            counts["coarse_label"] = len(label_names(name, "coarse_label"))
        _check_labels(piece, name, part, counts)
        pieces.append(piece)
    data = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    data["image"] = data["image"].astype(np.uint8, copy=False)
    data["label"] = data["label"].astype(np.int32, copy=False)
    return DataSplit(data, tuple(class_names))
