"""Hooks: everything the training loop does besides iterating, evaluating and saving.

The hooks of jaxdl: ``NonFinite`` (stop on NaN/inf, the skip budget),
``LearningRate`` (logs the rate), ``TrainingHealth`` (did the run train?),
``StopOnSignal`` (graceful SIGTERM/SIGINT), ``FinalEvaluation`` (the test split at the end,
optionally with the best weights), ``PhaseMarks`` (fault-injection marks), here;
``EarlyStop`` and ``RestartFromBest`` (``jaxdl.training.early_stopping``);
``MetricsFile`` and ``TensorBoard`` (``jaxdl.training.writers``); ``Console`` and
``ProgressBar`` (``jaxdl.training.console``); ``Curves`` (``jaxdl.viz.hooks``, which
draws). ``default_hooks`` is what ``fit`` uses when given none.

``jaxdl.training.loop.fit`` calls each hook at five points of a run, in ascending
``order`` (then in the order given):

- ``on_start(run)``: once, after a resume (``run.step`` is where training continues);
- ``on_log(run, logs)``: every ``log_every_steps`` steps and at each epoch's end, with
  ``logs`` the window's host metrics (``train_<name>`` means, ``images_per_second``;
  a hook may add entries, e.g. ``learning_rate``); ``run.window`` holds the per-step
  values;
- ``before_eval(run)``: at an evaluation point, before the evaluation splits run;
- ``on_eval(run, record)``: after the evaluation; ``record`` (``step``, ``epoch``,
  ``<split>_<metric>``) may be extended; the hook may replace ``run.state``, set
  ``run.stop``, or set ``run.scores = None`` so this checkpoint is not ranked as a
  candidate best. The loop saves a checkpoint (with every hook's ``state_dict()``)
  after the last ``on_eval``;
- ``on_end(run)``: always, also when the run fails (``run.error`` is set then);
  ``run.final_metrics`` may be extended.

A hook with state returns it from ``state_dict()`` (JSON: numbers, strings, lists,
dicts) and takes it back in ``load_state_dict``; it is saved with every checkpoint, so
a resumed run continues bit-identically. The ``order`` convention: decisions that
change the run (early stopping, restarts) come first (negative), user hooks at 0,
the final evaluation at 50, reporters (files, console, pictures) at 100, the
non-finite guard at 150 (after the reporters have written the offending window).

Example, a hook that stops once the validation accuracy reaches a target:
  >>> class StopAt(Hook):
  ...     def __init__(self, target):
  ...         self.target = target
  ...     def on_eval(self, run, record):
  ...         if record.get("val_accuracy", 0.0) >= self.target:
  ...             run.stop, run.stop_reason = True, f"val_accuracy >= {self.target}"
  >>> StopAt(0.99).order
  0
"""

import math
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import optax

from jaxdl.training import restarts
from jaxdl.training.console import Console, ProgressBar
from jaxdl.training.guards import FINITE_KEYS, DivergenceError
from jaxdl.training.run import Hook, Run
from jaxdl.training.writers import MetricsFile, TensorBoard

__all__ = [
    "FinalEvaluation",
    "Hook",
    "LearningRate",
    "NonFinite",
    "PhaseMarks",
    "Run",
    "StopOnSignal",
    "TrainingHealth",
    "TrainingInterruptedError",
    "default_hooks",
]


