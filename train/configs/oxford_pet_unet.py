"""U-Net on Oxford-IIIT Pet trimaps (pet / background / border), for users with internet.

The TFDS dataset ``oxford_iiit_pet`` (``jaxdl.data.seg_tfds``): images and trimaps
resized to 128x128 and held on device; 90% of TFDS's 'train' split for training, the
other 10% for validation, the 3,669 'test' images for the final evaluation. Padded
U-Net (depth 4, base width 32, BN), softmax cross-entropy + Dice, Adam with a cosine
decay; joint flips of image and mask. Sized for a GPU (about 29 steps per epoch at
batch 128); on a CPU lower ``segmentation.image_size`` and the widths.

  python -m train --config train/configs/oxford_pet_unet.py --workdir runs/pets \
      --config.data.download=True

Without internet: prepare it once in array_record format into a TFDS folder and pass
``--config.data.data_dir=<that folder>``.
"""

import ml_collections

from train.configs import cracks_unet


def get_config() -> ml_collections.ConfigDict:
    """Oxford-IIIT Pet segmentation: 3 classes, 128x128 RGB."""
    c = cracks_unet.get_config()
    c.data.name = "tfds:oxford_iiit_pet"
    c.data.train_split = "train[:90%]"
    c.data.val_split = "train[90%:]"
    c.data.test_split = "test"
    c.segmentation.image_size = 128
    c.segmentation.threshold_baseline = False  # a grey-level threshold has no meaning here
    c.model.kwargs = ml_collections.ConfigDict({"depth": 4, "base_width": 32, "batch_norm": True})
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "cosine"  # its own schedule, not the crack recipe's warm-up
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict({"decay_epochs": 20})
    c.train.batch_size = 128
    c.train.eval_batch_size = 128
    c.train.num_epochs = 20
    return c
