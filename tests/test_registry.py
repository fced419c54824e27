"""``jaxdl.data.load``: split strings, look-up order, not-found errors, real-data facts.

Generated files come from the independent writers in datafiles.py. Every test
isolates the look-up from this machine: ``$JAXDL_DATA_DIR`` unset, ``$TFDS_DATA_DIR``
an empty folder and the system folder list pointed at a temporary folder.
"""

import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from datafiles import (
    make_tar,
    write_cifar10_binary,
    write_cifar100_python,
    write_mnist,
    write_png_folder,
    write_stl10,
    write_svhn,
)

from jaxdl import data
from jaxdl.data import registry
from jaxdl.data.splits import Bound, SplitSlice, parse_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


pytestmark = pytest.mark.usefixtures("isolated_data")  # tests/conftest.py


# ----------------------------------------------------------------- split strings


def test_parse_split_forms():
    assert parse_split("train") == [SplitSlice("train")]
    assert parse_split(" test[10:20] ") == [SplitSlice("test", Bound(10, False), Bound(20, False))]
    assert parse_split("train[:90%]+extra[-5:]") == [
        SplitSlice("train", None, Bound(90, True)),
        SplitSlice("extra", Bound(-5, False), None),
    ]
    assert [str(p) for p in parse_split("train[90%:]+test")] == ["train[90%:]", "test"]


@pytest.mark.parametrize("n", [1, 7, 10, 999, 60000])
@pytest.mark.parametrize("p", [1, 10, 33, 50, 90, 99])
def test_percent_slices_partition_exactly(n, p):
    head = parse_split(f"train[:{p}%]")[0]
    tail = parse_split(f"train[{p}%:]")[0]
    cut = (n * p) // 100  # the documented rule: floor(n * p / 100)
    for part, expected in ((head, slice(0, cut)), (tail, slice(cut, n))):
        if expected.start == expected.stop:
            with pytest.raises(ValueError, match="selects no example"):
                part.indices(n)
        else:
            assert part.indices(n) == expected
    if cut < n:  # a negative percent p - 100 is the same bound as p
        assert parse_split(f"train[-{100 - p}%:]")[0].indices(n) == slice(cut, n)


def test_absolute_slices_and_errors():
    assert parse_split("test[10:20]")[0].indices(100) == slice(10, 20)
    assert parse_split("test[-10:]")[0].indices(100) == slice(90, 100)
    assert parse_split("test[:100]")[0].indices(100) == slice(0, 100)
    with pytest.raises(ValueError, match="index 101 is outside a split of 100"):
        parse_split("test[:101]")[0].indices(100)
    with pytest.raises(ValueError, match="selects no example"):
        parse_split("test[20:10]")[0].indices(100)


@pytest.mark.parametrize(
    "bad", ["", "train[", "train[:90]%", "train[1.5:]", "train[::2]", "tr ain", "train[:]x", "+"]
)
def test_malformed_split_strings(bad):
    with pytest.raises(ValueError, match="Invalid split.*e.g. 'train'"):
        parse_split(bad)


def test_split_type_and_percent_range():
    with pytest.raises(ValueError, match=r"outside \[-100%, 100%\]"):
        parse_split("train[:150%]")
    with pytest.raises(TypeError, match="must be a string"):
        parse_split(None)


# ----------------------------------------------------------------- embedded MNIST facts


def test_embedded_mnist_test_facts():
    test = data.load("mnist", "test")
    assert test.data["image"].shape == (10000, 28, 28, 1) and test.data["image"].dtype == np.uint8
    assert test.data["label"].dtype == np.int32
    np.testing.assert_array_equal(test.data["label"][:5], [7, 2, 1, 0, 4])
    assert test.class_names == tuple("0123456789")
    np.testing.assert_array_equal(np.bincount(test.data["label"]).sum(), 10000)


