"""Hooks that draw: the training curves of a run as a PNG (``Curves``)."""

from pathlib import Path
from typing import Any

from jaxdl.training.run import Hook, Run
from jaxdl.training.writers import read_jsonl
from jaxdl.viz.plots import plot_curves

__all__ = ["Curves"]


class Curves(Hook):
    """Draws every logged and evaluated metric against the step when the run ends.

    Args:
      path: the PNG (default ``workdir/curves.png``; required for an in-memory run).
      title: the figure's title (default: the workdir's name).

    A resumed run's curves start from the rows its ``metrics.jsonl`` kept, so they equal
    those of an uninterrupted run.

    Example:
      >>> Curves("curves.png").order
      110
    """

    order = 110  # after the writers

    def __init__(self, path: str | Path | None = None, title: str | None = None):
        self.path = None if path is None else Path(path)
        self.title = title
        self.rows: list[dict[str, Any]] = []

    def on_start(self, run: Run) -> None:
        if self.path is None:
            if run.workdir is None:
                raise ValueError("Curves needs a path for an in-memory run: Curves('x.png').")
            self.path = run.workdir / "curves.png"
        if self.title is None:
            self.title = run.workdir.name if run.workdir is not None else ""
        if run.workdir is not None:
            rows = read_jsonl(run.workdir / "metrics.jsonl")
            self.rows = [r for r in rows if r.get("step", 0) <= run.step]

    def on_log(self, run: Run, logs: dict[str, float]) -> None:
        self.rows.append({"step": run.step, **logs})

    def on_eval(self, run: Run, record: dict[str, Any]) -> None:
        self.rows.append(dict(record))

    def on_end(self, run: Run) -> None:
        if run.final_metrics:
            self.rows.append({"step": run.step, **run.final_metrics})
        if self.rows and self.path is not None:
            plot_curves(self.rows, self.path, title=self.title or "")
