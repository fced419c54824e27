"""ImageNet (ILSVRC-2012) streaming pipeline: host-side crops in grain, batches on the mesh.

``tfds.data_source('imagenet2012')`` gives random access to the prepared JPEGs; grain
decodes and crops each example on the host (``jaxdl.data.tfds_source.make_stream``)
and ``device_batches`` puts each host batch on the mesh, sharded on ``'data'``, and
normalises it there:

  training    random-resized crop 224 (Inception: area fraction U(0.08, 1), aspect
              ratio log-U(3/4, 4/3)) or VGG scale jittering (below), horizontal flip
  evaluation  resize the shorter side to 256, centre crop 224

VGG scale jittering (Simonyan & Zisserman, sec. 3.1, "multi-scale training"): each
image is rescaled isotropically so that its shorter side is ``S ~ U{S_min..S_max}``
(256..512), then a random 224 x 224 crop is taken (and flipped with probability 1/2).

ImageNet is a manual download: TFDS needs the two ILSVRC-2012 archives
(``ILSVRC2012_img_train.tar``, ``ILSVRC2012_img_val.tar``) in ``<data_dir>/downloads/manual``
and is prepared once with ``tfds build imagenet2012 --data_dir=<data_dir>
--file_format=array_record`` (array_record gives random access; tfrecord does not).

References:
  Szegedy et al. Going deeper with convolutions. CVPR 2015 (random-resized crop).
  Simonyan, Zisserman. Very deep convolutional networks for large-scale image
  recognition. ICLR 2015 (sec. 3.1: scale jittering; sec. 3.2: evaluation at Q).
  He et al. Deep residual learning for image recognition. CVPR 2016 (sec. 3.4).
"""

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxdl.data.loader import StreamedSplit
from jaxdl.data.registry import DatasetNotFoundError
from jaxdl.data.tfds_source import make_stream, open_tfds_source, random_resized_crop, resize
from jaxdl.sharding import host_local_batch_to_global

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "STREAMING",
    "TRAIN_CROPS",
    "EvalCrop",
    "RandomResizedCrop",
    "ScaleJitterCrop",
    "StreamSplit",
    "device_batches",
    "imagenet_stream",
    "require_prepared",
    "resize_shorter",
    "sample_jitter_box",
    "stream_splits",
]

# Per-channel statistics of the ILSVRC-2012 training set on the [0, 1] scale.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TFDS_NAME = "imagenet2012"
#: Config data names that stream through this module instead of ``jaxdl.data.load``.
STREAMING = (TFDS_NAME,)


