"""Transfer learning: torchvision's ImageNet ResNet-18 fine-tuned on your image folder.

The course's recipe "use a publicly available model, replace the classifier": the
trunk starts from torchvision's ImageNet weights (``model.init_from``, the downloaded
``resnet18-f37072fd.pth`` from https://download.pytorch.org/models/, converted by
``jaxdl.models.load_torchvision_weights``), the 1000-way ``fc`` is replaced by a
fresh one sized to the folder's classes, and everything is fine-tuned with a small
learning rate. A run resumed from its own checkpoint keeps it (the file is not read).

Data: ``root/<class>/*.jpg|png`` (or ``root/train/<class>/...``) of RGB images of one
size (ideally 224x224, the pretraining resolution; global average pooling accepts
others); 90% train / 10% validation. With ``init_from`` set, inputs are normalized
with ImageNet's mean and std, as the pretrained weights expect. Reading a ``.pth``
needs PyTorch; an ``.npz`` of the state_dict (``np.savez``) does not.

  python -m train --config train/configs/image_folder_resnet18_torchvision.py \\
      --workdir runs/ft_resnet18 --config.data.name=image_folder:/data/flowers \\
      --config.model.init_from=/data/resnet18-f37072fd.pth

References:
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016.
  Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural
  networks? NeurIPS 2014.
"""

import ml_collections

from train.configs import defaults


def get_config() -> ml_collections.ConfigDict:
    """ResNet-18 from torchvision's ImageNet weights, fine-tuned on an image folder."""
    c = defaults.get_config()
    c.data.name = "image_folder:images"  # user-given: --config.data.name=image_folder:<path>
    c.data.train_split = "train[:90%]"
    c.data.val_split = "train[90%:]"
    c.data.test_split = ""
    c.data.augment = "horizontal_flip()"
    c.model.name = "resnet18"
    c.model.init_from = "resnet18-f37072fd.pth"  # user-given: the downloaded file
    # Fine-tuning: a tenth of the from-scratch rate, momentum 0.9, light weight decay.
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 0.01
    c.optimizer.kwargs = ml_collections.ConfigDict({"rho": 0.9, "weight_decay": 1e-4})
    c.train.batch_size = 64
    c.train.eval_batch_size = 256
    c.train.num_epochs = 10
    c.train.log_every_steps = 10
    return c
