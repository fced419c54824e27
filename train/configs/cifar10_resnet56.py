"""ResNet-56 on CIFAR-10: the ResNet-20 recipe (He et al. sec. 4.2) with n = 9.

Paper: 6.97% test error. Same data (``data.data_dir``), augmentation and schedule as
``cifar10_resnet20`` (see there, including the schedule's one deviation).

  python -m train --config train/configs/cifar10_resnet56.py --workdir runs/cifar10_resnet56
"""

import ml_collections

from train.configs import cifar10_resnet20


def get_config() -> ml_collections.ConfigDict:
    """ResNet-56, CIFAR-10."""
    c = cifar10_resnet20.get_config()
    c.model.name = "resnet56"
    return c