def require_prepared(name: str = TFDS_NAME, data_dir: str | os.PathLike | None = None) -> Path:
    """Checks (file system only, instantly) that TFDS ``name`` is prepared for random access.

    Args:
      name: TFDS builder name.
      data_dir: the TFDS data folder (None: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

    Returns:
      The prepared version folder.

    Raises:
      DatasetNotFoundError: not prepared, or prepared as tfrecord (no random access);
        the message gives the commands that prepare it.
    """
    root = Path(data_dir or os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets")
    root = root.expanduser()
    infos = sorted((root / name).glob("*/dataset_info.json"))
    fix = (
        f"Prepare it once: put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (from "
        f"image-net.org) in {root / 'downloads' / 'manual'}, then run `tfds build {name} "
        f"--data_dir={root} --file_format=array_record` (or tfds.builder({name!r}, "
        f"data_dir={str(root)!r}).download_and_prepare(file_format='array_record')); or "
        "point data.data_dir at the TFDS folder that holds it."
    )
    if not infos:
        raise DatasetNotFoundError(
            f"Dataset {name!r} is not prepared: no {root / name}/<version>/dataset_info.json. "
            + fix
        )
    for info in reversed(infos):
        if any(info.parent.glob("*.array_record*")):
            return info.parent
    raise DatasetNotFoundError(
        f"Dataset {name!r} in {infos[-1].parent} has no array_record files (prepared as "
        "tfrecord?): streaming needs random access. " + fix
    )


def resize_shorter(image: np.ndarray, shorter: int) -> np.ndarray:
    """Isotropic rescale so that the shorter side is ``shorter`` (the longer one rounded).

    Example:
      >>> resize_shorter(np.zeros((300, 400, 3), np.uint8), 256).shape
      (256, 341, 3)
    """
    h, w = image.shape[:2]
    if h <= w:
        return resize(image, shorter, max(shorter, round(w * shorter / h)))
    return resize(image, max(shorter, round(h * shorter / w)), shorter)


def sample_jitter_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    size: int = 224,
    scale_range: tuple[int, int] = (256, 512),
) -> tuple[int, int, int]:
    """VGG scale jittering: ``(S, top, left)`` of a ``size`` crop of the rescaled image.

    ``S`` is drawn uniformly from the integers ``scale_range[0]..scale_range[1]``
    (inclusive); the image rescaled to shorter side ``S`` has shape
    ``resize_shorter(image, S).shape``, inside which the crop is placed uniformly.

    Args:
      height, width: the original image's size.
      rng: numpy generator.
      size: crop side (224); needs ``scale_range[0] >= size``.
      scale_range: ``(S_min, S_max)``.

    Returns:
      ``(S, top, left)`` in the rescaled image's coordinates.
    """
    lo, hi = scale_range
    if not size <= lo <= hi:
        raise ValueError(
            f"Scale jittering needs crop size <= S_min <= S_max, got {size}, {lo}, {hi}."
        )
    s = int(rng.integers(lo, hi + 1))
    if height <= width:
        rh, rw = s, max(s, round(width * s / height))
    else:
        rh, rw = max(s, round(height * s / width)), s
    return s, int(rng.integers(0, rh - size + 1)), int(rng.integers(0, rw - size + 1))


def _flip(image: np.ndarray, rng: np.random.Generator, flip: bool) -> np.ndarray:
    return image[:, ::-1] if flip and rng.random() < 0.5 else image


class RandomResizedCrop:
    """Training transform: Inception random-resized crop, then a random horizontal flip."""

    def __init__(self, size: int = 224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip=True):
        self.size, self.scale, self.ratio, self.flip = size, tuple(scale), tuple(ratio), flip

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = random_resized_crop(image, self.size, rng, self.scale, self.ratio)
        return np.ascontiguousarray(_flip(out, rng, self.flip))


class ScaleJitterCrop:
    """Training transform: VGG scale jittering (shorter side S ~ U[256, 512]), random crop, flip."""

    def __init__(self, size: int = 224, scale_range=(256, 512), flip=True):
        self.size, self.scale_range, self.flip = size, tuple(scale_range), flip

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s, top, left = sample_jitter_box(*image.shape[:2], rng, self.size, self.scale_range)
        out = resize_shorter(image, s)[top : top + self.size, left : left + self.size]
        return np.ascontiguousarray(_flip(out, rng, self.flip))


class EvalCrop:
    """Evaluation transform: shorter side to ``resize`` (256), centre ``size`` (224) crop."""

    def __init__(self, size: int = 224, resize: int = 256):
        if resize < size:
            raise ValueError(f"Evaluation resize {resize} must be >= the crop size {size}.")
        self.size, self.resize = size, resize

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        del rng  # deterministic
        out = resize_shorter(image, self.resize)
        top, left = (out.shape[0] - self.size) // 2, (out.shape[1] - self.size) // 2
        return np.ascontiguousarray(out[top : top + self.size, left : left + self.size])


TRAIN_CROPS = {"random_resized": RandomResizedCrop, "scale_jitter": ScaleJitterCrop}


