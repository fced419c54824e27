"""PyTorch peer of ``benchmarks.bench_models.CifarResNet18`` (11,173,962 parameters).

ImageNet ResNet-18 stages with projection shortcuts (1x1 conv + BN, option B) on a
3x3/1 stem without max pool, the usual CIFAR ResNet-18.

References:
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016.
"""

import torch.nn.functional as F
from torch import nn

from benchmarks.peers.torch_models import conv_bn


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
