"""The Gaussian model of Fashion-MNIST (28x28): mean, covariance, all components.

Fitted in closed form (no training loop): eigen-images, samples ``mu + E Lambda^1/2 z``,
held-out log-likelihood (probabilistic PCA) and classifier-FID.

  python -m train --config train/configs/fashion_mnist_gaussian.py --workdir runs/fmnist_gauss \
      --config.data.data_dir=../shared/data
"""

import ml_collections

from train.configs import fashion_mnist_dcgan


def get_config() -> ml_collections.ConfigDict:
    """Gaussian model on Fashion-MNIST."""
    c = fashion_mnist_dcgan.get_config()
    c.model.name = "gaussian"
    c.gan.generator = ml_collections.ConfigDict()
    c.gan.discriminator = ml_collections.ConfigDict()
    c.gan.gaussian_components = 0  # all; e.g. 64 keeps the top 64 eigen-images
    return c
