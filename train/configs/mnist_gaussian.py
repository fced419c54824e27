"""The Gaussian model of MNIST (28x28).

python -m train --config train/configs/mnist_gaussian.py --workdir runs/mnist_gauss
"""

import ml_collections

from train.configs import fashion_mnist_gaussian


def get_config() -> ml_collections.ConfigDict:
    """Gaussian model on MNIST."""
    c = fashion_mnist_gaussian.get_config()
    c.data.name = "mnist"
    c.gan.fid_classifier = "mnist_fid_lenet5"
    return c
