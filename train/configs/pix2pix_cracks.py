"""pix2pix on the offline crack data: crack mask -> surface image, 64x64 grey.

The inverse of the segmentation task: G draws a plausible textured surface around a
given crack mask (``gan.condition='mask'``: the masks of ``data.name='cracks'``,
``jaxdl.data.cracks``, as a 0/255 input image). Same networks and objective as
``pix2pix_edges.py`` (U-Net G with dropout, PatchGAN D on the (mask, image) pair, L1
weight 100, Adam 2e-4 / beta1 0.5), one level deeper for the larger images. CPU
budget: 1,000 steps at batch 16.

  python -m train --config train/configs/pix2pix_cracks.py --workdir runs/pix2pix_cracks

``samples.png`` shows rows of (mask, generated, real) for test images.
"""

import ml_collections

from train.configs import pix2pix_edges


def get_config() -> ml_collections.ConfigDict:
    """pix2pix crack mask -> surface, CPU budget."""
    c = pix2pix_edges.get_config()
    c.data.name = "cracks"
    c.data.train_split = "train[:16000]"
    c.data.val_split = "val[:64]"
    c.data.test_split = "test[:64]"
    c.segmentation.image_size = 64
    c.gan.condition = "mask"
    c.gan.generator = ml_collections.ConfigDict({"depth": 3, "base_width": 16, "dropout_rate": 0.5})
    c.gan.discriminator = ml_collections.ConfigDict({"base_width": 16, "num_layers": 2})
    c.gan.fid_classifier = ""  # no crack classifier: judge the samples by eye
    c.train.batch_size = 16
    c.train.eval_batch_size = 64  # the 64 validation / test pairs in one batch
    c.train.num_epochs = 1
    c.train.max_steps = 1000
    return c
