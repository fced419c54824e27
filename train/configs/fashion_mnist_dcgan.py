"""DCGAN (Radford et al. 2016) on Fashion-MNIST at 28x28.

CPU-sized: base width 32 in both players (G: z -> 7x7x64 -> 14x14x32 -> 28x28x1 with
4x4 stride-2 transposed convs; D mirrors it with strided convs), batch 64, Adam 2e-4 /
beta1 0.5, non-saturating loss, 2 epochs. Scored by classifier-FID with the LeNet-5 of
``fashion_mnist_fid_lenet5`` (which pads images to 32x32 itself).

  python -m train --config train/configs/fashion_mnist_dcgan.py --workdir runs/fmnist_dcgan \
      --config.data.data_dir=../shared/data

Larger settings for a GPU: 32x32 with the paper's depth (``--config.data.pad_to=32
--config.gan.generator.base_width=64 --config.gan.discriminator.base_width=64
--config.train.batch_size=128 --config.train.num_epochs=25``); the paper's 64x64 model
(``base_width=128``) needs 64x64 data, e.g. an ``image_folder:`` dataset.
"""

import ml_collections

from train.configs import defaults


def get_config() -> ml_collections.ConfigDict:
    """DCGAN on Fashion-MNIST, CPU budget."""
    c = defaults.get_config()
    c.task = "gan"
    c.data.name = "fashion_mnist"
    c.data.train_split = "train"
    c.data.val_split = ""  # a GAN has no validation metric to select on
    c.data.test_split = "test"
    c.data.pad_to = 0  # 28x28
    c.model.name = "dcgan"
    c.gan.latent_dim = 100
    c.gan.generator = ml_collections.ConfigDict({"base_width": 32})
    c.gan.discriminator = ml_collections.ConfigDict({"base_width": 32})
    c.gan.fid_classifier = "fashion_mnist_fid_lenet5"
    c.train.batch_size = 64
    c.train.eval_batch_size = 500
    c.train.num_epochs = 2
    c.train.log_every_steps = 100
    return c
