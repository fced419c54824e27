"""Compact StyleGAN (modulated/demodulated convs, noise, style mixing) on Fashion-MNIST, 32x32.

Images zero-padded 28 -> 32 (the synthesis doubles from 4x4). CPU-sized: z and w of
64, a 4-layer mapping network (lr multiplier 0.01), synthesis widths 32-32-16-8 at
4-8-16-32, style mixing probability 0.9; judged by the DCGAN discriminator (base width
16, three strided convs at 32x32). The generator's learning rate is 2e-3, StyleGAN's:
with the equalised learning rate its weights are N(0, 1) scaled by 1/sqrt(fan_in) at
run time, so Adam moves them ~sqrt(fan_in) times less than a plain layer's at the same
rate (the DCGAN discriminator keeps 2e-4). The generator tracks the moving average
``w_avg`` of w (beta 0.995); the report scores and draws the truncation trick at
psi = 1.0, 0.7, 0.5 (``samples_psi*.png``). R1 is off here (``gan.r1_gamma=0``);
``fashion_mnist_stylegan_r1`` turns it on.

  python -m train --config train/configs/fashion_mnist_stylegan.py \
      --workdir runs/fmnist_stylegan --config.data.data_dir=../shared/data

GPU: ``--config.gan.generator.max_width=256 --config.gan.generator.base_width=64
--config.gan.generator.mapping_layers=8 --config.gan.latent_dim=256
--config.gan.generator.w_dim=256 --config.gan.discriminator.base_width=64
--config.train.num_epochs=30``.
"""

import ml_collections

from train.configs import fashion_mnist_dcgan


def get_config() -> ml_collections.ConfigDict:
    """StyleGAN on Fashion-MNIST, CPU budget."""
    c = fashion_mnist_dcgan.get_config()
    c.model.name = "stylegan"
    c.data.pad_to = 32
    c.gan.latent_dim = 64
    c.gan.generator = ml_collections.ConfigDict(
        {"w_dim": 64, "mapping_layers": 4, "base_width": 8, "max_width": 32, "mixing_prob": 0.9}
    )
    c.gan.discriminator = ml_collections.ConfigDict({"base_width": 16})
    c.gan.g_learning_rate = 2e-3
    c.gan.w_avg_beta = 0.995
    c.gan.truncation_psi = (1.0, 0.7, 0.5)
    return c
