"""Early stopping on a validation metric: pure, host-side, checkpointable.

The course: split off a validation set, evaluate every few epochs, stop when the
validation error has not improved for ``patience`` evaluations, keep the best
weights. The rule (``EarlyStopping``) only decides (is this evaluation the best so
far? should training stop?); the ``EarlyStop`` hook applies it in the loop, which
saves and ranks the checkpoints, and ``RestartFromBest`` goes back to the best one
when validation stalls. It runs on the host
on already-fetched Python floats, once per evaluation, so it is plain Python.

An evaluation improves on the best value iff ``value < best - min_delta`` (mode
``min``) or ``value > best + min_delta`` (mode ``max``); the first evaluation is
always the best. A NaN value never improves (it counts as a bad evaluation).
Training should stop once ``patience`` consecutive evaluations did not improve.

References:
    Prechelt, "Early Stopping - But When?", in Neural Networks: Tricks of the Trade,
    1998.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, NamedTuple

from jaxdl.training import restarts
from jaxdl.training.checkpoint import check_best_mode
from jaxdl.training.run import Hook, Run

__all__ = ["EarlyStop", "EarlyStopping", "EarlyStoppingState", "RestartFromBest"]


class EarlyStoppingState(NamedTuple):
    """Progress of early stopping; JSON-serializable via `to_dict`/`from_dict`.

    Attributes:
        best_value: best monitored value so far, None before the first evaluation.
        best_step: training step of that evaluation, -1 before the first one.
        num_bad: consecutive evaluations without improvement since the best.
    """

    best_value: float | None = None
    best_step: int = -1
    num_bad: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of Python scalars (``json.dumps`` works on it)."""
        return {"best_value": self.best_value, "best_step": self.best_step, "num_bad": self.num_bad}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EarlyStoppingState:
        """Inverse of `to_dict`; raises ValueError on missing or extra keys."""
        expected = set(cls._fields)
        if set(data) != expected:
            raise ValueError(
                f"EarlyStoppingState.from_dict expects keys {sorted(expected)}, got {sorted(data)}."
            )
        best = data["best_value"]
        return cls(
            best_value=None if best is None else float(best),
            best_step=int(data["best_step"]),
            num_bad=int(data["num_bad"]),
        )


