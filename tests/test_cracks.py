"""The procedural crack dataset: determinism by (seed, split, index), split strings, content.

One small image size (24) keeps the single compilation of the generator cheap.
"""

import functools

import numpy as np
import pytest

from jaxdl.data.cracks import CRACK_CLASSES, SPLIT_SIZES, generate_cracks, load_cracks

SIZE = 24


@functools.cache
def _gen(indices, split="train", seed=0):
    ex = generate_cracks(np.asarray(indices), split, seed, SIZE)
    return np.asarray(ex["image"]), np.asarray(ex["label"])


def test_shapes_dtypes_and_classes():
    images, labels = _gen(tuple(range(40)))
    assert images.shape == (40, SIZE, SIZE, 1) and images.dtype == np.uint8
    assert labels.shape == (40, SIZE, SIZE) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1}
    assert CRACK_CLASSES == ("background", "crack")


def test_example_depends_only_on_seed_split_and_index():
    images, labels = _gen(tuple(range(40)))
    # Another batch composition, order and length: the same examples come out.
    again_images, again_labels = _gen((33, 7, 7, 0))
    np.testing.assert_array_equal(again_images, images[[33, 7, 7, 0]])
    np.testing.assert_array_equal(again_labels, labels[[33, 7, 7, 0]])
    # Other split or seed: other examples.
    for other in (_gen((33, 7, 7, 0), "val"), _gen((33, 7, 7, 0), "train", 1)):
        assert not np.array_equal(other[0], again_images)
    assert not np.array_equal(images[0], images[1])


def test_split_strings_select_indices():
    data = load_cracks("train[5:9]+val[:2]", seed=0, size=SIZE)
    train_images, _ = _gen(tuple(range(40)))
    np.testing.assert_array_equal(data["image"][:4], train_images[5:9])
    np.testing.assert_array_equal(data["image"][4:], _gen((0, 1), "val")[0])
    assert data["label"].shape == (6, SIZE, SIZE)
    assert SPLIT_SIZES["test"] > 0
    with pytest.raises(ValueError, match="unknown base split"):
        load_cracks("validation[:3]", size=SIZE)
    with pytest.raises(ValueError, match="split"):
        generate_cracks(np.arange(2), "dev", size=SIZE)
    with pytest.raises(ValueError, match="size"):
        generate_cracks(np.arange(2), "train", size=8)


def test_cracks_are_thin_dark_and_not_everywhere():
    images, labels = _gen(tuple(range(40)))
    frac = labels.reshape(40, -1).mean(1)
    assert 0.005 < frac.mean() < 0.15  # thin structures: a few percent of the pixels
    assert (frac == 0).any() and (frac > 0).sum() >= 25  # some images hold no crack
    x = images[..., 0].astype(np.float64)
    darker = [
        x[i][labels[i] == 1].mean() < x[i][labels[i] == 0].mean()
        for i in range(40)
        if labels[i].sum() >= 5
    ]
    assert np.mean(darker) > 0.9
    # Not trivially separable by intensity: the darkest background pixels (stains, pits,
    # shadows) are darker than many crack pixels.
    crack = x[labels == 1]
    background = x[labels == 0]
    assert np.percentile(background, 1) < np.median(crack)
    assert np.std(background) > 5  # texture, illumination, noise
