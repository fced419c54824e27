"""On-device data augmentation (course section 3): batched, per-example random, pure, jit-able.

Modules: ``geometric`` (flip, crop, translate, rotate, zoom, affine), ``photometric``
(brightness, contrast, noise, cutout), ``pca_lighting`` (AlexNet's colour augmentation
along the training pixels' principal axes), ``crops`` (deterministic test-time crops) and
``compose`` (``AUGMENTATIONS``, ``build_augment``); every public name is re-exported here.

Every random op has the signature ``op(key, images, <hyperparameters>, *, masks=None)``
and draws one key per example from the batch key (``jax.random.split(key, B)``), so each
image gets its own flip/crop/angle. Hyperparameters are Python values (static under jit);
``key`` and ``images`` may be traced, so ops run inside the jitted train step.

Images are NHWC ``[B, H, W, C]``, either integer (``uint8`` in [0, 255]) or floating
(any range: [0, 1] or standardized). The output keeps the input dtype and shape:
arithmetic is done in float32 (or wider) and integer results are rounded and clipped to
the dtype's range; float results are never clipped (standardized data has no fixed
range). Photometric amounts (brightness delta, noise sigma) are fractions of the full
range: 1.0 for floats, 255 for ``uint8``. Geometric ops fill uncovered pixels with 0
(black for [0, 1]/uint8 data, the mean for standardized data).

Joint image + mask augmentation (segmentation): pass ``masks=`` (``[B, H, W]`` or
``[B, H, W, K]``, any dtype) and the op returns ``(images, masks)`` with the SAME random
parameters applied to both. Geometric ops (flip, crop, translate, rotate, zoom, affine) move the
mask like the image but sample it with nearest-neighbour interpolation (labels are never
blended) and fill uncovered pixels with 0; photometric ops and cutout leave masks alone.

``build_augment(spec)`` turns a config list such as
``[("random_crop", {"padding": 4, "mode": "reflect"}), ("horizontal_flip", {}),
("cutout", {"size": 8})]`` into ``fn(key, images, masks=None)``. The deterministic
test-time crops ``center_crop``, ``five_crop`` and ``ten_crop`` serve evaluation (TTA).

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional neural
  networks. NIPS 2012 (random crops + flips, 10-crop testing, PCA colour augmentation).
  Simard, Steinkraus, Platt. Best practices for convolutional neural networks applied to
  visual document analysis. ICDAR 2003 (affine distortions: rotation, scaling).
  DeVries, Taylor. Improved regularization of convolutional neural networks with cutout.
  arXiv:1708.04552, 2017.
"""

from jaxdl.data.augment.compose import AUGMENTATIONS, build_augment
from jaxdl.data.augment.crops import center_crop, five_crop, ten_crop
from jaxdl.data.augment.geometric import (
    affine,
    horizontal_flip,
    random_crop,
    rotate,
    translate,
    zoom,
)
from jaxdl.data.augment.pca_lighting import lighting_alphas, lighting_shift, pca_lighting
from jaxdl.data.augment.photometric import brightness, contrast, cutout, gaussian_noise

__all__ = [
    "AUGMENTATIONS",
    "affine",
    "brightness",
    "build_augment",
    "center_crop",
    "contrast",
    "cutout",
    "five_crop",
    "gaussian_noise",
    "horizontal_flip",
    "lighting_alphas",
    "lighting_shift",
    "pca_lighting",
    "random_crop",
    "rotate",
    "ten_crop",
    "translate",
    "zoom",
]
