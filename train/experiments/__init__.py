"""Experiments of the course that regenerate their tables and figures in ``docs/``.

Each module is one command, e.g. ``python -m train.experiments.signal_propagation``.
The generated part of a document sits between two HTML comment markers, so the
hand-written discussion around it survives a rerun; these helpers write that part.
"""

import math
from collections.abc import Sequence
from pathlib import Path

from jaxdl.viz.plots import save_figure

BEGIN = "<!-- generated: begin (do not edit by hand; rerun the command) -->"
END = "<!-- generated: end -->"


def write_generated(path: str | Path, generated: str, skeleton: str) -> Path:
    """Put ``generated`` between the markers of the markdown file ``path``.

    Args:
      path: the document (created from ``skeleton`` when missing or marker-less).
      generated: markdown produced by the experiment (tables, figure links).
      skeleton: text of a new document; must contain ``BEGIN`` and ``END``.

    Returns:
      The path written.

    Example:
      >>> write_generated("docs/x.md", "| a |\\n|---|\\n| 1 |", f"# X\\n{BEGIN}\\n{END}\\n")
    """
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    if BEGIN not in text or END not in text:
        if BEGIN not in skeleton or END not in skeleton:
            raise ValueError("write_generated: the skeleton must contain the BEGIN/END markers.")
        text = skeleton
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{BEGIN}\n{generated.strip()}\n{END}{tail}")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are printed as given (format them before).

    Example:
      >>> markdown_table(["a", "b"], [[1, "x"]])
      '| a | b |\\n|---|---|\\n| 1 | x |'
    """
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def fmt(value: float, digits: int = 3) -> str:
    """Compact number: ``nan``/``inf`` spelled out, scientific outside [1e-3, 1e4)."""
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value != 0 and not 1e-3 <= abs(value) < 1e4:
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}g}"


Series = tuple[str, Sequence[float], Sequence[float]]  # (label, x, y)


def plot_panels(
    panels: dict[str, list[Series]],
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    ylim: tuple[float, float] | None = None,
    legend: str = "last",
    panel_width: float = 3.3,
) -> Path:
    """A row of panels (one per key), each with labelled lines; saved as a small PNG.

    Args:
      panels: panel title -> list of ``(label, x, y)``; NaN points are left out.
      path: PNG file (its folder is created).
      xlabel, ylabel: axis labels (the y label on the first panel only).
      logx, logy: logarithmic axes.
      ylim: y limits shared by every panel.
      legend: ``'last'`` (same labels in every panel) or ``'all'`` (labels differ).
      panel_width: inches per panel.

    Returns:
      The path written.

    Example:
      >>> plot_panels({"tanh": [("xavier", [1, 2], [1.0, 0.5])]}, "f.png", xlabel="l",
      ...             ylabel="Var")
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(panel_width * n + 0.5, 3.4), sharey=True, squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for label, x, y in series:
            ax.plot(x, y, label=label, lw=1.3, marker="o" if len(x) < 12 else None, ms=3)
        ax.set_xscale("log" if logx else "linear")
        ax.set_yscale("log" if logy else "linear")
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if legend == "all":
            ax.legend(fontsize=6)
    axes[0][0].set_ylabel(ylabel)
    if legend == "last":
        axes[0][-1].legend(fontsize=7)
    return save_figure(fig, path, dpi=72)
