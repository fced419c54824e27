"""Training curves as PNG files (the course's "track the loss" practice).

Figures are drawn on explicit ``matplotlib.figure.Figure`` objects (``new_figure``),
never through pyplot: importing or calling jaxdl changes neither matplotlib's backend
nor pyplot's list of open figures (a notebook keeps its own backend).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


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
      >>> import tempfile
      >>> from pathlib import Path
      >>> records = [{"step": 0, "loss": 2.3}, {"step": 100, "loss": 0.5, "val_accuracy": 0.9}]
      >>> out = plot_curves(records, Path(tempfile.mkdtemp()) / "curves.png")
      >>> out.name, out.stat().st_size > 0
      ('curves.png', True)
    """
    keys = sorted({k for r in records for k in r if k != "step" and _is_number(r[k])})
    panels = [("loss", [k for k in keys if k.endswith("loss")], "log")]
    panels.append(("accuracy", [k for k in keys if k.endswith("accuracy")], "linear"))
    fig, axes = new_figure(1, 2, figsize=(11, 4))
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


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """A pyplot-free figure and its axes: ``Figure(**kwargs)`` and ``fig.subplots(...)``.

    ``kwargs`` go to ``Figure`` (``figsize``, ``dpi``), except ``squeeze``, ``sharex``
    and ``sharey``, which go to ``subplots``. The figure belongs to no pyplot window
    or backend; ``savefig`` renders it with the file format's own canvas (Agg for PNG).

    Example:
      >>> fig, axes = new_figure(1, 2, figsize=(4, 2))
      >>> len(axes), fig.get_size_inches().tolist()
      (2, [4.0, 2.0])
    """
    sub = {k: kwargs.pop(k) for k in ("squeeze", "sharex", "sharey") if k in kwargs}
    fig = Figure(**kwargs)
    return fig, fig.subplots(nrows, ncols, **sub)


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Lays out a matplotlib figure, writes it to ``path`` (folders made) and closes it.

    A figure made by pyplot is closed through pyplot; a ``new_figure`` one has nothing
    to close (it is freed with its last reference).
    """
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    if getattr(fig.canvas, "manager", None) is not None:  # registered with pyplot
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
