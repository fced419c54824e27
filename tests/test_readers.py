"""Readers of the original formats, on small files written by the independent writers
of datafiles.py (each follows the format's published description, not the reader's code).
"""

import io
import os
import pickle
import tarfile
import time

import numpy as np
import pytest
import scipy.io
from datafiles import (
    idx_bytes,
    make_tar,
    write_cifar10_binary,
    write_cifar10_python,
    write_cifar100_binary,
    write_cifar100_python,
    write_idx,
    write_mnist,
    write_png_folder,
    write_stl10,
    write_svhn,
)
from PIL import Image

from jaxdl.data import readers
from jaxdl.data.readers import image_folder as image_folder_module


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """Decoded-image caches go to a per-test folder, never to ~/.cache."""
    monkeypatch.setenv("JAXDL_CACHE_DIR", str(tmp_path / "cache"))


# ----------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_uint8(tmp_path, gz):
    arr = np.random.default_rng(0).integers(0, 256, (4, 3, 2), dtype=np.uint8)
    out = readers.read_idx(write_idx(tmp_path / "x-idx3-ubyte", arr, gz))
    assert out.dtype == np.uint8 and out.shape == (4, 3, 2)
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize(
    "code,big,native",
    [(0x09, ">i1", np.int8), (0x0B, ">i2", np.int16), (0x0C, ">i4", np.int32),
     (0x0D, ">f4", np.float32), (0x0E, ">f8", np.float64)],
)  # fmt: skip
def test_idx_roundtrip_big_endian_types(tmp_path, code, big, native):
    arr = (np.arange(12).reshape(3, 4) - 5).astype(native)
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(arr, code, big))
    out = readers.read_idx(path)
    assert out.dtype == np.dtype(native) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_idx_reads_file_objects(tmp_path):
    arr = np.arange(6, dtype=np.uint8)
    with open(write_idx(tmp_path / "l-idx1-ubyte", arr), "rb") as f:
        np.testing.assert_array_equal(readers.read_idx(f), arr)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda raw: b"\x01" + raw[1:], "not an IDX file"),
        (lambda raw: raw[:2] + b"\x07" + raw[3:], "unknown type code 0x07"),
        (lambda raw: raw[:3] + b"\x00", "0 dimensions"),
        (lambda raw: raw[:6], "truncated inside"),
        (lambda raw: raw[:-5], "is truncated"),
        (lambda raw: raw + b"\x00\x00", "extra bytes"),
        (lambda raw: b"", "empty file"),
    ],
)
def test_idx_corrupt_files_raise_clear_errors(tmp_path, mutate, match):
    raw = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    path = tmp_path / "bad-idx"
    path.write_bytes(mutate(raw))
    with pytest.raises(ValueError, match=match) as e:
        readers.read_idx(path)
    assert str(path) in str(e.value)


def test_idx_truncated_gzip_raises(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="gzip stream is corrupt or truncated"):
        readers.read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_dataset_pairs(tmp_path, gz):
    written = write_mnist(tmp_path, 7, 3, seed=1, gz=gz)
    for split in ("train", "test"):
        d = readers.read_idx_dataset(tmp_path, split)
        images, labels = written[split]
        assert d["image"].shape == (len(images), 28, 28, 1) and d["image"].dtype == np.uint8
        assert d["label"].dtype == np.int32
        np.testing.assert_array_equal(d["image"][..., 0], images)
        np.testing.assert_array_equal(d["label"], labels)


def test_idx_dataset_count_mismatch(tmp_path):
    write_mnist(tmp_path, 7, 3, seed=1)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="expected 3 labels"):
        readers.read_idx_dataset(tmp_path, "test")
    with pytest.raises(ValueError, match="splits"):
        readers.read_idx_dataset(tmp_path, "validation")


# ----------------------------------------------------------------- CIFAR


def test_cifar10_binary(tmp_path):
    written = write_cifar10_binary(tmp_path)
    for split, (images, labels) in written.items():
        d = readers.read_cifar10_binary(tmp_path, split)
        assert d["image"].shape == (len(images), 32, 32, 3) and d["image"].dtype == np.uint8
        np.testing.assert_array_equal(d["image"], images)  # batches concatenated in order
        np.testing.assert_array_equal(d["label"], labels)
        assert d["label"].dtype == np.int32


def test_cifar100_binary_fine_and_coarse(tmp_path):
    written = write_cifar100_binary(tmp_path)
    for split, (images, fine, coarse) in written.items():
        d = readers.read_cifar100_binary(tmp_path, split)
        np.testing.assert_array_equal(d["image"], images)
        np.testing.assert_array_equal(d["label"], fine)
        np.testing.assert_array_equal(d["coarse_label"], coarse)


def test_cifar10_python(tmp_path):
    written = write_cifar10_python(tmp_path)
    for split, (images, labels) in written.items():
        d = readers.read_cifar10_python(tmp_path, split)
        np.testing.assert_array_equal(d["image"], images)
        np.testing.assert_array_equal(d["label"], labels)


