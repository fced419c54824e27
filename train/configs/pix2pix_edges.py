"""pix2pix on Fashion-MNIST: Sobel edge map -> image, 32x32 (padded).

U-Net generator (depth 2, base width 16, BN, dropout 0.5 at the bottom), PatchGAN
discriminator on the (edges, image) pair with 2 stride-2 layers (34x34 receptive
field, i.e. the whole 32x32 image seen through overlapping patches), L1 weight 100,
Adam 2e-4 / beta1 0.5.

  python -m train --config train/configs/pix2pix_edges.py --workdir runs/pix2pix_edges \
      --config.data.data_dir=../shared/data

GPU (CIFAR-10 edges -> image): ``--config.data.name=cifar10 --config.data.pad_to=0
--config.gan.generator.depth=3 --config.gan.generator.base_width=64
--config.gan.discriminator.base_width=64 --config.train.num_epochs=20``.
"""

import ml_collections

from train.configs import fashion_mnist_dcgan


def get_config() -> ml_collections.ConfigDict:
    """pix2pix edges -> Fashion-MNIST image, CPU budget."""
    c = fashion_mnist_dcgan.get_config()
    c.model.name = "pix2pix"
    c.gan.condition = "sobel_edges"
    c.gan.l1_weight = 100.0
    c.gan.generator = ml_collections.ConfigDict({"depth": 2, "base_width": 16, "dropout_rate": 0.5})
    c.gan.discriminator = ml_collections.ConfigDict({"base_width": 16, "num_layers": 2})
    c.train.num_epochs = 1
    return c
