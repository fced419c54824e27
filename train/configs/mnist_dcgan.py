"""DCGAN on MNIST at 28x28, the Fashion-MNIST recipe.

python -m train --config train/configs/mnist_dcgan.py --workdir runs/mnist_dcgan
"""

import ml_collections

from train.configs import fashion_mnist_dcgan


def get_config() -> ml_collections.ConfigDict:
    """DCGAN on MNIST."""
    c = fashion_mnist_dcgan.get_config()
    c.data.name = "mnist"
    c.gan.fid_classifier = "mnist_fid_lenet5"
    return c
