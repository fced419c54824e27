"""Learning-rate sweep: one short training per rate, a table and a plot of the results.

The course's practice (COURSE.md section 4): try gamma in {0.3, 0.1, 0.03, 0.01,
0.003, 0.001} on short runs and keep the best. Every rate is trained by the task's
real ``run(config, workdir)`` (the same path as ``python -m train``) in
``<workdir>/lr_<rate>``; a rate whose loss becomes NaN/inf is recorded as diverged and
the sweep goes on. The best rate is the lowest validation error (never the test
error: the test split is only reported).

    python -m train.sweep --config train/configs/mnist_mlp.py \\
        --learning_rates 0.3,0.1,0.03,0.01,0.003,0.001 --workdir runs/sweep \\
        --config.train.num_epochs=2

Writes ``<workdir>/sweep.md`` (markdown table, also printed), ``sweep.json`` and
``sweep.png`` (final train loss and validation/test error against the rate, log x).
Re-running with the same workdir resumes/reuses each rate's run; a rate directory
holding another config's run is refused unless ``--overwrite`` (``train.workdir``).
Bad flags, config or data print one paragraph and exit with status 2.
"""

import dataclasses
import importlib
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import ml_collections
from absl import app, flags

from jaxdl.training.loop import DivergenceError
from jaxdl.training.writers import read_jsonl
from jaxdl.viz.plots import new_figure, save_figure
from train import cli
from train.validate import TASKS, validate
from train.workdir import prepare

COURSE_RATES = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)


@dataclasses.dataclass(frozen=True)
class RateResult:
    """Outcome of one rate of a sweep.

    Attributes:
      learning_rate: the rate (``optimizer.learning_rate``).
      workdir: the run directory of this rate.
      diverged: the loss became NaN/inf (the other numbers are NaN then).
      train_loss: mean training loss of the last logged window (training mode: with
        dropout/augmentation, on the mini-batches of the end of the run).
      val_error: 1 - validation accuracy at the last evaluation (NaN without a val split).
      test_error: 1 - test accuracy at the end (NaN without a test split).
      wall_s: wall time of the whole run (loading and compiling included).
      note: the divergence message's first line, or ''.
    """

    learning_rate: float
    workdir: str
    diverged: bool
    train_loss: float
    val_error: float
    test_error: float
    wall_s: float
    note: str = ""


def parse_learning_rates(text: str | Sequence[float]) -> list[float]:
    """Parses ``"0.3,0.1,1e-3"`` into positive finite floats (order kept).

    Args:
      text: comma-separated rates, or a sequence of numbers.

    Returns:
      The rates as floats.

    Raises:
      ValueError: empty list, a non-number, a rate <= 0 or non-finite, or a duplicate.

    Example:
      >>> parse_learning_rates("0.1, 0.01")
      [0.1, 0.01]
    """
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    items = [s for s in items if s != ""]
    if not items:
        raise ValueError(
            "No learning rate given: pass e.g. --learning_rates=0.3,0.1,0.03,0.01,0.003,0.001."
        )
    rates = []
    for item in items:
        try:
            rate = float(item)
        except (TypeError, ValueError):
            raise ValueError(
                f"Learning rate {item!r} is not a number; pass comma-separated floats, "
                "e.g. --learning_rates=0.1,0.01."
            ) from None
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"Learning rates must be finite and > 0, got {item!r}.")
        rates.append(rate)
    if len(set(rates)) != len(rates):
        raise ValueError(f"Duplicate learning rates in {items}; each rate is run once.")
    return rates


def rate_dirname(rate: float) -> str:
    """The run directory name of ``rate``: ``lr_0.3``, ``lr_0.001``, ``lr_1e-05``."""
    return f"lr_{rate:g}"


def run_one(
    config: ml_collections.ConfigDict, rate: float, workdir: str | Path, overwrite: bool = False
) -> RateResult:
    """Trains ``config`` with ``optimizer.learning_rate = rate`` in ``workdir``.

    Args:
      config: a full trainer config (``train/configs``); not modified.
      rate: the learning rate.
      workdir: the run directory; a run of the same config there is resumed, one of
        another config is refused (``train.workdir.prepare``) unless ``overwrite``.
      overwrite: delete another config's run found in ``workdir``.

    Returns:
      A `RateResult` (``diverged=True`` when the loss became NaN/inf).

    Example:
      >>> r = run_one(mnist_mlp.get_config(), 0.1, "runs/sweep/lr_0.1")
    """
    cfg = config.copy_and_resolve_references()
    cfg.optimizer.learning_rate = float(rate)
    validate(cfg)
    workdir = prepare(workdir, cfg, overwrite)
    nan, t0 = float("nan"), time.perf_counter()
    try:
        result = importlib.import_module(TASKS[cfg.task]).run(cfg, workdir)
    except DivergenceError as err:
        note = str(err).splitlines()[0][:200]
        return RateResult(rate, str(workdir), True, nan, nan, nan, time.perf_counter() - t0, note)
    wall = time.perf_counter() - t0
    train_losses = [
        r["train_loss"]
        for r in read_jsonl(workdir / "metrics.jsonl")
        if isinstance(r.get("train_loss"), int | float)
    ]
    val = [r["val_accuracy"] for r in result.history if "val_accuracy" in r]
    test = result.final_metrics.get("test_accuracy")
    return RateResult(
        learning_rate=rate,
        workdir=str(workdir),
        diverged=False,
        train_loss=train_losses[-1] if train_losses else nan,
        val_error=1.0 - val[-1] if val else nan,
        test_error=1.0 - test if test is not None else nan,
        wall_s=wall,
    )