class EarlyStopping(NamedTuple):
    """Early-stopping rule (configuration); pure `init`/`update` functions.

    Attributes:
        monitor: metric name looked up in the metrics mapping given to `update`.
        mode: ``"min"`` (losses, errors) or ``"max"`` (accuracies).
        patience: number of consecutive non-improving evaluations that stops training
            (0: stop at the first one).
        min_delta: minimum change that counts as an improvement, ``>= 0``.

    Example:
        >>> rule = EarlyStopping(monitor="val_error", mode="min", patience=2)
        >>> state = rule.init()
        >>> for step, err in enumerate([0.5, 0.4, 0.45, 0.41]):
        ...     state, is_best, stop = rule.update(state, {"val_error": err}, step)
        >>> state.best_value, state.best_step, stop
        (0.4, 1, True)

    References:
        Prechelt, "Early Stopping - But When?", 1998.
    """

    monitor: str = "val_loss"
    mode: str = "min"
    patience: int = 5
    min_delta: float = 0.0

    def validate(self) -> EarlyStopping:
        """Checks the configuration; returns self. Raises ValueError/TypeError."""
        if not isinstance(self.monitor, str) or not self.monitor:
            raise TypeError(f"monitor must be a non-empty metric name, got {self.monitor!r}.")
        check_best_mode(self.mode, "mode")
        if (
            isinstance(self.patience, bool)
            or not isinstance(self.patience, numbers.Integral)
            or self.patience < 0
        ):
            raise ValueError(f"patience must be an int >= 0, got {self.patience!r}.")
        if not isinstance(self.min_delta, numbers.Real) or not (
            math.isfinite(self.min_delta) and self.min_delta >= 0
        ):
            raise ValueError(f"min_delta must be a finite number >= 0, got {self.min_delta!r}.")
        return self

    def init(self) -> EarlyStoppingState:
        """Fresh state (validates the configuration).

        Returns:
            ``EarlyStoppingState(best_value=None, best_step=-1, num_bad=0)``.
        """
        self.validate()
        return EarlyStoppingState()

    def improves(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` by more than ``min_delta`` in ``mode``."""
        if math.isnan(value):
            return False
        if best is None:
            return True
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def update(
        self, state: EarlyStoppingState, metrics: Mapping[str, Any] | float, step: int
    ) -> tuple[EarlyStoppingState, bool, bool]:
        """Account for one evaluation.

        Args:
            state: the current state.
            metrics: mapping holding ``monitor`` (Python/numpy/JAX scalar), or the
                monitored value itself.
            step: training step of this evaluation (stored as ``best_step``).

        Returns:
            ``(new_state, is_best, should_stop)``: ``is_best`` when this evaluation is
            the new best (save it); ``should_stop`` when ``num_bad >= patience``.

        Raises:
            KeyError: ``monitor`` is not in ``metrics`` (lists the available names).
        """
        self.validate()
        if isinstance(metrics, Mapping):
            if self.monitor not in metrics:
                raise KeyError(
                    f"Early stopping monitors {self.monitor!r}, which is not among the "
                    f"evaluation metrics {sorted(metrics)}; set monitor to one of them."
                )
            metrics = metrics[self.monitor]
        value = float(metrics)
        if self.improves(value, state.best_value):
            new_state = EarlyStoppingState(best_value=value, best_step=int(step), num_bad=0)
            is_best = True
        else:
            new_state = state._replace(num_bad=state.num_bad + 1)
            is_best = False
        return new_state, is_best, new_state.num_bad >= self.patience and not is_best


class EarlyStop(Hook):
    """Stops when ``rule.monitor`` has not improved for ``rule.patience`` evaluations.

    Only evaluations that improve by more than ``min_delta`` rank as the best
    checkpoint, so the best weights kept are the early-stopping optimum. Adds
    ``best_step`` to every record. The monitored metric must be the loop's
    ``best_metric`` (checked at start).

    Example:
      >>> EarlyStop(EarlyStopping(monitor="val_loss", mode="min", patience=3)).order
      -20
    """

    order = -20

    def __init__(self, rule: EarlyStopping):
        self.rule = rule.validate()
        self.state = rule.init()

    def on_start(self, run: Run) -> None:
        opts = run.options
        if (self.rule.monitor, self.rule.mode) != (opts.best_metric, opts.best_mode):
            raise ValueError(
                f"early stopping monitors {self.rule.monitor!r} ({self.rule.mode}) but "
                f"checkpoints are ranked by {opts.best_metric!r} ({opts.best_mode}); set "
                "best_metric and best_mode to the monitored metric so the best weights are kept."
            )

    def on_eval(self, run: Run, record: dict[str, Any]) -> None:
        self.state, is_best, stop = self.rule.update(self.state, record, run.step)
        if not is_best:
            run.scores = None
        if stop:
            run.stop = True
            run.stop_reason = (
                f"early stopping: {self.rule.monitor} did not improve for "
                f"{self.state.num_bad} evaluations (best at step {self.state.best_step})"
            )
        record["best_step"] = self.state.best_step

    def state_dict(self) -> dict[str, Any]:
        return self.state.to_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = EarlyStoppingState.from_dict(state)


class RestartFromBest(Hook):
    """After ``patience`` evaluations without improvement, go back to the best weights.

    Weights, model state and optimizer state come back from the best checkpoint and
    the learning rate is multiplied by ``decay`` (``restarts.restart_from``; the
    optimizer must be wrapped by ``restarts.with_restarts``), at most ``max_restarts``
    times. Needs the ``EarlyStop`` hook whose bookkeeping it reads; a restart cancels
    that evaluation's stop and adds ``restart_from_step`` to the record.

    Example:
      >>> stop = EarlyStop(EarlyStopping(monitor="val_accuracy", mode="max", patience=5))
      >>> RestartFromBest(stop, patience=2, max_restarts=3, decay=0.5).restarts
      0
    """

    order = -10

    def __init__(self, early_stop: EarlyStop, patience: int, max_restarts: int, decay: float):
        if patience < 1 or max_restarts < 0:
            raise ValueError(
                f"restart patience must be >= 1 and max_restarts >= 0, got {patience}, "
                f"{max_restarts}."
            )
        if not 0 < decay <= 1:
            raise ValueError(f"restart decay must be in (0, 1], got {decay}.")
        self.early_stop, self.patience = early_stop, patience
        self.max_restarts, self.decay = max_restarts, decay
        self.restarts = 0

    def on_start(self, run: Run) -> None:
        if self.early_stop not in run.hooks:
            raise ValueError("RestartFromBest needs its EarlyStop hook among the run's hooks.")

    def on_eval(self, run: Run, record: dict[str, Any]) -> None:
        es = self.early_stop.state
        if self.restarts >= self.max_restarts or es.best_step == run.step:
            return
        if es.num_bad >= self.patience:
            run.state = restarts.restart_from(run.restore(es.best_step), run.state, self.decay)
            self.early_stop.state = es._replace(num_bad=0)
            self.restarts += 1
            record["restart_from_step"] = es.best_step
            run.scores, run.stop, run.stop_reason = None, False, ""

    def state_dict(self) -> dict[str, Any]:
        return {"restarts": self.restarts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.restarts = int(state["restarts"])