def test_embedded_mnist_train_facts():
    train = data.load("mnist", "train")
    assert train.data["image"].shape == (60000, 28, 28, 1)
    np.testing.assert_array_equal(train.data["label"][:5], [5, 0, 4, 1, 9])
    # float64 moments on [0, 1] from the pixel-value histogram (no 60000x784 float copy)
    counts = np.bincount(train.data["image"].ravel(), minlength=256).astype(np.float64)
    v = np.arange(256) / 255.0
    mean = (counts * v).sum() / counts.sum()
    std = np.sqrt((counts * (v - mean) ** 2).sum() / counts.sum())
    assert abs(mean - 0.1307) < 5e-5 and abs(std - 0.3081) < 5e-5


def test_sliced_load_matches_whole_split():
    whole = data.load("mnist", "test").data
    part = data.load("mnist", "test[10:20]").data
    np.testing.assert_array_equal(part["image"], whole["image"][10:20])
    a, b = data.load("mnist", "test[:90%]").data, data.load("mnist", "test[90%:]").data
    assert len(a["label"]) == 9000 and len(b["label"]) == 1000
    np.testing.assert_array_equal(np.concatenate([a["label"], b["label"]]), whole["label"])
    both = data.load("mnist", "test[:3]+test[-2:]").data["label"]
    np.testing.assert_array_equal(both, np.concatenate([whole["label"][:3], whole["label"][-2:]]))
    with pytest.raises(ValueError, match="outside a split of 10000"):
        data.load("mnist", "test[:20000]")
    with pytest.raises(ValueError, match="has splits \\['train', 'test'\\], not 'extra'"):
        data.load("mnist", "extra")


# ----------------------------------------------------------------- look-up order


def test_lookup_order(tmp_path, monkeypatch):
    a = write_mnist(tmp_path / "a" / "mnist", 3, 4, seed=1)["test"][1]
    b = write_mnist(tmp_path / "b" / "mnist", 3, 5, seed=2)["test"][1]  # parent form
    s = write_mnist(tmp_path / "system" / "mnist", 3, 6, seed=3)["test"][1]
    (tmp_path / "empty").mkdir()
    labels = lambda **kw: data.load("mnist", "test", **kw).data["label"]  # noqa: E731
    np.testing.assert_array_equal(labels(), s)  # system folder before the embedded copy
    monkeypatch.setenv("JAXDL_DATA_DIR", f"{tmp_path / 'empty'}::{tmp_path / 'b'}")
    np.testing.assert_array_equal(labels(), b)  # env folders in order; empty entries skipped
    np.testing.assert_array_equal(labels(data_dir=tmp_path / "a"), a)  # data_dir first
    np.testing.assert_array_equal(labels(data_dir=tmp_path / "a" / "mnist"), a)  # folder itself
    with pytest.raises(data.DatasetNotFoundError, match="JAXDL_DATA_DIR: not looked in"):
        labels(data_dir=tmp_path)  # a given data_dir replaces $JAXDL_DATA_DIR: no fall-through
    monkeypatch.delenv("JAXDL_DATA_DIR")
    monkeypatch.setattr(registry, "_SYSTEM_DIRS", ())
    assert len(labels()) == 10000  # embedded copy last, and only when no folder is given


