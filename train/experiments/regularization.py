"""Regularization on a small training set: train/test error gap of an over-fitting MLP.

The MLP of ``train/configs/mnist_mlp.py`` (2 x 512 ReLU, Nesterov momentum) trained on
the first 1,000 MNIST training images and tested on the 10,000 test images, through the
project's training path (``train.classification.run``), with no regularization, with
dropout (course: keep p = .5 hidden, p ~ 1 input), with an L2 or an L1 penalty on the
kernels (two strengths each), with on-device augmentation (small translations,
rotations and zooms), and with dropout + L2 + augmentation together.

The validation split is the training subset itself, so the logged ``val_*`` metrics are
the training error measured in evaluation mode (no dropout, no augmentation, running
statistics): the honest "train error" of the gap. Nothing is selected on the test set:
every variant is reported, with values fixed before the run.

Run (about 6 minutes on 2 CPU cores: 8 variants x 3 seeds)::

  python -m train.experiments.regularization

It writes ``docs/regularization.md`` (the generated section) and
``docs/figures/reg_*.png``; run directories go to ``--workdir`` (deleted first).

References:
  Srivastava et al. Dropout: a simple way to prevent neural networks from overfitting.
  JMLR 2014.
  Krogh, Hertz. A simple weight decay can improve generalization. NIPS 1991.
  Simard, Steinkraus, Platt. Best practices for convolutional neural networks applied
  to visual document analysis. ICDAR 2003 (distortions as augmentation).
"""

import argparse
import time
from pathlib import Path
from typing import Any, NamedTuple

import ml_collections
import numpy as np

from jaxdl.viz.plots import new_figure, save_figure
from train import experiment_dirs
from train import experiments as ex
from train.configs import mnist_mlp

AUGMENT = "translate(max_shift=2), rotate(degrees=10.0), zoom(min_scale=0.9, max_scale=1.1)"

# name -> config overrides (dotted keys). Strengths are fixed a priori, not tuned on test.
VARIANTS: dict[str, dict[str, Any]] = {
    "none": {},
    "dropout": {"model.kwargs.dropout_rate": 0.5, "model.kwargs.input_dropout_rate": 0.2},
    "L2 1e-3": {"loss.l2": 1e-3},
    "L2 1e-2": {"loss.l2": 1e-2},
    "L1 1e-4": {"loss.l1": 1e-4},
    "L1 1e-3": {"loss.l1": 1e-3},
    "augmentation": {"data.augment": AUGMENT},
    "dropout + L2 1e-3 + augmentation": {
        "model.kwargs.dropout_rate": 0.5,
        "model.kwargs.input_dropout_rate": 0.2,
        "loss.l2": 1e-3,
        "data.augment": AUGMENT,
    },
}


class Result(NamedTuple):
    """Outcome of one variant with one seed."""

    name: str
    seed: int
    train_error: float  # on the 1,000 training images, evaluation mode
    test_error: float  # on the 10,000 test images
    train_loss: float  # cross-entropy (no penalty) on the training images
    curve: list[tuple[int, float]]  # (epoch, training error) at each evaluation
    wall_s: float


def base_config(
    num_train: int = 1000, num_epochs: int = 100, eval_every: int = 10
) -> ml_collections.ConfigDict:
    """The un-regularized over-fitting configuration, derived from ``mnist_mlp``.

    Args:
      num_train: size of the training subset (the first images of MNIST's train split).
      num_epochs: passes over it (``num_epochs * num_train / 100`` SGD steps).
      eval_every: epochs between evaluations of the training error.

    Returns:
      The config (dropout off, no penalty, no augmentation).

    Example:
      >>> cfg = ex.with_overrides(base_config(), VARIANTS["dropout"])
    """
    c = mnist_mlp.get_config()
    c.data.train_split = f"train[:{num_train}]"
    c.data.val_split = f"train[:{num_train}]"  # training error in evaluation mode
    c.data.test_split = "test"
    c.model.kwargs.dropout_rate = 0.0
    c.optimizer.learning_rate = 0.05
    # mnist_mlp's exponential decay, rescaled to this run's length: the rate falls by
    # e^-3 over num_epochs (mnist_mlp's kappa 0.1 would stop learning after ~30 epochs).
    c.optimizer.schedule_kwargs.kappa = 3.0 / num_epochs
    c.train.update(batch_size=100, eval_batch_size=1000, num_epochs=num_epochs)
    return ex.short_run(c, eval_every_epochs=eval_every, log_every_steps=50)


def run_variant(name: str, config: ml_collections.ConfigDict, workdir: Path) -> Result:
    """Trains one variant from scratch in ``workdir`` and reads its errors."""
    result, wall_s = ex.train_fresh(config, workdir)
    curve = [(r["epoch"], 1.0 - r["val_accuracy"]) for r in result.history]
    last = result.history[-1]
    return Result(
        name,
        int(config.seed),
        train_error=1.0 - last["val_accuracy"],
        test_error=1.0 - result.final_metrics["test_accuracy"],
        train_loss=last["val_loss"],
        curve=curve,
        wall_s=wall_s,
    )