def best(results: Sequence[RateResult]) -> RateResult | None:
    """The rate with the lowest val error (train loss without val); None if all diverged."""
    ok = [r for r in results if not r.diverged]
    if not ok:
        return None
    key = "val_error" if all(math.isfinite(r.val_error) for r in ok) else "train_loss"
    return min(ok, key=lambda r: getattr(r, key))


def pct(x: float) -> str:
    """An error rate in percent with two decimals; ``-`` when it is not finite."""
    return "-" if not math.isfinite(x) else f"{100 * x:.2f}"


def markdown_table(results: Sequence[RateResult]) -> str:
    """The sweep as a markdown table (errors in percent; the best rate marked)."""
    top = best(results)
    lines = [
        "| learning rate | final train loss | val error (%) | test error (%) | wall (s) | |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.diverged:
            lines.append(f"| {r.learning_rate:g} | diverged | - | - | {r.wall_s:.1f} | |")
            continue
        mark = "best (val)" if r is top else ""
        lines.append(
            f"| {r.learning_rate:g} | {r.train_loss:.4f} | {pct(r.val_error)} | "
            f"{pct(r.test_error)} | {r.wall_s:.1f} | {mark} |"
        )
    return "\n".join(lines) + "\n"


def plot_sweep(results: Sequence[RateResult], path: str | Path, title: str = "") -> Path:
    """Final train loss and val/test error against the rate (log x); diverged rates as x.

    Example:
      >>> plot_sweep(results, "runs/sweep/sweep.png", title="MLP on MNIST")
    """
    fig, (ax_loss, ax_err) = new_figure(1, 2, figsize=(10, 3.8))
    ok = sorted((r for r in results if not r.diverged), key=lambda r: r.learning_rate)
    bad = [r.learning_rate for r in results if r.diverged]
    lr = [r.learning_rate for r in ok]
    ax_loss.plot(lr, [r.train_loss for r in ok], "o-", label="final train loss")
    ax_err.plot(lr, [100 * r.val_error for r in ok], "o-", label="val error")
    ax_err.plot(lr, [100 * r.test_error for r in ok], "s--", label="test error")
    for ax, name in ((ax_loss, "train loss"), (ax_err, "error (%)")):
        if bad:  # plotted at the top edge: diverged runs have no value
            ax.plot(bad, [1.0] * len(bad), "rx", ms=10, label="diverged",
                    transform=ax.get_xaxis_transform())  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if ok and all(r.train_loss > 0 for r in ok):
        ax_loss.set_yscale("log")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def sweep(
    config: ml_collections.ConfigDict,
    learning_rates: str | Sequence[float],
    workdir: str | Path,
    title: str = "",
    overwrite: bool = False,
) -> list[RateResult]:
    """Runs one training per rate and writes ``sweep.md``, ``sweep.json``, ``sweep.png``.

    Args:
      config: the trainer config (every other setting is kept as is).
      learning_rates: the rates (e.g. `COURSE_RATES`, or ``"0.1,0.01"``).
      workdir: the sweep directory; rate ``r`` trains in ``workdir/lr_<r>``.
      title: plot title (default: model and dataset of the config).
      overwrite: replace runs of another config found in the rate directories.

    Returns:
      One `RateResult` per rate, in the given order.

    Example:
      >>> results = sweep(mnist_mlp.get_config(), COURSE_RATES, "runs/sweep")
    """
    rates = parse_learning_rates(learning_rates)
    validate(config)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rate in rates:
        r = run_one(config, rate, workdir / rate_dirname(rate), overwrite)
        outcome = "diverged" if r.diverged else f"val_error={r.val_error:.4f}"
        print(f"sweep: lr={rate:g} {outcome}", flush=True)
        results.append(r)
    (workdir / "sweep.md").write_text(markdown_table(results))
    (workdir / "sweep.json").write_text(
        json.dumps([dataclasses.asdict(r) for r in results], indent=2, allow_nan=True)
    )
    title = title or f"{config.model.name} on {config.data.name}: {config.optimizer.name}"
    plot_sweep(results, workdir / "sweep.png", title=title)
    return results


def _define_flags() -> None:
    # Defined only when run as a script, so that importing this module (e.g. from an
    # experiment with its own flags) adds no required flags to that program.
    cli.define_config()
    flags.DEFINE_string(
        "learning_rates",
        ",".join(f"{r:g}" for r in COURSE_RATES),
        "Comma-separated learning rates.",
    )
    flags.DEFINE_string("workdir", None, "Sweep directory (one run per rate inside).")
    flags.DEFINE_bool("overwrite", False, "Replace another config's runs found in --workdir.")
    flags.mark_flag_as_required("workdir")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    cli.quiet_logging()
    with cli.user_errors(F.debug):  # bad rates/config/data/workdir: one line
        results = sweep(F.config, F.learning_rates, F.workdir, overwrite=F.overwrite)
    print(markdown_table(results), end="")


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli.parse_flags)