def test_fashion_mnist_alias_folder_and_class_names(tmp_path):
    lab = write_mnist(tmp_path / "fashion-mnist", 4, 2, seed=5)["train"][1]
    got = data.load("fashion_mnist", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(got.data["label"], lab)
    assert got.class_names[0] == "T-shirt/top" and got.class_names[9] == "Ankle boot"


def test_cifar_formats_and_preference(tmp_path):
    written = write_cifar10_binary(tmp_path / "cifar10" / "cifar-10-batches-bin")
    (tmp_path / "cifar10" / "cifar10-jpeg.tar.gz").write_bytes(b"not read: binary wins")
    got = data.load("cifar10", "train[2:7]", data_dir=tmp_path)
    np.testing.assert_array_equal(got.data["image"], written["train"][0][2:7])  # file order
    assert got.class_names == data.CIFAR10_CLASSES
    c100 = write_cifar100_python(tmp_path / "x" / "cifar-100-python")
    got = data.load("cifar100", "test", data_dir=tmp_path / "x")
    np.testing.assert_array_equal(got.data["label"], c100["test"][1])
    np.testing.assert_array_equal(got.data["coarse_label"], c100["test"][2])
    assert got.class_names == data.CIFAR100_CLASSES
    assert data.label_names("cifar100", "coarse_label") == data.CIFAR100_COARSE_CLASSES
    with pytest.raises(ValueError, match="label keys"):
        data.label_names("cifar10", "coarse_label")


def test_svhn_train_plus_extra_and_stl10(tmp_path):
    tr = write_svhn(tmp_path / "svhn" / "train_32x32.mat", n=4, seed=1)
    ex = write_svhn(tmp_path / "svhn" / "extra_32x32.mat", n=3, seed=2)
    got = data.load("svhn", "train+extra[:2]", data_dir=tmp_path).data
    np.testing.assert_array_equal(got["image"], np.concatenate([tr[0], ex[0][:2]]))
    np.testing.assert_array_equal(got["label"], np.concatenate([tr[1], ex[1][:2]]))
    stl = write_stl10(tmp_path / "stl10_binary", splits=("train", "unlabelled"))
    got = data.load("stl10", "unlabeled[1:]", data_dir=tmp_path)  # file spelling accepted
    np.testing.assert_array_equal(got.data["image"], stl["unlabelled"][0][1:])
    assert got.data["image"].flags.c_contiguous and (got.data["label"] == -1).all()
    got = data.load("stl10", "train", data_dir=tmp_path / "stl10_binary")  # the folder itself
    np.testing.assert_array_equal(got.data["label"], stl["train"][1].astype(int) - 1)


def test_image_folder_permutation_then_slice(tmp_path):
    write_png_folder(tmp_path / "ds", {"a": 6, "b": 5, "c": 4})
    archive = make_tar(tmp_path / "ds", tmp_path / "ds.tar.gz", "ds")
    name = f"image_folder:{archive}"
    ordered = data.load(name, "train", seed=None)
    np.testing.assert_array_equal(ordered.data["label"], [0] * 6 + [1] * 5 + [2] * 4)
    perm = np.random.default_rng(3).permutation(15)  # the documented permutation
    head = data.load(name, "train[:60%]", seed=3).data
    tail = data.load(name, "train[60%:]", seed=3).data
    np.testing.assert_array_equal(head["image"], ordered.data["image"][perm[:9]])
    np.testing.assert_array_equal(tail["label"], ordered.data["label"][perm[9:]])
    rel = data.load("image_folder:ds", "train", data_dir=tmp_path, seed=3)  # relative path
    np.testing.assert_array_equal(rel.data["label"][:9], head["label"])
    assert rel.class_names == ("a", "b", "c")


# ----------------------------------------------------------------- not found


def test_missing_dataset_fails_fast_with_places_and_fix(tmp_path, monkeypatch):
    t0 = time.perf_counter()
    with pytest.raises(data.DatasetNotFoundError) as e:
        data.load("cifar100", "train[:90%]")  # neither data_dir nor $JAXDL_DATA_DIR
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"not-found took {elapsed:.2f} s"
    assert isinstance(e.value, FileNotFoundError)
    msg = str(e.value)
    for text in (
        "data_dir: not given",
        "$JAXDL_DATA_DIR: not set",
        f"system folder {tmp_path / 'system'}",
        "does not exist",
        "embedded copy",
        "TFDS 'cifar100': not prepared in",
        str(tmp_path / "tfds_empty"),
        "cifar-100-binary/{train,test}.bin",
        "cifar-100-python/{train,test}",
        "JAXDL_DATA_DIR=FOLDER",
        "download=True",
    ):
        assert text in msg, f"{text!r} missing from:\n{msg}"
    (tmp_path / "given").mkdir()  # a given folder is the only place looked
    (tmp_path / "given" / "notes.txt").write_text("x")
    monkeypatch.setenv("JAXDL_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(data.DatasetNotFoundError) as e:
        data.load("cifar100", "train[:90%]", data_dir=tmp_path / "given")
    msg = str(e.value)
    for text in (
        f"data_dir {tmp_path / 'given'}: no copy. It holds: notes.txt",
        "$JAXDL_DATA_DIR: not looked in (data_dir is given)",
        f"{tmp_path / 'given'}/cifar100/cifar-100-python/{{train,test}}",
        "download=True",
        "drop data_dir and unset JAXDL_DATA_DIR",
    ):
        assert text in msg, f"{text!r} missing from:\n{msg}"
    looked = msg.split("To fix")[0]  # no default place was looked in
    assert "embedded copy" not in looked and f"system folder {tmp_path}" not in looked


def test_missing_image_folder_and_unknown_name(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(data.DatasetNotFoundError, match="Looked in") as e:
        data.load("image_folder:nope/ds.tar.gz", "train", data_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0
    assert str(tmp_path / "nope" / "ds.tar.gz") in str(e.value)
    with pytest.raises(ValueError, match="Unknown dataset 'imagenet'.*image_folder"):
        data.load("imagenet", "train")


# ----------------------------------------------------------------- TFDS fallback


def test_tfds_used_only_when_asked_or_prepared(tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        with pytest.raises(data.DatasetNotFoundError, match="download=False"):
            data.load("cifar100", "train", data_dir=tmp_path)
        got = data.load("cifar100", "train[:4]", data_dir=tmp_path, download=True)
        assert got.data["image"].shape == (4, 32, 32, 3) and got.data["image"].dtype == np.uint8
        assert got.data["coarse_label"].dtype == np.int32 and got.data["label"].max() < 100
        info = tmp_path / "tfds_empty" / "svhn_cropped" / "3.1.0" / "dataset_info.json"
        info.parent.mkdir(parents=True)
        info.write_text("{}")  # looks prepared: TFDS is used without download=True
        got = data.load("svhn", "extra[-2:]")
        assert got.data["image"].shape == (2, 32, 32, 3)


# ----------------------------------------------------------------- shared real data


def _shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is not on this machine (see ../shared/data/README.md)")
    return path


def test_shared_fashion_mnist_facts():
    _shared("fashion_mnist")
    train = data.load("fashion_mnist", "train", data_dir=SHARED)
    assert train.data["image"].shape == (60000, 28, 28, 1)
    np.testing.assert_array_equal(train.data["label"][:5], [9, 0, 0, 3, 0])
    assert len(data.load("fashion_mnist", "test", data_dir=SHARED).data["label"]) == 10000


def test_shared_mnist_equals_embedded():
    _shared("mnist")
    shared = data.load("mnist", "test", data_dir=SHARED).data
    embedded = data.load("mnist", "test").data
    np.testing.assert_array_equal(shared["image"], embedded["image"])


def test_shared_cifar10_jpeg_test_split():
    _shared("cifar10_jpeg", "cifar10-jpeg.tar.gz")
    test = data.load("cifar10", "test", data_dir=SHARED)
    assert test.data["image"].shape == (10000, 32, 32, 3)
    np.testing.assert_array_equal(np.bincount(test.data["label"]), [1000] * 10)
    assert test.class_names == data.CIFAR10_CLASSES


@pytest.mark.slow
def test_shared_cifar10_jpeg_train_mean():
    _shared("cifar10_jpeg", "cifar10-jpeg.tar.gz")
    train = data.load("cifar10", "train", data_dir=SHARED)
    assert train.data["image"].shape == (50000, 32, 32, 3)
    mean = train.data["image"].reshape(-1, 3).astype(np.float64).mean(0)
    np.testing.assert_allclose(mean, (125.3, 122.9, 113.9), atol=1.5)  # JPEG shifts it a bit
