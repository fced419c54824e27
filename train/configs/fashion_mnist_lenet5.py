"""LeNet-5 on Fashion-MNIST: the MNIST recipe on a harder 28x28 dataset.

Needs the Fashion-MNIST IDX files (``--config.data.data_dir=../shared/data`` here, or
$JAXDL_DATA_DIR, or ``apt-get install dataset-fashion-mnist``).
"""

import ml_collections

from train.configs import mnist_lenet5


def get_config() -> ml_collections.ConfigDict:
    """LeNet-5 on Fashion-MNIST."""
    c = mnist_lenet5.base_config()
    c.data.name = "fashion_mnist"
    c.train.num_epochs = 15
    return c
