"""The CNN-zoo data pipelines: the configs' load paths on generated files, and ImageNet.

CIFAR-10/100, SVHN and STL-10 files are written here from the formats' published
descriptions (not from the readers), then loaded exactly as ``python -m train`` loads
them (``train.build.load_splits`` on the config's ``data`` section, with
``data.data_dir`` pointing at the files). ImageNet runs on ``tfds.testing.mock_data``;
its crop geometry is checked against numpy/PIL references written here.
"""

import math
from pathlib import Path

import chex
import jax
import ml_collections
import numpy as np
import processes
import pytest
import scipy.io
import tensorflow_datasets as tfds
from PIL import Image

from jaxdl.data import DatasetNotFoundError, imagenet, open_tfds_source, sample_rrc_box
from jaxdl.training import parallel
from train import augment_spec, build, classification
from train.configs import (
    cifar10_plain56,
    cifar10_resnet20,
    cifar10_resnet56,
    cifar10_vgg11_bn,
    cifar100_resnet56,
    imagenet_alexnet,
    imagenet_googlenet,
    imagenet_resnet50,
    imagenet_vgg16,
    stl10_resnet18,
    svhn_resnet20,
)
from train.validate import validate

# ------------------------------------------------------------------ format writers


def _images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _planes(images: np.ndarray) -> np.ndarray:
    """CIFAR rows: 1024 red bytes (row-major), 1024 green, 1024 blue: [N, 3072]."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def write_cifar10_bin(folder: Path, n_per_batch: int, n_test: int) -> dict:
    """cifar-10-batches-bin/: records of <1 label byte><3072 pixel bytes>."""
    d = folder / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    out = {"train": [], "test": []}
    files = [(f"data_batch_{i}.bin", "train", n_per_batch) for i in range(1, 6)]
    for k, (name, split, n) in enumerate([*files, ("test_batch.bin", "test", n_test)]):
        x, y = _images(n, 32, k), np.random.default_rng(100 + k).integers(0, 10, n)
        (d / name).write_bytes(np.concatenate([y[:, None].astype(np.uint8), _planes(x)], 1))
        out[split].append((x, y))
    return {s: tuple(np.concatenate(a) for a in zip(*v)) for s, v in out.items()}


def write_cifar100_bin(folder: Path, n_train: int, n_test: int) -> dict:
    """cifar-100-binary/{train,test}.bin: <1 coarse byte><1 fine byte><3072 pixel bytes>."""
    d = folder / "cifar-100-binary"
    d.mkdir(parents=True)
    out = {}
    for k, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        x = _images(n, 32, 10 + k)
        fine = np.random.default_rng(20 + k).integers(0, 100, n)
        coarse = fine // 5
        rows = np.concatenate([coarse[:, None], fine[:, None]], 1).astype(np.uint8)
        (d / f"{split}.bin").write_bytes(np.concatenate([rows, _planes(x)], 1))
        out[split] = (x, fine)
    return out


def write_svhn_mat(folder: Path, n_train: int, n_test: int) -> dict:
    """{train,test}_32x32.mat: X uint8 [32, 32, 3, N], y [N, 1] in 1..10 (10 = digit 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        x, digit = _images(n, 32, 30 + k), np.random.default_rng(40 + k).integers(0, 10, n)
        y = np.where(digit == 0, 10, digit).astype(np.uint8)[:, None]
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": x.transpose(1, 2, 3, 0), "y": y})
        out[split] = (x, digit)
    return out


def write_stl10_bin(folder: Path, n_train: int, n_test: int) -> dict:
    """stl10_binary/{train,test}_{X,y}.bin: 3x96x96 column-major planes, labels 1..10."""
    d = folder / "stl10_binary"
    d.mkdir(parents=True)
    out = {}
    for k, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        x, y = _images(n, 96, 50 + k), np.random.default_rng(60 + k).integers(0, 10, n)
        # column-major per channel: byte order (image, channel, column, row)
        (d / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 3, 2, 1)))
        (d / f"{split}_y.bin").write_bytes((y + 1).astype(np.uint8))
        out[split] = (x, y)
    return out


# --------------------------------------------------------- device-resident configs

