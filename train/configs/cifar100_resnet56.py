"""ResNet-56 on CIFAR-100 (fine labels): the CIFAR-10 recipe with 100 classes.

CIFAR-100 cannot be downloaded here: give the original release's folder with
``--config.data.data_dir=/path`` (holding ``cifar-100-python/{train,test}`` or
``cifar-100-binary/{train,test}.bin``, or a parent of a ``cifar100`` folder with them),
or set ``$JAXDL_DATA_DIR``. 45,000 training / 5,000 validation / 10,000 test images;
pad-4 crop + flip, per-channel standardisation; SGD momentum 0.9, lr 0.1, weight decay
1e-4, batch 128, 182 epochs with /10 at 50% (see ``cifar10_resnet20``).

  python -m train --config train/configs/cifar100_resnet56.py --workdir runs/c100_r56 \\
      --config.data.data_dir=/data/cifar100
"""

import ml_collections

from train.configs import cifar10_resnet20


def get_config() -> ml_collections.ConfigDict:
    """ResNet-56, CIFAR-100."""
    c = cifar10_resnet20.get_config()
    c.data.name = "cifar100"
    c.data.data_dir = ""  # user-given: not available offline here
    c.model.name = "resnet56"
    return c
