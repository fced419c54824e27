"""Signal propagation in a deep MLP: activation variance and gradient norms per layer.

A ``depth``-layer MLP (``jaxdl.models.MLP``) on standardized MNIST, for every pair of
activation {sigmoid, tanh, relu, elu} and initialization {N(0, 1), N(0, 0.01^2),
Xavier, He, Kumar}: at initialization, the variance of each hidden layer's weighted sum
``a_l = W_l h_{l-1}`` and of its output ``h_l = g(a_l)`` on one batch, and the norm of
the loss gradient with respect to each kernel ``W_l``; then whether the network trains
in a fixed budget of SGD steps (same optimizer and rate for every cell).

Kumar's rule needs g differentiable at 0; ReLU is not, so ``kumar`` raises for it and
that cell uses He (Kumar's paper derives 2/N for ReLU separately) and is labelled so.

Run (8 to 10 minutes on 2 shared CPU cores)::

  python -m train.experiments.signal_propagation

It writes ``docs/units_and_init.md`` (the generated section) and
``docs/figures/units_*.png``.

References:
  Glorot, Bengio. Understanding the difficulty of training deep feedforward neural
  networks. AISTATS 2010.
  He, Zhang, Ren, Sun. Delving deep into rectifiers. ICCV 2015.
  Kumar. On weight initialization in deep neural networks. arXiv:1704.08863, 2017.
"""

import argparse
import functools
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import data as jdata
from jaxdl.data import preprocess
from jaxdl.models.mlp import MLP, get_activation
from jaxdl.nn import initializers
from train import experiments as ex

ACTIVATIONS = ("sigmoid", "tanh", "relu", "elu")
INITS = ("N(0,1)", "N(0,0.01^2)", "xavier", "he", "kumar")


class TrainRun(NamedTuple):
    """One training run of a cell at one learning rate."""

    learning_rate: float
    losses: np.ndarray  # [steps] minibatch loss per step
    train_loss: float  # after training, on the whole training subset
    train_acc: float
    test_acc: float


class Cell(NamedTuple):
    """Measurements of one (activation, initialization) pair."""

    activation: str
    init: str
    note: str  # e.g. "= He" when Kumar is undefined
    pre_var: np.ndarray  # [depth] Var(a_l) at init
    act_var: np.ndarray  # [depth] Var(g(a_l)) at init
    grad_norm: np.ndarray  # [depth] ||dE/dW_l||_F at init
    runs: tuple[TrainRun, ...]  # one per learning rate


def make_init(init: str, activation: str) -> tuple[Any, str]:
    """The kernel initializer called ``init`` for ``activation``, and a note for the table.

    Args:
      init: one of ``INITS``.
      activation: a ``jaxdl.nn`` activation name (Kumar's gain is derived from it).

    Returns:
      ``(initializer, note)``; the note is ``"= He"`` when Kumar is undefined (ReLU) and
      ``"= Xavier"`` when Kumar's gain is 1 (tanh, ELU), otherwise ``""``.

    Example:
      >>> init, note = make_init("kumar", "sigmoid")  # sigma^2 = 12.8 / N
    """
    if init == "N(0,1)":
        return jax.nn.initializers.normal(1.0), ""
    if init == "N(0,0.01^2)":
        return jax.nn.initializers.normal(0.01), ""
    if init == "xavier":
        return initializers.xavier(), ""
    if init == "he":
        return initializers.he(), ""
    if init == "kumar":
        g = get_activation(activation)
        try:
            gain = initializers.kumar_gain(g)
        except ValueError:  # not differentiable at 0 (ReLU)
            return initializers.he(), "= He"
        return initializers.kumar(g), "= Xavier" if math.isclose(gain, 1.0) else ""
    raise ValueError(f"unknown initialization {init!r}; choose one of {INITS}")


