"""``fashion_mnist_stylegan`` with the R1 penalty on D (StyleGAN2's lazy regularisation).

R1 = ``gamma/2 E_x ||grad_x D(x)||^2`` on the real images, added to D's loss every 16
steps, multiplied by 16. gamma = 0.01, StyleGAN2-ADA's value for 32x32 CIFAR-10 (its
heuristic ``0.0002 * 32^2 / batch 64`` gives 0.003, the same order). Everything else as
``fashion_mnist_stylegan`` (same seed, data order and budget), so the two runs differ
only by the penalty.

  python -m train --config train/configs/fashion_mnist_stylegan_r1.py \
      --workdir runs/fmnist_stylegan_r1 --config.data.data_dir=../shared/data
"""

import ml_collections

from train.configs import fashion_mnist_stylegan


def get_config() -> ml_collections.ConfigDict:
    """StyleGAN + R1 on Fashion-MNIST, CPU budget."""
    c = fashion_mnist_stylegan.get_config()
    c.gan.r1_gamma = 0.01
    c.gan.r1_every = 16
    return c
