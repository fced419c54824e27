"""Batch normalization and the learning rate: one MLP with and without BN over a rate grid.

The MLP of ``train/configs/mnist_mlp.py`` (ReLU, He init, Nesterov momentum 0.9,
exponential decay), made deeper (``--depth``, default 4) and without dropout so that
normalization is the only difference, trained through ``train.classification.run`` on
an MNIST subset at every rate of the course's sweep {0.3, 0.1, ..., 0.001} and 1.0,
once as the plain MLP and once with ``batch_norm=True`` (BN between each hidden
weighted sum and its ReLU; running averages at test time). A run whose loss becomes
NaN/inf stops with ``DivergenceError`` and is reported as diverged.

Run (about 5 minutes on 2 CPU cores)::

  python -m train.experiments.batchnorm

It writes ``docs/batchnorm.md`` (the generated section) and ``docs/figures/bn_*.png``;
run directories go to ``--workdir`` (deleted first).

References:
  Ioffe, Szegedy. Batch normalization: accelerating deep network training by reducing
  internal covariate shift. ICML 2015.
"""

import argparse
import math
import re
import time
from pathlib import Path
from typing import NamedTuple

import ml_collections

from jaxdl.training.loop import DivergenceError
from jaxdl.training.writers import read_jsonl
from train import classification, experiment_dirs
from train import experiments as ex
from train.configs import mnist_mlp

LEARNING_RATES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
CHANCE_ERROR = 0.8  # a test error above this (chance is 0.9) counts as "does not train"


class Result(NamedTuple):
    """Outcome of one (batch_norm, learning rate) run."""

    batch_norm: bool
    learning_rate: float
    diverged_at: int | None  # step whose loss was NaN/inf, None if finite throughout
    train_loss: float  # mean minibatch loss of the last logging window (NaN if diverged)
    test_error: float  # NaN if diverged
    curve: list[tuple[int, float]]  # (step, logged minibatch loss)
    wall_s: float

    @property
    def status(self) -> str:
        """``diverged``, ``no`` (stuck near chance) or ``yes``."""
        if self.diverged_at is not None:
            return "diverged"
        return "no" if self.test_error > CHANCE_ERROR else "yes"


def make_config(
    batch_norm: bool,
    learning_rate: float,
    *,
    depth: int = 4,
    num_train: int = 10000,
    num_epochs: int = 5,
) -> ml_collections.ConfigDict:
    """``mnist_mlp`` with ``depth`` layers, no dropout, BN on or off, the given rate.

    Args:
      batch_norm: the MLP's ``batch_norm`` field.
      learning_rate: initial rate of the (unchanged) exponential schedule.
      depth: hidden layers.
      num_train: first images of the training split used for training.
      num_epochs: passes over them.

    Returns:
      The config (validation: 5,000 held-out training images; test: the test split).

    Example:
      >>> cfg = make_config(True, 0.3)
    """
    c = mnist_mlp.get_config()
    c.data.train_split = f"train[:{num_train}]"
    c.data.val_split = "train[55000:]"
    c.data.test_split = "test"
    c.model.kwargs.depth = depth
    c.model.kwargs.dropout_rate = 0.0
    c.model.kwargs.batch_norm = batch_norm
    c.optimizer.learning_rate = learning_rate
    return ex.short_run(c, num_epochs=num_epochs, eval_batch_size=1000, log_every_steps=10)


def run_one(config: ml_collections.ConfigDict, workdir: Path) -> Result:
    """Trains one configuration from scratch; a divergence is a result, not an error."""
    experiment_dirs.fresh_run(workdir, config)  # never resume an older run; the user's files stay
    t0 = time.perf_counter()
    diverged_at, test_error = None, math.nan
    try:
        result = classification.run(config, workdir)
        test_error = 1.0 - result.final_metrics["test_accuracy"]
    except DivergenceError as e:
        found = re.search(r"at step (\d+)", str(e))
        diverged_at = int(found.group(1)) if found else -1
    records = [r for r in read_jsonl(workdir / "metrics.jsonl") if "train_loss" in r]
    # JSON has no NaN: the writer stores non-finite values as strings ("nan", "inf").
    curve = [(r["step"], float(r["train_loss"])) for r in records]
    last = curve[-1][1] if curve else math.nan
    return Result(
        bool(config.model.kwargs.batch_norm),
        float(config.optimizer.learning_rate),
        diverged_at,
        last if diverged_at is None else math.nan,
        test_error,
        curve,
        time.perf_counter() - t0,
    )


