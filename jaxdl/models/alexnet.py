"""AlexNet (Krizhevsky et al. 2012) and ZFNet (Zeiler & Fergus 2013).

One module family: ZFNet is AlexNet with a 7x7/2 first layer and a stride-2 second
layer, so it subclasses ``AlexNet`` and changes only the geometry fields.

References:
  Krizhevsky, Sutskever, Hinton. ImageNet classification with deep convolutional
  neural networks. NeurIPS 2012 (section 3: ReLU, LRN, overlapping pooling;
  section 4.2: dropout; section 5: initialization).
  Zeiler, Fergus. Visualizing and understanding convolutional networks. ECCV 2014,
  arXiv:1311.2901 (figure 3: the architecture).
  Krizhevsky. One weird trick for parallelizing convolutional neural networks.
  arXiv:1404.5997, 2014 (torchvision's ``alexnet`` layout).
"""

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.nn.initializers import he, xavier
from jaxdl.nn.layers import ConvBN, LocalResponseNorm

__all__ = ["AlexNet", "ZFNet"]


class AlexNet(nn.Module):
    """AlexNet: 5 conv + 3 FC layers, ReLU, LRN, overlapping max-pooling, dropout.

    Single-tower layout (the paper's two GPU halves merged; ``two_towers=True``
    restores the paper's grouped conv2/conv4/conv5, which connect only within a GPU):

    ======  ==============================  ==============  =====================
    layer   operation                       output (227^2)  parameters (merged)
    ======  ==============================  ==============  =====================
    conv1   11x11/4, 96, ReLU, LRN          55x55x96        11*11*3*96+96 = 34,944
    pool1   3x3/2 max (overlapping)         27x27x96
    conv2   5x5/1 pad 2, 256, ReLU, LRN     27x27x256       5*5*96*256+256 = 614,656
    pool2   3x3/2 max                       13x13x256
    conv3   3x3/1 pad 1, 384, ReLU          13x13x384       885,120
    conv4   3x3/1 pad 1, 384, ReLU          13x13x384       1,327,488
    conv5   3x3/1 pad 1, 256, ReLU          13x13x256       884,992
    pool5   3x3/2 max                       6x6x256
    fc6     9216 -> 4096, ReLU, dropout .5  4096            37,752,832
    fc7     4096 -> 4096, ReLU, dropout .5  4096            16,781,312
    fc8     4096 -> 1000                    1000            4,097,000
    ======  ==============================  ==============  =====================

    Total 62,378,344 parameters (1000 classes); with ``two_towers=True`` 60,965,224
    (the paper's "60 million"). The paper states a 224x224 input, but its layer
    sizes need 227x227 (the usual correction), the default input shape here. LRN
    (``k=2, n=5, alpha=1e-4, beta=0.75``) follows the ReLU of conv1 and conv2; dropout
    follows the ReLU of fc6 and fc7 (inverted dropout: scaled at training time,
    identity at test time). Weights are He-initialised; ``paper_init=True`` uses the
    paper's N(0, 0.01) weights and bias 1 in conv2, conv4, conv5, fc6 and fc7.

    torchvision's ``alexnet`` is a different network, Krizhevsky's 2014 "one weird
    trick" single-GPU variant: filters 64-192-384-256-256, conv1 11x11/4 with padding
    2 on 224x224 inputs (-> 55x55), no LRN, dropout on the INPUTS of fc6 and fc7
    (61,100,840 parameters). It is this module with ``widths=(64, 192, 384, 256,
    256)``, ``conv1=(11, 4, 2)``, ``lrn=False``, ``dropout_before_fc=True``, the
    registry's ``alexnet_torchvision`` (what ``load_torchvision_weights`` fills).

    Attributes:
      num_classes: classifier outputs.
      dropout_rate: drop probability in fc6/fc7 (0.5 in the paper).
      hidden_features: width of fc6/fc7 (4096).
      two_towers: paper's grouped convolutions (2 groups) in conv2, conv4, conv5.
      paper_init: the paper's initialization instead of He's.
      dtype: compute dtype (parameters float32; logits returned in float32).
      conv1, conv2: (kernel, stride, padding) of the first two convolutions.
      pool_padding: padding of the three max pools.
      widths: filters of conv1..conv5 ((96, 256, 384, 384, 256) in the paper).
      lrn: LRN after the ReLUs of conv1 and conv2.
      dropout_before_fc: dropout on the inputs of fc6/fc7 (torchvision) instead of
        on their outputs (the paper); identical at test time.

    Example:
      >>> model = AlexNet(num_classes=1000)
      >>> images, key = jnp.zeros((2, 227, 227, 3)), jax.random.key(0)
      >>> variables = jax.eval_shape(lambda: model.init(key, images, train=False))  # shapes only
      >>> sum(p.size for p in jax.tree.leaves(variables["params"]))
      62378344
      >>> logits = jax.eval_shape(
      ...     lambda v: model.apply(v, images, train=True, rngs={"dropout": key}), variables
      ... )
      >>> logits.shape, logits.dtype
      ((2, 1000), dtype('float32'))
    """

    num_classes: int = 1000
    dropout_rate: float = 0.5
    hidden_features: int = 4096
    two_towers: bool = False
    paper_init: bool = False
    dtype: Any = jnp.float32
    # Geometry: (kernel, stride, padding) of conv1 and conv2, max-pool paddings.
    conv1: tuple[int, int, int] = (11, 4, 0)
    conv2: tuple[int, int, int] = (5, 1, 2)
    pool_padding: tuple[int, int, int] = (0, 0, 0)
    # Filters of conv1..conv5, LRN after conv1/conv2, dropout before (not after) fc6/fc7.
    widths: tuple[int, int, int, int, int] = (96, 256, 384, 384, 256)
    lrn: bool = True
    dropout_before_fc: bool = False
    # Layers whose bias the paper initialises to 1 (with ``paper_init``).
    bias_one: ClassVar[tuple[str, ...]] = ("conv2", "conv4", "conv5", "fc6", "fc7")

    def _inits(self, name: str):
        if not self.paper_init:
            return he(), nn.initializers.zeros
        bias = nn.initializers.ones if name in self.bias_one else nn.initializers.zeros
        return nn.initializers.normal(0.01), bias

    def _conv(self, features, kernel, stride, padding, name, groups=1):
        kinit, binit = self._inits(name)
        return ConvBN(
            features,
            kernel,
            stride,
            padding=padding,
            batch_norm=False,
            feature_group_count=groups,
            kernel_init=kinit,
            bias_init=binit,
            dtype=self.dtype,
            name=name,
        )

    def _dense(self, features, name):
        kinit, binit = self._inits(name)
        if name == "fc8" and not self.paper_init:
            kinit = xavier()  # linear output layer: variance 1/N
        return nn.Dense(features, kernel_init=kinit, bias_init=binit, dtype=self.dtype, name=name)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        g = 2 if self.two_towers else 1
        p1, p2, p5 = (((p, p), (p, p)) for p in self.pool_padding)
        w1, w2, w3, w4, w5 = self.widths
        norm = LocalResponseNorm(dtype=self.dtype) if self.lrn else (lambda y: y)
        drop = nn.Dropout(self.dropout_rate, deterministic=not train)
        x = x.astype(self.dtype)
        x = norm(self._conv(w1, *self.conv1, "conv1")(x, train))  # [B, 55, 55, 96]
        x = nn.max_pool(x, (3, 3), (2, 2), padding=p1)  # [B, 27, 27, 96]
        x = norm(self._conv(w2, *self.conv2, "conv2", groups=g)(x, train))  # [B, 27, 27, 256]
        x = nn.max_pool(x, (3, 3), (2, 2), padding=p2)  # [B, 13, 13, 256]
        x = self._conv(w3, 3, 1, 1, "conv3")(x, train)  # [B, 13, 13, 384]
        x = self._conv(w4, 3, 1, 1, "conv4", groups=g)(x, train)
        x = self._conv(w5, 3, 1, 1, "conv5", groups=g)(x, train)  # [B, 13, 13, 256]
        x = nn.max_pool(x, (3, 3), (2, 2), padding=p5)  # [B, 6, 6, 256]
        x = x.reshape(x.shape[0], -1)  # [B, 9216]
        for name in ("fc6", "fc7"):
            x = drop(x) if self.dropout_before_fc else x
            x = nn.relu(self._dense(self.hidden_features, name)(x))
            x = x if self.dropout_before_fc else drop(x)
        return self._dense(self.num_classes, "fc8")(x).astype(jnp.float32)  # [B, classes]


