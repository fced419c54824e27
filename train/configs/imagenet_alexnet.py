"""AlexNet on ImageNet, streamed, with the paper's own augmentation.

Krizhevsky et al. sec. 4.1: images rescaled to 256 on the shorter side, random 224
crops (227 here: the layer arithmetic needs 227) and horizontal flips -- i.e. scale
jittering with the single scale S = 256 (``train_crop='scale_jitter'``,
``scale_range=(256, 256)``); evaluation: the centre 227 crop of the 256 image (the
paper's 10-crop average is ``jaxdl.training.evaluation``'s TTA). Sec. 5: SGD, momentum
0.9, batch 128, weight decay 5e-4, lr 0.01 divided by 10 three times (on plateaus; here
every 30 epochs), 90 epochs. Dropout 0.5 and LRN are in the model. Data as in
``imagenet_resnet50`` (TFDS ``imagenet2012`` under ``data.data_dir``).

  python -m train --config train/configs/imagenet_alexnet.py --workdir runs/in_alexnet \\
      --config.data.data_dir=/data/tfds

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional
  neural networks. NeurIPS 2012.
"""

import ml_collections

from train.configs import defaults, imagenet_resnet50


def get_config() -> ml_collections.ConfigDict:
    """AlexNet, ImageNet, 90 epochs."""
    c = imagenet_resnet50.imagenet_data(defaults.get_config())
    c.data.image_size = 227
    c.data.train_crop = "scale_jitter"
    c.data.scale_range = (256, 256)
    c.model.name = "alexnet"
    return imagenet_resnet50.sgd_step(c, lr=0.01, batch=128, wd=5e-4, every=30, epochs=90)
