"""The data of a run: ``LoopOptions`` (how it iterates), ``Run`` (what hooks see),
``FitResult`` (what ``fit`` returns) and ``Hook`` (the base class of every hook).

See ``jaxdl.training.hooks`` for when the loop calls each hook method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jaxdl.training.checkpoint import check_best_mode
from jaxdl.training.state import TrainState

__all__ = ["FitResult", "Hook", "LoopOptions", "Run"]


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """How ``fit`` iterates, logs, evaluates and ranks checkpoints.

    Attributes:
      batch_size: global training batch size (a multiple of the device count).
      num_epochs: passes over the training split.
      eval_batch_size: evaluation batch size (default: ``batch_size``).
      log_every_steps: host fetch + log interval (the only host sync in the hot loop).
      eval_every_epochs: evaluation and checkpoint interval, in epochs.
      max_steps: pause (after a checkpoint) once this many steps are done in total, e.g.
        to split a long run over time-limited jobs; None: run all epochs.
      best_metric: evaluation metric ranking checkpoints, e.g. ``'val_accuracy'``; it
        must be one the evaluation produces. None: no ranking, no best state.
      best_mode: ``'max'`` or ``'min'``.
      steps_per_dispatch: K > 1 runs K steps of a device-resident split in one dispatch
        (a ``lax.scan`` over K batches), where K steps fit before the end of the epoch,
        the next log and ``max_steps``; other steps run one by one. The same steps and
        batches as K = 1 (equal up to float rounding of the scanned program); hooks see
        the same per-step metrics, a signal is acted on after the current K steps.
        Fewer dispatches help small models on accelerators; XLA:CPU can run a scanned
        convolution slower (benchmarks/NOTES.md), so the default is 1.
    """

    batch_size: int
    num_epochs: int
    eval_batch_size: int | None = None
    log_every_steps: int = 100
    eval_every_epochs: int = 1
    max_steps: int | None = None
    best_metric: str | None = None
    best_mode: str = "max"
    steps_per_dispatch: int = 1

    def __post_init__(self):
        names = ("batch_size", "num_epochs", "log_every_steps", "eval_every_epochs")
        for name in (*names, "steps_per_dispatch"):
            if getattr(self, name) < 1:
                raise ValueError(f"LoopOptions.{name} must be >= 1, got {getattr(self, name)}.")
        check_best_mode(self.best_mode, "LoopOptions.best_mode")


@dataclasses.dataclass
class FitResult:
    """What ``fit`` returns.

    Attributes:
      state: the final state (use this one: the state given to ``fit`` is not trained).
      best_state: the best-ranked state by ``best_metric`` (None when nothing is ranked).
      history: one record per evaluation (``step``, ``epoch``, ``<split>_<metric>``, ...).
      final_metrics: what hooks computed at the end (e.g. ``FinalEvaluation``'s test).
      wall_time: seconds spent in this call's training loop.
      steps_per_second: steps of this call per second of ``wall_time``.
      finished: every epoch ran, or a hook stopped the run (False: paused, e.g. at
        ``max_steps``: a rerun with the same workdir continues).
      stop_reason: why a hook stopped the run ('' otherwise).
      warnings: what hooks found wrong with the run (e.g. ``TrainingHealth``'s verdict).
    """

    state: TrainState
    best_state: TrainState | None
    history: list[dict[str, Any]]
    final_metrics: dict[str, float]
    wall_time: float
    steps_per_second: float
    finished: bool
    stop_reason: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)


class Hook:
    """Base of every hook: each method is a no-op; override the ones you need.

    When the loop calls each method, and the ``order`` convention: ``jaxdl.training.hooks``.
    """

    order: int = 0

    @property
    def name(self) -> str:
        """Key of this hook's state in the checkpoint (unique among stateful hooks)."""
        return type(self).__name__

    def on_start(self, run: Run) -> None:
        """Once, before the first step of this process (after any resume)."""

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        """At each host fetch of the train metrics."""

    def before_eval(self, run: Run) -> None:
        """At an evaluation point, before evaluating."""

    def on_eval(self, run: Run, record: dict[str, Any]) -> None:
        """After an evaluation, before the checkpoint of this step is saved."""

    def on_end(self, run: Run) -> None:
        """When the run ends: finished, stopped, paused at ``max_steps`` or failed."""

    def state_dict(self) -> dict[str, Any] | None:
        """JSON state saved with every checkpoint (None: stateless)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Takes back what ``state_dict`` returned (called on resume)."""


@dataclasses.dataclass(eq=False)
class Run:
    """What hooks see of a run, and may change (``state``, ``stop``, ``scores``).

    Attributes:
      state: the live train state (donated to the next step: copy what you keep).
      step: steps done so far.
      steps_per_epoch: optimizer steps per pass over the training split.
      total_steps: ``num_epochs * steps_per_epoch``.
      options: the ``LoopOptions``.
      workdir: the run directory, or None for an in-memory run.
      hooks: every hook of the run, in call order.
      history: the evaluation records so far.
      evals: the splits evaluated at every evaluation point, by name.
      stop: set to True to end training after this evaluation (persisted).
      stop_reason: one line saying why.
      pause_reason: set (e.g. by a signal handler) to end this call after the current
        step with a checkpoint, the run unfinished: a rerun resumes there.
      scores: the metrics ranking this evaluation's checkpoint, None: not a candidate.
      window: the last log window's per-step values (``np.ndarray`` [n] per metric), its
        first step, ``window['first_step']``, and the steps each of its dispatches ran,
        ``window['dispatches']`` (K for K steps in one dispatch, else 1; they sum to n).
      final_metrics: metrics of the end (e.g. the test split's), filled by hooks.
      warnings: what hooks found wrong with the run (e.g. it did not train).
      finished: whether every epoch ran or a hook stopped the run (set at the end).
      error: the exception that ended the run, if any.
    """

    state: TrainState
    step: int
    steps_per_epoch: int
    total_steps: int
    options: Any
    workdir: Path | None
    hooks: Sequence[Hook]
    history: list[dict[str, Any]]
    evals: dict[str, Any]
    evaluate_fn: Callable[..., dict[str, float]] = dataclasses.field(repr=False)
    store: Any = dataclasses.field(repr=False)
    stop: bool = False
    stop_reason: str = ""
    pause_reason: str = ""
    scores: dict[str, float] | None = None
    window: dict[str, Any] = dataclasses.field(default_factory=dict)
    final_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    finished: bool = False
    error: BaseException | None = None
    _best: tuple[int, TrainState] | None = dataclasses.field(default=None, repr=False)

    @property
    def epoch(self) -> int:
        """Completed passes over the training split."""
        return self.step // self.steps_per_epoch

    def evaluate(self, split: Any, prefix: str, state: TrainState | None = None):
        """``jaxdl.training.evaluate`` of ``state`` (default: the live one) on ``split``."""
        return self.evaluate_fn(self.state if state is None else state, split, prefix)

    def restore(self, step: int) -> TrainState:
        """The state saved at ``step`` (in this run's checkpoints, or in memory)."""
        return self.store.restore(self.state, step)[0]

    def best_step(self) -> int | None:
        """The step of the best-ranked evaluation (None: nothing ranked)."""
        return self.store.best_step() if self.store.best_metric else None

    def best_state(self) -> TrainState | None:
        """The best-ranked state (restored once, then cached); None: nothing ranked."""
        best = self.best_step()
        if best is None:
            return None
        if best == self.step:
            return self.state
        if self._best is None or self._best[0] != best:
            self._best = (best, self.restore(best))
        return self._best[1]

    def where_saved(self) -> str:
        """One phrase naming the last saved step, for error messages."""
        if self.workdir is None:
            return "This in-memory run keeps no checkpoint"
        where, latest = self.workdir / "checkpoints", self.store.latest_step()
        if latest is None:
            return f"No checkpoint was saved yet in {where}"
        return f"The last good checkpoint is step {latest} in {where}"