def imagenet_stream(
    split: str,
    *,
    batch_size: int,
    train: bool,
    data_dir: str | os.PathLike | None = None,
    image_size: int = 224,
    train_crop: str = "random_resized",
    scale_range: tuple[int, int] = (256, 512),
    eval_resize: int = 256,
    seed: int = 0,
    num_epochs: int | None = 1,
    name: str = TFDS_NAME,
    **kwargs: Any,
) -> Any:
    """Host batches of ImageNet: ``tfds.data_source`` -> grain, crops per example.

    Args:
      split: TFDS split (``'train'``, ``'validation'``, slices such as ``'train[:1%]'``).
      batch_size: examples per batch on this host.
      train: training crops + flips and shuffling (True) or the evaluation crop.
      data_dir: the TFDS data folder holding the prepared ``imagenet2012``.
      image_size: crop side (224).
      train_crop: ``'random_resized'`` (Inception) or ``'scale_jitter'`` (VGG).
      scale_range: ``(S_min, S_max)`` of scale jittering.
      eval_resize: evaluation shorter side before the centre crop (256).
      seed: shuffle and crop seed.
      num_epochs: epochs to yield (None: forever).
      name: TFDS builder name (``imagenet2012``; any dataset with image/label works).
      **kwargs: further ``make_stream`` options (num_workers, shard_index, ...).

    Returns:
      A grain ``IterDataset`` of ``{'image': uint8 [B, S, S, 3], 'label': int32 [B]}``.

    Raises:
      DatasetNotFoundError: the dataset is not prepared (the message says how).

    Example:
      >>> import tensorflow_datasets as tfds
      >>> def fake_imagenet(builder, split, **kwargs):  # 4 images of different sizes
      ...     return [{"image": np.zeros((40 + 8 * i, 48, 3), np.uint8), "label": i}
      ...             for i in range(4)]
      >>> with tfds.testing.mock_data(as_data_source_fn=fake_imagenet):
      ...     ds = imagenet_stream("train", batch_size=2, train=True, image_size=32,
      ...                          train_crop="scale_jitter", scale_range=(32, 40))
      >>> [(b["image"].shape, b["label"].dtype) for b in ds]
      [((2, 32, 32, 3), dtype('int32')), ((2, 32, 32, 3), dtype('int32'))]
    """
    if train and train_crop not in TRAIN_CROPS:
        raise ValueError(f"train_crop must be one of {sorted(TRAIN_CROPS)}, got {train_crop!r}.")
    if not train:
        crop = EvalCrop(image_size, eval_resize)
    elif train_crop == "scale_jitter":
        crop = ScaleJitterCrop(image_size, scale_range)
    else:
        crop = RandomResizedCrop(image_size)
    source = open_tfds_source(name, split, data_dir=data_dir)
    return make_stream(
        source,
        batch_size=batch_size,
        seed=seed,
        shuffle=train,
        num_epochs=num_epochs,
        train=train,
        crop=crop,
        drop_remainder=kwargs.pop("drop_remainder", train),
        **kwargs,
    )


def device_batches(
    batches: Iterable[dict[str, np.ndarray]],
    mesh: Mesh,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    dtype: Any = jnp.float32,
) -> Iterator[dict[str, jax.Array]]:
    """Puts host batches on the mesh (sharded on ``'data'``) and normalises them there.

    ``x = (uint8 / 255 - mean) / std`` per channel, computed on device (the host sends
    uint8, a quarter of the bytes of float32).

    Args:
      batches: host batches ``{'image': uint8 [B, H, W, C], 'label': int32 [B]}``; ``B``
        divisible by the number of local devices.
      mesh: the device mesh (``jaxdl.sharding.make_mesh()``).
      mean, std: per-channel statistics on the [0, 1] scale.
      dtype: compute dtype of the images.

    Yields:
      ``{'image': dtype [B_global, H, W, C], 'label': int32 [B_global]}`` global arrays.
    """
    m = jnp.asarray(mean, jnp.float32)
    inv = jnp.asarray(1.0 / np.asarray(std, np.float64), jnp.float32)

    @jax.jit
    def normalize(batch):
        x = (batch["image"].astype(jnp.float32) / 255.0 - m) * inv  # [B, H, W, C]
        return {**batch, "image": x.astype(dtype)}

    for batch in batches:
        yield normalize(host_local_batch_to_global(dict(batch), mesh))


