"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), faithful to the paper.

Layer table (input 32x32x1: MNIST's 28x28 padded by 2; ``f`` = 1.7159 tanh(2a/3)):

  =====  =====================================================  =======  ==========
  layer  operation                                              output   parameters
  =====  =====================================================  =======  ==========
  C1     conv 5x5, 6 maps, f                                    28x28x6  6*25+6 = 156
  S2     2x2 sum * coeff + bias per map, f                      14x14x6  6*2 = 12
  C3     conv 5x5, 16 maps, partial connections (Table I), f    10x10x16 60*25+16 = 1,516
  S4     2x2 sum * coeff + bias per map, f                      5x5x16   16*2 = 32
  C5     conv 5x5, 120 maps (full), f                           1x1x120  400*120+120 = 48,120
  F6     dense 84, f                                            84       120*84+84 = 10,164
  out    Euclidean RBF, 10 units (``head='rbf'``)               10       84*10 = 840 (fixed)
         or dense softmax (``head='softmax'``)                           84*10+10 = 850
  =====  =====================================================  =======  ==========

Trainable parameters up to F6: 60,000 (the paper's "about 60,000"), plus 850 for the
softmax head or 840 fixed RBF centres. Weights start uniform in +-2.4/F_in as in the
paper (appendix C). The paper reports 0.95% test error without distortions.

References:
  LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document
  recognition. Proceedings of the IEEE 86(11), 1998.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.nn import RBFOutput, lecun_tanh

# Table I of the paper: which S2 maps (rows) feed each C3 map (columns).
C3_TABLE = np.array(
    [
        [1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1],
        [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1],
        [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1],
        [0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1],
        [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1],
        [0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1],
    ],
    dtype=bool,
)  # [6, 16], 60 connections


def lecun_uniform_init(key, shape, dtype=jnp.float32):
    """U(-2.4/F, 2.4/F) with F the fan-in (the paper's appendix C)."""
    fan_in = int(np.prod(shape[:-1]))
    return jax.random.uniform(key, shape, dtype, -2.4 / fan_in, 2.4 / fan_in)


class Subsample(nn.Module):
    """LeNet's S layer: sum of each 2x2 block, times a trainable coefficient, plus a bias."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        coeff = self.param("coeff", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        s = nn.avg_pool(x, (2, 2), (2, 2)) * 4.0  # [B, H/2, W/2, C] block sums
        return s * coeff.astype(self.dtype) + bias.astype(self.dtype)


class SparseConv(nn.Module):
    """A valid conv whose input->output map connections follow a boolean table.

    Only the connected (in, out) kernel slices are parameters, so the parameter count
    is the paper's (C3: 60 * 25 + 16 = 1,516).
    """

    table: np.ndarray  # [C_in, C_out] bool
    kernel_size: int = 5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        cin, cout = self.table.shape
        rows, cols = np.nonzero(self.table)

        def init(key, shape, dtype=jnp.float32):
            # fan-in of output map j is k*k*(number of its inputs)
            fan = k * k * self.table.sum(0)[cols]  # [n_conn]
            u = jax.random.uniform(key, shape, dtype, -1.0, 1.0)
            return u * (2.4 / fan).astype(dtype)

        w = self.param("kernel", init, (k, k, len(rows)))  # [k, k, n_conn]
        b = self.param("bias", nn.initializers.zeros, (cout,))
        kernel = jnp.zeros((k, k, cin, cout), w.dtype).at[:, :, rows, cols].set(w)
        y = jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            kernel.astype(self.dtype),
            (1, 1),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y + b.astype(self.dtype)


class LeNet5(nn.Module):
    """LeNet-5 for 32x32x1 inputs (see the module docstring for the layer table).

    Attributes:
      num_classes: output units (10 digits).
      head: ``'softmax'`` (dense logits, the standard variant) or ``'rbf'`` (the paper's
        Euclidean RBF units; logits are the negated squared distances).
      dtype: compute dtype.

    Example:
      >>> model = LeNet5()
      >>> x = jnp.zeros((8, 32, 32, 1))
      >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
      >>> jax.eval_shape(lambda v: model.apply(v, x, train=False), variables).shape
      (8, 10)
      >>> sum(p.size for p in jax.tree.leaves(variables["params"]))  # 60,000 + the 850 of softmax
      60850
    """

    num_classes: int = 10
    head: str = "softmax"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.shape[1:3] != (32, 32):
            raise ValueError(
                f"LeNet-5 expects 32x32 inputs (MNIST padded by 2), got {x.shape[1:3]}; "
                "set data.pad_to=32 in the config."
            )
        if self.head not in ("softmax", "rbf"):
            raise ValueError(f"head must be 'softmax' or 'rbf', got {self.head!r}.")
        conv = dict(padding="VALID", dtype=self.dtype, kernel_init=lecun_uniform_init)
        x = x.astype(self.dtype)
        x = lecun_tanh(nn.Conv(6, (5, 5), name="C1", **conv)(x))  # [B, 28, 28, 6]
        x = lecun_tanh(Subsample(self.dtype, name="S2")(x))  # [B, 14, 14, 6]
        x = lecun_tanh(SparseConv(C3_TABLE, dtype=self.dtype, name="C3")(x))  # [B, 10, 10, 16]
        x = lecun_tanh(Subsample(self.dtype, name="S4")(x))  # [B, 5, 5, 16]
        x = lecun_tanh(nn.Conv(120, (5, 5), name="C5", **conv)(x))  # [B, 1, 1, 120]
        x = x.reshape((x.shape[0], -1))  # [B, 120]
        dense = dict(dtype=self.dtype, kernel_init=lecun_uniform_init)
        x = lecun_tanh(nn.Dense(84, name="F6", **dense)(x))  # [B, 84]
        if self.head == "rbf":
            return -RBFOutput(self.num_classes, name="output")(x)
        return nn.Dense(self.num_classes, name="output", **dense)(x)
