"""pix2pix inputs: paired [A | B] folders (facades format) and segmentation masks (cracks)."""

import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxdl.data.cracks import load_cracks
from jaxdl.data.readers.paired_folder import load_paired_folder, read_paired_folder
from train import build
from train import gan as runner
from train.configs import pix2pix_cracks, pix2pix_facades
from train.validate import ConfigError, validate


def _write_pairs(root, split: str, n: int, side: int = 8, seed: int = 0):
    """n PNG files [A | B], A and B random RGB squares; returns (A, B) stacks by file name."""
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True)
    a = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    for i in range(n):
        Image.fromarray(np.concatenate([a[i], b[i]], axis=1)).save(root / split / f"{i:03d}.png")
    return a, b


def test_paired_folder_halves_and_direction(tmp_path):
    a, b = _write_pairs(tmp_path, "train", 3)
    btoa = read_paired_folder(tmp_path, "train", direction="BtoA")
    np.testing.assert_array_equal(btoa["condition"], b)  # labels (right) -> photo (left)
    np.testing.assert_array_equal(btoa["image"], a)
    atob = read_paired_folder(tmp_path, "train", direction="AtoB")
    np.testing.assert_array_equal(atob["condition"], a)
    np.testing.assert_array_equal(atob["image"], b)
    assert read_paired_folder(tmp_path, "train", image_size=4)["image"].shape == (3, 4, 4, 3)


def test_paired_folder_split_slices_are_a_fixed_partition(tmp_path):
    a, _ = _write_pairs(tmp_path, "train", 10)
    head = load_paired_folder(tmp_path, "train[:70%]", direction="BtoA")["image"]
    tail = load_paired_folder(tmp_path, "train[70%:]", direction="BtoA")["image"]
    assert len(head) == 7 and len(tail) == 3
    seen = sorted(x.tobytes() for x in np.concatenate([head, tail]))
    assert seen == sorted(x.tobytes() for x in a)


def test_paired_folder_errors(tmp_path):
    _write_pairs(tmp_path, "train", 1)
    with pytest.raises(FileNotFoundError, match=r"splits found: \['train'\]"):
        read_paired_folder(tmp_path, "val")
    with pytest.raises(ValueError, match="direction"):
        read_paired_folder(tmp_path, "train", direction="AB")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "train" / "square.png")
    with pytest.raises(ValueError, match=r"square.png is 8x8; a paired image must be twice"):
        read_paired_folder(tmp_path, "train")


def _shrink(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    c.gan.generator = ml_collections.ConfigDict({"depth": 1, "base_width": 4, "dropout_rate": 0.5})
    c.gan.discriminator = ml_collections.ConfigDict({"base_width": 4, "num_layers": 1})
    c.gan.num_samples = 8
    c.train.batch_size = 8
    c.train.eval_batch_size = 8
    c.train.num_epochs = 1
    c.train.max_steps = 2
    c.train.progress = False
    return c


def _cracks_config() -> ml_collections.ConfigDict:
    c = _shrink(pix2pix_cracks.get_config())
    c.data.train_split, c.data.val_split, c.data.test_split = "train[:16]", "", "test[:8]"
    c.segmentation.image_size = 16
    validate(c)
    return c


def test_crack_masks_become_the_generator_input():
    splits, names = build.load_generation_splits(_cracks_config())
    masks = load_cracks("test[:8]", size=16)["label"]
    np.testing.assert_array_equal(splits["test"]["condition"][..., 0], masks * 255)
    assert "label" not in splits["test"] and names == ("background", "crack")


@pytest.mark.heavy  # a config run (test_config_smoke's tier): a U-Net GAN on 8 devices
def test_crack_mask_to_surface_config_runs(tmp_path):
    out = runner.run(_cracks_config(), tmp_path)
    assert out.summary["steps"] == 2 and out.summary["finished"]
    assert (tmp_path / "samples.png").stat().st_size > 200


def _facades_config(tmp_path) -> ml_collections.ConfigDict:
    for split, seed in (("train", 0), ("val", 1), ("test", 2)):
        _write_pairs(tmp_path / "facades", split, 8, side=16, seed=seed)
    c = _shrink(pix2pix_facades.get_config())
    c.data.name = f"paired_folder:{tmp_path / 'facades'}"
    c.segmentation.image_size = 16
    validate(c)
    return c


def test_facades_config_reads_a_paired_folder(tmp_path):
    c = _facades_config(tmp_path)
    splits, _ = build.load_generation_splits(c)
    assert {k: v["condition"].shape for k, v in splits.items()} == {
        s: (8, 16, 16, 3) for s in ("train", "val", "test")
    }
    c.gan.condition = "sobel_edges"  # a paired folder needs condition 'paired'
    with pytest.raises(ConfigError, match="paired_folder"):
        validate(c)


@pytest.mark.heavy  # a config run (test_config_smoke's tier)
def test_facades_config_trains_on_a_paired_folder(tmp_path):
    out = runner.run(_facades_config(tmp_path), tmp_path / "run")
    assert out.summary["steps"] == 1 and out.summary["finished"]  # 8 pairs, batch 8
