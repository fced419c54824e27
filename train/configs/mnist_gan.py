"""Goodfellow et al.'s MLP GAN on MNIST (28x28): the paper's setting, CPU-sized.

  python -m train --config train/configs/mnist_gan.py --workdir runs/mnist_gan

GPU: ``--config.gan.generator.hidden='(1200, 1200)' --config.train.num_epochs=50``.
"""

import ml_collections

from train.configs import fashion_mnist_gan


def get_config() -> ml_collections.ConfigDict:
    """MLP GAN on MNIST."""
    c = fashion_mnist_gan.get_config()
    c.data.name = "mnist"
    c.gan.fid_classifier = "mnist_fid_lenet5"
    return c
