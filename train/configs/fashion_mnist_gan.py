"""Goodfellow et al.'s MLP GAN on Fashion-MNIST (28x28), non-saturating loss, 2 epochs.

Generator: ReLU MLP (512, 512) -> tanh; discriminator: maxout MLP (240x5, 240x5) with
dropout (the paper's MNIST discriminator). Adam 1e-3 / beta1 0.5 for both (the paper
used SGD with momentum; DCGAN's 2e-4 is ~3x slower to give recognisable MLP samples in
this 2-epoch CPU budget).

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
    c.gan.g_learning_rate = 1e-3
    c.gan.d_learning_rate = 1e-3
    return c
