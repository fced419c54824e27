"""Experiments of the course that regenerate their tables and figures in ``docs/``.

Each module is one command, e.g. ``python -m train.experiments.signal_propagation``.
The generated part of a document sits between two HTML comment markers, so the
hand-written discussion around it survives a rerun; these helpers write that part.
"""

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections

from jaxdl.viz.plots import new_figure, save_figure
from train import classification, experiment_dirs

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


def skeleton(title: str, intro: str = "") -> str:
    """A new document for ``write_generated``: the title, ``intro``, the empty markers.

    Example:
      >>> write_generated("docs/x.md", "| a |", skeleton("X", "Command: `python -m x`"))
    """
    return f"# {title}\n\n" + (f"{intro}\n\n" if intro else "") + f"{BEGIN}\n{END}\n"


DOC_SKELETON = """# The CNN zoo: experiments

Models: `jaxdl.models.create(name)` (see `jaxdl/models/registry.py`); configs in
`train/configs/`; evaluation (top-k, TTA, ensembles) in `jaxdl/training/evaluation.py`.
"""


def section_markers(name: str) -> tuple[str, str]:
    """The HTML comments delimiting the generated section ``name`` of a document."""
    return (
        f"<!-- generated: {name} begin (do not edit by hand; rerun the command) -->",
        f"<!-- generated: {name} end -->",
    )


def write_section(path: str | Path, name: str, generated: str, title: str = "") -> Path:
    """Replaces (or appends) the generated section ``name`` of the markdown file ``path``.

    Text outside the markers survives a rerun, so several experiments share one
    document, each owning one section (a new document starts as ``DOC_SKELETON``).
    """
    path = Path(path)
    begin, end = section_markers(name)
    text = path.read_text() if path.exists() else DOC_SKELETON
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
    else:
        head, tail = text.rstrip() + f"\n\n## {title or name}\n\n", "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{begin}\n{generated.strip()}\n{end}{tail}")
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


def with_overrides(
    config: ml_collections.ConfigDict, overrides: dict[str, Any]
) -> ml_collections.ConfigDict:
    """A copy of ``config`` with dotted-key overrides (``{"loss.l2": 1e-3, "seed": 1}``).

    Keys must exist, except under a ``kwargs`` node (free-form module/optimizer fields,
    checked by the model registry); a misspelled key raises KeyError.
    """
    c = ml_collections.ConfigDict(config.to_dict())
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = c
        for p in parents:
            node = node[p]
        if leaf not in node and parents[-1:] != ["kwargs"]:
            raise KeyError(f"unknown config key {key!r}")
        node[leaf] = value
    return c


def short_run(config: ml_collections.ConfigDict, **train: Any) -> ml_collections.ConfigDict:
    """``config`` made one of an experiment's many short runs, in place.

    No progress bar and one checkpoint kept; ``train`` sets fields of ``config.train``.

    Example:
      >>> cfg = short_run(mnist_mlp.get_config(), num_epochs=5, log_every_steps=10)
    """
    config.train.update(progress=False, max_to_keep=1, **train)
    return config


def train_fresh(config: ml_collections.ConfigDict, workdir: str | Path) -> tuple[Any, float]:
    """Trains ``config`` from scratch in ``workdir`` (``train.classification.run``).

    An older run there is deleted first, never resumed; files of yours there stay
    (``experiment_dirs.fresh_run``).

    Returns:
      The run's result (``history``, ``final_metrics``) and its wall seconds.
    """
    workdir = experiment_dirs.fresh_run(workdir, config)
    t0 = time.perf_counter()
    return classification.run(config, workdir), time.perf_counter() - t0


def machine() -> str:
    """``'<device kind>, JAX <version>'``: where an experiment's wall times were measured."""
    return f"{jax.devices()[0].device_kind}, JAX {jax.__version__}"


def default_data_dir() -> str:
    """The dataset root of an experiment without ``--data_dir``.

    ``''`` (the registry's look-up order, ``$JAXDL_DATA_DIR`` first) when that variable
    is set or there is no ``shared/data`` folder next to the repository; else that
    folder (it holds MNIST and Fashion-MNIST on the course's machines).
    """
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    return "" if os.environ.get("JAXDL_DATA_DIR") or not shared.is_dir() else str(shared)


def compilation_cache(folder: str | Path) -> None:
    """Keeps every compiled program in ``folder`` (process-wide).

    Runs that differ only in their seed or rate compile the same programs: each
    compiles once (model init, evaluation, a rate's step), however small or quick.
    """
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


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
    n = len(panels)
    fig, axes = new_figure(1, n, figsize=(panel_width * n + 0.5, 3.4), sharey=True, squeeze=False)
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
