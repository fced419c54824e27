"""Streaming source: ``tfds.data_source`` + grain, tested on ``tfds.testing.mock_data``.

The installed TFDS (4.9.10) mocks ``tfds.data_source`` too: it returns an
``ArrayRecordDataSource`` whose examples are random but fixed per index, so an example
in a batch can be traced back to its source index by its image.
"""

import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxdl.data import (
    DatasetNotFoundError,
    center_crop_resize,
    make_stream,
    open_tfds_source,
    random_resized_crop,
    tfds_stream,
)

N = 10  # mock examples


@pytest.fixture
def mnist_source():
    with tfds.testing.mock_data(num_examples=N):
        yield open_tfds_source("mnist", "train")


def _indices(batch: dict, source) -> list[int]:
    """Source index of every example of a batch, found by its image."""
    images = [source[i]["image"] for i in range(len(source))]
    out = []
    for image in batch["image"]:
        (match,) = [i for i, ref in enumerate(images) if np.array_equal(ref, image)]
        out.append(match)
    return out


def test_mock_data_provides_a_data_source(mnist_source):
    assert len(mnist_source) == N
    a, b = mnist_source[3], mnist_source[3]
    np.testing.assert_array_equal(a["image"], b["image"])  # fixed per index
    images = {mnist_source[i]["image"].tobytes() for i in range(N)}
    assert len(images) == N  # distinct: indices can be recovered from images


def test_epochs_are_reshuffled_batched_separately_and_reproducible(mnist_source):
    def run(seed):
        ds = make_stream(mnist_source, batch_size=4, seed=seed, num_epochs=3, num_threads=2)
        return list(ds)

    batches = run(seed=0)
    assert len(batches) == 3 * (N // 4)  # each epoch drops its last partial batch
    for b in batches:
        assert b["image"].shape == (4, 28, 28, 1) and b["image"].dtype == np.uint8
        assert b["label"].shape == (4,) and b["label"].dtype == np.int32
    epochs = [
        sum((_indices(b, mnist_source) for b in batches[2 * e : 2 * e + 2]), []) for e in range(3)
    ]
    for order in epochs:
        assert len(set(order)) == 8  # no example twice within an epoch
    assert len({tuple(o) for o in epochs}) == 3  # a new order every epoch
    again = run(seed=0)
    for x, y in zip(batches, again):
        np.testing.assert_array_equal(x["image"], y["image"])
    other = sum((_indices(b, mnist_source) for b in run(seed=1)[:2]), [])
    assert other != epochs[0]


def test_unshuffled_order_remainder_and_shards(mnist_source):
    ds = make_stream(mnist_source, batch_size=4, shuffle=False, drop_remainder=False)
    got = [_indices(b, mnist_source) for b in ds]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shards = [
        sum(
            (
                _indices(b, mnist_source)
                for b in make_stream(
                    mnist_source, batch_size=5, shuffle=False, shard_index=k, shard_count=2
                )
            ),
            [],
        )
        for k in range(2)
    ]
    assert shards == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]


def test_iterator_state_resumes_exactly(mnist_source):
    ds = make_stream(mnist_source, batch_size=2, seed=5, num_epochs=2, num_threads=0)
    it = iter(ds)
    next(it), next(it)
    state = it.get_state()
    expected = [next(it) for _ in range(4)]
    resumed = iter(ds)
    resumed.set_state(state)
    for x in expected:
        np.testing.assert_array_equal(next(resumed)["image"], x["image"])


def test_variable_size_images_are_cropped():
    with tfds.testing.mock_data(num_examples=6):
        source = open_tfds_source("imagenet2012", "train")
        sizes = {source[i]["image"].shape for i in range(6)}
        assert len(sizes) > 1  # the mock really has differently sized images
        for train in (True, False):
            ds = tfds_stream(
                "imagenet2012", "train", batch_size=3, image_size=16, train=train, num_threads=0
            )
            (b1, b2) = list(ds)
            assert set(b1) == {"image", "label"}  # 'file_name' strings dropped
            assert b1["image"].shape == (3, 16, 16, 3) and b1["label"].dtype == np.int32


def test_center_crop_resize_takes_the_central_region():
    image = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    # side = round(10 * 0.8) = 8, offsets (1, 2): no resize needed, so pixels are exact
    out = center_crop_resize(image, 8, crop_fraction=0.8)
    np.testing.assert_array_equal(out, image[1:9, 2:10])
    gray = np.zeros((30, 20, 1), np.uint8)
    assert center_crop_resize(gray, 7).shape == (7, 7, 1)


def test_random_resized_crop_windows():
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    whole = random_resized_crop(image, 8, np.random.default_rng(1), scale=(1, 1), ratio=(1, 1))
    np.testing.assert_array_equal(whole, image)
    for seed in range(5):  # area 1/4 and square: a 4x4 window, returned unresized
        out = random_resized_crop(
            image, 4, np.random.default_rng(seed), scale=(0.25, 0.25), ratio=(1, 1)
        )
        windows = [image[t : t + 4, l : l + 4] for t in range(5) for l in range(5)]
        assert any(np.array_equal(out, w) for w in windows)
    a = random_resized_crop(image, 5, np.random.default_rng(7))
    b = random_resized_crop(image, 5, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_bad_arguments(mnist_source):
    with pytest.raises(ValueError, match="batch_size must be positive"):
        make_stream(mnist_source, batch_size=0)
    with pytest.raises(ValueError, match="shard_index < shard_count"):
        make_stream(mnist_source, batch_size=2, shard_index=2, shard_count=2)
    with pytest.raises(ValueError, match="fewer than batch_size 11"):
        make_stream(mnist_source, batch_size=11)
    with pytest.raises(KeyError, match="requested \\['bbox'\\] missing"):
        next(iter(make_stream(mnist_source, batch_size=2, keys=("image", "bbox"))))


def test_missing_tfds_dataset_fails_fast(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DatasetNotFoundError, match="download=True") as e:
        open_tfds_source("mnist", "train", data_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0
    assert str(tmp_path) in str(e.value) and "array_record" in str(e.value)


def test_worker_processes_give_the_same_batches(mnist_source):
    ref = list(make_stream(mnist_source, batch_size=4, seed=2, num_epochs=2))
    it = iter(make_stream(mnist_source, batch_size=4, seed=2, num_epochs=2, num_workers=1))
    try:
        got = list(it)
    finally:
        it.close()
    assert len(got) == len(ref) == 4
    for x, y in zip(got, ref):
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["label"], y["label"])