def test_cifar100_python(tmp_path):
    written = write_cifar100_python(tmp_path)
    for split, (images, fine, coarse) in written.items():
        d = readers.read_cifar100_python(tmp_path, split)
        np.testing.assert_array_equal(d["image"], images)
        np.testing.assert_array_equal(d["label"], fine)
        np.testing.assert_array_equal(d["coarse_label"], coarse)


def test_cifar_errors(tmp_path):
    write_cifar10_binary(tmp_path)
    (tmp_path / "train.bin").write_bytes(b"\x00" * 3073 * 2)  # two CIFAR-10 records
    with pytest.raises(ValueError, match="not a positive multiple of the 3074-byte record"):
        readers.read_cifar100_binary(tmp_path, "train")
    (tmp_path / "test_batch.bin").write_bytes(bytes([10]) + b"\x00" * 3072)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        readers.read_cifar10_binary(tmp_path, "test")
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        readers.read_cifar10_binary(tmp_path, "train")
    (tmp_path / "test").write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}))
    with pytest.raises(ValueError, match="expected keys"):
        readers.read_cifar100_python(tmp_path, "test")
    with pytest.raises(ValueError, match="splits"):
        readers.read_cifar10_binary(tmp_path, "extra")


def test_cifar_class_name_tables():
    assert len(readers.CIFAR10_CLASSES) == 10 and readers.CIFAR10_CLASSES[0] == "airplane"
    assert len(set(readers.CIFAR100_CLASSES)) == 100
    assert list(readers.CIFAR100_CLASSES) == sorted(readers.CIFAR100_CLASSES)  # meta order
    assert len(set(readers.CIFAR100_COARSE_CLASSES)) == 20


# ----------------------------------------------------------------- SVHN


def test_svhn_mat(tmp_path):
    images, digits = write_svhn(tmp_path / "train_32x32.mat", n=12)
    d = readers.read_svhn_mat(tmp_path / "train_32x32.mat")
    assert d["image"].shape == (12, 32, 32, 3) and d["image"].flags.c_contiguous
    np.testing.assert_array_equal(d["image"], images)
    np.testing.assert_array_equal(d["label"], digits)  # 10 -> 0, 1..9 unchanged
    assert d["label"].dtype == np.int32 and 0 in d["label"]


