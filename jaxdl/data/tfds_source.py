"""Streaming input for datasets too large for device memory (ImageNet-scale).

``tfds.data_source`` gives random access to a prepared TFDS dataset (array_record
files), and a grain pipeline turns it into batches of numpy dicts on the host:

  source -> shard (one slice per host) -> shuffle (seeded, reshuffled every epoch)
  -> keep ``keys`` -> crop/resize -> batch (per epoch) -> repeat -> threads
  [-> worker processes]

Each epoch is batched on its own, so with ``drop_remainder=True`` (the default) every
epoch yields ``len(shard) // batch_size`` full batches and drops the last partial one:
batch shapes never change, so a jitted step compiles once. The iterator is a grain
``DatasetIterator``: ``get_state()`` / ``set_state()`` checkpoint and resume it.
Everything is deterministic given ``seed``, for any number of threads or workers.

Crops run on the host because the images of such datasets differ in size: training
uses the Inception random-resized crop, evaluation a centre crop of 87.5% of the
shorter side. Flips, colour and other fixed-size augmentations belong on device
(``jaxdl.data.augment``).

References:
  Szegedy et al. Going deeper with convolutions. CVPR 2015 (random-resized crop).
  Russakovsky et al. ImageNet large scale visual recognition challenge. IJCV 2015.
"""

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxdl.data.registry import DatasetNotFoundError

