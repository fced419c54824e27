"""Which torchvision tensor becomes which jaxdl variable, and how it is laid out.

A ``Rule`` maps one ``state_dict`` key to one jaxdl variable path with a layout
conversion (``to_jaxdl``): conv ``[O, I, kh, kw]`` -> ``[kh, kw, I, O]``; linear
``[out, in]`` -> ``[in, out]``, with the rows of the first linear layer after a flatten
permuted from PyTorch's ``[C, H, W]`` order to jaxdl's ``[H, W, C]``; BN running
variances shifted by an epsilon difference (GoogLeNet). One generator per family
lists the rules in the network's order, so the first mismatch found is the
earliest layer. See ``jaxdl.models.torchvision_weights`` for the architectures.
"""

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from jaxdl.models.googlenet import INCEPTION_TABLE
from jaxdl.models.vgg import CONFIGS

__all__ = [
    "SUPPORTED",
    "Rule",
    "classifier_paths",
    "family",
    "head_key",
    "rules",
    "to_jaxdl",
    "torch_shape",
]

GOOGLENET_BN_EPS = 1e-3  # torchvision's BasicConv2d
JAXDL_BN_EPS = 1e-5  # jaxdl.nn.layers.BN_EPSILON
# jaxdl name -> (torchvision name, family)
SUPPORTED: dict[str, tuple[str, str]] = {
    **{f"resnet{d}": (f"resnet{d}", "resnet") for d in (18, 34, 50, 101, 152)},
    **{f"vgg{d}{b}": (f"vgg{d}{b}", "vgg") for d in (11, 13, 16, 19) for b in ("", "_bn")},
    "alexnet_torchvision": ("alexnet", "alexnet"),
    "googlenet_torchvision": ("googlenet", "googlenet"),
}


class Rule(NamedTuple):
    """One torchvision tensor -> one jaxdl variable."""

    key: str  # state_dict key, e.g. 'layer1.0.conv1.weight'
    path: tuple[str, ...]  # ('params', 'stage1_block1', 'conv1', 'conv', 'kernel')
    kind: str  # 'conv' | 'dense' | 'dense_chw' | 'copy' | 'var'
    chw: tuple[int, int, int] = (0, 0, 0)  # 'dense_chw': the flattened [C, H, W] map
    shift: float = 0.0  # 'var': added to the running variance (eps difference)


# ----------------------------------------------------------------------------- rules
def _conv_bn(conv: str, bn: str | None, at: tuple[str, ...], bias: bool, eps: float = 0.0):
    """Rules of a conv (+ BN): torchvision's ``{conv}.weight`` -> ``at/conv/kernel``."""
    out = [Rule(f"{conv}.weight", ("params", *at, "conv", "kernel"), "conv")]
    if bias:
        out.append(Rule(f"{conv}.bias", ("params", *at, "conv", "bias"), "copy"))
    if bn is not None:
        out += [
            Rule(f"{bn}.weight", ("params", *at, "bn", "scale"), "copy"),
            Rule(f"{bn}.bias", ("params", *at, "bn", "bias"), "copy"),
            Rule(f"{bn}.running_mean", ("batch_stats", *at, "bn", "mean"), "copy"),
            Rule(f"{bn}.running_var", ("batch_stats", *at, "bn", "var"), "var", shift=eps),
        ]
    return out


def _dense(key: str, at: tuple[str, ...], chw: tuple[int, int, int] | None = None):
    kind = "dense" if chw is None else "dense_chw"
    return [
        Rule(f"{key}.weight", ("params", *at, "kernel"), kind, chw or (0, 0, 0)),
        Rule(f"{key}.bias", ("params", *at, "bias"), "copy"),
    ]


def _resnet_rules(template: dict) -> Iterator[Rule]:
    yield from _conv_bn("conv1", "bn1", ("stem",), bias=False)
    blocks = sorted(
        (k for k in template["params"] if k.startswith("stage")),
        key=lambda k: tuple(int(s) for s in k[5:].split("_block")),
    )
    for name in blocks:  # stage{i}_block{j} <-> layer{i}.{j-1}
        stage, block = (int(s) for s in name[5:].split("_block"))
        t = f"layer{stage}.{block - 1}"
        convs = sorted(k for k in template["params"][name] if k.startswith("conv"))
        for c in convs:
            yield from _conv_bn(f"{t}.{c}", f"{t}.bn{c[4:]}", (name, c), bias=False)
        if "shortcut" in template["params"][name]:
            yield from _conv_bn(f"{t}.downsample.0", f"{t}.downsample.1", (name, "shortcut"), False)
    yield from _dense("fc", ("fc",))


def _vgg_rules(depth: int, batch_norm: bool) -> Iterator[Rule]:
    idx = 0  # index in torchvision's `features` Sequential
    for i, stage in enumerate(CONFIGS[depth]):
        for j in range(len(stage)):
            bn = f"features.{idx + 1}" if batch_norm else None
            yield from _conv_bn(f"features.{idx}", bn, (f"conv{i + 1}_{j + 1}",), bias=True)
            idx += 3 if batch_norm else 2  # conv [, BN], ReLU
        idx += 1  # max pool
    yield from _dense("classifier.0", ("fc1",), chw=(512, 7, 7))
    yield from _dense("classifier.3", ("fc2",))
    yield from _dense("classifier.6", ("fc3",))