SMALL = [  # (config module, writer, n_train, n_test, image side)
    (cifar100_resnet56, write_cifar100_bin, 40, 7, 32),
    (svhn_resnet20, write_svhn_mat, 100, 9, 32),
    (stl10_resnet18, write_stl10_bin, 20, 6, 96),
]


@pytest.mark.parametrize("module,writer,n_train,n_test,side", SMALL)
def test_config_loads_the_original_format_from_data_dir(
    tmp_path, module, writer, n_train, n_test, side
):
    written = writer(tmp_path / "files", n_train, n_test)
    cfg = module.get_config()
    validate(cfg)
    assert cfg.data.data_dir == ""  # not available offline: the user gives the folder
    cfg.data.data_dir = str(tmp_path / "files")
    splits, names = build.load_splits(cfg.data)
    x, y = written["train"]
    n_val = n_train - math.floor(n_train * (93 if module is svhn_resnet20 else 90) / 100)
    np.testing.assert_array_equal(splits["train"]["image"], x[: n_train - n_val])
    np.testing.assert_array_equal(splits["train"]["label"], y[: n_train - n_val])
    np.testing.assert_array_equal(splits["val"]["image"], x[n_train - n_val :])
    np.testing.assert_array_equal(splits["test"]["label"], written["test"][1])
    assert splits["test"]["image"].shape == (n_test, side, side, 3)
    assert len(names) == (100 if module is cifar100_resnet56 else 10)
    # the config's augmentation accepts these images (shape-only trace)
    augment = augment_spec.from_config(cfg.data.augment)
    out = jax.eval_shape(augment, jax.random.PRNGKey(0), jax.ShapeDtypeStruct(x[:2].shape, float))
    assert out.shape == x[:2].shape


def test_svhn_has_no_flip_and_cifar_has_flip():
    assert "flip" not in svhn_resnet20.get_config().data.augment
    for module in (cifar10_resnet20, cifar100_resnet56, stl10_resnet18):
        assert "horizontal_flip" in module.get_config().data.augment


def test_cifar10_configs_read_the_binary_release_from_data_dir(tmp_path):
    x, y = write_cifar10_bin(tmp_path, n_per_batch=4, n_test=5)["train"]
    for module in (cifar10_resnet20, cifar10_resnet56, cifar10_plain56, cifar10_vgg11_bn):
        cfg = module.get_config()
        validate(cfg)
        cfg.data.data_dir = str(tmp_path)
        splits, names = build.load_splits(cfg.data)
        np.testing.assert_array_equal(splits["train"]["image"], x[:18])  # 90% of 20
        np.testing.assert_array_equal(splits["val"]["label"], y[18:])
        assert names[0] == "airplane" and splits["test"]["image"].shape == (5, 32, 32, 3)