class NonFinite(Hook):
    """Stops with ``DivergenceError`` on a NaN/inf loss or gradient norm.

    Steps that a ``guards.skip_nonfinite`` train step skipped (metric ``skipped``) are
    counted instead; more than ``max_skipped_steps`` in total stop the run as well.
    The last checkpoint is left untouched.

    Example:
      >>> NonFinite(max_skipped_steps=10).skipped
      0
    """

    order = 150

    def __init__(self, max_skipped_steps: int = 0):
        if max_skipped_steps < 0:
            raise ValueError(f"max_skipped_steps must be >= 0, got {max_skipped_steps}.")
        self.max_skipped_steps = max_skipped_steps
        self.skipped = 0

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        values, skipped = run.window["values"], run.window["skipped"]
        finite = np.ones(len(skipped), bool)
        for k in FINITE_KEYS:
            if k in values:
                finite &= np.isfinite(values[k])
        bad = ~finite & ~skipped
        if bad.any():
            raise DivergenceError(
                f"Training loss or gradient norm became NaN/inf at step "
                f"{run.window['first_step'] + int(np.argmax(bad))}. {run.where_saved()} "
                "(untouched). Likely causes: a learning rate too high for this model/batch "
                "size, unnormalised inputs, or a loss without a stable log-softmax. Lower "
                "optimizer.learning_rate, add gradient clipping (optimizer.clip), or skip such "
                "steps (train.on_nonfinite='skip')."
            )
        self.skipped += int(skipped.sum())
        if self.skipped > self.max_skipped_steps:
            raise DivergenceError(
                f"{self.skipped} updates were skipped for NaN/inf (more than "
                f"max_skipped_steps={self.max_skipped_steps}) by step {run.step}. "
                f"{run.where_saved()}. The run is diverging: lower optimizer.learning_rate "
                "or add clipping."
            )

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped = int(state["skipped"])


