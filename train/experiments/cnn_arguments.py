"""The course's two parameter arguments, measured on the actual Flax modules.

1. VGG's 3x3 stacks (Simonyan & Zisserman, sec. 2.3): three stacked 3x3 convolutions
   with C channels see a 7x7 window, like one 7x7 convolution, with 3 * 9 C^2 = 27 C^2
   weights instead of 49 C^2 (and three non-linearities instead of one).
2. GoogLeNet's 1x1 reductions (Szegedy et al., sec. 4): inception 3a (28x28x192 input)
   computes its 5x5 branch as 1x1 192->16 then 5x5 16->32 instead of 5x5 192->32;
   the whole module against the naive module of their fig. 2(a) (no reductions, the
   pooled input concatenated as is).

Everything in the table comes from the code: parameter counts from ``init`` of the
``jaxdl.nn.ConvBN`` / ``jaxdl.models.googlenet.Inception`` modules; multiply-adds
counted as (output pixels) x (kernel weights) of every convolution found in the
initialised parameters; XLA's cost analysis (``jit(...).lower().compile()
.cost_analysis()['flops']``, 2 per multiply-add plus ReLU / pooling) as a check; the
receptive field as the support of the gradient of one output pixel w.r.t. the input.
The formula columns (27 C^2, 49 C^2, ...) are typed from the papers, for comparison.

  python -m train.experiments.cnn_arguments        # seconds; writes docs/cnn_zoo.md

References:
  Simonyan, Zisserman. Very deep convolutional networks. ICLR 2015.
  Szegedy et al. Going deeper with convolutions. CVPR 2015 (fig. 2, table 1).
"""

import argparse
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.models.googlenet import INCEPTION_TABLE, Inception
from jaxdl.nn.layers import ConvBN
from train import experiments as ex


class ConvStack(nn.Module):
    """Stacked same-padded ``ConvBN`` convolutions without BN (VGG's units, ReLU between).

    ``ConvStack((C, C, C), (3, 3, 3))`` vs ``ConvStack((C,), (7,))``.
    """

    features: Sequence[int]
    kernels: Sequence[int]
    relu: bool = True
    use_bias: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for i, (c, k) in enumerate(zip(self.features, self.kernels)):
            x = ConvBN(c, k, batch_norm=False, use_bias=self.use_bias, relu=self.relu,
                       name=f"conv{i}")(x, train)  # fmt: skip
        return x


class NaiveInception(nn.Module):
    """Szegedy et al. fig. 2(a): 1x1 | 3x3 | 5x5 convs and 3x3 max pool, no 1x1 reductions."""

    c1: int
    c3: int
    c5: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        b1 = ConvBN(self.c1, 1, batch_norm=False, name="b1")(x, train)
        b3 = ConvBN(self.c3, 3, batch_norm=False, name="b3")(x, train)
        b5 = ConvBN(self.c5, 5, batch_norm=False, name="b5")(x, train)
        pooled = nn.max_pool(x, (3, 3), (1, 1), padding="SAME")
        return jnp.concatenate([b1, b3, b5, pooled], axis=-1)


class Measure(dict):
    """params, conv weights, multiply-adds, XLA flops of one module (a dict)."""


def measure(module: nn.Module, shape: tuple[int, int, int], prefix: str = "") -> Measure:
    """Counts ``module``'s parameters and multiply-adds on a ``[1, *shape]`` input.

    Multiply-adds: every conv kernel ``[k, k, cin, cout]`` whose path starts with
    ``prefix`` times the pixels of its output (same padding, stride 1: the input's H x W).
    """
    x = jnp.zeros((1, *shape), jnp.float32)
    variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, False))  # shapes
    leaves = jax.tree_util.tree_leaves_with_path(variables["params"])

    def keep(path):
        return jax.tree_util.keystr(path).startswith(f"['{prefix}") if prefix else True

    params = sum(int(np.prod(v.shape)) for p, v in leaves if keep(p))
    kernels = [v for p, v in leaves if keep(p) and v.ndim == 4]
    weights = sum(int(np.prod(k.shape)) for k in kernels)
    macs = shape[0] * shape[1] * weights
    fn = jax.jit(lambda v, x: module.apply(v, x, False))
    cost = fn.lower(variables, x).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return Measure(params=params, weights=weights, macs=macs, xla_flops=float(cost["flops"]))


def receptive_field(module: nn.Module, shape: tuple[int, int, int]) -> int:
    """Side of the input window that the centre output pixel depends on (gradient support)."""
    x = jnp.ones((1, *shape), jnp.float32)
    h, w = shape[0] // 2, shape[1] // 2

    @jax.jit  # one program (op by op, init and grad compile every primitive apart)
    def input_gradient(x):
        variables = module.init(jax.random.PRNGKey(1), x, False)
        variables = jax.tree.map(jnp.abs, variables)  # positive weights: no cancellation
        return jax.grad(lambda x: module.apply(variables, x, False)[0, h, w].sum())(x)

    g = np.abs(np.asarray(input_gradient(x)[0].sum(-1)))  # [H, W]
    rows = np.nonzero(g.sum(1))[0]
    return int(rows.max() - rows.min() + 1)


