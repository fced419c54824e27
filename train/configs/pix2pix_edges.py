"""pix2pix on Fashion-MNIST: Sobel edge map -> image, 28x28.

U-Net generator (depth 2, base width 16, BN, dropout 0.5 at the bottom), PatchGAN
discriminator on the (edges, image) pair with 1 stride-2 layer (16x16 patches, a 14x14
map of logits), L1 weight 100, Adam 2e-4 / beta1 0.5. CPU budget: batch 16 (the paper
used 1-10), 2000 steps on the first 32,000 training images.

  python -m train --config train/configs/pix2pix_edges.py --workdir runs/pix2pix_edges \
      --config.data.data_dir=../shared/data

GPU (CIFAR-10 edges -> image): ``--config.data.name=cifar10 --config.data.train_split=train
--config.train.batch_size=64 --config.gan.generator.depth=3 --config.gan.generator.base_width=64
--config.gan.discriminator.base_width=64 --config.gan.discriminator.num_layers=2
--config.train.num_epochs=20``.
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
    c.gan.discriminator = ml_collections.ConfigDict({"base_width": 16, "num_layers": 1})
    c.data.train_split = "train[:32000]"
    c.gan.num_samples = 24  # 3 groups of (edges, generated, target) rows
    c.train.batch_size = 16
    c.train.num_epochs = 1
    return c
