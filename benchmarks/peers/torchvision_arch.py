"""PyTorch networks laid out exactly like torchvision's, for offline weight-conversion tests.

torchvision does not import everywhere jaxdl is tested, but its checkpoints are what
users download. These ``torch.nn`` modules use torchvision's module names and nesting,
so ``state_dict()`` has torchvision's keys and shapes (``layer1.0.conv1.weight``,
``layer2.0.downsample.0.weight``, ``features.0.weight``, ``classifier.6.weight``,
``inception3a.branch2.1.conv.weight``, ``aux1.fc1.weight``, ...) and ``forward`` is
torchvision's computation. ``jaxdl.models.load_torchvision_weights`` is proved on them
(tests/test_torchvision_weights.py): random weights and BN statistics, convert, same
outputs on the same images. Written from torchvision's documented architectures:

- ResNet-18/34 (basic blocks) and 50/101/152 (bottlenecks, stride on the 3x3: "v1.5"),
  convs without bias, BN after each, projection shortcuts ``downsample = (1x1 conv, BN)``.
- VGG-11/13/16/19 (+ ``_bn``): ``features`` (conv [+BN] + ReLU, max pools),
  ``AdaptiveAvgPool2d((7, 7))``, ``classifier`` (Linear, ReLU, Dropout) x 2 + Linear.
- AlexNet, the 2014 single-GPU variant: 64-192-384-256-256 filters, no LRN,
  ``AdaptiveAvgPool2d((6, 6))``, dropout before fc6 and fc7.
- GoogLeNet: ``BasicConv2d`` = conv (no bias) + BN (eps 1e-3) + ReLU, 3x3 convs in the
  "5x5" branches, 2x2 pool4, adaptive 4x4 pooling in the auxiliary heads,
  ``transform_input``.

References:
  He et al. 2016 (ResNets); Simonyan, Zisserman 2015 (VGG); Krizhevsky 2014,
  arXiv:1404.5997 (this AlexNet); Szegedy et al. 2015 (GoogLeNet); the torchvision
  model documentation (pytorch.org/vision/stable/models.html).
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NAMES", "build", "randomize_batch_norm"]

RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
VGG_LAYOUTS = {  # conv widths, "M" = 2x2/2 max pool
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", *(256,) * 4, "M", *(512,) * 4, "M", *(512,) * 4, "M"),
}
NAMES = (
    *(f"resnet{d}" for d in RESNET_LAYOUTS),
    *(f"vgg{d}{bn}" for d in VGG_LAYOUTS for bn in ("", "_bn")),
    "alexnet",
    "googlenet",
)


# ----------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # v1.5: stride here
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 1000):
        super().__init__()
        kind, sizes = RESNET_LAYOUTS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (n, width) in enumerate(zip(sizes, (64, 128, 256, 512))):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                out = width * block.expansion
                down = None
                if stride != 1 or cin != out:
                    down = nn.Sequential(
                        nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out)
                    )
                blocks.append(block(cin, width, stride, down))
                cin = out
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ----------------------------------------------------------------------------- VGG
class VGG(nn.Module):
    def __init__(self, depth: int, batch_norm: bool, num_classes: int = 1000):
        super().__init__()
        layers, cin = [], 3
        for v in VGG_LAYOUTS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, v, 3, padding=1))  # conv bias kept even with BN
            layers += [nn.BatchNorm2d(v)] if batch_norm else []
            layers.append(nn.ReLU(inplace=True))
            cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ----------------------------------------------------------------------------- AlexNet
class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ----------------------------------------------------------------------------- GoogLeNet
class BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, proj):
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(cin, c3r, kernel_size=1), BasicConv2d(c3r, c3, kernel_size=3, padding=1)
        )
        self.branch3 = nn.Sequential(  # torchvision's "5x5" branch is a 3x3 conv
            BasicConv2d(cin, c5r, kernel_size=1), BasicConv2d(c5r, c5, kernel_size=3, padding=1)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(cin, proj, kernel_size=1)
        )

    def forward(self, x):
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([b(x) for b in branches], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.conv = BasicConv2d(cin, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))  # [B, 128, 4, 4]
        x = self.dropout(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


# (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), Szegedy et al. table 1.
GOOGLENET_TABLE = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    def __init__(self, num_classes=1000, aux_logits=True, transform_input=True, dropout=0.2):
        super().__init__()
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        for name, row in GOOGLENET_TABLE.items():
            setattr(self, f"inception{name}", Inception(*row))
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.aux1 = InceptionAux(512, num_classes) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        if self.transform_input:
            std = x.new_tensor([0.229, 0.224, 0.225])[None, :, None, None]
            mean = x.new_tensor([0.485, 0.456, 0.406])[None, :, None, None]
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.training and self.aux_logits else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.training and self.aux_logits else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (x, aux2, aux1) if self.training and self.aux_logits else x


# ----------------------------------------------------------------------------- helpers
def build(name: str, num_classes: int = 1000, **kwargs) -> nn.Module:
    """The torchvision-layout network ``name`` (a torchvision model name), random weights.

    Example:
      >>> model = build("resnet50").eval()
      >>> sorted(model.state_dict())[:2]  # ['bn1.bias', 'bn1.num_batches_tracked']
    """
    if name.startswith("resnet") and int(name[6:]) in RESNET_LAYOUTS:
        return ResNet(int(name[6:]), num_classes)
    if name.startswith("vgg"):
        depth, _, bn = name[3:].partition("_")
        if int(depth) in VGG_LAYOUTS and bn in ("", "bn"):
            return VGG(int(depth), bool(bn), num_classes)
    if name == "alexnet":
        return AlexNet(num_classes, **kwargs)
    if name == "googlenet":
        return GoogLeNet(num_classes, **kwargs)
    raise ValueError(f"Unknown torchvision architecture {name!r}; known: {', '.join(NAMES)}.")


@torch.no_grad()
def randomize_batch_norm(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Random BN scale, shift, running mean and running variance (so converters are tested).

    Scale and variance are drawn in [0.5, 1.5], shift and mean from N(0, 0.1^2): every
    BN of the network is then a distinct affine map in eval mode, and swapping or
    dropping any of the four tensors changes the outputs.
    """
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.copy_(0.5 + torch.rand(c, generator=generator))
            m.bias.copy_(0.1 * torch.randn(c, generator=generator))
            m.running_mean.copy_(0.1 * torch.randn(c, generator=generator))
            m.running_var.copy_(0.5 + torch.rand(c, generator=generator))
    return model
