"""ResNet-20 on SVHN (cropped digits, the 73,257 ``train`` images).

SVHN cannot be downloaded here: give the folder holding ``train_32x32.mat`` and
``test_32x32.mat`` (the cropped-digits release) with ``--config.data.data_dir=/path`` or
``$JAXDL_DATA_DIR``. 68,129 training / 5,128 validation (93% / 7%) images, test on the 26,032
test images (add ``+extra`` to ``data.train_split`` for the 531k extra images).

Augmentation: pad-4 random crop only -- no horizontal flip, which would turn digits
such as 2 and 5 into other shapes. SGD momentum 0.9, lr 0.1, weight decay 1e-4, batch
128, 40 epochs (SVHN is larger and easier than CIFAR) with /10 at 50%.

  python -m train --config train/configs/svhn_resnet20.py --workdir runs/svhn_resnet20 \\
      --config.data.data_dir=/data/svhn
"""

import ml_collections

from train.configs import cifar10_resnet20


def get_config() -> ml_collections.ConfigDict:
    """ResNet-20, SVHN."""
    c = cifar10_resnet20.get_config()
    c.data.name = "svhn"
    c.data.data_dir = ""  # user-given: not available offline here
    c.data.train_split = "train[:93%]"  # 68,129
    c.data.val_split = "train[93%:]"  # 5,128
    c.data.augment = "random_crop(padding=4)"
    return cifar10_resnet20.cifar_recipe(c, num_epochs=40)
