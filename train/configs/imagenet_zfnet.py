"""ZFNet on ImageNet, streamed, with the paper's filter renormalization.

Zeiler & Fergus sec. 3 (Training Details): images resized to 256 on the shorter side,
the centre 256 square, random 224 sub-crops and horizontal flips (here: scale
jittering with the single scale S = 256, ``train_crop='scale_jitter'``,
``scale_range=(256, 256)``; a random 224 crop of the shorter-side-256 image); SGD on
mini-batches of 128, learning rate 1e-2, momentum 0.9, annealed by hand when the
validation error plateaus (here /10 every 25 epochs), 70 epochs; dropout 0.5 in fc6
and fc7 (in the model); all weights N(0, 1e-2) and biases 0 (``paper_init``); and
after every update "each filter in the convolutional layers whose RMS value exceeds
a fixed radius of 10^-1" is renormalized to that radius
(``optimizer.renormalize_filters=0.1``, ``jaxdl.optim.renormalize_filters``). The
paper names no weight decay. Their inputs were raw pixels minus the mean image
(roughly [-128, 128]); ours are standardized per channel, which changes what a
radius of 0.1 means relative to the signal. Evaluation: the centre crop (the
paper's 10-crop average: ``jaxdl.training.multicrop``). Data as in
``imagenet_resnet50`` (TFDS ``imagenet2012`` under ``data.data_dir``).

  python -m train --config train/configs/imagenet_zfnet.py --workdir runs/in_zfnet \\
      --config.data.data_dir=/data/tfds

References:
  Zeiler, Fergus. Visualizing and understanding convolutional networks. ECCV 2014,
  arXiv:1311.2901.
"""

import ml_collections

from train.configs import defaults, imagenet_resnet50


def get_config() -> ml_collections.ConfigDict:
    """ZFNet, ImageNet, 70 epochs, filter renormalization at RMS 0.1."""
    c = imagenet_resnet50.imagenet_data(defaults.get_config())
    c.data.image_size = 224
    c.data.train_crop = "scale_jitter"
    c.data.scale_range = (256, 256)
    c.model.name = "zfnet"
    c.model.kwargs = ml_collections.ConfigDict({"paper_init": True})
    c.optimizer.renormalize_filters = 0.1
    return imagenet_resnet50.sgd_step(c, lr=0.01, batch=128, wd=0.0, every=25, epochs=70)
