"""Segmentation datasets from TFDS, loaded device-resident: Oxford-IIIT Pet.

For users with internet (``download=True``) or a TFDS folder where the dataset is
prepared in array_record format. Each example's image is resized bilinearly and its
mask by nearest neighbour (labels are never blended) to ``image_size`` x
``image_size``, and the mask's stored values are mapped to class indices
``0 .. K-1`` through the dataset's table. A value outside the table is an error
naming the example, never a silent label.

Oxford-IIIT Pet (Parkhi et al. 2012) stores a trimap per image: 1 = pet, 2 =
background, 3 = border (the uncertain outline). Classes here: ``('pet',
'background', 'border')`` = 0, 1, 2, the TFDS tutorials' convention. Splits: 'train'
(3,680 images) and 'test' (3,669); TFDS slicing gives a validation split,
e.g. ``'train[90%:]'``.

  python -m train --config train/configs/oxford_pet_unet.py --workdir runs/pets \
      --config.data.download=True

References:
  Parkhi, Vedaldi, Zisserman, Jawahar. Cats and dogs. CVPR 2012.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from jaxdl.data.tfds_source import open_tfds_source

__all__ = ["SEG_DATASETS", "SegSpec", "load_tfds_segmentation", "segmentation_arrays"]


class SegSpec(NamedTuple):
    """How to read one TFDS segmentation dataset."""

    tfds_name: str
    image_key: str
    mask_key: str
    values: tuple[int, ...]  # stored mask value of class 0, 1, ...
    classes: tuple[str, ...]


SEG_DATASETS = {
    "oxford_iiit_pet": SegSpec(
        "oxford_iiit_pet", "image", "segmentation_mask", (1, 2, 3), ("pet", "background", "border")
    ),
}


def _spec(name: str) -> SegSpec:
    if name not in SEG_DATASETS:
        raise ValueError(
            f"Unknown TFDS segmentation dataset {name!r}; known: {sorted(SEG_DATASETS)} "
            "(data.name='tfds:<name>'). For other data use data.name='seg_folder:<path>'."
        )
    return SEG_DATASETS[name]


def _resized(array: np.ndarray, size: int, resample: int) -> np.ndarray:
    grey = array.shape[-1] == 1
    im = Image.fromarray(array[..., 0] if grey else array)
    out = np.asarray(im.resize((size, size), resample), np.uint8)
    return out[..., None] if grey else out


def segmentation_arrays(
    examples: Sequence[dict[str, Any]], spec: SegSpec, image_size: int
) -> dict[str, np.ndarray]:
    """Resizes and maps a sequence of TFDS examples to ``{'image', 'label'}`` arrays.

    Args:
      examples: example dicts (a ``tfds.data_source`` or a list) holding
        ``spec.image_key`` (uint8 [H, W, C]) and ``spec.mask_key`` (uint8 [H, W, 1]).
      spec: the dataset's keys and mask-value table.
      image_size: output side.

    Returns:
      ``{'image': uint8 [N, S, S, C], 'label': uint8 [N, S, S]}`` with labels in
      ``0 .. len(spec.classes) - 1``.

    Raises:
      ValueError: no examples, or a mask value outside ``spec.values``.
    """
    if image_size <= 0:
        raise ValueError(
            f"segmentation.image_size must be positive for TFDS data, got {image_size}."
        )
    table = np.full(256, 255, np.uint8)
    table[list(spec.values)] = np.arange(len(spec.values), dtype=np.uint8)
    images, labels = [], []
    for i in range(len(examples)):
        ex = examples[i]
        mask = np.asarray(ex[spec.mask_key], np.uint8)
        label = table[_resized(mask, image_size, Image.NEAREST)[..., 0]]
        if (label == 255).any():
            bad = sorted(set(np.unique(mask).tolist()) - set(spec.values))
            raise ValueError(
                f"{spec.tfds_name} example {i}: mask values {bad[:5]} are not in the dataset's "
                f"table {spec.values} (classes {spec.classes}); the prepared files do not match "
                "this dataset's version: prepare it again."
            )
        image = np.asarray(ex[spec.image_key], np.uint8)
        images.append(_resized(image, image_size, Image.BILINEAR))
        labels.append(label)
    if not images:
        raise ValueError(f"{spec.tfds_name}: the split holds no examples.")
    return {"image": np.stack(images), "label": np.stack(labels)}


def load_tfds_segmentation(
    name: str, split: str, image_size: int, *, data_dir: Any = None, download: bool = False
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """One split of a TFDS segmentation dataset, resized, with its class names.

    Example:
      >>> import tensorflow_datasets as tfds
      >>> def fake_pets(builder, split, **kwargs):  # trimaps: 1 pet, 2 background, 3 border
      ...     rng = np.random.default_rng(0)
      ...     return [{"image": rng.integers(0, 256, (6, 8, 3), np.uint8),
      ...              "segmentation_mask": rng.integers(1, 4, (6, 8, 1), np.uint8)}
      ...             for _ in range(3)]
      >>> with tfds.testing.mock_data(as_data_source_fn=fake_pets):
      ...     data, classes = load_tfds_segmentation("oxford_iiit_pet", "train", 16)
      >>> data["image"].shape, data["label"].shape, classes
      ((3, 16, 16, 3), (3, 16, 16), ('pet', 'background', 'border'))
    """
    spec = _spec(name)
    source = open_tfds_source(spec.tfds_name, split, data_dir=data_dir, download=download)
    return segmentation_arrays(source, spec, image_size), spec.classes
