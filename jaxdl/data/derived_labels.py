"""Labels derived from a dataset's own labels: the extra tasks of multitask learning.

A derivation maps each class *name* of the dataset to a derived class, so it fits any
dataset whose class names it covers, whatever their order (also a relabelled subset of
classes):

  - ``'label'``: the dataset's own label (identity), with its own class names.
  - ``'parity'``: a digit's parity, ``even`` (0) / ``odd`` (1); digit class names
    ``'0'..'9'`` (MNIST, SVHN).
  - ``'animal'``: ``vehicle`` (0: airplane, automobile/car, ship, truck) / ``animal``
    (1: every other class); CIFAR-10 and STL-10 class names.
  - ``'coarse'``: CIFAR-100's 20 superclasses (Krizhevsky 2009, the dataset's own
    fine -> coarse grouping). The CIFAR-100 readers and TFDS deliver them as
    ``'coarse_label'``; when a split carries that array it is used as is (preferred to
    the table below), otherwise the table maps the fine label.

Example:
  >>> derive("parity", {"label": np.array([3, 4])}, tuple("0123456789"))
  DerivedLabels(labels=array([1, 0], dtype=int32), class_names=('even', 'odd'))

References:
  Krizhevsky. Learning multiple layers of features from tiny images. 2009 (CIFAR-10/100).
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "DERIVATIONS",
    "DerivedLabels",
    "Derivation",
    "derive",
    "provided_labels",
    "task_class_names",
]


class Derivation(NamedTuple):
    """A named map from the dataset's class names to derived classes."""

    class_names: tuple[str, ...]  # the derived classes, index = derived label
    of: Mapping[str, int]  # source class name -> derived label
    fits: str  # which datasets' class names it covers (for error messages)
    provided_key: str = ""  # a loader array holding these labels already ('' = none)


class DerivedLabels(NamedTuple):
    """A derived label array and the names of its classes."""

    labels: np.ndarray  # int32 [N]
    class_names: tuple[str, ...]


_VEHICLES = ("airplane", "automobile", "car", "ship", "truck")
_ANIMALS = ("bird", "cat", "deer", "dog", "frog", "horse", "monkey")

