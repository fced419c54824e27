"""ResNet-20 on CIFAR-10: He et al.'s CIFAR recipe (sec. 4.2), the full 64k-iteration run.

Data: the CIFAR-10 found under ``data.data_dir`` (default ``../shared/data/cifar10_jpeg``,
the JPEG-re-encoded archive, relative to the repository root; accuracies come out a
little below published ones, see ../shared/data/README.md). Point it at the original
binary or python release with ``--config.data.data_dir=/path/to/cifar-10`` (or
``$JAXDL_DATA_DIR``); a missing dataset fails at once listing every folder looked in.
45,000 training / 5,000 validation images (He et al.'s split), test on the 10,000.

Augmentation (on device): pad 4 zero pixels, random 32x32 crop, horizontal flip;
inputs standardised per channel with the training split's mean and std.

Optimisation: SGD with momentum 0.9, lr 0.1, weight decay 1e-4 (the paper's; coupled L2
on the kernels), batch 128, 182 epochs = 64k iterations of 351 steps. The paper
divides the rate by 10 at 32k and 48k iterations (50% and 75%): the ``milestones``
schedule at epochs 91 and 136. Expected on a GPU: about 91-92% test accuracy (paper:
8.75% error), a few tenths lower on the JPEG copy.

  python -m train --config train/configs/cifar10_resnet20.py --workdir runs/cifar10_resnet20

References:
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016.
"""

import ml_collections

from train.configs import defaults

#: The folder the CIFAR-10 configs read by default (override with data.data_dir).
CIFAR10_DIR = "../shared/data/cifar10_jpeg"


def cifar_recipe(c: ml_collections.ConfigDict, num_epochs: int) -> ml_collections.ConfigDict:
    """He et al.'s CIFAR optimisation recipe: the rate /10 at 50% and 75% of ``num_epochs``."""
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 0.1
    c.optimizer.kwargs = ml_collections.ConfigDict({"rho": 0.9, "weight_decay": 1e-4})
    c.optimizer.schedule = "milestones"
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict(
        {"kappa": 0.1, "milestones": (max(1, num_epochs // 2), max(2, num_epochs * 3 // 4))}
    )
    c.train.batch_size = 128
    c.train.eval_batch_size = 1000
    c.train.num_epochs = num_epochs
    c.train.log_every_steps = 50
    return c


def get_config() -> ml_collections.ConfigDict:
    """ResNet-20, CIFAR-10, the paper's 64k iterations."""
    c = defaults.get_config()
    c.data.name = "cifar10"
    c.data.data_dir = CIFAR10_DIR
    c.data.train_split = "train[:90%]"  # 45,000
    c.data.val_split = "train[90%:]"  # 5,000
    c.data.test_split = "test"
    c.data.augment = "random_crop(padding=4), horizontal_flip()"
    c.model.name = "resnet20"
    return cifar_recipe(c, num_epochs=182)
