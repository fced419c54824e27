"""GoogLeNet (Inception v1) on ImageNet, streamed, with its auxiliary classifiers.

Szegedy et al. sec. 6: crops of 8%-100% of the image area with aspect ratio in
[3/4, 4/3] (the random-resized crop, which this recipe introduced) + flips; SGD with
momentum 0.9 and the rate decreased by 4% every 8 epochs (step schedule, kappa 0.96).
The paper does not give the initial rate, the batch size or the weight decay (it used
asynchronous SGD on a CPU cluster): lr 0.01, batch 256 and weight decay 2e-4 are the
usual synchronous choices. The two auxiliary losses are weighted 0.3
(``loss.aux_loss_weight``, the paper's) and dropped at test time. 120 epochs. Data
as in ``imagenet_resnet50`` (TFDS ``imagenet2012`` under ``data.data_dir``).

  python -m train --config train/configs/imagenet_googlenet.py --workdir runs/in_googlenet \\
      --config.data.data_dir=/data/tfds

References:
  Szegedy et al. Going deeper with convolutions. CVPR 2015.
"""

import ml_collections

from train.configs import defaults, imagenet_resnet50


def get_config() -> ml_collections.ConfigDict:
    """GoogLeNet, ImageNet, 120 epochs."""
    c = imagenet_resnet50.imagenet_data(defaults.get_config())
    c.model.name = "googlenet"
    c.loss.aux_loss_weight = 0.3
    return imagenet_resnet50.sgd_step(
        c, lr=0.01, batch=256, wd=2e-4, every=8, epochs=120, kappa=0.96
    )
