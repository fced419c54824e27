"""torchvision checkpoints (``state_dict``) -> jaxdl variables: "use a publicly available model".

``load_torchvision_weights(name, source)`` turns a torchvision ``state_dict`` (a
downloaded ``.pth``, an ``.npz`` of its arrays, or a dict of arrays/tensors) into the
``{'params': ..., 'batch_stats': ...}`` of ``jaxdl.models.create(name)``, so that both
frameworks compute the same function (tests/test_torchvision_weights.py checks it on
every architecture, float32, eval mode). ``transfer`` then copies those variables
into a fresh model, keeping a fresh classifier when the class count differs.

Tensor layouts (PyTorch is NCHW, jaxdl NHWC):

  - conv weight ``[O, I, kh, kw]`` -> kernel ``[kh, kw, I, O]`` (HWIO).
  - linear weight ``[out, in]`` -> kernel ``[in, out]``.
  - the first linear layer after a flatten (VGG fc1, AlexNet fc6, GoogLeNet's
    auxiliary fc1): PyTorch flattens a ``[C, H, W]`` map, jaxdl a ``[H, W, C]`` one,
    so its input rows are permuted: ``W.reshape(out, C, H, W).transpose(2, 3, 1, 0)``.
  - BatchNorm ``weight, bias, running_mean, running_var`` -> ``params``
    ``scale, bias`` and ``batch_stats`` ``mean, var``; ``num_batches_tracked`` is
    dropped. Both use ``y = (x - mean) / sqrt(var + eps) * scale + bias`` in eval mode.

Architectures (torchvision name -> jaxdl registry name) and how they differ:

  - ``resnet18/34/50/101/152`` -> same names. torchvision's bottleneck ResNets are
    "v1.5" (stride on the 3x3 conv), jaxdl's default (``stride_in_3x3=True``); BN eps
    1e-5 in both; projection shortcuts ``downsample.{0,1}`` -> ``shortcut``.
  - ``vgg11/13/16/19`` and ``_bn`` -> same names. torchvision has an
    ``AdaptiveAvgPool2d((7, 7))`` before the classifier, the identity at 224x224;
    jaxdl flattens the final map, so converted VGGs need 224x224 inputs.
  - ``alexnet`` -> ``alexnet_torchvision``: Krizhevsky's 2014 single-GPU variant
    (64-192-384-256-256 filters, conv1 padding 2, no LRN, dropout before fc6/fc7),
    not jaxdl's paper-faithful ``alexnet``; its ``AdaptiveAvgPool2d((6, 6))`` is the
    identity at 224x224.
  - ``googlenet`` -> ``googlenet_torchvision``: BN after every bias-free conv, 3x3
    convs in the "5x5" branches, 2x2 pool4, adaptive 4x4 pooling in the auxiliary
    heads, ``transform_input`` (see ``jaxdl.models.googlenet``). Its BN eps is 1e-3,
    jaxdl's 1e-5: the converter stores ``running_var + (1e-3 - 1e-5)``, which makes
    ``var + eps`` (all that eval mode uses) identical; in training mode batch
    statistics are normalized with eps 1e-5 instead of 1e-3. Files without the
    auxiliary heads convert to ``aux_classifiers=False`` variables.

References:
  He et al. 2016; Simonyan, Zisserman 2015; Krizhevsky 2014 (arXiv:1404.5997);
  Szegedy et al. 2015 -- and the torchvision model documentation
  (pytorch.org/vision/stable/models.html), whose checkpoints these are.
"""

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxdl.models import registry
from jaxdl.models.googlenet import IMAGENET_MEAN, IMAGENET_STD
from jaxdl.models.torchvision_rules import (
    SUPPORTED,
    classifier_paths,
    family,
    head_key,
    rules,
    to_jaxdl,
    torch_shape,
)

__all__ = [
    "IMAGENET_MEAN_STD",
    "SUPPORTED",
    "WeightsMismatchError",
    "classifier_paths",
    "load_torchvision_weights",
    "read_state_dict",
    "transfer",
]

# The input normalization torchvision's ImageNet weights expect (x in [0, 1]):
# (x - mean) / std per RGB channel.
IMAGENET_MEAN_STD = (IMAGENET_MEAN, IMAGENET_STD)


class WeightsMismatchError(ValueError):
    """A state_dict does not fit the architecture: missing, unexpected or mis-shaped."""


# ----------------------------------------------------------------------------- reading
def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor, read without importing torch
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()  # bfloat16/float16 checkpoints -> float32
        return value.numpy()
    return np.asarray(value)