def _cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def layer_statistics(model: MLP, params, images, labels) -> dict[str, np.ndarray]:
    """Per hidden layer: Var(a_l), Var(g(a_l)) and ||dE/dW_l|| on one batch.

    Args:
      model: the MLP (its ``depth`` hidden ``Dense`` layers are ``Dense_0..``).
      params: its parameters.
      images: ``[B, H, W, C]`` standardized batch.
      labels: ``[B]`` integer labels (E is the mean cross-entropy).

    Returns:
      ``{"pre_var", "act_var", "grad_norm"}``, each float64 ``[depth]``; variances are
      over all B x width entries of the layer.

    Example:
      >>> stats = layer_statistics(MLP(depth=3, width=8), params, x, y)
    """
    stats = _statistics_fn(model)(params, images, labels)
    return {k: np.asarray(v, np.float64) for k, v in stats.items()}


@functools.cache
def _statistics_fn(model: MLP):
    g = get_activation(model.activation)
    hidden = [f"Dense_{i}" for i in range(model.depth)]

    def fn(params, images, labels):
        _, inter = model.apply(
            {"params": params},
            images,
            capture_intermediates=lambda mdl, _: isinstance(mdl, nn.Dense),
            mutable=["intermediates"],
        )
        pre = [inter["intermediates"][n]["__call__"][0] for n in hidden]  # each [B, width]
        grads = jax.grad(lambda p: _cross_entropy(model.apply({"params": p}, images), labels))(
            params
        )
        return {
            "pre_var": jnp.stack([a.var() for a in pre]),
            "act_var": jnp.stack([g(a).var() for a in pre]),
            "grad_norm": jnp.stack([jnp.linalg.norm(grads[n]["kernel"]) for n in hidden]),
        }

    return jax.jit(fn)


@functools.cache
def _train_fn(model: MLP, momentum: float):
    def train(params, images, labels, index, learning_rate):  # index [steps, B]
        # The rate is traced, so every rate shares one compilation.
        tx = optax.sgd(learning_rate, momentum=momentum)

        def step(carry, idx):  # idx [B]
            params, opt_state = carry
            loss, grads = jax.value_and_grad(
                lambda p: _cross_entropy(model.apply({"params": p}, images[idx]), labels[idx])
            )(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), index)
        return params, losses

    return jax.jit(train)


@functools.cache
def _eval_fn(model: MLP):
    def fn(params, images, labels):
        logits = model.apply({"params": params}, images)
        return _cross_entropy(logits, labels), (logits.argmax(-1) == labels).mean()

    return jax.jit(fn)


def load_mnist(num_train: int, num_test: int) -> dict[str, jax.Array]:
    """Standardized MNIST subsets (train statistics), as device arrays."""
    train = jdata.load("mnist", f"train[:{num_train}]").data
    test = jdata.load("mnist", f"test[:{num_test}]").data
    mean, std = preprocess.channel_stats(train["image"])

    def standardize(x):
        return jnp.asarray((x / 255.0 - mean) / std, jnp.float32)  # [N, 28, 28, 1]

    return {
        "x_train": standardize(train["image"]),
        "y_train": jnp.asarray(train["label"]),
        "x_test": standardize(test["image"]),
        "y_test": jnp.asarray(test["label"]),
    }


