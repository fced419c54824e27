"""Training curves as PNG files (the course's "track the loss" practice)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(records: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Plots every ``*loss`` and ``*accuracy`` series of ``records`` against step.

    Args:
      records: dicts with a ``step`` key and scalar metrics (e.g. metrics.jsonl rows);
        a metric absent from a record is simply not plotted at that step.
      path: output PNG path.
      title: figure title.

    Returns:
      The written path.

    Example:
      >>> plot_curves(read_jsonl(workdir / "metrics.jsonl"), workdir / "curves.png")
    """
    keys = sorted({k for r in records for k in r if k != "step" and _is_number(r[k])})
    panels = [("loss", [k for k in keys if k.endswith("loss")], "log")]
    panels.append(("accuracy", [k for k in keys if k.endswith("accuracy")], "linear"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (name, series, scale) in zip(axes, panels):
        for k in series:
            pts = [(r["step"], r[k]) for r in records if k in r and _is_number(r[k])]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, label=k, marker="o" if len(pts) < 30 else None, ms=3)
        if (
            series
            and scale == "log"
            and all(r[k] > 0 for r in records for k in series if k in r and _is_number(r[k]))
        ):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Lays out a matplotlib figure, writes it to ``path`` (folders made) and closes it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
