"""pix2pix on CMP facades (label map -> photo), the paper's setting, for a GPU.

Data: pix2pix's ``facades.tar.gz`` (download it from the authors' release and extract
it; 400 train / 100 val / 106 test pairs, each a 512x256 [photo | labels] JPEG), read
by ``jaxdl.data.readers.paired_folder`` with ``direction='BtoA'`` (labels -> photo,
as the paper trains facades). 256x256, U-Net G (7 levels of 2x down-sampling, base
width 64, dropout), 70x70 PatchGAN (3 stride-2 layers), L1 weight 100, Adam 2e-4 /
beta1 0.5, batch 1 as in the paper (here 8, the smallest that shards over 8 devices:
lower it on one device), 200 epochs.

  python -m train --config train/configs/pix2pix_facades.py --workdir runs/facades \
      --config.data.name=paired_folder:/data/facades
"""

import ml_collections

from train.configs import pix2pix_edges


def get_config() -> ml_collections.ConfigDict:
    """pix2pix facades, the paper's sizes."""
    c = pix2pix_edges.get_config()
    c.data.name = "paired_folder:facades"  # override with the extracted archive's path
    c.data.train_split = "train"
    c.data.val_split = "val"
    c.data.test_split = "test"
    c.segmentation.image_size = 256
    c.gan.condition = "paired"
    c.gan.paired_direction = "BtoA"
    c.gan.generator = ml_collections.ConfigDict({"depth": 7, "base_width": 64, "dropout_rate": 0.5})
    c.gan.discriminator = ml_collections.ConfigDict({"base_width": 64, "num_layers": 3})
    c.gan.fid_classifier = ""
    c.gan.num_samples = 24
    c.train.batch_size = 8
    c.train.eval_batch_size = 8
    c.train.num_epochs = 200
    c.train.max_steps = -1
    return c