class ZFNet(AlexNet):
    """ZFNet: AlexNet with a 7x7/2 conv1 and a stride-2 conv2, on 224x224 inputs.

    Zeiler & Fergus (figure 3), dense (single-GPU) connections throughout:

    ======  ====================================  ===========  ==========================
    layer   operation                             output       parameters
    ======  ====================================  ===========  ==========================
    conv1   7x7/2 pad 1, 96, ReLU, LRN            110x110x96   7*7*3*96+96 = 14,208
    pool1   3x3/2 pad 1 max                       55x55x96
    conv2   5x5/2, 256, ReLU, LRN                 26x26x256    614,656
    pool2   3x3/2 pad 1 max                       13x13x256
    conv3-5 as AlexNet                            13x13x256    3,097,600
    pool5   3x3/2 max                             6x6x256
    fc6-8   as AlexNet (dropout 0.5)              1000         58,631,144
    ======  ====================================  ===========  ==========================

    Total 62,357,608 parameters (1000 classes). The smaller first-layer filters and
    stride were the paper's fix for the aliasing and dead filters its DeconvNet
    visualizations exposed in AlexNet's first two layers. The paper normalizes each
    first-layer filter's RMS above 0.1 (filter renormalization); that is an optimizer
    constraint, not part of the model. ``paper_init`` gives weights N(0, 0.01), biases 0.

    Attributes: as ``AlexNet`` (``two_towers`` is False in the paper).

    Example:
      >>> model = ZFNet(num_classes=1000)
      >>> x = jnp.ones((1, 224, 224, 3))
      >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
      >>> sum(p.size for p in jax.tree.leaves(variables["params"]))
      62357608
      >>> variables["params"]["conv1"]["conv"]["kernel"].shape  # 7x7 filters
      (7, 7, 3, 96)
    """

    conv1: tuple[int, int, int] = (7, 2, 1)
    conv2: tuple[int, int, int] = (5, 2, 0)
    pool_padding: tuple[int, int, int] = (1, 1, 0)
    bias_one: ClassVar[tuple[str, ...]] = ()
