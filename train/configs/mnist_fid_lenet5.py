"""The classifier behind classifier-FID on MNIST: LeNet-5 (features of F6), 3 epochs.

python -m train --config train/configs/mnist_fid_lenet5.py --workdir runs/fid_mnist
"""

import ml_collections

from train.configs import fashion_mnist_fid_lenet5


def get_config() -> ml_collections.ConfigDict:
    """LeNet-5 feature network for classifier-FID on MNIST."""
    c = fashion_mnist_fid_lenet5.get_config()
    c.data.name = "mnist"
    c.train.num_epochs = 3
    return c