def run_cell(
    data: dict[str, jax.Array],
    activation: str,
    init: str,
    *,
    depth: int,
    width: int,
    stat_batch: int,
    steps: int,
    batch_size: int,
    learning_rates: tuple[float, ...],
    momentum: float,
    seed: int = 0,
) -> Cell:
    """Statistics at initialization, then ``steps`` SGD steps at each rate, for one pair.

    Every pair uses the same seed (same data order and same Gaussian draws up to scale),
    so the cells differ only by activation and initialization.

    Args:
      data: ``load_mnist`` output.
      activation: a ``jaxdl.nn`` activation name.
      init: one of ``INITS``.
      depth, width: MLP shape.
      stat_batch: examples of the batch measured at initialization.
      steps, batch_size: SGD budget (minibatches drawn with replacement).
      learning_rates: every rate is trained from the same initial parameters.
      momentum: heavy-ball momentum of ``optax.sgd``.
      seed: initialization and data-order seed.

    Returns:
      A ``Cell``.

    Example:
      >>> cell = run_cell(load_mnist(1000, 500), "tanh", "xavier", depth=10, width=64,
      ...                 stat_batch=256, steps=50, batch_size=64, learning_rates=(0.01,),
      ...                 momentum=0.9)
    """
    kernel_init, note = make_init(init, activation)
    # One apply-model per activation (default kernel_init) so jit caches are shared by
    # every initialization; the init-model only draws the parameters.
    model = MLP(depth=depth, width=width, activation=activation)
    init_model = MLP(depth=depth, width=width, activation=activation, kernel_init=kernel_init)
    key_init, key_data = jax.random.split(jax.random.key(seed))
    params0 = init_model.init(key_init, data["x_train"][:1])["params"]
    stats = layer_statistics(
        model, params0, data["x_train"][:stat_batch], data["y_train"][:stat_batch]
    )
    n = data["x_train"].shape[0]
    index = jax.random.randint(key_data, (steps, batch_size), 0, n)  # with replacement
    evaluate = _eval_fn(model)
    runs = []
    for lr in learning_rates:
        params, losses = _train_fn(model, momentum)(
            params0, data["x_train"], data["y_train"], index, jnp.float32(lr)
        )
        train_loss, train_acc = map(float, evaluate(params, data["x_train"], data["y_train"]))
        test_acc = float(evaluate(params, data["x_test"], data["y_test"])[1])
        runs.append(TrainRun(lr, np.asarray(losses, np.float64), train_loss, train_acc, test_acc))
    return Cell(
        activation, init, note, stats["pre_var"], stats["act_var"], stats["grad_norm"], tuple(runs)
    )


# ------------------------------------------------------------------------ report

_FLOOR, _CEIL = 1e-30, 1e30  # log-axis limits; 0 / inf are drawn on these borders


def depth_panels(cells: list[Cell], field: str) -> dict[str, list[ex.Series]]:
    """Per activation, one ``(init, layer, value)`` line of ``field``, clipped for log axes.

    Zeros (float32 underflow) and infinities (overflow) are drawn on the axis borders.
    """
    panels: dict[str, list[ex.Series]] = {act: [] for act in ACTIVATIONS}
    for c in cells:
        y = np.asarray(getattr(c, field), np.float64)
        y = np.where(np.isnan(y), np.nan, np.clip(y, _FLOOR, _CEIL))
        label = c.init + (f" ({c.note})" if c.note else "")
        panels[c.activation].append((label, np.arange(1, len(y) + 1), y))
    return panels


def training_panels(cells: list[Cell]) -> dict[str, list[ex.Series]]:
    """Per activation, the minibatch loss of each init at its best rate."""
    panels: dict[str, list[ex.Series]] = {act: [] for act in ACTIVATIONS}
    for c in cells:
        run = best_run(c)
        steps = np.arange(1, len(run.losses) + 1)
        label = c.init + (f" ({c.note})" if c.note else "") + f", lr {run.learning_rate:g}"
        panels[c.activation].append((label, steps, run.losses))
    return panels


def best_run(cell: Cell) -> TrainRun:
    """The run with the lowest final training loss (NaN counts as worst)."""
    return min(cell.runs, key=lambda r: r.train_loss if math.isfinite(r.train_loss) else math.inf)


