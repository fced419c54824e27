"""Goodfellow et al.'s MLP GAN on Fashion-MNIST (32x32, padded), non-saturating loss.

Generator: ReLU MLP (512, 512) -> tanh; discriminator: maxout MLP (240x5, 240x5) with
dropout (the paper's MNIST discriminator); Adam 2e-4 / beta1 0.5 for both.

  python -m train --config train/configs/fashion_mnist_gan.py --workdir runs/fmnist_gan \
      --config.data.data_dir=../shared/data

GPU: the paper's generator widths ``--config.gan.generator.hidden='(1200, 1200)'`` and
``--config.train.num_epochs=50``.
"""

import ml_collections

from train.configs import fashion_mnist_dcgan


def get_config() -> ml_collections.ConfigDict:
    """MLP GAN on Fashion-MNIST, CPU budget."""
    c = fashion_mnist_dcgan.get_config()
    c.model.name = "mlp_gan"
    c.gan.generator = ml_collections.ConfigDict({"hidden": (512, 512)})
    c.gan.discriminator = ml_collections.ConfigDict({"hidden": (240, 240), "maxout_pieces": 5})
    return c