# CIFAR-100 superclass -> its five fine classes (Krizhevsky 2009, the dataset's page).
# Superclasses in the order of the coarse label (CIFAR100_COARSE_CLASSES).
_CIFAR100_SUPERCLASSES = (
    ("aquatic_mammals", ("beaver", "dolphin", "otter", "seal", "whale")),
    ("fish", ("aquarium_fish", "flatfish", "ray", "shark", "trout")),
    ("flowers", ("orchid", "poppy", "rose", "sunflower", "tulip")),
    ("food_containers", ("bottle", "bowl", "can", "cup", "plate")),
    ("fruit_and_vegetables", ("apple", "mushroom", "orange", "pear", "sweet_pepper")),
    ("household_electrical_devices", ("clock", "keyboard", "lamp", "telephone", "television")),
    ("household_furniture", ("bed", "chair", "couch", "table", "wardrobe")),
    ("insects", ("bee", "beetle", "butterfly", "caterpillar", "cockroach")),
    ("large_carnivores", ("bear", "leopard", "lion", "tiger", "wolf")),
    ("large_man-made_outdoor_things", ("bridge", "castle", "house", "road", "skyscraper")),
    ("large_natural_outdoor_scenes", ("cloud", "forest", "mountain", "plain", "sea")),
    ("large_omnivores_and_herbivores", ("camel", "cattle", "chimpanzee", "elephant", "kangaroo")),
    ("medium_mammals", ("fox", "porcupine", "possum", "raccoon", "skunk")),
    ("non-insect_invertebrates", ("crab", "lobster", "snail", "spider", "worm")),
    ("people", ("baby", "boy", "girl", "man", "woman")),
    ("reptiles", ("crocodile", "dinosaur", "lizard", "snake", "turtle")),
    ("small_mammals", ("hamster", "mouse", "rabbit", "shrew", "squirrel")),
    ("trees", ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree")),
    ("vehicles_1", ("bicycle", "bus", "motorcycle", "pickup_truck", "train")),
    ("vehicles_2", ("lawn_mower", "rocket", "streetcar", "tank", "tractor")),
)

DERIVATIONS: dict[str, Derivation] = {
    "parity": Derivation(
        ("even", "odd"),
        {str(d): d % 2 for d in range(10)},
        "digit datasets with class names '0'..'9' (mnist, svhn)",
    ),
    "animal": Derivation(
        ("vehicle", "animal"),
        {**dict.fromkeys(_VEHICLES, 0), **dict.fromkeys(_ANIMALS, 1)},
        "CIFAR-10 / STL-10 class names (cifar10, stl10)",
    ),
    "coarse": Derivation(
        tuple(coarse for coarse, _ in _CIFAR100_SUPERCLASSES),
        {fine: i for i, (_, fines) in enumerate(_CIFAR100_SUPERCLASSES) for fine in fines},
        "CIFAR-100's fine class names (cifar100)",
        provided_key="coarse_label",
    ),
}


def provided_labels(data: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The loader's own label arrays that derivations prefer (CIFAR-100's coarse labels).

    Example:
      >>> sorted(provided_labels({"image": 0, "label": 1, "coarse_label": 2}))
      ['coarse_label']
    """
    keys = {d.provided_key for d in DERIVATIONS.values()} - {""}
    return {k: data[k] for k in sorted(keys) if k in data}


def _derivation(task: str) -> Derivation:
    if task not in DERIVATIONS:
        raise ValueError(
            f"Unknown derived task {task!r}. Known: 'label' (the dataset's own), "
            f"{', '.join(repr(t) for t in DERIVATIONS)} (jaxdl.data.derived_labels)."
        )
    return DERIVATIONS[task]


def _source_table(task: str, class_names: Sequence[str]) -> np.ndarray:
    """int32 [K]: the derived label of each of the dataset's K classes."""
    d = _derivation(task)
    missing = [n for n in class_names if n not in d.of]
    if missing:
        raise ValueError(
            f"Task {task!r} does not fit this dataset: its classes {missing[:5]} have no "
            f"{task!r} label. {task!r} fits {d.fits}. Drop the task from "
            "multitask.tasks or choose a dataset it fits."
        )
    return np.array([d.of[n] for n in class_names], np.int32)


def task_class_names(task: str, class_names: Sequence[str]) -> tuple[str, ...]:
    """Class names of ``task`` on a dataset with classes ``class_names`` (checks the fit).

    Args:
      task: ``'label'`` or a ``DERIVATIONS`` name.
      class_names: the dataset's class names, index = its label.

    Returns:
      The derived classes' names (``class_names`` itself for ``'label'``).

    Raises:
      ValueError: unknown task, or a dataset class the task has no label for.

    Example:
      >>> task_class_names("animal", ("airplane", "cat"))
      ('vehicle', 'animal')
    """
    if task == "label":
        return tuple(class_names)
    _source_table(task, class_names)
    return _derivation(task).class_names


def derive(task: str, data: Mapping[str, np.ndarray], class_names: Sequence[str]) -> DerivedLabels:
    """The labels of ``task`` for the examples of one split.

    Args:
      task: ``'label'`` or a ``DERIVATIONS`` name.
      data: the split's arrays: ``'label'`` int [N], optionally loader-provided label
        arrays (CIFAR-100's ``'coarse_label'``, used as is by ``'coarse'``).
      class_names: the dataset's class names, index = ``data['label']``.

    Returns:
      ``DerivedLabels(labels int32 [N], class_names)``.

    Raises:
      ValueError: unknown task, a class the task does not cover, or labels outside
        ``[0, len(class_names))``.

    Example:
      >>> from jaxdl.data.readers.cifar import CIFAR10_CLASSES
      >>> derive("animal", {"label": np.array([0, 3])}, CIFAR10_CLASSES).labels
      array([0, 1], dtype=int32)
    """
    labels = np.asarray(data["label"])
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(
            f"Labels must lie in [0, {len(class_names)}) to derive {task!r}, found "
            f"{labels.min()}..{labels.max()} (unlabelled examples, e.g. STL-10's -1, have "
            "no derived label: use a labelled split)."
        )
    names = task_class_names(task, class_names)
    if task == "label":
        return DerivedLabels(labels.astype(np.int32), names)
    d = _derivation(task)
    if d.provided_key and d.provided_key in data:
        return DerivedLabels(np.asarray(data[d.provided_key], np.int32), names)
    return DerivedLabels(_source_table(task, class_names)[labels], names)
