"""IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the values in row-major (C) order, big-endian. Type codes:
0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.

References:
  LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document
  recognition. Proc. IEEE 1998 (MNIST); the IDX format is described on the MNIST page.
  Xiao, Rasul, Vollgraf. Fashion-MNIST. arXiv:1708.07747, 2017 (same file format).
"""

import gzip
import os
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["FASHION_MNIST_CLASSES", "IDX_FILES", "read_idx", "read_idx_dataset"]

_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# split -> (images file, labels file), as in the original distribution (.gz optional).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_bytes(source: str | os.PathLike | IO[bytes], name: str) -> bytes:
    """All bytes of ``source``, gunzipped when they start with the gzip magic 1f 8b."""
    if hasattr(source, "read"):
        raw = source.read()
    else:
        with open(source, "rb") as f:
            raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(
                f"IDX file {name}: the gzip stream is corrupt or truncated ({e}); "
                "download the file again."
            ) from e
    return raw


def read_idx(source: str | os.PathLike | IO[bytes]) -> np.ndarray:
    """Reads one IDX file (gzip detected from its content, not its name).

    Args:
      source: a path, or a binary file object opened for reading.

    Returns:
      The array with the shape stored in the header, in native byte order
      (uint8 for MNIST images ``[N, 28, 28]`` and labels ``[N]``).

    Raises:
      ValueError: bad magic number, unknown type code, or a size that does not match
        the header (truncated or trailing bytes); the message names the file.

    Example:
      >>> from importlib.resources import files
      >>> mnist = files("jaxdl.data") / "files" / "mnist"  # the embedded copy
      >>> with (mnist / "t10k-labels-idx1-ubyte.gz").open("rb") as f:
      ...     labels = read_idx(f)
      >>> labels.shape, labels.dtype, labels[:5]
      ((10000,), dtype('uint8'), array([7, 2, 1, 0, 4], dtype=uint8))
    """
    is_file_object = hasattr(source, "read")
    name = str(getattr(source, "name", "<file object>") if is_file_object else source)
    raw = _read_bytes(source, name)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{name} is not an IDX file: it must start with two zero bytes "
            f"(got {raw[:4].hex(' ') or 'an empty file'})."
        )
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise ValueError(f"IDX file {name}: unknown type code 0x{code:02X} (known: {known}).")
    if ndim == 0:
        raise ValueError(f"IDX file {name}: the header declares 0 dimensions.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file {name} is truncated inside its {header}-byte header.")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "followed by extra bytes"
        raise ValueError(
            f"IDX file {name} is {problem}: the header declares shape {dims} of {dtype.name} "
            f"({expected} bytes in all) but the file holds {len(raw)} bytes; "
            "download the file again."
        )
    values = np.frombuffer(raw, dtype, offset=header)
    return values.reshape(dims).astype(dtype.newbyteorder("="))


def _open(directory: Any, stem: str) -> IO[bytes]:
    """Opens ``directory/stem.gz`` or ``directory/stem`` (a Path or importlib Traversable)."""
    for fname in (stem + ".gz", stem):
        candidate = directory / fname
        if candidate.is_file():
            return candidate.open("rb")
    raise FileNotFoundError(f"Neither {stem}.gz nor {stem} is in {directory}.")


def read_idx_dataset(directory: Any, split: str) -> dict[str, np.ndarray]:
    """Reads an MNIST-layout split (images + labels IDX pair) from a folder.

    Args:
      directory: folder holding ``train-images-idx3-ubyte[.gz]`` etc. (a path, or an
        ``importlib.resources`` Traversable for the embedded copy).
      split: ``'train'`` or ``'test'`` (the ``t10k-*`` files).

    Returns:
      ``{'image': uint8 [N, 28, 28, 1], 'label': int32 [N]}``.

    Raises:
      ValueError: unknown split, or the pair is inconsistent (shapes, dtypes, counts).
      FileNotFoundError: a file is missing.

    Example:
      >>> from importlib.resources import files
      >>> d = read_idx_dataset(files("jaxdl.data") / "files" / "mnist", "test")
      >>> d["image"].shape, d["label"].dtype
      ((10000, 28, 28, 1), dtype('int32'))
    """
    if split not in IDX_FILES:
        raise ValueError(f"IDX datasets have splits {sorted(IDX_FILES)}, not {split!r}.")
    if isinstance(directory, (str, os.PathLike)):
        directory = Path(directory)
    images_stem, labels_stem = IDX_FILES[split]
    with _open(directory, images_stem) as f:
        images = read_idx(f)  # [N, H, W]
    with _open(directory, labels_stem) as f:
        labels = read_idx(f)  # [N]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_stem} in {directory}: expected uint8 images [N, H, W], "
            f"got {images.dtype} {images.shape}."
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{labels_stem} in {directory}: expected {len(images)} labels to match the images, "
            f"got shape {labels.shape}."
        )
    return {"image": images[..., None], "label": labels.astype(np.int32)}
