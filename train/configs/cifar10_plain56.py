"""Plain-56 on CIFAR-10: ResNet-56 without its shortcuts (the degradation study).

He et al. fig. 1 / fig. 6: with the same recipe the 56-layer plain net has HIGHER
training error than the 20-layer one, while ResNet-56 trains better than ResNet-20.
Same data, augmentation and schedule as ``cifar10_resnet20``.

  python -m train --config train/configs/cifar10_plain56.py --workdir runs/cifar10_plain56
"""

import ml_collections

from train.configs import cifar10_resnet20


def get_config() -> ml_collections.ConfigDict:
    """Plain-56, CIFAR-10."""
    c = cifar10_resnet20.get_config()
    c.model.name = "plain56"
    return c
