"""jaxdl's benchmark models in PyTorch, built to the same layer tables and parameter counts.

``build(name, num_classes, image_size)`` returns an ``nn.Module`` and a description of
where it came from. torchvision is used only where its network IS jaxdl's (ResNet-50
v1.5, VGG-16: identical parameter counts); its AlexNet (the 2014 "one weird trick"
variant: 64/192 channels, no LRN, 61.1M parameters) and GoogLeNet (batch norm, a 3x3
conv in the "5x5" branch, 13.0M parameters) are different networks, so the peers of
those are the plain ``torch.nn`` versions below, which follow jaxdl's tables (LRN,
conv biases, 5x5 branches; 62,378,344 and 13,378,280 parameters with 1000 classes).
``source='torchvision'`` forces torchvision's models anyway; ``'native'`` never uses
it. torchvision is imported lazily and any import failure falls back to the native
module (the row records which one ran).

The timed step itself lives in ``benchmarks/peers/torch_train.py``.

References:
  LeCun et al. 1998 (LeNet-5); Krizhevsky et al. 2012 (AlexNet); Simonyan, Zisserman
  2015 (VGG); Szegedy et al. 2015 (GoogLeNet); He et al. 2016 (ResNets, option-A
  CIFAR shortcuts) -- the same papers as the jaxdl models in ``jaxdl/models``.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# LeNet-5 C3 connections (the paper's table I): S2 map i feeds C3 map j where True.
C3_TABLE = np.array(
    [
        [1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1],
        [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1],
        [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1],
        [0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1],
        [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1],
        [0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1],
    ],
    dtype=bool,
)
TORCHVISION_SAME = ("resnet50", "vgg16")  # torchvision's network == jaxdl's
TORCHVISION_ANY = ("resnet50", "vgg16", "alexnet", "googlenet")
SOURCES = ("auto", "native", "torchvision")


def lecun_tanh(x: torch.Tensor) -> torch.Tensor:
    """LeCun's scaled tanh ``1.7159 tanh(2x/3)``."""
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsample(nn.Module):
    """LeNet's S layer: 2x2 block sums times a per-map coefficient, plus a per-map bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.coeff = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):  # [B, C, H, W]
        s = F.avg_pool2d(x, 2) * 4.0
        return s * self.coeff[:, None, None] + self.bias[:, None, None]


class SparseConv(nn.Module):
    """5x5 valid conv with only the ``table``'s (in, out) kernel slices as parameters."""

    def __init__(self, table: np.ndarray, k: int = 5):
        super().__init__()
        rows, cols = np.nonzero(table)
        self.shape = (table.shape[1], table.shape[0], k, k)  # [C_out, C_in, k, k]
        self.register_buffer("rows", torch.as_tensor(rows), persistent=False)
        self.register_buffer("cols", torch.as_tensor(cols), persistent=False)
        self.weight = nn.Parameter(torch.randn(len(rows), k, k) * 0.1)
        self.bias = nn.Parameter(torch.zeros(table.shape[1]))

    def forward(self, x):
        kernel = self.weight.new_zeros(self.shape)
        kernel = kernel.index_put((self.cols, self.rows), self.weight)  # scatter the slices
        return F.conv2d(x, kernel.to(x.dtype), self.bias.to(x.dtype))


class LeNet5(nn.Module):
    """LeNet-5 with the softmax head (60,850 parameters for 10 classes), 32x32x1 input."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.c1, self.s2 = nn.Conv2d(1, 6, 5), Subsample(6)
        self.c3, self.s4 = SparseConv(C3_TABLE), Subsample(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6, self.out = nn.Linear(120, 84), nn.Linear(84, num_classes)

    def forward(self, x):  # [B, 1, 32, 32]
        for layer in (self.c1, self.s2, self.c3, self.s4, self.c5):
            x = lecun_tanh(layer(x))
        return self.out(lecun_tanh(self.f6(x.flatten(1))))


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias) -> BN -> [ReLU], jaxdl's ``ConvBN`` with batch norm."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU(inplace=True)] if relu else []))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus the option-A shortcut (subsample, zero-pad channels)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, relu=False))
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        short = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, 0, self.pad))  # append zero channels
        return F.relu(self.body(x) + short)


class CifarResNet(nn.Module):
    """CIFAR ResNet-(6n+2), option-A shortcuts (ResNet-20: 269,722 parameters)."""

    def __init__(self, depth: int = 20, num_classes: int = 10, widths=(16, 32, 64)):
        super().__init__()
        n = (depth - 2) // 6
        blocks, cin = [conv_bn(3, widths[0], 3)], widths[0]
        for i, w in enumerate(widths):
            for j in range(n):
                blocks.append(BasicBlock(cin, w, 2 if i > 0 and j == 0 else 1))
                cin = w
        self.features, self.fc = nn.Sequential(*blocks), nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 x4 with a projection shortcut when the shape changes."""

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        out = 4 * width
        self.body = nn.Sequential(
            conv_bn(cin, width, 1),
            conv_bn(width, width, 3, stride),
            conv_bn(width, out, 1, relu=False),
        )
        change = stride != 1 or cin != out
        self.short = conv_bn(cin, out, 1, stride, relu=False) if change else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


