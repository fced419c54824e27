"""Console output as hooks: one line per evaluation, and a progress bar on terminals.

``Console`` prints, at every evaluation point, the epoch, the mean training loss and
accuracy since the previous line, the evaluation's figures, images/s and the elapsed
time, whether or not a progress bar is shown; and at the end the final metrics and
why the run stopped, if it did. ``ProgressBar`` draws a tqdm bar only when stderr is
a terminal, so a log file redirected from stderr gets no carriage-return updates.
"""

import sys
import time
from typing import Any

from tqdm.auto import tqdm

from jaxdl.training.run import Hook, Run

__all__ = ["Console", "ProgressBar", "format_figures"]

_SHOWN = ("loss", "accuracy", "miou")


def format_figures(values: dict[str, Any], prefix: str, extra: str | None = None) -> str:
    """``'<prefix> loss 0.1234 accuracy 0.9876'``: the headline figures of one split.

    Example:
      >>> format_figures({"val_loss": 0.25, "val_accuracy": 0.9, "epoch": 2}, "val")
      'val loss 0.2500 accuracy 0.9000'
    """
    shown = [m for m in _SHOWN if f"{prefix}_{m}" in values]
    if extra and extra.startswith(f"{prefix}_") and extra in values:
        name = extra[len(prefix) + 1 :]
        shown += [] if name in shown else [name]
    return " ".join([prefix] + [f"{m} {values[f'{prefix}_{m}']:.4f}" for m in shown])


class Console(Hook):
    """Prints one line per evaluation and a final line (see the module docstring).

    Example:
      >>> Console().order
      100
    """

    order = 100  # after TrainingHealth and FinalEvaluation

    def __init__(self, file=None):
        self.file = file

    def _print(self, line: str) -> None:
        tqdm.write(line, file=self.file or sys.stdout)

    def on_start(self, run: Run) -> None:
        self.t0, self.last_step = time.perf_counter(), run.step
        self.sums: dict[str, float] = {}
        self.steps = 0

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        n = run.step - self.last_step
        self.last_step = run.step
        for k in ("train_loss", "train_accuracy", "images_per_second"):
            if k in logs:
                self.sums[k] = self.sums.get(k, 0.0) + n * logs[k]
        self.steps += n

    def on_eval(self, run: Run, record: dict[str, Any]) -> None:
        means = {k: v / self.steps for k, v in self.sums.items()} if self.steps else {}
        parts = [f"epoch {run.epoch}/{run.total_steps // run.steps_per_epoch}",
                 f"step {run.step}"]  # fmt: skip
        if "train_loss" in means:
            parts.append(format_figures(means, "train"))
        best = run.options.best_metric
        parts += [format_figures(record, name, best) for name in run.evals]
        if "images_per_second" in means:
            parts.append(f"{means['images_per_second']:,.0f} img/s")
        parts.append(f"{time.perf_counter() - self.t0:.1f} s")
        self._print(" | ".join(parts))
        self.sums, self.steps = {}, 0

    def on_end(self, run: Run) -> None:
        for warning in run.warnings:
            self._print(f"warning: {warning}")
        if run.stop_reason:
            self._print(f"stopped at step {run.step}: {run.stop_reason}")
        if run.final_metrics:
            final = " ".join(f"{k} {v:.4f}" for k, v in run.final_metrics.items())
            self._print(f"final (step {run.step}): {final}")


class ProgressBar(Hook):
    """A tqdm bar of the steps, updated at each log; shown only on a terminal.

    Args:
      enabled: True/False forces it; None (default) shows it when stderr is a terminal.

    Example:
      >>> ProgressBar(enabled=False).enabled
      False
    """

    order = 100

    def __init__(self, enabled: bool | None = None):
        self.enabled = enabled
        self.bar = None

    def on_start(self, run: Run) -> None:
        show = sys.stderr.isatty() if self.enabled is None else self.enabled
        self.bar = tqdm(total=run.total_steps, initial=run.step, disable=not show, unit="step")
        self.last = run.step

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        self.bar.update(run.step - self.last)
        self.last = run.step
        shown = {
            k[6:]: f"{v:.4f}" for k, v in logs.items() if k in ("train_loss", "train_accuracy")
        }
        self.bar.set_postfix(**shown, img_s=f"{logs.get('images_per_second', 0):.0f}")

    def on_end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.close()
