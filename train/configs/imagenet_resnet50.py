"""ResNet-50 on ImageNet (ILSVRC-2012), streamed: ``tfds.data_source`` + grain.

Data: the TFDS ``imagenet2012`` dataset prepared in ARRAY_RECORD format (random
access) under ``data.data_dir`` ('' = ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
ImageNet is a manual download: put ``ILSVRC2012_img_train.tar`` and
``ILSVRC2012_img_val.tar`` in ``<data_dir>/downloads/manual`` and run once
``tfds build imagenet2012 --data_dir=<data_dir> --file_format=array_record``; an
unprepared dataset fails at once with that instruction. Splits are TFDS split strings:
1,268,355 training / 12,812 held-out validation images (``train[:99%]`` /
``train[99%:]``), test on the official 50,000 ``validation`` images.

Input (host side, per example, in grain; ``jaxdl.data.imagenet``): Inception
random-resized crop 224 + flip for training, shorter side 256 + centre 224 for
evaluation, standardised with the ImageNet channel statistics on device.

Optimisation (He et al. sec. 3.4; the step schedule of the common 90-epoch
reproduction): SGD momentum 0.9, lr 0.1 for batch 256, weight decay 1e-4, /10 every
30 epochs, 90 epochs. Expected about 76% top-1 (the paper's 10-crop figure is 77.1%).

  python -m train --config train/configs/imagenet_resnet50.py --workdir runs/in_r50 \\
      --config.data.data_dir=/data/tfds --config.model.dtype=bfloat16

References:
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016.
  Szegedy et al. Going deeper with convolutions. CVPR 2015 (random-resized crop).
"""

import ml_collections

from train.configs import defaults


def imagenet_data(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The streaming ImageNet data section shared by the imagenet_* configs."""
    c.data.name = "imagenet2012"
    c.data.data_dir = ""  # the TFDS data folder ('' = TFDS's default)
    c.data.train_split = "train[:99%]"
    c.data.val_split = "train[99%:]"
    c.data.test_split = "validation"
    c.data.image_size = 224
    c.data.train_crop = "random_resized"
    c.data.eval_resize = 256
    c.data.num_workers = 8
    return c


def sgd_step(c, lr: float, batch: int, wd: float, every: int, epochs: int, kappa: float = 0.1):
    """SGD with momentum 0.9, coupled weight decay and step decay by ``kappa`` every ``every``."""
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = lr
    c.optimizer.kwargs = ml_collections.ConfigDict({"rho": 0.9, "weight_decay": wd})
    c.optimizer.schedule = "step"
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict({"kappa": kappa, "every_epochs": every})
    c.train.batch_size = batch
    c.train.eval_batch_size = 1000
    c.train.num_epochs = epochs
    c.train.log_every_steps = 100
    c.train.best_metric = "val_accuracy"
    return c


def get_config() -> ml_collections.ConfigDict:
    """ResNet-50, ImageNet, 90 epochs."""
    c = imagenet_data(defaults.get_config())
    c.model.name = "resnet50"
    return sgd_step(c, lr=0.1, batch=256, wd=1e-4, every=30, epochs=90)