# The usual CIFAR ResNet-18 (``benchmarks.bench_models.CifarResNet18``, 11,173,962
# parameters): ImageNet ResNet-18 stages with projection shortcuts (1x1 conv + BN, option
# B) on a 3x3/1 stem without max pool. He, Zhang, Ren, Sun. CVPR 2016.


class ProjectionBlock(nn.Module):
    """Two 3x3 conv-BN layers; 1x1 conv-BN projection shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, relu=False))
        change = stride != 1 or cin != cout
        self.short = conv_bn(cin, cout, 1, stride, relu=False) if change else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


class CifarResNet18(nn.Module):
    """3x3/1 stem (64) -> [2, 2, 2, 2] basic blocks of 64-512 channels -> avg pool -> FC."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        layers, cin = [conv_bn(3, 64, 3)], 64
        for i, w in enumerate((64, 128, 256, 512)):
            for j in range(2):
                layers.append(ProjectionBlock(cin, w, 2 if i > 0 and j == 0 else 1))
                cin = w
        self.features, self.fc = nn.Sequential(*layers), nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class ResNet50(nn.Module):
    """ImageNet ResNet-50 v1.5 (stride in the 3x3; 25,557,032 parameters)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for i, (n, w) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
            for j in range(n):
                layers.append(Bottleneck(cin, w, 2 if i > 0 and j == 0 else 1))
                cin = 4 * w
        self.features, self.fc = nn.Sequential(*layers), nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def classifier(cin: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    """FC-ReLU-dropout x2 then the output FC (AlexNet and VGG heads)."""
    return nn.Sequential(
        nn.Linear(cin, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )  # fmt: skip


def conv_relu(cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None):
    """Conv (with bias) -> ReLU, jaxdl's ``ConvBN(batch_norm=False)``."""
    pad = k // 2 if pad is None else pad
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad), nn.ReLU(inplace=True))


def paper_lrn() -> nn.LocalResponseNorm:
    """The paper's LRN (k=2, n=5, alpha=1e-4 on the SUM): torch's alpha is on the mean."""
    return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNet(nn.Module):
    """Single-tower AlexNet with LRN, 227x227 input (62,378,344 parameters)."""

    def __init__(self, num_classes: int = 1000, image_size: int = 227):
        super().__init__()
        self.features = nn.Sequential(
            conv_relu(3, 96, 11, 4, 0), paper_lrn(), nn.MaxPool2d(3, 2),
            conv_relu(96, 256, 5), paper_lrn(), nn.MaxPool2d(3, 2),
            conv_relu(256, 384, 3), conv_relu(384, 384, 3), conv_relu(384, 256, 3),
            nn.MaxPool2d(3, 2),
        )  # fmt: skip
        s = (image_size - 11) // 4 + 1
        for _ in range(3):
            s = (s - 3) // 2 + 1  # the three 3x3/2 max pools
        self.classifier = classifier(256 * s * s, 4096, num_classes, 0.5)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class VGG16(nn.Module):
    """VGG-16 (configuration D) without BN; flattens the final map like jaxdl."""

    def __init__(self, num_classes: int = 1000, image_size: int = 224):
        super().__init__()
        layers, cin = [], 3
        for stage in ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3):
            for cout in stage:
                layers.append(conv_relu(cin, cout, 3))
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        s = image_size // 32
        self.classifier = classifier(512 * s * s, 4096, num_classes, 0.5)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class Inception(nn.Module):
    """Four branches (1x1 | 1x1-3x3 | 1x1-5x5 | maxpool-1x1), each conv with bias + ReLU."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, proj: int):
        super().__init__()
        self.b1 = conv_relu(cin, c1, 1)
        self.b3 = nn.Sequential(conv_relu(cin, c3r, 1), conv_relu(c3r, c3, 3))
        self.b5 = nn.Sequential(conv_relu(cin, c5r, 1), conv_relu(c5r, c5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_relu(cin, proj, 1))
        self.out_channels = c1 + c3 + c5 + proj

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary head: avg pool (5x5/3, shrunk on small maps) -> 1x1 conv 128 -> FC 1024 -> FC."""

    def __init__(self, cin: int, num_classes: int, map_size: int):
        super().__init__()
        self.window = min(5, map_size)
        side = (map_size - self.window) // 3 + 1
        self.conv = conv_relu(cin, 128, 1)
        self.fc1, self.fc2 = nn.Linear(128 * side * side, 1024), nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.conv(F.avg_pool2d(x, self.window, 3)).flatten(1)
        return self.fc2(F.dropout(F.relu(self.fc1(x)), 0.7, self.training))