def _alexnet_rules() -> Iterator[Rule]:
    for idx, name in zip((0, 3, 6, 8, 10), ("conv1", "conv2", "conv3", "conv4", "conv5")):
        yield from _conv_bn(f"features.{idx}", None, (name,), bias=True)
    yield from _dense("classifier.1", ("fc6",), chw=(256, 6, 6))
    yield from _dense("classifier.4", ("fc7",))
    yield from _dense("classifier.6", ("fc8",))


def _googlenet_rules(template: dict) -> Iterator[Rule]:
    eps = GOOGLENET_BN_EPS - JAXDL_BN_EPS

    def basic(t, at):  # torchvision BasicConv2d: t.conv, t.bn
        return _conv_bn(f"{t}.conv", f"{t}.bn", at, bias=False, eps=eps)

    for t, name in (("conv1", "conv1"), ("conv2", "conv2_reduce"), ("conv3", "conv2")):
        yield from basic(t, (name,))
    branches = {
        "branch1": "b1",
        "branch2.0": "b3_reduce",
        "branch2.1": "b3",
        "branch3.0": "b5_reduce",
        "branch3.1": "b5",
        "branch4.1": "pool_proj",
    }
    for block in INCEPTION_TABLE:
        for t, name in branches.items():
            yield from basic(f"inception{block}.{t}", (block, name))
    for aux in ("aux1", "aux2"):
        if aux in template["params"]:
            yield from basic(f"{aux}.conv", (aux, "conv"))
            yield from _dense(f"{aux}.fc1", (aux, "fc1"), chw=(128, 4, 4))
            yield from _dense(f"{aux}.fc2", (aux, "fc2"))
    yield from _dense("fc", ("fc",))


# Final classifier(s) of each family: jaxdl prefixes and the torchvision key of the main one.
_HEADS = {
    "resnet": ((("fc",),), "fc.weight"),
    "vgg": ((("fc3",),), "classifier.6.weight"),
    "alexnet": ((("fc8",),), "classifier.6.weight"),
    "googlenet": ((("fc",), ("aux1", "fc2"), ("aux2", "fc2")), "fc.weight"),
}


def family(name: str) -> tuple[str, str]:
    """``(torchvision name, family)`` of the jaxdl model ``name``, or a ValueError."""
    if name in ("alexnet", "googlenet"):
        raise ValueError(
            f"torchvision's {name!r} is not jaxdl's paper-faithful {name!r} (see "
            f"jaxdl/models/{name}.py): use the model name '{name}_torchvision'."
        )
    if name not in SUPPORTED:
        raise ValueError(
            f"No torchvision conversion for model {name!r}. Supported: {', '.join(SUPPORTED)}."
        )
    return SUPPORTED[name]


def rules(name: str, template: dict) -> list[Rule]:
    """Every rule of ``name``, in network order; ``template`` is the model's variables
    (shapes suffice) and tells which optional parts exist (shortcuts, aux heads)."""
    kind = family(name)[1]
    if kind == "resnet":
        return list(_resnet_rules(template))
    if kind == "vgg":
        depth, _, bn = name[3:].partition("_")
        return list(_vgg_rules(int(depth), bool(bn)))
    if kind == "alexnet":
        return list(_alexnet_rules())
    return list(_googlenet_rules(template))


def classifier_paths(name: str) -> tuple[tuple[str, ...], ...]:
    """The ``params`` prefixes of the layers whose outputs are the classes (the heads).

    Example:
      >>> classifier_paths("googlenet_torchvision")
      (('fc',), ('aux1', 'fc2'), ('aux2', 'fc2'))
      >>> classifier_paths("resnet18")
      (('fc',),)
    """
    return _HEADS[family(name)[1]][0]


def head_key(name: str) -> str:
    """The torchvision key of the main classifier's weight (its rows are the classes)."""
    return _HEADS[family(name)[1]][1]


def torch_shape(rule: Rule, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The torchvision tensor shape that converts to the jaxdl ``shape``."""
    if rule.kind == "conv":
        kh, kw, cin, cout = shape
        return (cout, cin, kh, kw)
    if rule.kind in ("dense", "dense_chw"):
        return shape[::-1]
    return shape


def to_jaxdl(rule: Rule, a: np.ndarray) -> np.ndarray:
    """The torchvision tensor ``a`` in jaxdl's layout (float32, contiguous)."""
    a = a.astype(np.float32)
    if rule.kind == "conv":
        a = a.transpose(2, 3, 1, 0)  # [O, I, kh, kw] -> [kh, kw, I, O]
    elif rule.kind == "dense":
        a = a.T  # [out, in] -> [in, out]
    elif rule.kind == "dense_chw":
        c, h, w = rule.chw
        # input index c*H*W + y*W + x (PyTorch's flatten) -> (y*W + x)*C + c (jaxdl's)
        a = a.reshape(a.shape[0], c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
    elif rule.kind == "var":
        a = a + np.float32(rule.shift)  # eps difference folded into the variance
    return np.ascontiguousarray(a)
