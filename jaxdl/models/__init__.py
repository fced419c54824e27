"""The course's architectures as Flax linen modules, behind one registry.

Example:
  >>> from jaxdl import models
  >>> model = models.create("lenet5", num_classes=10)
  >>> models.default_input_shape("lenet5")
  (32, 32, 1)
"""

from jaxdl.models.registry import create, default_input_shape, names
from jaxdl.models.torchvision_weights import load_torchvision_weights

__all__ = ["create", "default_input_shape", "load_torchvision_weights", "names"]
