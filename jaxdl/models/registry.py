"""Model registry: one name per course architecture -> a configured Flax module.

Entries are looked up lazily (module path + class name), so importing the registry
does not import every model family.
"""

import importlib
from typing import Any, NamedTuple

import flax.linen as nn
import jax.numpy as jnp


class Entry(NamedTuple):
    """How to build one registered model."""

    module: str  # python module holding the class
    cls: str  # class name
    kwargs: dict[str, Any]  # fixed constructor arguments that define this variant
    input_shape: tuple[int, int, int]  # default (H, W, C)


_IMAGENET = (224, 224, 3)
_CIFAR = (32, 32, 3)

_REGISTRY: dict[str, Entry] = {
    "mlp": Entry("jaxdl.models.mlp", "MLP", {}, (28, 28, 1)),
    "lenet5": Entry("jaxdl.models.lenet", "LeNet5", {}, (32, 32, 1)),
    # AlexNet's layer sizes need 227x227 (the paper's "224" does not divide).
    "alexnet": Entry("jaxdl.models.alexnet", "AlexNet", {}, (227, 227, 3)),
    "zfnet": Entry("jaxdl.models.alexnet", "ZFNet", {}, _IMAGENET),
    "googlenet": Entry("jaxdl.models.googlenet", "GoogLeNet", {}, _IMAGENET),
    # torchvision's layouts of the two (what load_torchvision_weights converts into):
    # AlexNet's 2014 "one weird trick" variant, GoogLeNet with BN and 3x3 "5x5" branches.
    "alexnet_torchvision": Entry(
        "jaxdl.models.alexnet",
        "AlexNet",
        {
            "widths": (64, 192, 384, 256, 256),
            "conv1": (11, 4, 2),
            "lrn": False,
            "dropout_before_fc": True,
        },
        _IMAGENET,
    ),
    "googlenet_torchvision": Entry(
        "jaxdl.models.googlenet",
        "GoogLeNet",
        {
            "batch_norm": True,
            "c5_kernel": 3,
            "pool4_window": 2,
            "aux_pool": "adaptive",
            "dropout_rate": 0.2,
            "transform_input": True,
        },
        _IMAGENET,
    ),
    # Segmentation (per-pixel logits [B, H, W, num_classes]): the paper's valid U-Net
    # (572 -> 388 with one grey channel), the padded one, and the plain-CNN baseline.
    "unet": Entry("jaxdl.models.unet", "UNet", {"padding": "valid"}, (572, 572, 1)),
    "unet_padded": Entry("jaxdl.models.unet", "UNet", {"padding": "same"}, (256, 256, 3)),
    "seg_plain_cnn": Entry("jaxdl.models.unet", "PlainSegCNN", {}, (64, 64, 1)),
}
for _depth in (11, 13, 16, 19):
    _REGISTRY[f"vgg{_depth}"] = Entry("jaxdl.models.vgg", "VGG", {"depth": _depth}, _IMAGENET)
    _REGISTRY[f"vgg{_depth}_bn"] = Entry(
        "jaxdl.models.vgg", "VGG", {"depth": _depth, "batch_norm": True}, _IMAGENET
    )
for _depth in (18, 34, 50, 101, 152):
    _REGISTRY[f"resnet{_depth}"] = Entry(
        "jaxdl.models.resnet", "ResNet", {"depth": _depth}, _IMAGENET
    )
for _depth in (20, 32, 44, 56, 110):
    # CIFAR 6n+2 family (option-A shortcuts) and the plain nets of the degradation study.
    _REGISTRY[f"resnet{_depth}"] = Entry(
        "jaxdl.models.resnet", "CifarResNet", {"depth": _depth}, _CIFAR
    )
    _REGISTRY[f"plain{_depth}"] = Entry(
        "jaxdl.models.resnet", "CifarResNet", {"depth": _depth, "shortcut": "none"}, _CIFAR
    )


def names() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def _entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}. Registered models: {', '.join(names())}.")
    return _REGISTRY[name]


def create(name: str, num_classes: int = 10, dtype: Any = jnp.float32, **kwargs) -> nn.Module:
    """Builds the registered model ``name``.

    Args:
      name: a registered name (see ``names()``).
      num_classes: size of the classifier output.
      dtype: compute dtype (parameters stay float32).
      **kwargs: further module fields (e.g. ``dropout_rate``); unknown ones raise.

    Returns:
      An unbound ``flax.linen.Module``.

    Example:
      >>> model = create("lenet5", num_classes=10)
      >>> type(model).__name__, model.num_classes
      ('LeNet5', 10)
    """
    entry = _entry(name)
    cls = getattr(importlib.import_module(entry.module), entry.cls)
    fields = set(getattr(cls, "__dataclass_fields__", {}))
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(
            f"Model {name!r} has no field(s) {unknown}; valid fields: "
            f"{sorted(f for f in fields if f not in ('parent', 'name'))}."
        )
    return cls(num_classes=num_classes, dtype=dtype, **{**entry.kwargs, **kwargs})


def default_input_shape(name: str) -> tuple[int, int, int]:
    """The (H, W, C) input the registered model ``name`` was designed for."""
    return _entry(name).input_shape
