"""VGG-11 with batch normalisation on CIFAR-10.

The VGG-A convolution stack with BN after every convolution; on 32x32 inputs the last
feature map is 1x1x512, and the classifier uses two hidden layers of 512 (instead of
4096: the usual CIFAR variant, 9.8M instead of 28.5M parameters) with dropout 0.5.
Weight decay 5e-4 rather than ResNet's 1e-4: VGG's large fully-connected layers
overfit CIFAR's 45k images and the common CIFAR VGG recipes use 5e-4. Otherwise the
CIFAR recipe of ``cifar10_resnet20`` (SGD momentum 0.9, lr 0.1, batch 128, pad-4 crop
+ flip), 160 epochs with /10 at 50%.

  python -m train --config train/configs/cifar10_vgg11_bn.py --workdir runs/cifar10_vgg11_bn

References:
  Simonyan, Zisserman. Very deep convolutional networks. ICLR 2015.
  Ioffe, Szegedy. Batch normalization. ICML 2015.
"""

import ml_collections

from train.configs import cifar10_resnet20


def get_config() -> ml_collections.ConfigDict:
    """VGG-11-BN, CIFAR-10."""
    c = cifar10_resnet20.get_config()
    c.model.name = "vgg11_bn"
    c.model.kwargs = ml_collections.ConfigDict({"classifier_widths": (512, 512)})
    c = cifar10_resnet20.cifar_recipe(c, num_epochs=160)
    c.optimizer.kwargs.weight_decay = 5e-4
    return c
