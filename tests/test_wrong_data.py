"""Never the wrong data: a folder that was named but lacks the dataset, a damaged file,
files whose names several datasets share, out-of-range labels and odd image folders are
errors (or, for skipped non-image files, a warning), never a silent fall-back.

Small generated files only (the independent writers of datafiles.py). The look-up is
isolated from this machine as in test_registry.py.
"""

import numpy as np
import pytest
from datafiles import (
    make_tar,
    write_cifar100_binary,
    write_idx,
    write_mnist,
    write_png_folder,
    write_svhn,
)
from PIL import Image

from jaxdl import data
from jaxdl.data import registry
from jaxdl.data.readers import image_folder as image_folder_module

pytestmark = pytest.mark.usefixtures("isolated_data")  # tests/conftest.py


# ----------------------------------------------------------------- 1. a folder was named


def test_typo_data_dir_is_an_error_not_the_embedded_mnist(tmp_path):
    write_mnist(tmp_path / "data" / "mnist", 3, 4, seed=1)
    with pytest.raises(data.DatasetNotFoundError) as e:
        data.load("mnist", "test", data_dir=tmp_path / "dta")  # typo
    msg = str(e.value)
    assert f"data_dir {tmp_path / 'dta'} does not exist" in msg
    assert f"{tmp_path} holds: data/" in msg  # what is there instead
    assert "drop data_dir" in msg and "embedded MNIST" in msg
    (tmp_path / "file").write_text("x")
    with pytest.raises(data.DatasetNotFoundError, match="is a file, not a folder"):
        data.load("mnist", "test", data_dir=tmp_path / "file")
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.load("image_folder:ds", "train", data_dir=tmp_path / "dta")


def test_typo_in_env_folder_is_an_error(tmp_path, monkeypatch):
    write_mnist(tmp_path / "good" / "mnist", 3, 4, seed=1)
    monkeypatch.setenv("JAXDL_DATA_DIR", f"{tmp_path / 'god'}:{tmp_path / 'good'}")
    with pytest.raises(data.DatasetNotFoundError, match=r"\$JAXDL_DATA_DIR .*god does not exist"):
        data.load("mnist", "test")
    with pytest.raises(data.DatasetNotFoundError, match="unset JAXDL_DATA_DIR"):
        data.load("mnist", "test")


def test_given_folder_without_the_dataset_lists_entries_and_layout(tmp_path):
    root = tmp_path / "data"
    for i in range(13):
        (root / f"file{i:02d}.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / f"file{i:02d}.txt").write_text("x")
    (root / "cifar10").mkdir()
    with pytest.raises(data.DatasetNotFoundError) as e:
        data.load("mnist", "train", data_dir=root)
    msg = str(e.value)
    assert f"data_dir {root}: no copy. It holds: cifar10/, file00.txt" in msg
    assert "(+4 more)" in msg  # 14 entries, 10 shown
    assert f"{root}/mnist/train-images-idx3-ubyte.gz" in msg  # the expected layout
    assert "drop data_dir" in msg and "embedded MNIST" in msg  # and how to fix it


# ----------------------------------------------------------------- 2. damaged files


def test_garbage_file_in_env_mnist_folder_is_named(tmp_path, monkeypatch):
    folder = tmp_path / "env" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"<html>not found</html>")
    monkeypatch.setenv("JAXDL_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(data.DatasetNotFoundError) as e:  # an incomplete copy: the rest is missing
        data.load("mnist", "train")
    assert f"{folder} holds: train-images-idx3-ubyte.gz" in str(e.value)
    write_mnist(folder, 3, 4, seed=1)  # now complete, but one file is garbage
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="not an IDX file") as e:
        data.load("mnist", "train")
    assert str(folder / "train-images-idx3-ubyte.gz") in str(e.value)
    assert "'mnist' (split 'train')" in str(e.value)
    assert len(data.load("mnist", "test").data["label"]) == 4  # the intact split still reads