# GoogLeNet table 1: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
INCEPTION_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}  # fmt: skip


class GoogLeNet(nn.Module):
    """GoogLeNet with LRN and both auxiliary heads (13,378,280 parameters, 1000 classes).

    In training mode returns ``(logits, aux1, aux2)``, like jaxdl's GoogLeNet.
    """

    def __init__(self, num_classes: int = 1000, image_size: int = 224):
        super().__init__()
        pool = nn.MaxPool2d(3, 2, 1)  # output ceil(H / 2), as Flax's "SAME" pooling
        self.stem = nn.Sequential(
            conv_relu(3, 64, 7, 2), pool, paper_lrn(),
            conv_relu(64, 64, 1), conv_relu(64, 192, 3), paper_lrn(), pool,
        )  # fmt: skip
        blocks, cin = {}, 192
        for name, sizes in INCEPTION_TABLE.items():
            blocks[name] = Inception(cin, *sizes)
            cin = blocks[name].out_channels
        self.blocks, self.pool = nn.ModuleDict(blocks), pool
        m = image_size
        for _ in range(4):
            m = math.ceil(m / 2)  # conv1, pool1, pool2, pool3
        self.aux1 = InceptionAux(512, num_classes, m)
        self.aux2 = InceptionAux(528, num_classes, m)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.stem(x)
        aux = []
        for name, block in self.blocks.items():
            if name in ("4a", "5a"):
                x = self.pool(x)
            x = block(x)
            if self.training and name in ("4a", "4d"):
                aux.append((self.aux1 if name == "4a" else self.aux2)(x))
        logits = self.fc(F.dropout(x.mean((2, 3)), 0.4, self.training))
        return (logits, *aux) if self.training else logits


def _native(name: str, num_classes: int, image_size: int) -> nn.Module:
    if name == "lenet5":
        return LeNet5(num_classes)
    if name == "resnet20":
        return CifarResNet(20, num_classes)
    if name == "resnet50":
        return ResNet50(num_classes)
    if name == "vgg16":
        return VGG16(num_classes, image_size)
    if name == "alexnet":
        return AlexNet(num_classes, image_size)
    if name == "googlenet":
        return GoogLeNet(num_classes, image_size)
    if name == "resnet18_cifar":
        return CifarResNet18(num_classes)
    raise ValueError(f"No PyTorch peer for model {name!r}; peers exist for {sorted(PEERS)}.")


PEERS = ("lenet5", "resnet20", "resnet18_cifar", "resnet50", "vgg16", "alexnet", "googlenet")


def _torchvision(name: str, num_classes: int) -> nn.Module:
    import torchvision.models as tvm  # lazy: may be absent or broken beside a CPU torch

    if name == "googlenet":
        return tvm.googlenet(num_classes=num_classes, aux_logits=True, init_weights=False)
    return getattr(tvm, name)(num_classes=num_classes)


def build(
    name: str, num_classes: int, image_size: int, source: str = "auto"
) -> tuple[nn.Module, str]:
    """The PyTorch peer of jaxdl model ``name``.

    Args:
      name: one of ``PEERS``.
      num_classes: classifier outputs.
      image_size: input side (sizes the flattening classifiers of AlexNet/VGG and the
        GoogLeNet auxiliary heads, as jaxdl's shape-inferring Dense layers do).
      source: 'auto' (torchvision only where its network is jaxdl's), 'native', or
        'torchvision' (torchvision's model wherever it has one, even a different one).

    Returns:
      ``(module, description)``; the description says which implementation ran and why
      (e.g. a torchvision import error that forced the native fallback).

    Example:
      >>> model, impl = build("resnet50", 1000, 224)  # torchvision.models.resnet50
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if name not in PEERS:
        raise ValueError(f"No PyTorch peer for model {name!r}; peers exist for {list(PEERS)}.")
    wants_tv = name in (TORCHVISION_SAME if source == "auto" else TORCHVISION_ANY)
    # torchvision's VGG pools to 7x7 before its classifier: the same network only at 224.
    if source == "auto" and name == "vgg16" and image_size != 224:
        wants_tv = False
    if source != "native" and wants_tv:
        try:
            return _torchvision(name, num_classes), f"torchvision.models.{name}"
        except Exception as exc:  # noqa: BLE001 - any import/ABI failure means "fall back"
            note = f"torch.nn (benchmarks/peers; torchvision failed: {type(exc).__name__}: {exc})"
            return _native(name, num_classes, image_size), note[:300]
    return _native(name, num_classes, image_size), "torch.nn (benchmarks/peers)"


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