def read_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A state_dict as numpy arrays, from a dict, an ``.npz`` file or a ``.pth`` file.

    ``.pth`` files need PyTorch (read with ``torch.load(path, map_location='cpu',
    weights_only=True)``); ``.npz`` files and dicts do not. A checkpoint dict holding
    the weights under ``'state_dict'`` is unwrapped, and a ``'module.'`` prefix on
    every key (``nn.DataParallel``) is removed.

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> sd = read_state_dict({"module.fc.weight": np.ones((2, 3)), "module.fc.bias": np.zeros(2)})
      >>> sorted(sd)  # nn.DataParallel's prefix removed
      ['fc.bias', 'fc.weight']
      >>> path = Path(tempfile.mkdtemp()) / "weights.npz"
      >>> np.savez(path, **sd)  # the same tensors, readable without torch
      >>> read_state_dict(path)["fc.weight"].shape
      (2, 3)
    """
    if not isinstance(source, Mapping):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"torchvision weights file {str(path)!r} does not exist (give the path of a "
                "downloaded .pth, or an .npz of its state_dict)."
            )
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                source = {k: f[k] for k in f.files}
        else:
            try:
                torch = importlib.import_module("torch")
            except ImportError as e:
                raise ImportError(
                    f"Reading {path.name!r} needs PyTorch (pip install torch), or convert it "
                    "where torch is installed: np.savez('weights.npz', **{k: v.numpy() for "
                    "k, v in torch.load(path).items()}), then pass the .npz."
                ) from e
            source = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(source, Mapping):
        raise WeightsMismatchError(
            f"Expected a state_dict (a mapping of tensor names to tensors), got "
            f"{type(source).__name__}; save weights with torch.save(model.state_dict(), path)."
        )
    if isinstance(source.get("state_dict"), Mapping):
        source = source["state_dict"]
    out = {str(k): _to_numpy(v) for k, v in source.items()}
    if out and all(k.startswith("module.") for k in out):
        out = {k[len("module.") :]: v for k, v in out.items()}
    return out


def _template(name: str, num_classes: int, **kwargs) -> dict:
    model = registry.create(name, num_classes=num_classes, **kwargs)
    x = jnp.zeros((1, *registry.default_input_shape(name)), jnp.float32)
    return jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))


def load_torchvision_weights(
    name: str,
    state_dict: str | os.PathLike | Mapping[str, Any],
    num_classes: int | None = 1000,
) -> dict[str, dict]:
    """Converts a torchvision ``state_dict`` into the variables of jaxdl's ``name``.

    Args:
      name: jaxdl registry name (``resnet50``, ``vgg16_bn``, ``alexnet_torchvision``,
        ``googlenet_torchvision``, ...; see ``SUPPORTED``).
      state_dict: the tensors, or the path of a ``.pth`` (needs torch) or ``.npz``.
      num_classes: classes of the model the variables are for (1000: ImageNet); None
        takes it from the file's classifier.

    Returns:
      ``{'params': ..., 'batch_stats': ...}`` (nested dicts of float32 numpy arrays;
      no ``batch_stats`` for the BN-free models) for
      ``jaxdl.models.create(name, num_classes=num_classes)`` (GoogLeNet files without
      auxiliary heads: ``create(..., aux_classifiers=False)``).

    Raises:
      WeightsMismatchError: naming the first missing, unexpected or mis-shaped tensor
        (key, expected shape, shape found).
      ValueError: ``name`` has no torchvision counterpart.

    Example:
      >>> from flax import traverse_util
      >>> from jaxdl.models.torchvision_rules import rules, torch_shape
      >>> model, x = registry.create("resnet18", num_classes=10), jnp.zeros((1, 32, 32, 3))
      >>> shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
      >>> flat = traverse_util.flatten_dict(shapes)
      >>> state_dict = {  # a stand-in for torch.load("resnet18-f37072fd.pth"): zeros
      ...     r.key: np.zeros(torch_shape(r, flat[r.path].shape), np.float32)
      ...     for r in rules("resnet18", shapes)
      ... }
      >>> state_dict["conv1.weight"].shape  # PyTorch: [O, I, kh, kw]
      (64, 3, 7, 7)
      >>> variables = load_torchvision_weights("resnet18", state_dict, num_classes=None)
      >>> variables["params"]["stem"]["conv"]["kernel"].shape  # jaxdl: [kh, kw, I, O]
      (7, 7, 3, 64)
      >>> variables["params"]["fc"]["kernel"].shape  # 10 classes, read from the file
      (512, 10)
      >>> jax.eval_shape(lambda v: model.apply(v, x, train=False), variables).shape
      (1, 10)
    """
    tv_name, kind = family(name)
    sd = read_state_dict(state_dict)
    head = head_key(name)
    if num_classes is None:
        if head not in sd:
            raise WeightsMismatchError(
                f"Cannot infer num_classes: the state_dict has no classifier {head!r}. "
                f"Is it a checkpoint of torchvision's {tv_name!r}?"
            )
        num_classes = int(sd[head].shape[0])
    kwargs = {}
    if kind == "googlenet" and not any(k.startswith("aux") for k in sd):
        kwargs["aux_classifiers"] = False  # saved from googlenet(aux_logits=False)
    template = _template(name, num_classes, **kwargs)
    plan = rules(name, template)
    flat_template = traverse_util.flatten_dict(template)
    out = {}
    for rule in plan:
        want = torch_shape(rule, flat_template[rule.path].shape)
        if rule.key not in sd:
            raise WeightsMismatchError(
                f"Missing tensor {rule.key!r} (expected shape {want}) in the state_dict for "
                f"{name!r} (jaxdl variable {'/'.join(rule.path)}). Is it a checkpoint of "
                f"torchvision's {tv_name!r}?"
            )
        got = tuple(sd[rule.key].shape)
        if got != want:
            hint = (
                " (a different class count: pass num_classes=None to take it from the file)"
                if rule.key == head
                else f" Is it a checkpoint of torchvision's {tv_name!r}?"
            )
            raise WeightsMismatchError(
                f"Tensor {rule.key!r} has shape {got}, expected {want} for {name!r} "
                f"(jaxdl variable {'/'.join(rule.path)}).{hint}"
            )
        out[rule.path] = to_jaxdl(rule, sd[rule.key])
    used = {r.key for r in plan}
    for key, value in sd.items():
        if key not in used and not key.endswith("num_batches_tracked"):
            raise WeightsMismatchError(
                f"Unexpected tensor {key!r} (shape {tuple(value.shape)}) in the state_dict for "
                f"{name!r}: torchvision's {tv_name!r} has no such tensor. Is it a checkpoint "
                "of another architecture?"
            )
    if set(out) != set(flat_template):  # the rules must cover the model exactly
        missing = sorted("/".join(p) for p in set(flat_template) - set(out))
        raise RuntimeError(f"internal: conversion rules for {name!r} miss {missing[:3]}")
    return traverse_util.unflatten_dict(out)


def transfer(
    fresh: Mapping[str, Any], pretrained: Mapping[str, Any], name: str
) -> tuple[dict, list[str]]:
    """Copies ``pretrained`` variables into ``fresh`` ones, keeping fresh heads if sizes differ.

    The course's transfer learning: keep the trained trunk, replace the classifier
    when the new task has another number of classes. Classifier layers
    (``classifier_paths(name)``) whose shapes differ stay fresh, and so do variables
    the file does not have (e.g. GoogLeNet's auxiliary heads); anything else that does
    not fit is an error.

    Args:
      fresh: variables of the new model (``{'params': ..., 'batch_stats': ...}``).
      pretrained: output of ``load_torchvision_weights``.
      name: the jaxdl model name.

    Returns:
      ``(variables, kept_fresh)``: the merged variables (pretrained leaves as numpy
      arrays, fresh ones as given) and the '/'-joined paths left fresh.

    Example:
      >>> pretrained = {"params": {"stem": {"kernel": np.ones((3, 4))},
      ...                          "fc": {"kernel": np.ones((4, 1000))}}}
      >>> new = {"params": {"stem": {"kernel": np.zeros((3, 4))},
      ...                   "fc": {"kernel": np.zeros((4, 10))}}}  # e.g. model.init(...)
      >>> variables, fresh = transfer(new, pretrained, "resnet18")
      >>> fresh, float(variables["params"]["stem"]["kernel"][0, 0])
      (['params/fc/kernel'], 1.0)
    """
    heads = classifier_paths(name)
    flat_fresh = traverse_util.flatten_dict(dict(fresh))
    flat_pre = traverse_util.flatten_dict(dict(pretrained))
    merged = dict(flat_fresh)
    for path, value in flat_pre.items():
        where = "/".join(path)
        if path not in flat_fresh:
            raise WeightsMismatchError(
                f"Pretrained variable {where} has no counterpart in the model {name!r}."
            )
        if tuple(value.shape) == tuple(flat_fresh[path].shape):
            merged[path] = value
        elif not any(path[1 : 1 + len(h)] == h for h in heads):
            raise WeightsMismatchError(
                f"Pretrained variable {where} has shape {tuple(value.shape)}, the model "
                f"{name!r} expects {tuple(flat_fresh[path].shape)}."
            )
    kept = sorted("/".join(p) for p in flat_fresh if merged[p] is flat_fresh[p])
    return traverse_util.unflatten_dict(merged), kept