def test_cifar10_default_data_dir_is_the_jpeg_archive_and_missing_data_is_explained(
    tmp_path, monkeypatch
):
    cfg = cifar10_resnet20.get_config()
    assert cfg.data.data_dir == "../shared/data/cifar10_jpeg"
    shared = Path(__file__).resolve().parents[1] / cfg.data.data_dir
    if shared.parent.is_dir():  # the shared archive, where this machine has it
        assert (shared / "cifar10-jpeg.tar.gz").is_file()
    monkeypatch.delenv("JAXDL_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    cfg.data.data_dir = str(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="nowhere") as err:  # no fallback elsewhere
        build.load_splits(cfg.data)
    assert "cifar10-jpeg.tar.gz" in str(err.value) and "data_dir" in str(err.value)


def test_he_et_al_schedule():
    c = cifar10_resnet20.get_config()
    assert (c.optimizer.name, c.optimizer.learning_rate, c.train.batch_size) == (
        "momentum",
        0.1,
        128,
    )
    assert c.optimizer.kwargs.to_dict() == {"rho": 0.9, "weight_decay": 1e-4}
    steps_per_epoch = 45000 // 128
    assert abs(c.train.num_epochs * steps_per_epoch - 64000) < steps_per_epoch  # 64k iterations
    sched = build.optimizer(c, steps_per_epoch)  # builds
    assert sched is not None
    n = c.train.num_epochs
    assert tuple(c.optimizer.schedule_kwargs.milestones) == (n // 2, n * 3 // 4)


# ----------------------------------------------------------------- ImageNet geometry


def _pil_resize(image: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))


def _gradient_image(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([yy * 255 // h, xx * 255 // w, (yy + xx) % 256], -1).astype(np.uint8)


@pytest.mark.parametrize("h,w", [(300, 400), (500, 200), (30, 20)])
def test_scale_jitter_matches_a_numpy_reference(h, w):
    image = _gradient_image(h, w)
    crop = imagenet.ScaleJitterCrop(224, (256, 512), flip=False)
    ref_rng, rng = np.random.default_rng(7), np.random.default_rng(7)
    sides = []
    for _ in range(5):
        s = int(ref_rng.integers(256, 513))  # S ~ U{256..512}
        short, long = min(h, w), max(h, w)
        rl = round(long * s / short)
        rh, rw = (s, rl) if h <= w else (rl, s)
        top, left = ref_rng.integers(0, rh - 224 + 1), ref_rng.integers(0, rw - 224 + 1)
        want = _pil_resize(image, rh, rw)[top : top + 224, left : left + 224]
        np.testing.assert_array_equal(crop(image, rng), want)
        sides.append(s)
    assert len(set(sides)) > 1


def test_scale_jitter_distribution_and_bounds():
    rng = np.random.default_rng(0)
    draws = [imagenet.sample_jitter_box(375, 500, rng) for _ in range(3000)]
    s = np.array([d[0] for d in draws])
    assert s.min() >= 256 and s.max() <= 512 and s.min() < 262 and s.max() > 506
    # uniform on 256..512: mean 384, std sqrt((257^2 - 1) / 12)
    assert abs(s.mean() - 384) < 4 * math.sqrt((257**2 - 1) / 12) / math.sqrt(len(s))
    for S, top, left in draws:
        rw = round(500 * S / 375)
        assert 0 <= top <= S - 224 and 0 <= left <= rw - 224
    with pytest.raises(ValueError, match="S_min"):
        imagenet.sample_jitter_box(300, 300, rng, size=224, scale_range=(200, 300))


def test_random_resized_crop_box_matches_numpy_draws():
    h, w = 400, 300
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(200):
        # scale <= 0.5 and ratio in [3/4, 4/3]: every first draw fits, no redraw
        box = sample_rrc_box(h, w, rng, scale=(0.08, 0.5))
        area = h * w * ref.uniform(0.08, 0.5)
        r = math.exp(ref.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * r)), round(math.sqrt(area / r))
        top, left = ref.integers(0, h - ch + 1), ref.integers(0, w - cw + 1)
        assert box == (top, left, ch, cw)
    boxes = [sample_rrc_box(h, w, rng) for _ in range(2000)]
    boxes = [b for b in boxes if b is not None]
    assert len(boxes) > 1900
    for top, left, ch, cw in boxes:
        assert top + ch <= h and left + cw <= w
        assert 0.08 - 0.01 < ch * cw / (h * w) < 1.0 + 1e-9
        assert 3 / 4 - 0.05 < cw / ch < 4 / 3 + 0.05


def test_eval_crop_is_resize_256_then_centre_224():
    image = _gradient_image(300, 400)
    got = imagenet.EvalCrop(224, 256)(image, None)
    want = _pil_resize(image, 256, 341)[16:240, 58:282]  # (341 - 224) // 2 = 58
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------ ImageNet on mock data


@pytest.fixture
def mock_imagenet():
    with tfds.testing.mock_data(num_examples=16):
        yield


@pytest.mark.parametrize(
    "train,crop", [(True, "random_resized"), (True, "scale_jitter"), (False, "")]
)
def test_imagenet_stream_batches_on_mock_data(mock_imagenet, train, crop):
    ds = imagenet.imagenet_stream(
        "train" if train else "validation",
        batch_size=8,
        train=train,
        train_crop=crop or "random_resized",
        num_threads=2,
    )
    batches = list(ds)
    assert len(batches) == 2
    for b in batches:
        assert b["image"].shape == (8, 224, 224, 3) and b["image"].dtype == np.uint8
        assert b["label"].shape == (8,) and b["label"].dtype == np.int32
        assert ((b["label"] >= 0) & (b["label"] < 1000)).all()


def test_device_batches_are_sharded_and_normalized(mock_imagenet):
    mesh = parallel.make_mesh()
    host = list(imagenet.imagenet_stream("validation", batch_size=8, train=False, num_threads=2))
    for raw, dev in zip(host, imagenet.device_batches(host, mesh)):
        assert dev["image"].shape == (8, 224, 224, 3) and dev["image"].dtype == np.float32
        assert dev["image"].sharding.spec[0] == "data"
        assert len(dev["image"].sharding.device_set) == jax.device_count()
        mean = np.array([0.485, 0.456, 0.406])
        std = np.array([0.229, 0.224, 0.225])
        want = (raw["image"].astype(np.float64) / 255.0 - mean) / std
        np.testing.assert_allclose(np.asarray(dev["image"]), want, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(dev["label"]), raw["label"])


def test_imagenet_configs_validate_and_report_an_unprepared_dataset(tmp_path):
    for module in (imagenet_resnet50, imagenet_alexnet, imagenet_vgg16, imagenet_googlenet):
        cfg = module.get_config()
        validate(cfg)
        assert cfg.data.name == "imagenet2012"
    assert imagenet_vgg16.get_config().data.train_crop == "scale_jitter"
    assert tuple(imagenet_vgg16.get_config().data.scale_range) == (256, 512)
    with pytest.raises(DatasetNotFoundError, match="tfds build imagenet2012"):
        imagenet.require_prepared("imagenet2012", tmp_path)


def _tiny_imagenet_config(max_steps: int = -1):
    cfg = imagenet_resnet50.get_config()
    cfg.model.name = "mlp"
    cfg.model.kwargs = ml_collections.ConfigDict({"depth": 1, "width": 8})
    cfg.data.image_size, cfg.data.eval_resize, cfg.data.num_workers = 16, 18, 0
    cfg.train.batch_size = cfg.train.eval_batch_size = 8
    cfg.train.num_epochs, cfg.train.max_steps, cfg.train.progress = 2, max_steps, False
    cfg.train.log_every_steps = 1
    validate(cfg)
    return cfg


def test_streamed_training_through_the_loop_resumes_exactly(mock_imagenet, tmp_path):
    n = len(open_tfds_source("imagenet2012", "train[:99%]"))  # the mock's size
    full = classification.run(_tiny_imagenet_config(), tmp_path / "full")
    assert int(full.state.step) == 2 * (n // 8) >= 4 and full.finished
    assert {"test_accuracy", "test_loss"} <= set(full.final_metrics)
    assert 0 <= full.history[-1]["val_accuracy"] <= 1 and len(full.history) == 2
    # stop after one step (mid-epoch: the resumed stream starts at batch 1 of epoch 0)
    cut = classification.run(_tiny_imagenet_config(max_steps=1), tmp_path / "cut")
    assert int(cut.state.step) == 1 and not cut.finished
    resumed = classification.run(_tiny_imagenet_config(), tmp_path / "cut")
    chex.assert_trees_all_close(resumed.state.params, full.state.params)


def test_python_m_train_reports_an_unprepared_imagenet(tmp_path, monkeypatch):
    """``python -m train``'s own flags, ``parse_flags`` and ``main``, run in this process
    (``processes.train_in_process``; the subprocess path itself is
    ``test_train_main.test_debug_flag_shows_the_traceback``'s)."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    args = ["--config=train/configs/imagenet_vgg16.py", f"--workdir={tmp_path / 'run'}"]
    code, _, err = processes.train_in_process(args)
    assert code == 2, err
    assert "DatasetNotFoundError" in err
    assert "tfds build imagenet2012" in err


def test_pca_lighting_on_a_streamed_dataset_is_a_clear_error(mock_imagenet, tmp_path):
    cfg = _tiny_imagenet_config()
    cfg.data.augment = "pca_lighting(std=0.1)"
    with pytest.raises(ValueError, match="streamed datasets do not support it"):
        classification.run(cfg, tmp_path)
