"""Catalog of the registered datasets: splits, folder names, file formats, class names.

``jaxdl.data.registry`` walks the look-up order and asks each ``Format`` of a dataset
whether a folder holds the files of a split. Formats are listed in preference order:
the original releases first, re-encoded copies (the CIFAR-10 JPEG archive) last.

Formats are identified by names, never guessed from file names several datasets share.
``locate(folder, split, named)`` gets ``named=True`` only for a folder named after the
dataset (``DatasetSpec.folders``). Bare files with shared names (the IDX files of MNIST
and Fashion-MNIST, CIFAR-100's ``train``/``test``, STL-10's ``*_X.bin``) are accepted
only there, or in the release's own folder (``stl10_binary/``). Release folders
(``cifar-10-batches-bin/``...) and files named after the dataset (``*_32x32.mat``,
``cifar10-jpeg.tar.gz``) identify it anywhere.
"""

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxdl.data.readers.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_COARSE_CLASSES,
    read_cifar10_binary,
    read_cifar10_python,
    read_cifar100_binary,
    read_cifar100_python,
)
from jaxdl.data.readers.idx import FASHION_MNIST_CLASSES, IDX_FILES, read_idx_dataset
from jaxdl.data.readers.image_folder import read_image_folder
from jaxdl.data.readers.stl10 import STL10_CLASSES, read_stl10
from jaxdl.data.readers.svhn import SVHN_CLASSES, read_svhn_mat

__all__ = ["CATALOG", "DatasetSpec", "Format", "folder_listing", "misplaced_notes"]

_DIGITS = tuple("0123456789")


class Format(NamedTuple):
    """One on-disk format of a dataset."""

    description: str  # the expected files, for the not-found message
    locate: Callable[[Path, str, bool], Path | None]  # (folder, split, named) -> path or None
    read: Callable[[Path, str], dict[str, np.ndarray]]  # (located path, split) -> arrays
    class_sorted: bool = False  # examples stored class by class: permute before slicing
    shared_names: bool = False  # file names used by other datasets too: named folders only


class DatasetSpec(NamedTuple):
    """Where and how a registered dataset is stored."""

    splits: tuple[str, ...]
    folders: tuple[str, ...]  # sub-folder names looked for under each root
    formats: tuple[Format, ...]
    class_names: dict[str, tuple[str, ...]]  # label key -> class names
    tfds_name: str  # the TFDS builder with the same content
    embedded: str | None = None  # package resource folder under jaxdl/data/files

    def named_folders(self, root: Path) -> list[Path]:
        """``root`` itself when named after the dataset, then its dataset-named sub-folders."""
        own = [root] if root.name in self.folders else []
        return own + [root / f for f in self.folders if (root / f).is_dir()]

    def expected(self, where: str = "<folder>") -> list[str]:
        """The layouts accepted in the folder ``where``, for error messages."""
        sub = self.folders[0]
        lines = [f"Expected layout (one of), in {where}:"]
        for f in self.formats:
            optional = "" if f.shared_names else f"  [the {sub}/ level may be left out]"
            lines.append(f"  - {where}/{sub}/{f.description}{optional}")
        also = f"named {' or '.join(self.folders[1:])}, " if len(self.folders) > 1 else ""
        lines.append(f"  ({sub}/ may also be {also}or be {where} itself if so named.)")
        return lines


def _idx_locate(folder: Path, split: str, named: bool) -> Path | None:
    """IDX names are shared (MNIST, Fashion-MNIST, ...): only a named folder is read."""
    stems = IDX_FILES[split]
    found = all((folder / (s + ".gz")).is_file() or (folder / s).is_file() for s in stems)
    return folder if named and found else None


def _release(release: str, files: dict[str, tuple[str, ...]]) -> Callable:
    """Locates ``split`` in ``folder/release``, or in ``folder`` when it is named after
    the dataset or the release (bare names like ``train.bin`` identify nothing)."""

    def locate(folder: Path, split: str, named: bool) -> Path | None:
        bare_ok = named or folder.name == release
        for candidate in (folder / release, *((folder,) if bare_ok else ())):
            if all((candidate / f).is_file() for f in files[split]):
                return candidate
        return None

    return locate


def _single_file(pattern: str) -> Callable:
    """A file whose name identifies the dataset: found in any folder."""

    def locate(folder: Path, split: str, named: bool) -> Path | None:
        del named
        p = folder / pattern.format(split=split)
        return p if p.is_file() else None

    return locate


