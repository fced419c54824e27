"""Composition of augmentations from a config list: ``AUGMENTATIONS`` and ``build_augment``."""

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from jaxdl.data.augment._common import _out
from jaxdl.data.augment.geometric import (
    affine,
    horizontal_flip,
    random_crop,
    rotate,
    translate,
    zoom,
)
from jaxdl.data.augment.pca_lighting import pca_lighting
from jaxdl.data.augment.photometric import brightness, contrast, cutout, gaussian_noise

__all__ = ["AUGMENTATIONS", "build_augment"]

AUGMENTATIONS: dict[str, Callable] = {
    "horizontal_flip": horizontal_flip,
    "random_crop": random_crop,
    "translate": translate,
    "rotate": rotate,
    "zoom": zoom,
    "affine": affine,
    "brightness": brightness,
    "contrast": contrast,
    "gaussian_noise": gaussian_noise,
    "cutout": cutout,
    "pca_lighting": pca_lighting,
}


def _parse_entry(entry: Any, i: int) -> tuple[str, dict]:
    if hasattr(entry, "to_dict"):  # ml_collections.ConfigDict
        entry = entry.to_dict()
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping):
        kwargs = dict(entry)
        if "name" not in kwargs:
            raise ValueError(f"augmentation #{i} {entry!r}: a dict entry needs a 'name' key")
        return kwargs.pop("name"), kwargs
    if isinstance(entry, Sequence) and len(entry) in (1, 2):
        kwargs = dict(entry[1]) if len(entry) == 2 else {}
        return entry[0], kwargs
    raise ValueError(
        f"augmentation #{i} {entry!r}: expected 'name', (name, kwargs) or "
        "{'name': name, **kwargs}"
    )


def build_augment(spec: Sequence[Any]) -> Callable:
    """Compose augmentations from a config list, applied in order.

    Args:
      spec: entries ``(name, kwargs)``, ``name`` or ``{'name': name, **kwargs}`` with
        names from ``AUGMENTATIONS``; kwargs are the op's hyperparameters. Names and
        keyword names are checked here; values are checked when the function is first
        called (traced).

    Returns:
      ``fn(key, images, masks=None)``: the composed pure function (one subkey per op),
      returning images, or ``(images, masks)`` when masks are given.

    Raises:
      ValueError: unknown op name or malformed entry.
      TypeError: keyword arguments the op does not accept.

    Example:
      >>> aug = build_augment([("random_crop", {"padding": 4}), "horizontal_flip",
      ...                      {"name": "cutout", "size": 8}])
      >>> x = jnp.ones((2, 16, 16, 3))
      >>> jax.jit(aug)(jax.random.key(0), x).shape
      (2, 16, 16, 3)
    """
    ops = []
    for i, entry in enumerate(spec):
        name, kwargs = _parse_entry(entry, i)
        if name not in AUGMENTATIONS:
            raise ValueError(
                f"augmentation #{i}: unknown op {name!r}; known ops: {sorted(AUGMENTATIONS)}"
            )
        fn = AUGMENTATIONS[name]
        allowed = [p for p in list(inspect.signature(fn).parameters)[2:] if p != "masks"]
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(
                f"augmentation #{i} {name!r}: unexpected arguments {unknown}; it accepts {allowed}"
            )
        ops.append(lambda k, x, m, fn=fn, kw=kwargs: fn(k, x, masks=m, **kw))

    def augment(key: jax.Array, images: jax.Array, masks: jax.Array | None = None):
        keys = jax.random.split(key, max(len(ops), 1))
        for k, op in zip(keys, ops):
            out = op(k, images, masks)
            images, masks = (out, None) if masks is None else out
        return _out(images, masks)

    return augment