def test_svhn_bad_files(tmp_path):
    scipy.io.savemat(tmp_path / "a.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(ValueError, match="'X' and 'y' are required"):
        readers.read_svhn_mat(tmp_path / "a.mat")
    scipy.io.savemat(tmp_path / "b.mat", {"X": np.zeros((2, 32, 32, 3)), "y": np.ones((2, 1))})
    with pytest.raises(ValueError, match=r"expected X \[32, 32, 3, N\]"):
        readers.read_svhn_mat(tmp_path / "b.mat")
    (tmp_path / "c.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="cannot be read"):
        readers.read_svhn_mat(tmp_path / "c.mat")


# ----------------------------------------------------------------- STL-10


def test_stl10_column_major_and_labels(tmp_path):
    written = write_stl10(tmp_path, splits=("train", "test", "unlabelled"))
    for split, (images, labels) in written.items():
        d = readers.read_stl10(tmp_path, split)
        assert d["image"].shape == (3, 96, 96, 3)
        np.testing.assert_array_equal(d["image"], images)
        expected = np.full(3, -1) if split == "unlabelled" else labels.astype(int) - 1
        np.testing.assert_array_equal(d["label"], expected)
    np.testing.assert_array_equal(readers.read_stl10(tmp_path, "unlabeled")["label"], -1)


def test_stl10_errors(tmp_path):
    write_stl10(tmp_path)
    (tmp_path / "test_y.bin").write_bytes(bytes([1, 2]))
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        readers.read_stl10(tmp_path, "test")
    (tmp_path / "train_X.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a positive multiple of 27648"):
        readers.read_stl10(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="unlabeled_X.bin"):
        readers.read_stl10(tmp_path, "unlabelled")


# ----------------------------------------------------------------- image folders


def _expected(written: dict, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reference: sorted by (class folder, file path), labels = index in sorted classes."""
    keys = sorted(written, key=lambda k: (k.split("/")[-2], k))
    images = np.stack([written[k] for k in keys])
    labels = np.array([classes.index(k.split("/")[-2]) for k in keys])
    return images, labels


def test_image_folder_directory_and_archive(tmp_path):
    written = write_png_folder(tmp_path / "ds", {"zebra": 3, "ant": 2, "moth": 1})
    images, labels = _expected(written, ["ant", "moth", "zebra"])
    data, classes = readers.read_image_folder(tmp_path / "ds")
    assert classes == ("ant", "moth", "zebra")
    np.testing.assert_array_equal(data["image"], images)  # PNG is lossless
    np.testing.assert_array_equal(data["label"], labels)
    archive = make_tar(tmp_path / "ds", tmp_path / "ds.tar.gz", "some/prefix")
    data2, classes2 = readers.read_image_folder(archive, "train")
    assert classes2 == classes
    np.testing.assert_array_equal(data2["image"], images)
    np.testing.assert_array_equal(data2["label"], labels)


def test_image_folder_split_layout_shares_class_indices(tmp_path):
    written = write_png_folder(
        tmp_path / "ds", {"train/cat": 2, "train/dog": 2, "test/dog": 1, "test/eel": 2}
    )
    archive = make_tar(tmp_path / "ds", tmp_path / "ds.tar", "root")
    for source in (tmp_path / "ds", archive):
        test, classes = readers.read_image_folder(source, "test")
        assert classes == ("cat", "dog", "eel")  # union over splits: 'dog' is 1 everywhere
        part = {k: v for k, v in written.items() if k.startswith("test/")}
        images, labels = _expected(part, list(classes))
        np.testing.assert_array_equal(test["image"], images)
        np.testing.assert_array_equal(test["label"], labels)
        with pytest.raises(ValueError, match=r"split folders \['test', 'train'\]"):
            readers.read_image_folder(source, "validation")


def test_image_folder_gray_jpeg_and_resize(tmp_path):
    write_png_folder(tmp_path / "g", {"a": 2, "b": 1}, mode="L")
    data, _ = readers.read_image_folder(tmp_path / "g")
    assert data["image"].shape == (3, 5, 4, 1)
    (tmp_path / "j" / "c").mkdir(parents=True)
    Image.new("RGB", (6, 4), (200, 30, 90)).save(tmp_path / "j" / "c" / "x.JPEG", quality=95)
    Image.new("RGB", (3, 3), (10, 20, 30)).save(tmp_path / "j" / "c" / "y.jpg", quality=95)
    with pytest.raises(ValueError, match="differ in size.*image_size"):
        readers.read_image_folder(tmp_path / "j")
    data, classes = readers.read_image_folder(tmp_path / "j", image_size=(4, 6))
    assert classes == ("c",) and data["image"].shape == (2, 4, 6, 3)
    np.testing.assert_allclose(data["image"][0].reshape(-1, 3).mean(0), (200, 30, 90), atol=3)


def test_image_folder_layout_errors(tmp_path):
    write_png_folder(tmp_path / "flat", {".": 2})
    with pytest.raises(ValueError, match="different depths|outside class folders"):
        readers.read_image_folder(tmp_path / "flat")
    write_png_folder(tmp_path / "amb", {"x/a": 1, "y/b": 1})
    with pytest.raises(ValueError, match="Ambiguous layout"):
        readers.read_image_folder(tmp_path / "amb")
    write_png_folder(tmp_path / "nosplit", {"a": 1})
    with pytest.raises(ValueError, match="no split folders"):
        readers.read_image_folder(tmp_path / "nosplit", "test")
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "a" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="Cannot decode image a/x.png"):
        readers.read_image_folder(tmp_path / "bad")
    (tmp_path / "notar.tar").write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match="neither a folder nor a readable tar"):
        readers.read_image_folder(tmp_path / "notar.tar")
    with pytest.raises(FileNotFoundError):
        readers.read_image_folder(tmp_path / "missing")


def test_image_folder_cache_hit_atomic_and_invalidated(tmp_path, monkeypatch):
    write_png_folder(tmp_path / "ds", {"a": 2, "b": 2})
    archive = make_tar(tmp_path / "ds", tmp_path / "ds.tar.gz", "ds")
    first, classes = readers.read_image_folder(archive, "train")
    cache = tmp_path / "cache"
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 1 and files[0].endswith(".npz")  # no stray temporary file
    decode = image_folder_module._decode

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although a valid cache exists")

    monkeypatch.setattr(image_folder_module, "_decode", no_decode)
    again, classes2 = readers.read_image_folder(archive, "train")
    assert classes2 == classes
    np.testing.assert_array_equal(again["image"], first["image"])
    np.testing.assert_array_equal(again["label"], first["label"])
    # A new modification time is a new key: the archive is decoded again.
    os.utime(archive, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(AssertionError, match="decoded although"):
        readers.read_image_folder(archive, "train")
    monkeypatch.setattr(image_folder_module, "_decode", decode)
    readers.read_image_folder(archive, "train")
    assert len(list(cache.glob("*.npz"))) == 2 and not list(cache.glob("*.tmp"))
    # A corrupt cache file is ignored with a warning, then rewritten.
    for p in cache.glob("*.npz"):
        p.write_bytes(b"junk")
    with pytest.warns(UserWarning, match="unreadable cache"):
        data, _ = readers.read_image_folder(archive, "train")
    np.testing.assert_array_equal(data["image"], first["image"])


def test_image_folder_archive_member_names_are_normalised(tmp_path):
    """'./' prefixes and macOS '._' debris inside archives must not change the result."""
    arr = np.full((2, 2, 3), 7, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tf:
        for name, payload in (("./k/x.png", buf.getvalue()), ("./k/._x.png", b"junk")):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    data, classes = readers.read_image_folder(archive, cache=False)
    assert classes == ("k",)
    np.testing.assert_array_equal(data["image"], arr[None])
