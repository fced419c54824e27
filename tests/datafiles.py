"""Independent writers of the datasets' original formats, for tests.

Each writer follows the format's published description (not the reader's code), so a
reader that mixed up byte order, plane order or row/column order fails the round trip.
Used by test_readers.py, test_registry.py and the pipeline tests.
"""

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

# ----------------------------------------------------------------- writers


def idx_bytes(arr: np.ndarray, code: int = 0x08, big_endian_dtype: str = ">u1") -> bytes:
    """IDX: 0x00 0x00 <type> <ndim>, big-endian uint32 dims, big-endian row-major data."""
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr).astype(big_endian_dtype).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    raw = idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def write_mnist(folder: Path, n_train: int, n_test: int, seed: int, gz: bool = True) -> dict:
    """MNIST-layout folder with random 28x28 images; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
        out[split] = (images, labels)
    return out


def planes(img: np.ndarray) -> bytes:
    """CIFAR pixel bytes: the 1024 red values (row-major), then green, then blue."""
    return b"".join(img[:, :, c].tobytes() for c in range(3))


def random_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def write_cifar10_binary(folder: Path, n_per_batch: int = 3, seed: int = 0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    images = random_images(6 * n_per_batch, seed=seed)
    labels = np.random.default_rng(seed + 1).integers(0, 10, 6 * n_per_batch)
    for b, name in enumerate(names):
        rows = range(b * n_per_batch, (b + 1) * n_per_batch)
        (folder / f"{name}.bin").write_bytes(
            b"".join(bytes([labels[i]]) + planes(images[i]) for i in rows)
        )
    k = 5 * n_per_batch
    return {"train": (images[:k], labels[:k]), "test": (images[k:], labels[k:])}


def write_cifar100_binary(folder: Path, n: int = 4, seed: int = 0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in ("train", "test"):
        images = random_images(n, seed=seed)
        fine = np.random.default_rng(seed + 1).integers(0, 100, n)
        coarse = np.random.default_rng(seed + 2).integers(0, 20, n)
        (folder / f"{split}.bin").write_bytes(
            b"".join(bytes([coarse[i], fine[i]]) + planes(images[i]) for i in range(n))
        )
        out[split] = (images, fine, coarse)
        seed += 10
    return out


def _flat(images: np.ndarray) -> np.ndarray:
    return np.stack([np.frombuffer(planes(im), np.uint8) for im in images])  # [N, 3072]


def write_cifar10_python(folder: Path, n_per_batch: int = 2, seed: int = 0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    images = random_images(6 * n_per_batch, seed=seed)
    labels = np.random.default_rng(seed + 1).integers(0, 10, 6 * n_per_batch)
    for b, name in enumerate(names):
        sl = slice(b * n_per_batch, (b + 1) * n_per_batch)
        batch = {b"data": _flat(images[sl]), b"labels": [int(x) for x in labels[sl]]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    k = 5 * n_per_batch
    return {"train": (images[:k], labels[:k]), "test": (images[k:], labels[k:])}


def write_cifar100_python(folder: Path, n: int = 3, seed: int = 0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in ("train", "test"):
        images = random_images(n, seed=seed)
        fine = np.random.default_rng(seed + 1).integers(0, 100, n)
        coarse = np.random.default_rng(seed + 2).integers(0, 20, n)
        d = {b"data": _flat(images), b"fine_labels": list(map(int, fine))}
        d[b"coarse_labels"] = list(map(int, coarse))
        (folder / split).write_bytes(pickle.dumps(d, protocol=2))
        out[split] = (images, fine, coarse)
        seed += 10
    return out


def write_svhn(path: Path, n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SVHN .mat: X uint8 [32, 32, 3, N], y [N, 1] with 10 meaning digit 0."""
    images = random_images(n, seed=seed)  # [N, 32, 32, 3]
    digits = np.arange(n) % 10  # covers 0 when n >= 1
    x = np.zeros((32, 32, 3, n), np.uint8)
    for i in range(n):
        x[:, :, :, i] = images[i]
    y = np.where(digits == 0, 10, digits).reshape(n, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": x, "y": y})
    return images, digits


def write_stl10(folder: Path, n: int = 3, seed: int = 0, splits=("train", "test")) -> dict:
    """STL-10: per image, per channel, the 96x96 plane in column-major (Fortran) order."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in splits:
        images = random_images(n, size=96, seed=seed)
        raw = b"".join(
            images[i, :, :, c].flatten(order="F").tobytes() for i in range(n) for c in range(3)
        )
        stem = "unlabeled" if split == "unlabelled" else split
        (folder / f"{stem}_X.bin").write_bytes(raw)
        labels = np.random.default_rng(seed + 1).integers(1, 11, n).astype(np.uint8)
        if split != "unlabelled":
            (folder / f"{stem}_y.bin").write_bytes(labels.tobytes())
        out[split] = (images, labels)
        seed += 10
    return out


def write_png_folder(root: Path, layout: dict, size=(5, 4), mode="RGB", seed=0) -> dict:
    """layout: {relative class dir: count}; returns {relative file path: array}."""
    rng = np.random.default_rng(seed)
    written = {}
    for rel, count in layout.items():
        (root / rel).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            shape = (size[0], size[1]) + ((3,) if mode == "RGB" else ())
            arr = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / rel / f"{k:03d}.png")
            written[f"{rel}/{k:03d}.png"] = arr
    return written


def make_tar(folder: Path, archive: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=arcname)
    return archive