def report(cells: list[Cell], settings: dict[str, Any], wall_s: float) -> str:
    """Markdown of the generated section: settings, the table, the figure links."""
    rates = [r.learning_rate for r in cells[0].runs]
    depth = len(cells[0].pre_var)
    mid = depth // 2
    header = f"g|init|Var(a_1)|Var(a_{mid})|Var(a_{depth})|Var(h_{depth})|‖∇W_1‖|‖∇W_{depth}‖"
    header = header.split("|") + [f"train acc, lr {lr:g}" for lr in rates]
    header.append("test acc (best lr)")
    rows = []
    for c in cells:
        at_init = (c.pre_var[0], c.pre_var[mid - 1], c.pre_var[-1], c.act_var[-1])
        at_init += (c.grad_norm[0], c.grad_norm[-1])
        label = c.init + (f" ({c.note})" if c.note else "")
        rows.append([c.activation, label, *map(ex.fmt, at_init), *map(_acc, c.runs)])
        rows[-1].append(_acc(best_run(c), test=True))
    settings_line = ", ".join(f"{k}={v}" for k, v in settings.items())
    return "\n\n".join(
        [
            f"Settings: {settings_line}. Wall time {wall_s / 60:.1f} min ({ex.machine()}).",
            "a_l = W_l h_{l-1} + b_l is layer l's weighted sum, h_l = g(a_l); variances over "
            "the batch and units at initialization; ‖∇W_l‖ the Frobenius norm of the gradient "
            "of the mean cross-entropy on that batch. Accuracies after training, on the "
            "whole training subset and on the test subset; 'div' = the loss became NaN/inf.",
            ex.markdown_table(header, rows),
            "![variance per layer](figures/units_variance.png)",
            "![gradient norm per layer](figures/units_gradnorm.png)",
            "![training loss](figures/units_training.png)",
        ]
    )


def _acc(run: TrainRun, test: bool = False) -> str:
    if not math.isfinite(run.train_loss):
        return "div"
    return f"{100 * (run.test_acc if test else run.train_acc):.1f}%"


SKELETON = ex.skeleton(
    "Units and initialization: signal propagation in a 50-layer MLP",
    "Command: `python -m train.experiments.signal_propagation`",
)


def main(argv: list[str] | None = None) -> None:
    """Runs every cell, writes the figures and the document's generated section."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--num-train", type=int, default=10000)
    p.add_argument("--num-test", type=int, default=2000)
    p.add_argument("--stat-batch", type=int, default=512)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rates", type=float, nargs="+", default=[0.01, 0.001])
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--docs", type=Path, default=Path("docs"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    data = load_mnist(args.num_train, args.num_test)
    settings = {k: v for k, v in vars(args).items() if k != "docs"}
    sizes = ("depth", "width", "stat_batch", "steps", "batch_size", "momentum")
    kwargs = {k: getattr(args, k) for k in sizes}
    cells = []
    for act in ACTIVATIONS:
        for init in INITS:
            lrs = tuple(args.learning_rates)
            cells.append(run_cell(data, act, init, learning_rates=lrs, **kwargs))
            c = cells[-1]
            accs = " ".join(map(_acc, c.runs))
            print(f"{act} {init}: Var(a_L) {ex.fmt(c.pre_var[-1])}, train acc {accs}", flush=True)
    figures, lims = args.docs / "figures", (_FLOOR / 3, _CEIL * 3)
    var, grad = depth_panels(cells, "pre_var"), depth_panels(cells, "grad_norm")
    plot = functools.partial(ex.plot_panels, xlabel="layer l", logy=True, ylim=lims)
    plot(var, figures / "units_variance.png", ylabel="Var(a_l)")
    plot(grad, figures / "units_gradnorm.png", ylabel="‖dE/dW_l‖")
    ex.plot_panels(
        training_panels(cells),
        figures / "units_training.png",
        xlabel="SGD step",
        ylabel="minibatch cross-entropy",
        ylim=(0, 3.5),
        legend="all",
    )
    text = report(cells, settings, time.perf_counter() - t0)
    print(ex.write_generated(args.docs / "units_and_init.md", text, SKELETON))


if __name__ == "__main__":
    main()