def stack_rows(channels: Sequence[int], size: int = 28) -> list[list[Any]]:
    """Table rows: three 3x3 vs one 7x7 convolution at each channel count.

    The receptive field does not depend on C: it is measured once, with 4 channels.
    """
    rf3 = receptive_field(ConvStack((4, 4, 4), (3, 3, 3)), (size, size, 4))
    rf7 = receptive_field(ConvStack((4,), (7,)), (size, size, 4))
    rows = []
    for c in channels:
        m3 = measure(ConvStack((c, c, c), (3, 3, 3), relu=False), (size, size, c))
        m7 = measure(ConvStack((c,), (7,), relu=False), (size, size, c))
        rows.append(
            [c, f"{m3['params']:,}", f"{27 * c * c:,}", f"{m7['params']:,}", f"{49 * c * c:,}"]
            + [f"{m3['params'] / m7['params']:.3f}", f"{rf3}x{rf3}", f"{rf7}x{rf7}"]
            + [f"{m3['xla_flops'] / 1e6:.1f}", f"{m7['xla_flops'] / 1e6:.1f}"]
        )
    return rows


def inception_rows(name: str = "3a", size: int = 28, cin: int = 192) -> list[list[Any]]:
    """Table rows: inception ``name``'s 5x5 branch and whole module, with and without 1x1s.

    The reduced branch's parameters and multiply-adds are those of the ``b5_reduce`` and
    ``b5`` convolutions inside the ``Inception`` module; its XLA FLOPs are measured on
    the same two convolutions built alone (the cost analysis sees whole programs).
    """
    c1, c3r, c3, c5r, c5, proj = INCEPTION_TABLE[name]
    module = Inception(c1, c3r, c3, c5r, c5, proj)
    shape = (size, size, cin)
    branch = measure(module, shape, "b5")
    branch["xla_flops"] = measure(ConvStack((c5r, c5), (1, 5), use_bias=True), shape)["xla_flops"]
    rows = []
    for label, m, formula in (
        (f"{name} 5x5 branch, 1x1 reduction ({cin}->{c5r}->{c5})", branch,
         size * size * (cin * c5r + 25 * c5r * c5)),
        (f"{name} 5x5 branch, no reduction ({cin}->{c5})",
         measure(ConvStack((c5,), (5,), use_bias=True), shape), size * size * 25 * cin * c5),
        (f"{name} whole module (table 1)", measure(module, shape),
         size * size * (cin * (c1 + c3r + c5r + proj) + 9 * c3r * c3 + 25 * c5r * c5)),
        (f"{name} naive module, fig. 2(a)", measure(NaiveInception(c1, c3, c5), shape),
         size * size * cin * (c1 + 9 * c3 + 25 * c5)),
    ):  # fmt: skip
        rows.append(
            [label, f"{m['params']:,}", f"{m['weights']:,}", f"{m['macs'] / 1e6:.2f}"]
            + [f"{formula / 1e6:.2f}", f"{m['xla_flops'] / 1e6:.1f}"]
        )
    return rows


def report(channels: Sequence[int] = (64, 128, 256, 512)) -> str:
    """The generated markdown: both tables and how they were computed."""
    stack = ex.markdown_table(
        ["C", "3x(3x3) params", "27C^2", "1x(7x7) params", "49C^2", "ratio",
         "RF 3x(3x3)", "RF 7x7", "3x(3x3) XLA MFLOP", "7x7 XLA MFLOP"],
        stack_rows(channels),
    )  # fmt: skip
    inception = ex.markdown_table(
        ["module", "params", "conv weights", "M mult-adds (counted)", "M mult-adds (paper formula)",
         "XLA MFLOP"],
        inception_rows(),
    )  # fmt: skip
    return "\n".join(
        [
            "Command: `python -m train.experiments.cnn_arguments` (seconds). Parameters from "
            "`init` of the modules (bias-free convolutions for the stacks; the inception "
            "convolutions keep their biases), receptive fields from the gradient support of "
            "the centre output pixel, XLA MFLOP from the compiled cost analysis on one "
            "28x28 input (2 per multiply-add, plus ReLU/pooling; XLA does not count the "
            "taps that fall on the zero padding: for a same-padded 5x5 conv on 28x28 that "
            "leaves (134/140)^2 = 0.916 of the counted multiply-adds).",
            "",
            "**Three 3x3 convolutions vs one 7x7** (C -> C channels, 28x28 input, no ReLU for "
            "the FLOP count):",
            "",
            stack,
            "",
            "**1x1 reductions in GoogLeNet's inception 3a** (input 28x28x192):",
            "",
            inception,
        ]
    )


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--doc", default="docs/cnn_zoo.md")
    p.add_argument("--channels", type=int, nargs="+", default=[64, 128, 256, 512])
    args = p.parse_args(argv)
    text = report(args.channels)
    ex.write_section(args.doc, "cnn_arguments", text, "Experiment 3: 3x3 stacks and 1x1 reductions")
    print(text)
    return text


if __name__ == "__main__":
    main()
