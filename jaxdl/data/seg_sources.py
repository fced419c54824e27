"""Segmentation datasets by name: the procedural cracks, an image + mask folder, TFDS.

``load_segmentation(name, split)`` gives one split as ``{'image': uint8 [N, H, W, C],
'label': uint8 [N, H, W]}`` and ``segmentation_classes`` its class names, for the names

  ``'cracks'``             generated (``jaxdl.data.cracks``; ``seed`` picks the dataset)
  ``'seg_folder:<path>'``  image + mask folders (``jaxdl.data.readers.seg_folder``)
  ``'tfds:<name>'``        a TFDS segmentation dataset (``jaxdl.data.seg_tfds``)

Example:
  >>> data = load_segmentation("cracks", "train[:2]", image_size=32)
  >>> data["image"].shape, data["label"].shape, segmentation_classes("cracks", data["label"])
  ((2, 32, 32, 1), (2, 32, 32), ('background', 'crack'))
"""

from pathlib import Path

import numpy as np

from jaxdl.data.cracks import CRACK_CLASSES, load_cracks
from jaxdl.data.readers.seg_folder import load_seg_folder, seg_folder_classes
from jaxdl.data.seg_tfds import SEG_DATASETS, load_tfds_segmentation

__all__ = ["load_segmentation", "segmentation_classes"]

_FOLDER = "seg_folder:"
_TFDS = "tfds:"


def load_segmentation(
    name: str,
    split: str,
    *,
    image_size: int = 0,
    seed: int = 0,
    data_dir: str | Path | None = None,
    download: bool = False,
) -> dict[str, np.ndarray]:
    """One split of segmentation dataset ``name``, resized to ``image_size`` (0: as stored,
    where the source allows it)."""
    if name == "cracks":
        return load_cracks(split, seed=seed, size=image_size)
    if name.startswith(_FOLDER):
        return load_seg_folder(name[len(_FOLDER) :], split, image_size=image_size or None)
    if name.startswith(_TFDS):
        tfds_name = name[len(_TFDS) :]
        data, _ = load_tfds_segmentation(
            tfds_name, split, image_size, data_dir=data_dir, download=download
        )
        return data
    raise ValueError(
        f"A segmentation dataset is 'cracks', 'seg_folder:<path>' or 'tfds:<name>', got {name!r}."
    )


def segmentation_classes(name: str, train_labels: np.ndarray) -> tuple[str, ...]:
    """The class names of dataset ``name``; a folder without ``classes.txt`` infers them
    from its training labels."""
    if name == "cracks":
        return CRACK_CLASSES
    if name.startswith(_TFDS) and name[len(_TFDS) :] in SEG_DATASETS:
        return SEG_DATASETS[name[len(_TFDS) :]].classes
    return seg_folder_classes(name[len(_FOLDER) :], train_labels)