__all__ = [
    "center_crop_resize",
    "make_stream",
    "open_tfds_source",
    "random_resized_crop",
    "resize",
    "sample_rrc_box",
    "tfds_stream",
]


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (PIL) of a uint8 [H, W, C] image to [height, width, C]."""
    from PIL import Image

    squeeze = image.shape[-1] == 1
    im = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(im.resize((width, height), Image.Resampling.BILINEAR), np.uint8)
    return out[..., None] if squeeze else out


def center_crop_resize(image: np.ndarray, size: int, crop_fraction: float = 0.875) -> np.ndarray:
    """Evaluation crop: the centre square of ``crop_fraction`` of the shorter side, resized.

    Args:
      image: uint8 [H, W, C].
      size: output side.
      crop_fraction: 0.875 gives the classic "resize to 256, crop 224".

    Returns:
      uint8 [size, size, C].

    Example:
      >>> center_crop_resize(np.zeros((300, 400, 3), np.uint8), 224).shape
      (224, 224, 3)
    """
    h, w = image.shape[:2]
    side = max(1, round(min(h, w) * crop_fraction))
    top, left = (h - side) // 2, (w - side) // 2
    return resize(image[top : top + side, left : left + side], size, size)


def sample_rrc_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> tuple[int, int, int, int] | None:
    """Draws the Inception crop box ``(top, left, crop_h, crop_w)`` inside an image.

    Area ``A = u * height * width`` with ``u ~ U(scale)``, aspect ``r = w / h`` with
    ``log r ~ U(log ratio)``; the box is ``w = round(sqrt(A r))``, ``h = round(sqrt(A / r))``,
    placed uniformly inside the image. Draws that do not fit are redrawn.

    Returns:
      The box, or None after ``attempts`` draws that do not fit (the caller falls back).

    Example:
      >>> top, left, ch, cw = sample_rrc_box(300, 400, np.random.default_rng(0))
      >>> 0 <= top <= 300 - ch and 0 <= left <= 400 - cw
      True
    """
    for _ in range(attempts):
        area = height * width * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= width and 0 < ch <= height:
            top, left = rng.integers(0, height - ch + 1), rng.integers(0, width - cw + 1)
            return int(top), int(left), ch, cw
    return None


def random_resized_crop(
    image: np.ndarray,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """Inception training crop: random area fraction and aspect ratio, resized to a square.

    The box comes from ``sample_rrc_box`` (area fraction uniform in ``scale``,
    log-uniform aspect ratio in ``ratio``); after 10 draws that do not fit, falls back
    to the centre crop.

    Args:
      image: uint8 [H, W, C].
      size: output side.
      rng: numpy generator (grain passes a per-example, per-epoch seeded one).
      scale: range of the crop's area as a fraction of the image's.
      ratio: range of the crop's width / height.

    Returns:
      uint8 [size, size, C].

    Example:
      >>> rng = np.random.default_rng(0)
      >>> random_resized_crop(np.zeros((300, 400, 3), np.uint8), 224, rng).shape
      (224, 224, 3)
    """
    box = sample_rrc_box(image.shape[0], image.shape[1], rng, scale, ratio)
    if box is None:
        return center_crop_resize(image, size, crop_fraction=1.0)
    top, left, ch, cw = box
    return resize(image[top : top + ch, left : left + cw], size, size)


def open_tfds_source(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> Sequence[dict[str, Any]]:
    """Opens ``tfds.data_source(name, split=...)``: random access to a prepared dataset.

    Args:
      name: a TFDS builder name, e.g. ``'imagenet2012'``.
      split: a TFDS split string (TFDS slicing such as ``'train[:1%]'`` works here).
      data_dir: TFDS data folder (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      download: let TFDS download and prepare it (array_record format) when missing.

    Returns:
      A sequence of example dicts (``len`` and ``[i]``) decoded to numpy.

    Raises:
      DatasetNotFoundError: TFDS cannot open it; the message says how to provide it.

    Example:
      >>> import tensorflow_datasets as tfds
      >>> with tfds.testing.mock_data(num_examples=5):  # random examples, no files
      ...     source = open_tfds_source("mnist", "test")
      >>> len(source), source[0]["image"].shape
      (5, (28, 28, 1))
    """
    import tensorflow_datasets as tfds

    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=download)
    except Exception as e:
        raise DatasetNotFoundError(
            f"TFDS could not open {name!r} split {split!r} in "
            f"{data_dir or 'the TFDS default folder'} (download={download}): "
            f"{type(e).__name__}: {e}\nPrepare it in array_record format (random access), "
            f"e.g. tfds.builder({name!r}, data_dir=...).download_and_prepare("
            "file_format='array_record') -- manual datasets such as ImageNet need their "
            "archives in <data_dir>/downloads/manual -- or pass download=True."
        ) from e


class _Prepare:
    """Keeps ``keys``, casts labels to int32 and crops/resizes the image (picklable)."""

    def __init__(
        self, keys: Sequence[str], image_size: int | None, train: bool, crop: Callable | None
    ):
        self.keys, self.image_size, self.train = tuple(keys), image_size, train
        self.crop = crop

    def __call__(self, example: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        missing = [k for k in self.keys if k not in example]
        if missing:
            raise KeyError(f"Examples have keys {sorted(example)}; requested {missing} missing.")
        out = {k: np.asarray(example[k]) for k in self.keys}
        if "label" in out:
            out["label"] = out["label"].astype(np.int32)
        if self.crop is not None and "image" in out:
            out["image"] = self.crop(out["image"], rng)
        elif self.image_size is not None and "image" in out:
            image = out["image"]  # [H, W, C]
            if self.train:
                out["image"] = random_resized_crop(image, self.image_size, rng)
            else:
                out["image"] = center_crop_resize(image, self.image_size)
        return out


def make_stream(
    source: Sequence[dict[str, Any]],
    *,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    num_epochs: int | None = 1,
    image_size: int | None = None,
    train: bool = False,
    keys: Sequence[str] = ("image", "label"),
    drop_remainder: bool = True,
    shard_index: int = 0,
    shard_count: int = 1,
    num_threads: int = 16,
    prefetch_buffer_size: int = 500,
    num_workers: int = 0,
    crop: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    start_batch: int = 0,
) -> Any:
    """Builds the grain pipeline over any random-access source of example dicts.

    Args:
      source: ``len(source)`` and ``source[i] -> dict`` (a TFDS data source, a list...).
      batch_size: examples per batch (per host).
      seed: shuffle and crop seed; epoch ``e`` is shuffled with a seed derived from
        ``seed`` and ``e``, so every epoch has a new, reproducible order.
      shuffle: shuffle (False: source order, e.g. for evaluation).
      num_epochs: epochs to yield; ``None`` repeats forever.
      image_size: crop/resize images to ``image_size`` squared (needed when their sizes
        differ); ``None`` keeps them (then they must share one shape).
      train: random-resized crop (True) or centre crop (False) when ``image_size``.
      keys: example fields kept (strings such as file names cannot be batched as arrays).
      drop_remainder: drop each epoch's last partial batch (keeps shapes static).
      shard_index: this host's shard (``jax.process_index()`` on multi-host runs).
      shard_count: number of shards (``jax.process_count()``).
      num_threads: threads reading and transforming in each process (0: no threads).
      prefetch_buffer_size: elements read ahead per process.
      num_workers: worker processes (``grain`` multiprocessing prefetch); 0: none.
      crop: per-example ``(image [H, W, C], rng) -> image`` used instead of the crops
        chosen by ``image_size`` / ``train`` (picklable when ``num_workers > 0``), e.g.
        the ImageNet transforms of ``jaxdl.data.imagenet``.
      start_batch: skip the first ``start_batch`` batches of each epoch (with
        ``num_epochs=1``: resume an epoch mid-way); the others are unchanged.

    Returns:
      A ``grain.IterDataset``; iterating yields ``{'image': uint8 [B, H, W, C],
      'label': int32 [B]}`` numpy batches.

    Example:
      >>> ds = make_stream([{"image": np.zeros((8, 8, 1), np.uint8), "label": 3}] * 10,
      ...                  batch_size=4)
      >>> [b["image"].shape for b in ds]
      [(4, 8, 8, 1), (4, 8, 8, 1)]
    """
    import grain

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"Need 0 <= shard_index < shard_count, got {shard_index}, {shard_count}.")
    ds = grain.MapDataset.source(source)
    if shard_count > 1:
        ds = ds[shard_index::shard_count]  # [n / shard_count] examples of this host
    if len(ds) < batch_size and drop_remainder:
        raise ValueError(
            f"The source has {len(ds)} examples for this shard, fewer than batch_size "
            f"{batch_size}: with drop_remainder=True no batch would be produced."
        )
    if shuffle:
        ds = ds.shuffle(seed=seed)
    ds = ds.random_map(_Prepare(keys, image_size, train, crop), seed=seed + 1)  # crops: own seed
    if start_batch:  # resume mid-epoch: the skipped examples are never read or cropped
        ds = ds[start_batch * batch_size :]  # (crops keep their per-index seeds)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)  # per epoch: see module doc
    ds = ds.repeat(num_epochs)
    read = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch_buffer_size)
    out = ds.to_iter_dataset(read)
    if num_workers > 0:
        from absl import flags

        if not flags.FLAGS.is_parsed():
            # grain 0.2.18 reads one of its absl flags when starting workers and fails
            # outside absl.app (google/grain#1355): use the flags' defaults.
            flags.FLAGS.mark_as_parsed()
        out = out.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers))
    return out


def tfds_stream(
    name: str,
    split: str,
    *,
    batch_size: int,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    **kwargs: Any,
) -> Any:
    """Batches of a TFDS dataset, streamed: ``open_tfds_source`` + ``make_stream``.

    Args:
      name: TFDS name, e.g. ``'imagenet2012'``.
      split: TFDS split string.
      batch_size: examples per batch (per host).
      data_dir: TFDS data folder.
      download: allow TFDS to download and prepare the dataset.
      **kwargs: the other ``make_stream`` arguments (seed, image_size, train, ...).

    Returns:
      A ``grain.IterDataset`` of numpy batches (see ``make_stream``).

    Example:
      >>> import tensorflow_datasets as tfds
      >>> with tfds.testing.mock_data(num_examples=8):  # random MNIST-like examples
      ...     ds = tfds_stream("mnist", "train", batch_size=4, image_size=16, train=True)
      >>> batch = next(iter(ds))
      >>> batch["image"].shape, batch["label"].dtype
      ((4, 16, 16, 1), dtype('int32'))
    """
    source = open_tfds_source(name, split, data_dir=data_dir, download=download)
    return make_stream(source, batch_size=batch_size, **kwargs)
