"""Compact StyleGAN (modulated/demodulated convs, noise, style mixing) on Fashion-MNIST, 32x32.

CPU-sized: z and w of 64, a 4-layer mapping network (lr multiplier 0.01), synthesis
widths 64-64-32-16 at 4-8-16-32, style mixing probability 0.9; judged by the same
DCGAN discriminator as ``fashion_mnist_dcgan`` (base width 32).

  python -m train --config train/configs/fashion_mnist_stylegan.py \
      --workdir runs/fmnist_stylegan --config.data.data_dir=../shared/data

GPU: ``--config.gan.generator.max_width=256 --config.gan.generator.base_width=64
--config.gan.generator.mapping_layers=8 --config.gan.latent_dim=256
--config.gan.generator.w_dim=256 --config.train.num_epochs=30``.
"""

import ml_collections

from train.configs import fashion_mnist_dcgan


def get_config() -> ml_collections.ConfigDict:
    """StyleGAN on Fashion-MNIST, CPU budget."""
    c = fashion_mnist_dcgan.get_config()
    c.model.name = "stylegan"
    c.gan.latent_dim = 64
    c.gan.generator = ml_collections.ConfigDict(
        {"w_dim": 64, "mapping_layers": 4, "base_width": 16, "max_width": 64, "mixing_prob": 0.9}
    )
    return c
