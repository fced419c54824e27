"""Metric sinks: an append-only ``metrics.jsonl`` and TensorBoard event files.

TensorBoard files are written by tensorboardX (a maintained writer; no TensorFlow
needed). On resume from step s both sinks drop what a killed run wrote after s, so
the history of a resumed run equals that of an uninterrupted one.
"""

import json
import math
from pathlib import Path
from typing import Any

from tensorboardX import SummaryWriter


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl file (missing file: empty list)."""
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


class MetricWriter:
    """Writes scalar records to ``<workdir>/metrics.jsonl`` and ``<workdir>/tensorboard``.

    Args:
      workdir: the run directory.
      resume_step: records with ``step`` greater than this are dropped at start.

    Example:
      >>> w = MetricWriter(workdir, resume_step=0)
      >>> w.write(100, {"train_loss": 0.3})
    """

    def __init__(self, workdir: str | Path, resume_step: int = 0):
        self.path = Path(workdir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(self.path)
        self._file = self.path.open("a")
        self._tb = SummaryWriter(
            str(Path(workdir) / "tensorboard"), purge_step=resume_step + 1 if resume_step else None
        )

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Appends one record ``{"step": step, **scalars}``."""
        record = {"step": int(step), **{k: _jsonable(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        for k, v in scalars.items():
            if isinstance(v, int | float):
                self._tb.add_scalar(k, v, int(step))

    def close(self) -> None:
        """Flushes and closes both sinks."""
        self._file.close()
        self._tb.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf
    return v
