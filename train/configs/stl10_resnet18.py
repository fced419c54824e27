"""ResNet-18 (the ImageNet layout) on STL-10's 5,000 labelled 96x96 training images.

STL-10 cannot be downloaded here: give the folder holding ``stl10_binary/`` (the
binary release: ``train_X.bin``, ``train_y.bin``, ``test_X.bin``, ``test_y.bin``) with
``--config.data.data_dir=/path`` or ``$JAXDL_DATA_DIR``. 4,500 training / 500
validation images (the unlabelled split is not used), test on the 8,000.

The stem (7x7/2 conv, 3x3/2 max pool) takes 96 -> 24, so the last stage is 3x3.
Augmentation: pad 12 (1/8 of the side, as CIFAR's 4 of 32) + random 96 crop + flip,
per-channel standardisation. SGD momentum 0.9, lr 0.1, weight decay 5e-4 (stronger
than CIFAR's 1e-4: 11M parameters on 4,500 images overfit), batch 128, 100 epochs
with /10 at 50%.

  python -m train --config train/configs/stl10_resnet18.py --workdir runs/stl10_resnet18 \\
      --config.data.data_dir=/data/stl10

References:
  Coates, Lee, Ng. An analysis of single-layer networks in unsupervised feature
  learning. AISTATS 2011 (STL-10).
"""

import ml_collections

from train.configs import cifar10_resnet20


def get_config() -> ml_collections.ConfigDict:
    """ResNet-18, STL-10."""
    c = cifar10_resnet20.get_config()
    c.data.name = "stl10"
    c.data.data_dir = ""  # user-given: not available offline here
    c.data.train_split = "train[:90%]"  # 4,500
    c.data.val_split = "train[90%:]"  # 500
    c.data.augment = "random_crop(padding=12), horizontal_flip()"
    c.model.name = "resnet18"
    c = cifar10_resnet20.cifar_recipe(c, num_epochs=100)
    c.optimizer.kwargs.weight_decay = 5e-4
    c.train.eval_batch_size = 500
    return c
