"""Data: readers of the original formats, the dataset registry, streaming sources.

``load(name, split)`` returns a small dataset as numpy arrays (``DataSplit``). A
``data_dir`` you name (argument, else ``$JAXDL_DATA_DIR``) is the only place looked:
a folder without the dataset is an error listing what it holds, never a fallback;
with neither, the system folder, the embedded MNIST, then TFDS's folder. A dataset
found nowhere raises ``DatasetNotFoundError`` at once (``jaxdl.data.registry``).
``tfds_stream`` streams datasets too large for device memory through
``tfds.data_source`` and grain; ``jaxdl.data.imagenet``
adds ImageNet's crops (random-resized, VGG scale jittering, resize-256 centre-224) and
puts the batches on the mesh.

Example:
  >>> from jaxdl import data
  >>> train = data.load("mnist", "train[:90%]")
  >>> train.data["image"].shape, train.class_names[:3]
  ((54000, 28, 28, 1), ('0', '1', '2'))
"""

from jaxdl.data.readers import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_COARSE_CLASSES,
    FASHION_MNIST_CLASSES,
    STL10_CLASSES,
    SVHN_CLASSES,
    read_cifar10_binary,
    read_cifar10_python,
    read_cifar100_binary,
    read_cifar100_python,
    read_idx,
    read_idx_dataset,
    read_image_folder,
    read_stl10,
    read_svhn_mat,
)
from jaxdl.data.registry import DatasetNotFoundError, DataSplit, label_names, load, names
from jaxdl.data.splits import parse_split
from jaxdl.data.tfds_source import (
    center_crop_resize,
    make_stream,
    open_tfds_source,
    random_resized_crop,
    resize,
    sample_rrc_box,
    tfds_stream,
)