class StreamSplit(StreamedSplit):
    """A split streamed from a random-access source, for ``jaxdl.training.loop.fit``.

    The loop asks for one epoch at a time (``batches``: shuffled with a seed derived
    from ``(seed, epoch)``, so a resumed run sees the same batches) or for every
    example once (``eval_batches``); both yield global batches sharded on the mesh's
    ``'data'`` axis, uint8 images (normalised inside the jitted step). Each host reads
    its ``1 / process_count`` shard of the source.

    Attributes:
      size: examples per epoch (all hosts).
    """

    def __init__(self, source, mesh: Mesh, crop, *, seed: int = 0, **stream_kwargs: Any):
        self.source, self.mesh, self.crop, self.seed = source, mesh, crop, seed
        self.kwargs = stream_kwargs
        self.size = len(source)

    def _stream(self, batch_size: int, **kwargs: Any) -> Any:
        hosts = jax.process_count()
        return make_stream(
            self.source,
            batch_size=batch_size // hosts,
            num_epochs=1,
            crop=self.crop,
            shard_index=jax.process_index(),
            shard_count=hosts,
            **self.kwargs,
            **kwargs,
        )

    def batches(self, epoch: int, start: int, batch_size: int) -> Iterator[dict[str, jax.Array]]:
        """Training batches ``start, start + 1, ...`` of epoch ``epoch`` (full batches only)."""
        seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0] >> 1)
        for batch in self._stream(batch_size, seed=seed, start_batch=start):
            yield host_local_batch_to_global(batch, self.mesh)

    def eval_batches(self, batch_size: int) -> Iterator[dict[str, jax.Array]]:
        """Every example once, in order; the last batch padded, ``mask`` 1 on real examples."""
        local = batch_size // jax.process_count()
        for batch in self._stream(batch_size, shuffle=False, drop_remainder=False):
            n = len(batch["label"])
            batch = {
                k: np.concatenate([v, np.repeat(v[:1], local - n, 0)]) for k, v in batch.items()
            }
            batch["mask"] = (np.arange(local) < n).astype(np.float32)  # [B]
            yield host_local_batch_to_global(batch, self.mesh)


def stream_splits(
    splits: dict[str, str],
    mesh: Mesh,
    *,
    name: str = TFDS_NAME,
    data_dir: str | os.PathLike | None = None,
    image_size: int = 224,
    train_crop: str = "random_resized",
    scale_range: tuple[int, int] = (256, 512),
    eval_resize: int = 256,
    seed: int = 0,
    **stream_kwargs: Any,
) -> tuple[dict[str, StreamSplit], tuple[str, ...]]:
    """Opens the streamed splits of a run: training crops for ``'train'``, eval crops else.

    Args:
      splits: role (``'train'``, ``'val'``, ``'test'``) -> TFDS split string.
      mesh: the device mesh.
      name, data_dir: TFDS dataset and data folder.
      image_size, train_crop, scale_range, eval_resize: see ``imagenet_stream``.
      seed: shuffle / crop seed.
      **stream_kwargs: further ``make_stream`` options (num_workers, num_threads...).

    Returns:
      ``({role: StreamSplit}, class_names)``.

    Raises:
      DatasetNotFoundError: the dataset is not prepared (says how to prepare it).
    """
    if train_crop not in TRAIN_CROPS:
        raise ValueError(f"train_crop must be one of {sorted(TRAIN_CROPS)}, got {train_crop!r}.")
    out, names = {}, None
    for role, split in splits.items():
        try:
            source = open_tfds_source(name, split, data_dir=data_dir)
        except DatasetNotFoundError:
            require_prepared(name, data_dir)  # the specific "how to prepare it" message
            raise
        if role != "train":
            crop = EvalCrop(image_size, eval_resize)
        elif train_crop == "scale_jitter":
            crop = ScaleJitterCrop(image_size, scale_range)
        else:
            crop = RandomResizedCrop(image_size)
        out[role] = StreamSplit(source, mesh, crop, seed=seed, **stream_kwargs)
        names = tuple(source.dataset_info.features["label"].names)
    return out, names