def _read_cifar10_jpeg(path: Path, split: str) -> dict[str, np.ndarray]:
    data, classes = read_image_folder(path, split)
    if classes != CIFAR10_CLASSES:
        raise ValueError(f"{path}: class folders {classes} are not CIFAR-10's classes.")
    return data


def _read_svhn(path: Path, split: str) -> dict[str, np.ndarray]:
    del split  # one file per split: the path already selects it
    return read_svhn_mat(path)


_C10 = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_C100 = {"train": ("train",), "test": ("test",)}
_STL = {"train": ("train_X.bin", "train_y.bin"), "test": ("test_X.bin", "test_y.bin")}
_STL["unlabelled"] = ("unlabeled_X.bin",)
_IDX = Format(
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz (IDX files, gzipped or not)",
    _idx_locate,
    read_idx_dataset,
    shared_names=True,
)
CATALOG: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        ("train", "test"), ("mnist",), (_IDX,), {"label": _DIGITS}, "mnist", "mnist"
    ),
    "fashion_mnist": DatasetSpec(
        ("train", "test"),
        ("fashion_mnist", "fashion-mnist"),
        (_IDX,),
        {"label": FASHION_MNIST_CLASSES},
        "fashion_mnist",
    ),
    "cifar10": DatasetSpec(
        ("train", "test"),
        ("cifar10", "cifar-10", "cifar10_jpeg"),
        (
            Format(
                "cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin (binary release)",
                _release(
                    "cifar-10-batches-bin",
                    {k: tuple(f + ".bin" for f in v) for k, v in _C10.items()},
                ),
                read_cifar10_binary,
            ),
            Format(
                "cifar-10-batches-py/{data_batch_1..5,test_batch} (python release)",
                _release("cifar-10-batches-py", _C10),
                read_cifar10_python,
            ),
            Format(
                "cifar10-jpeg.tar.gz (JPEG image folder cifar10/{train,test}/<class>/*.jpg)",
                _single_file("cifar10-jpeg.tar.gz"),
                _read_cifar10_jpeg,
                class_sorted=True,
            ),
        ),
        {"label": CIFAR10_CLASSES},
        "cifar10",
    ),
    "cifar100": DatasetSpec(
        ("train", "test"),
        ("cifar100", "cifar-100"),
        (
            Format(
                "cifar-100-binary/{train,test}.bin (binary release)",
                _release("cifar-100-binary", {k: (v[0] + ".bin",) for k, v in _C100.items()}),
                read_cifar100_binary,
            ),
            Format(
                "cifar-100-python/{train,test} (python release)",
                _release("cifar-100-python", _C100),
                read_cifar100_python,
            ),
        ),
        {"label": CIFAR100_CLASSES, "coarse_label": CIFAR100_COARSE_CLASSES},
        "cifar100",
    ),
    "svhn": DatasetSpec(
        ("train", "test", "extra"),
        ("svhn", "svhn_cropped"),
        (
            Format(
                "{train,test,extra}_32x32.mat (cropped digits)",
                _single_file("{split}_32x32.mat"),
                _read_svhn,
            ),
        ),
        {"label": SVHN_CLASSES},
        "svhn_cropped",
    ),
    "stl10": DatasetSpec(
        ("train", "test", "unlabelled"),
        ("stl10", "stl-10"),
        (
            Format(
                "stl10_binary/{train,test}_{X,y}.bin, unlabeled_X.bin (binary release)",
                _release("stl10_binary", _STL),
                read_stl10,
            ),
        ),
        {"label": STL10_CLASSES},
        "stl10",
    ),
}


def folder_listing(folder: Path, limit: int = 10) -> str:
    """The entries of ``folder``, shortened: ``'a/, b.txt, ... (+3 more)'``."""
    try:
        items = sorted(folder.iterdir())
    except OSError as e:
        return f"(cannot be listed: {e.strerror or e})"
    if not items:
        return "nothing (empty)"
    shown = ", ".join(p.name + "/" * p.is_dir() for p in items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


def misplaced_notes(root: Path, name: str, split: str) -> list[str]:
    """Notes on files in ``root`` that would be ``name``'s if the folder were named so."""
    spec, notes = CATALOG[name], []
    for fmt in spec.formats:
        if fmt.locate(root, split, False) is None and fmt.locate(root, split, True):
            users = [n for n, s in CATALOG.items() if fmt in s.formats]
            why = f"names shared by {', '.join(users)}" if len(users) > 1 else "bare names"
            notes.append(
                f"Note: {root} holds {fmt.description.split(' (')[0]} at its top ({why}):"
                f" they are read as {name!r} only from {root / spec.folders[0]}/."
            )
    return notes
