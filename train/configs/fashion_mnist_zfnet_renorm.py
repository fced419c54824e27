"""ZFNet with the paper's filter renormalization, CPU-sized, on Fashion-MNIST.

Zeiler & Fergus's recipe (section 3): SGD with momentum 0.9, learning rate 1e-2,
batch 128, dropout 0.5 in fc6/fc7, and after every update each convolution filter
whose RMS exceeds 0.1 is scaled back to RMS 0.1 (``optimizer.renormalize_filters``;
0 turns it off). The ZFNet geometry (7x7/2 conv1, 5x5/2 conv2, 96-256-384-384-256
filters) needs at least 64x64 inputs, so the 28x28 grey images are zero-padded to 64
(a 1x1 map after pool5) and fc6/fc7 are 256 wide instead of 4096. It shows the
constraint at work, not the paper's ImageNet numbers.

Needs the Fashion-MNIST IDX files (``--config.data.data_dir=../shared/data`` here, or
$JAXDL_DATA_DIR):

  python -m train --config train/configs/fashion_mnist_zfnet_renorm.py \\
      --workdir runs/fashion_mnist_zfnet_renorm
"""

import ml_collections

from train.configs import defaults


def get_config() -> ml_collections.ConfigDict:
    """ZFNet (64x64 input, 256-wide fc) with filter renormalization at radius 0.1."""
    c = defaults.get_config()
    c.data.name = "fashion_mnist"
    c.data.train_split = "train[:55000]"
    c.data.val_split = "train[55000:]"
    c.data.pad_to = 64
    c.data.augment = "horizontal_flip()"
    c.model.name = "zfnet"
    c.model.kwargs = ml_collections.ConfigDict({"hidden_features": 256})
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 1e-2
    c.optimizer.kwargs = ml_collections.ConfigDict({"rho": 0.9})
    c.optimizer.renormalize_filters = 0.1
    c.train.batch_size = 128
    c.train.eval_batch_size = 500
    c.train.num_epochs = 3
    return c
