"""VGG-16 (configuration D) on ImageNet, streamed, with multi-scale training.

Simonyan & Zisserman sec. 3.1: training images rescaled to a random shorter side
S ~ U[256, 512] (scale jittering, ``train_crop='scale_jitter'``), random 224 crop,
horizontal flip; evaluation at Q = 256 (shorter side 256, centre 224 crop). SGD
momentum 0.9, batch 256, weight decay 5e-4, dropout 0.5 in the first two FC layers,
lr 0.01 divided by 10 three times (on plateaus; here every 25 epochs), 74 epochs.
The paper initialised the deep nets from shallower ones; He/Xavier initialisation
(what the model uses) makes that unnecessary (their footnote). Data as in
``imagenet_resnet50`` (TFDS ``imagenet2012`` under ``data.data_dir``).

  python -m train --config train/configs/imagenet_vgg16.py --workdir runs/in_vgg16 \\
      --config.data.data_dir=/data/tfds

References:
  Simonyan, Zisserman. Very deep convolutional networks for large-scale image
  recognition. ICLR 2015.
"""

import ml_collections

from train.configs import defaults, imagenet_resnet50


def get_config() -> ml_collections.ConfigDict:
    """VGG-16, ImageNet, 74 epochs with scale jittering."""
    c = imagenet_resnet50.imagenet_data(defaults.get_config())
    c.data.train_crop = "scale_jitter"
    c.data.scale_range = (256, 512)
    c.model.name = "vgg16"
    return imagenet_resnet50.sgd_step(c, lr=0.01, batch=256, wd=5e-4, every=25, epochs=74)