def by_variant(results: list[Result]) -> dict[str, list[Result]]:
    """Results grouped by variant name, in run order."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.name, []).append(r)
    return groups


def plot_gap(results: list[Result], path: Path) -> Path:
    """Grouped bars of mean training and test error per variant (whiskers: min to max)."""
    groups = by_variant(results)
    x = np.arange(len(groups))
    fig, ax = new_figure(figsize=(9, 3.6))
    for dx, field, label in ((-0.2, "train_error", "train"), (0.2, "test_error", "test")):
        vals = [100 * np.array([getattr(r, field) for r in g]) for g in groups.values()]
        mean = np.array([v.mean() for v in vals])
        spread = np.array([[m - v.min(), v.max() - m] for m, v in zip(mean, vals)]).T
        ax.bar(x + dx, mean, 0.4, yerr=spread, capsize=2, label=label + " error")
    ax.set_xticks(x, [n.replace(" + ", "\n+ ") for n in groups], fontsize=7)
    ax.set_ylabel("error (%)")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path, dpi=72)


def report(results: list[Result], config: ml_collections.ConfigDict, wall_s: float) -> str:
    """Markdown of the generated section."""
    header = ["variant", "train error", "test error (min to max)", "gap (pp)", "train loss"]
    rows = []
    for name, group in by_variant(results).items():
        train = np.array([100 * r.train_error for r in group])
        test = np.array([100 * r.test_error for r in group])
        spread = f"{test.mean():.2f}% ({test.min():.2f} to {test.max():.2f})"
        loss = ex.fmt(float(np.mean([r.train_loss for r in group])))
        rows.append([name, f"{train.mean():.2f}%", spread, f"{(test - train).mean():.2f}", loss])
    seeds = sorted({r.seed for r in results})
    settings = (
        f"Training subset `{config.data.train_split}`, test split `{config.data.test_split}`; "
        f"MLP {config.model.kwargs.depth} x {config.model.kwargs.width} "
        f"{config.model.kwargs.activation}; {config.optimizer.name} "
        f"lr {config.optimizer.learning_rate}, {config.optimizer.schedule} schedule "
        f"(kappa {config.optimizer.schedule_kwargs.kappa:g} per epoch); batch "
        f"{config.train.batch_size}; {config.train.num_epochs} epochs; seeds {seeds} "
        "(initialization, data order, dropout and augmentation draws). "
        f"Augmentation spec: `{AUGMENT}`. Total wall time {wall_s / 60:.1f} min "
        f"({ex.machine()})."
    )
    return "\n\n".join(
        [
            settings,
            "Means over the seeds. Errors in evaluation mode; gap = test - train error in "
            "percentage points; train loss = cross-entropy on the training subset without "
            "the penalty. The curves show seed "
            f"{seeds[0]}.",
            ex.markdown_table(header, rows),
            "![train and test error](figures/reg_gap.png)",
            "![training error during training](figures/reg_curves.png)",
        ]
    )


SKELETON = ex.skeleton(
    "Regularization: an over-fitting MLP on 1,000 MNIST images",
    "Command: `python -m train.experiments.regularization`",
)


def main(argv: list[str] | None = None) -> None:
    """Runs every variant, writes the figures and the document's generated section."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-train", type=int, default=1000)
    p.add_argument("--num-epochs", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/jaxdl_experiments/regularization"))
    p.add_argument("--docs", type=Path, default=Path("docs"))
    args = p.parse_args(argv)
    experiment_dirs.claim_experiment(args.workdir, "regularization")
    t0 = time.perf_counter()
    base = base_config(args.num_train, args.num_epochs, args.eval_every)
    results = []
    for i, name in enumerate(args.variants):
        for seed in args.seeds:
            cfg = ex.with_overrides(base, {**VARIANTS[name], "seed": seed})
            results.append(run_variant(name, cfg, args.workdir / f"{i}_seed{seed}"))
            r = results[-1]
            print(
                f"{name} seed {seed}: train {r.train_error:.4f} test {r.test_error:.4f}", flush=True
            )
    figures = args.docs / "figures"
    plot_gap(results, figures / "reg_gap.png")
    first = [g[0] for g in by_variant(results).values()]
    curves = [(r.name, [e for e, _ in r.curve], [100 * v for _, v in r.curve]) for r in first]
    ex.plot_panels(
        {"training error (evaluation mode)": curves},
        figures / "reg_curves.png",
        xlabel="epoch",
        ylabel="error (%)",
        panel_width=6.0,
    )
    text = report(results, base, time.perf_counter() - t0)
    print(ex.write_generated(args.docs / "regularization.md", text, SKELETON))


if __name__ == "__main__":
    main()
