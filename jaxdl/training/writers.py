"""Metric sinks as hooks: an append-only ``metrics.jsonl`` and TensorBoard event files.

Both write one record per log window (``train_*``, ``images_per_second``, ...), per
evaluation (``epoch``, ``<split>_*``, ...) and, at the end, the final metrics.
TensorBoard files are written by tensorboardX (a maintained writer; no TensorFlow
needed). On resume from step s both sinks drop what a killed run wrote after s, so
the history of a resumed run equals that of an uninterrupted one.
"""

import json
import math
from pathlib import Path
from typing import Any

from jaxdl.training.run import Hook, Run

__all__ = ["MetricsFile", "TensorBoard", "read_jsonl"]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl file (missing file: empty list).

    Example:
      >>> import tempfile
      >>> path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
      >>> _ = path.write_text('{"step": 1, "train_loss": 0.5}\\n{"step": 2, "tra')
      >>> read_jsonl(path)  # a line cut by a kill ends the file
      [{'step': 1, 'train_loss': 0.5}]
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut by a kill: everything after it is ignored too
    return records


class _Sink(Hook):
    """A hook writing every log window, evaluation record and the final metrics."""

    order = 100

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        self.write(run.step, logs)

    def on_eval(self, run: Run, record: dict[str, Any]) -> None:
        self.write(run.step, {k: v for k, v in record.items() if k != "step"})

    def on_end(self, run: Run) -> None:
        if run.final_metrics:
            self.write(run.step, run.final_metrics)
        self.close()

    def _path(self, run: Run, given: Path | None, default: str) -> Path:
        if given is not None:
            return given
        if run.workdir is None:
            raise ValueError(
                f"{type(self).__name__} writes into the run's workdir, and this run has none: "
                "pass fit(workdir=...) or a path to the hook."
            )
        return run.workdir / default

    def write(self, step: int, scalars: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class MetricsFile(_Sink):
    """Appends ``{"step": s, **scalars}`` lines to ``path`` (default ``workdir/metrics.jsonl``).

    Example:
      >>> MetricsFile("metrics.jsonl").order
      100
    """

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self._file = None

    def on_start(self, run: Run) -> None:
        self.path = self._path(run, self.path, "metrics.jsonl")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= run.step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(self.path)
        self._file = self.path.open("a")

    def write(self, step: int, scalars: dict[str, Any]) -> None:
        record = {"step": int(step), **{k: _jsonable(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoard(_Sink):
    """Scalars as TensorBoard event files in ``logdir`` (default ``workdir/tensorboard``).

    Example:
      >>> TensorBoard("runs/x/tensorboard").order
      100
    """

    def __init__(self, logdir: str | Path | None = None):
        self.logdir = None if logdir is None else Path(logdir)
        self._tb = None

    def on_start(self, run: Run) -> None:
        self.logdir = self._path(run, self.logdir, "tensorboard")
        purge = run.step + 1 if run.step else None
        # Imported here: tensorboardX imports torch when it is installed (~2 s of every
        # process start), and only runs with a TensorBoard hook need it.
        from tensorboardX import SummaryWriter

        self._tb = SummaryWriter(str(self.logdir), purge_step=purge)

    def write(self, step: int, scalars: dict[str, Any]) -> None:
        for k, v in scalars.items():
            if isinstance(v, int | float):
                self._tb.add_scalar(k, v, int(step))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf
    return v
