"""Readers for the original dataset formats; each returns numpy arrays.

Every reader returns ``{'image': uint8 [N, H, W, C], 'label': int32 [N]}`` (CIFAR-100
also ``'coarse_label'``) in the order the examples are stored in the files. Most users
call ``jaxdl.data.load`` instead, which finds the files and slices the split.
"""

from jaxdl.data.readers.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_COARSE_CLASSES,
    read_cifar10_binary,
    read_cifar10_python,
    read_cifar100_binary,
    read_cifar100_python,
)
from jaxdl.data.readers.idx import FASHION_MNIST_CLASSES, IDX_FILES, read_idx, read_idx_dataset
from jaxdl.data.readers.image_folder import (
    IMAGE_EXTENSIONS,
    SPLIT_NAMES,
    cache_dir,
    read_image_folder,
)
from jaxdl.data.readers.stl10 import STL10_CLASSES, read_stl10
from jaxdl.data.readers.svhn import SVHN_CLASSES, SVHN_FILES, read_svhn_mat
