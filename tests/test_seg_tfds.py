"""TFDS segmentation source (Oxford-IIIT Pet trimaps), on examples made here and on mock_data."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxdl.data.registry import DatasetNotFoundError
from jaxdl.data.seg_tfds import SEG_DATASETS, load_tfds_segmentation, segmentation_arrays
from train import segmentation as runner
from train.configs import oxford_pet_unet

PET = SEG_DATASETS["oxford_iiit_pet"]


def _trimap_examples(n: int, seed: int = 0) -> list[dict]:
    """Pet-like examples: 4x4 trimaps (values 1..3) with images of the same size."""
    rng = np.random.default_rng(seed)
    return [
        {
            "image": rng.integers(0, 256, (4, 4, 3), dtype=np.uint8),
            "segmentation_mask": rng.integers(1, 4, (4, 4, 1), dtype=np.uint8),
            "label": 0,
        }
        for _ in range(n)
    ]


def test_masks_are_upsampled_by_nearest_neighbour_and_mapped_to_classes():
    examples = _trimap_examples(3)
    out = segmentation_arrays(examples, PET, image_size=8)
    assert out["image"].shape == (3, 8, 8, 3) and out["image"].dtype == np.uint8
    assert out["label"].shape == (3, 8, 8) and out["label"].dtype == np.uint8
    for ex, label in zip(examples, out["label"]):
        # x2 nearest upsampling repeats every pixel; trimap 1/2/3 -> pet/background/border 0/1/2
        want = np.repeat(np.repeat(ex["segmentation_mask"][..., 0], 2, 0), 2, 1).astype(int) - 1
        np.testing.assert_array_equal(label, want)
    assert PET.classes == ("pet", "background", "border")


def test_mask_values_outside_the_table_are_an_error():
    examples = _trimap_examples(2)
    examples[1]["segmentation_mask"][0, 0, 0] = 7
    with pytest.raises(ValueError, match=r"example 1: mask values \[7\]"):
        segmentation_arrays(examples, PET, image_size=4)


def test_unknown_dataset_and_missing_data_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="known: \\['oxford_iiit_pet'\\]"):
        load_tfds_segmentation("voc2012", "train", 8)
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_tfds_segmentation("oxford_iiit_pet", "train", 8, data_dir=tmp_path)


def test_mock_data_reaches_the_reader():
    """Under mock_data TFDS's random masks hold arbitrary values: the reader names them."""
    with tfds.testing.mock_data(num_examples=3), pytest.raises(ValueError, match="not in"):
        load_tfds_segmentation("oxford_iiit_pet", "train", 8)


@pytest.mark.heavy  # a config run (test_config_smoke's tier): a U-Net on 8 devices
def test_config_trains_on_mocked_oxford_pet(tmp_path):
    """The shipped config, shrunk, end to end on a mocked data source (no network)."""
    examples = _trimap_examples(24, seed=1)
    c = oxford_pet_unet.get_config()
    c.segmentation.image_size = 8
    c.segmentation.num_pictures = 0
    c.model.kwargs.depth = 1
    c.model.kwargs.base_width = 4
    c.train.batch_size = 8
    c.train.eval_batch_size = 8
    c.train.num_epochs = 1
    c.train.progress = False
    with tfds.testing.mock_data(as_data_source_fn=lambda *args, **kwargs: examples):
        result = runner.run(c, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    # The mock source ignores the split string: 24 training examples -> 3 batches of 8.
    assert result.finished and summary["steps"] == 3
    for name in PET.classes:
        assert 0.0 <= summary[f"test_iou_{name}"] <= 1.0
    assert "baseline" not in summary