def report(results: list[Result], config: ml_collections.ConfigDict, wall_s: float) -> str:
    """Markdown of the generated section: settings, the table, the figure links."""
    by = {(r.batch_norm, r.learning_rate): r for r in results}
    rates = sorted({r.learning_rate for r in results}, reverse=True)

    def cell(r: Result) -> str:
        if r.diverged_at is not None:
            where = f" at step {r.diverged_at}" if r.diverged_at > 0 else ""
            return f"diverged{where}"
        return f"{r.status}: {100 * r.test_error:.2f}%, loss {ex.fmt(r.train_loss)}"

    rows = [[f"{lr:g}", cell(by[(False, lr)]), cell(by[(True, lr)])] for lr in rates]
    kw = config.model.kwargs
    settings = (
        f"MLP {kw.depth} x {kw.width} {kw.activation}, no dropout; training subset "
        f"`{config.data.train_split}`, validation `{config.data.val_split}`, test "
        f"`{config.data.test_split}`; {config.optimizer.name} (momentum 0.9), "
        f"{config.optimizer.schedule} schedule (kappa "
        f"{config.optimizer.schedule_kwargs.kappa:g} per epoch); batch "
        f"{config.train.batch_size}; {config.train.num_epochs} epochs; seed {config.seed}. "
        f"Total wall time {wall_s / 60:.1f} min ({ex.machine()})."
    )
    return "\n\n".join(
        [
            settings,
            "Each cell: trains? (yes / no = test error above 80% / diverged = NaN or inf "
            "loss), final test error, mean minibatch training loss of the last 10 steps.",
            ex.markdown_table(["learning rate", "without BN", "with BN"], rows),
            "![test error vs learning rate](figures/bn_lr_sweep.png)",
            "![training loss curves](figures/bn_curves.png)",
        ]
    )


SKELETON = ex.skeleton(
    "Batch normalization: which learning rates train",
    "Command: `python -m train.experiments.batchnorm`",
)


def main(argv: list[str] | None = None) -> None:
    """Runs the grid, writes the figures and the document's generated section."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--learning-rates", type=float, nargs="+", default=list(LEARNING_RATES))
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--num-train", type=int, default=10000)
    p.add_argument("--num-epochs", type=int, default=5)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/jaxdl_experiments/batchnorm"))
    p.add_argument("--docs", type=Path, default=Path("docs"))
    args = p.parse_args(argv)
    experiment_dirs.claim_experiment(args.workdir, "batchnorm")
    t0 = time.perf_counter()
    sizes = {"depth": args.depth, "num_train": args.num_train, "num_epochs": args.num_epochs}
    results = []
    for bn in (False, True):
        for lr in args.learning_rates:
            cfg = make_config(bn, lr, **sizes)
            results.append(run_one(cfg, args.workdir / f"bn{int(bn)}_lr{lr:g}"))
            r = results[-1]
            print(f"bn={bn} lr={lr:g}: {r.status} test error {r.test_error:.4f}", flush=True)
    figures = args.docs / "figures"
    sweep = []
    for bn in (False, True):
        rs = sorted((r for r in results if r.batch_norm == bn), key=lambda r: r.learning_rate)
        errors = [100 * r.test_error for r in rs]  # NaN (diverged) points are left out
        sweep.append(("with BN" if bn else "without BN", [r.learning_rate for r in rs], errors))
    ex.plot_panels(
        {"final test error (diverged runs not drawn)": sweep},
        figures / "bn_lr_sweep.png",
        xlabel="initial learning rate",
        ylabel="test error (%)",
        logx=True,
        panel_width=5.0,
    )
    curves = {
        title: [
            (f"lr {r.learning_rate:g}", [s for s, _ in r.curve], [v for _, v in r.curve])
            for r in results
            if r.batch_norm == bn
        ]
        for bn, title in ((False, "without BN"), (True, "with BN"))
    }
    ex.plot_panels(
        curves,
        figures / "bn_curves.png",
        xlabel="step",
        ylabel="minibatch cross-entropy",
        ylim=(0, 2.5),
        panel_width=4.5,
    )
    text = report(results, make_config(False, 0.0, **sizes), time.perf_counter() - t0)
    print(ex.write_generated(args.docs / "batchnorm.md", text, SKELETON))


if __name__ == "__main__":
    main()
