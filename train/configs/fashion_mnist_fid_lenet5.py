"""The classifier behind classifier-FID on Fashion-MNIST: LeNet-5, features of F6.

A short run (no distortions, 4 epochs of Adam, ~89% test accuracy) is enough: FID needs
features that separate the classes, not a record accuracy. Inputs padded to 32x32 like
the generated images.

  python -m train --config train/configs/fashion_mnist_fid_lenet5.py --workdir runs/fid
"""

import ml_collections

from train.configs import mnist_lenet5


def get_config() -> ml_collections.ConfigDict:
    """LeNet-5 feature network for classifier-FID on Fashion-MNIST."""
    c = mnist_lenet5.base_config()
    c.data.name = "fashion_mnist"
    c.data.augment = ""
    c.train.num_epochs = 4
    c.train.eval_batch_size = 1000
    return c