class TrainingHealth(Hook):
    """Says at the end when a finished run did not train, instead of passing as healthy.

    The verdict compares the training loss of the last log window with the first one:
    a finished run whose loss did not fall by ``min_drop`` (a fraction of the first
    window's loss), or went non-finite, or whose skipped (NaN/inf) steps exceed
    ``max_skipped_fraction`` of its steps, gets one line in ``run.warnings``
    (``FitResult.warnings``; the console prints it, runners put it in summary.json).

    Example:
      >>> TrainingHealth().min_drop
      0.01
    """

    order = 40

    def __init__(self, min_drop: float = 0.01, max_skipped_fraction: float = 0.1):
        self.min_drop, self.max_skipped_fraction = min_drop, max_skipped_fraction
        self.first: float | None = None
        self.last: float | None = None
        self.skipped = 0

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        loss = logs.get("train_loss")
        if loss is not None:
            self.first = loss if self.first is None else self.first
            self.last = loss
        self.skipped += int(logs.get("train_skipped_steps", 0))

    def on_end(self, run: Run) -> None:
        if run.error is not None or not run.finished or self.first is None:
            return
        first, last = self.first, self.last
        if not math.isfinite(last) or not last < first * (1 - self.min_drop):
            run.warnings.append(
                f"the run did not train: its training loss went from {first:.4g} (first log) "
                f"to {last:.4g} (last log). Lower the learning rate, check the data and labels."
            )
        if self.skipped > self.max_skipped_fraction * max(run.step, 1):
            run.warnings.append(
                f"{self.skipped} of {run.step} updates were skipped for NaN/inf: the run is "
                "unstable. Lower the learning rate or add gradient clipping."
            )

    def state_dict(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.first, self.last, self.skipped = state["first"], state["last"], state["skipped"]


class FinalEvaluation(Hook):
    """At the end of a finished run, evaluates ``splits`` into ``run.final_metrics``.

    With ``from_best`` the best-ranked weights are evaluated (the course's "keep the
    best weights") and ``best_step`` is reported when they are not the last ones.

    Example:
      >>> FinalEvaluation({}, from_best=True).order
      50
    """

    order = 50

    def __init__(self, splits: dict[str, Any], from_best: bool = False):
        self.splits, self.from_best = dict(splits), from_best

    def on_end(self, run: Run) -> None:
        if run.error is not None or not run.finished or not self.splits:
            return
        state = run.best_state() if self.from_best else None
        if state is not None and run.best_step() != run.step:
            run.final_metrics["best_step"] = run.best_step()
        for name, split in self.splits.items():
            run.final_metrics.update(run.evaluate(split, name, state))


class LearningRate(Hook):
    """Adds ``learning_rate`` to the logs: the rate of the step being logged.

    Args:
      schedule: the optimizer's schedule of its update count; None reads the
        ``learning_rate`` hyperparameter of an ``optax.inject_hyperparams`` state.
      every: loop steps per optimizer update (gradient accumulation), so the schedule
        sees ``step // every``.

    A ``restarts.with_restarts`` optimizer's multiplier is applied.

    Example:
      >>> LearningRate(optax.constant_schedule(0.1)).every
      1
    """

    order = -30

    def __init__(self, schedule: optax.Schedule | None = None, every: int = 1):
        self.schedule, self.every = schedule, every

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        opt_state = run.state.opt_state
        if self.schedule is not None:
            lr = float(self.schedule(max(run.step - 1, 0) // self.every))
        else:
            lr = float(optax.tree_utils.tree_get(opt_state, "learning_rate", math.nan))
        logs["learning_rate"] = lr * restarts.rate_scale(opt_state)


class PhaseMarks(Hook):
    """Writes ``'<phase> <step>'`` to ``path`` as the run moves (fault-injection tests).

    Phases: ``train`` (at start and every log), ``eval`` (before evaluating),
    ``checkpoint`` (right before the save), ``final`` (at the end).

    Example:
      >>> PhaseMarks("phase.txt").order
      1000
    """

    order = 1000

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _mark(self, phase: str, step: int) -> None:
        self.path.write_text(f"{phase} {step}\n")

    def on_start(self, run: Run) -> None:
        self._mark("train", run.step)

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        self._mark("train", run.step)

    def before_eval(self, run: Run) -> None:
        self._mark("eval", run.step)

    def on_eval(self, run: Run, record: dict[str, Any]) -> None:
        self._mark("checkpoint", run.step)

    def on_end(self, run: Run) -> None:
        self._mark("final", run.step)


class TrainingInterruptedError(Exception):
    """``fit`` ended early on a signal, after saving a checkpoint at ``step``.

    Attributes:
      signum: the signal (e.g. ``signal.SIGTERM``).
      step: the step the run stopped at (its checkpoint, with a workdir).
      state: the train state at that step (an in-memory run's only copy).
      exit_code: ``128 + signum``, the shell's convention (SIGTERM 143, SIGINT 130).
    """

    def __init__(self, signum: int, step: int, state: Any, where: str):
        self.signum, self.step, self.state = signum, step, state
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"{name}: training stopped at step {step}. {where}.")


class StopOnSignal(Hook):
    """SIGTERM and SIGINT end training gracefully.

    The current step finishes, a checkpoint is saved at that step (pending writes are
    awaited), and ``fit`` raises ``TrainingInterruptedError``; rerunning resumes from that
    step, bit-identically. The handlers are installed for the duration of ``fit`` (main
    thread only; the previous ones come back at the end). A second signal while
    stopping raises ``KeyboardInterrupt`` at once. Schedulers send SIGTERM before
    preemption.

    Example:
      >>> StopOnSignal().signals == (signal.SIGTERM, signal.SIGINT)
      True
    """

    order = 2000  # last: every other hook has ended when it raises

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = tuple(signals)
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def on_start(self, run: Run) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # Python delivers signals to the main thread only

        def handler(signum, frame):
            if self.received is not None:
                raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")
            self.received = signum
            run.pause_reason = f"{signal.Signals(signum).name} received"

        for s in self.signals:
            self._previous[s] = signal.signal(s, handler)

    def on_end(self, run: Run) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous = {}
        if self.received is not None and run.error is None and not run.finished:
            where = run.where_saved().replace("last good", "saved")
            raise TrainingInterruptedError(self.received, run.step, run.state, where)


def default_hooks(workdir: str | Path | None = None) -> list[Hook]:
    """The hooks ``fit`` uses when given none.

    The non-finite guard (stop on NaN/inf), one console line per evaluation, a progress
    bar when stderr is a terminal, graceful SIGTERM/SIGINT (``StopOnSignal``), and with
    a workdir ``metrics.jsonl`` and TensorBoard event files in it. Extend the list to
    add your own: ``[*default_hooks(w), mine]``.

    Example:
      >>> [type(h).__name__ for h in default_hooks()]
      ['NonFinite', 'Console', 'ProgressBar', 'StopOnSignal']
    """
    hooks: list[Hook] = [NonFinite(), Console(), ProgressBar(), StopOnSignal()]
    if workdir is not None:
        hooks += [MetricsFile(), TensorBoard()]
    return hooks