def test_damaged_copy_in_a_default_place_is_not_replaced_by_the_embedded_one(tmp_path):
    folder = tmp_path / "system" / "mnist"
    write_mnist(folder, 3, 4, seed=1)
    raw = (folder / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(raw[:-30])  # truncated download
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        data.load("mnist", "test")


# ----------------------------------------------------------------- 3. identified formats


def test_root_level_mnist_files_are_not_fashion_mnist(tmp_path):
    write_mnist(tmp_path, 3, 4, seed=1)  # IDX files at the top of data_dir
    with pytest.raises(data.DatasetNotFoundError) as e:
        data.load("fashion_mnist", "train", data_dir=tmp_path)
    msg = str(e.value)
    assert "names shared by mnist, fashion_mnist" in msg
    assert f"only from {tmp_path / 'fashion_mnist'}/" in msg
    with pytest.raises(data.DatasetNotFoundError, match="names shared"):
        data.load("mnist", "train", data_dir=tmp_path)  # ambiguous for mnist too
    lab = write_mnist(tmp_path / "x" / "mnist", 3, 4, seed=2)["train"][1]
    with pytest.raises(data.DatasetNotFoundError):  # another dataset's folder
        data.load("fashion_mnist", "train", data_dir=tmp_path / "x" / "mnist")
    got = data.load("mnist", "train", data_dir=tmp_path / "x" / "mnist")  # named: accepted
    np.testing.assert_array_equal(got.data["label"], lab)


def test_shared_bare_names_need_the_named_folder_unique_ones_do_not(tmp_path):
    write_cifar100_binary(tmp_path / "a")  # bare train.bin / test.bin
    with pytest.raises(data.DatasetNotFoundError, match="bare names"):
        data.load("cifar100", "train", data_dir=tmp_path / "a")
    (tmp_path / "a").rename(tmp_path / "cifar-100")  # the folder named after the dataset
    assert data.load("cifar100", "train", data_dir=tmp_path / "cifar-100").data["label"].size
    images, _ = write_svhn(tmp_path / "b" / "test_32x32.mat", n=3)  # the name identifies it
    np.testing.assert_array_equal(
        data.load("svhn", "test", data_dir=tmp_path / "b").data["image"], images
    )


# ----------------------------------------------------------------- 4. labels


def test_labels_outside_the_class_count_are_refused(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder, 3, 4, seed=1)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([1, 12, 3, 10], np.uint8))
    with pytest.raises(ValueError) as e:
        data.load("mnist", "test[1:]", data_dir=folder)
    msg = str(e.value)
    assert "split 'test[1:]'" in msg and "values 10, 12" in msg and "[0, 10)" in msg
    assert "2 of 3 labels" in msg
    assert data.load("mnist", "test[:1]", data_dir=folder).data["label"].tolist() == [1]


def test_labels_from_any_reader_are_checked(tmp_path, monkeypatch):
    write_cifar100_binary(tmp_path / "cifar100")
    spec = registry.CATALOG["cifar100"]
    fmt = spec.formats[0]

    def read(path, split):
        out = fmt.read(path, split)
        return {**out, "coarse_label": out["coarse_label"] + 20}  # one past the 20 superclasses

    formats = (fmt._replace(read=read), *spec.formats[1:])
    monkeypatch.setitem(registry.CATALOG, "cifar100", spec._replace(formats=formats))
    with pytest.raises(ValueError, match=r"split 'train'.*coarse_labels lie outside \[0, 20\)"):
        data.load("cifar100", "train", data_dir=tmp_path)


# ----------------------------------------------------------------- 5. image folders


def test_empty_class_folder_is_named(tmp_path):
    write_png_folder(tmp_path / "ds", {"train/cat": 2, "train/dog": 2, "test/cat": 1})
    (tmp_path / "ds" / "test" / "dog").mkdir()
    (tmp_path / "ds" / "test" / "dog" / "notes.txt").write_text("x")
    with (
        pytest.warns(UserWarning, match="skipped .*: test/dog/notes.txt"),
        pytest.raises(ValueError, match="without any .png/.jpg/.jpeg image.*: test/dog"),
    ):
        data.load(f"image_folder:{tmp_path / 'ds'}", "train")
    (tmp_path / "ds" / "test" / "dog" / "notes.txt").unlink()
    (tmp_path / "ds" / "test" / "dog").rmdir()
    data.load(f"image_folder:{tmp_path / 'ds'}", "train")  # cached now
    (tmp_path / "ds" / "train" / "eel").mkdir()  # the cache does not hide a new empty class
    with pytest.raises(ValueError, match="train/eel"):
        data.load(f"image_folder:{tmp_path / 'ds'}", "train")
    archive = make_tar(tmp_path / "ds", tmp_path / "ds.tar.gz", "ds")  # same in an archive
    with pytest.raises(ValueError, match="without any .* image in .*ds.tar.gz: ds/train/eel"):
        data.load(f"image_folder:{archive}", "test")


def test_skipped_files_are_counted_in_a_warning(tmp_path):
    write_png_folder(tmp_path / "ds", {"a": 2, "b": 1})
    for rel in ("a/x.gif", "b/readme.txt", "a/.DS_Store"):  # hidden files: silent
        (tmp_path / "ds" / rel).write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"2 file\(s\) without a .* a/x.gif, b/readme.txt\.$"):
        out, _ = data.readers.read_image_folder(tmp_path / "ds", cache=False)
    assert len(out["label"]) == 3
    with pytest.raises(ValueError, match=r"No .* images found .*\(1 file\(s\) .*only.txt\)"):
        (tmp_path / "none" / "a").mkdir(parents=True)
        (tmp_path / "none" / "a" / "only.txt").write_text("x")
        data.readers.read_image_folder(tmp_path / "none", cache=False)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 300, 32768], [40000, 65278, 65535, 128]], np.uint16)
    (tmp_path / "ds" / "a").mkdir(parents=True)
    Image.fromarray(values).save(tmp_path / "ds" / "a" / "x.png")  # mode I;16
    assert Image.open(tmp_path / "ds" / "a" / "x.png").mode.startswith("I")
    out, _ = data.readers.read_image_folder(tmp_path / "ds", cache=False)
    expected = np.round(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(out["image"][0, ..., 0], expected)
    assert expected.tolist() == [[0, 1, 1, 128], [156, 254, 255, 0]]
    wide = Image.fromarray(np.array([[0, 70000]], np.int32), "I")  # 32-bit: refused
    with pytest.raises(ValueError, match="x.png.*outside the 16-bit range"):
        image_folder_module._to_8_bits(wide, "x.png")
