"""The report of ``train.experiments.optimizers``: tables, figures and the claims' verdicts.

Pure functions of the experiment's ``results.json`` (so ``--report_only`` can rewrite
``docs/optimizers.md`` without training).
"""

import math
from pathlib import Path

import numpy as np

from jaxdl.viz.plots import new_figure, save_figure
from train import experiments as ex
from train.sweep import pct

SEEDS = (0, 1, 2)  # the SGD baseline is repeated to measure seed-to-seed noise


def _num(x: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}g}"


def _seed_noise(res: dict, key: str = "test_error") -> tuple[float, float]:
    """Mean and range (max - min) of the SGD baseline's ``key`` over the seeds."""
    errs = [r[key] for r in res["optimizers"] if r["optimizer"] == "sgd"]
    errs = [e for e in errs if math.isfinite(e)] or [math.nan]
    return float(np.mean(errs)), float(np.max(errs) - np.min(errs))


def optimizer_table(res: dict) -> str:
    """Optimizers at equal epochs (seed 0), with the SGD seeds' mean and range."""
    how = {
        "all together": "= Nesterov's",
        "all together (adaptive)": "(1 - rho) x Adam's",
    }
    rows = []
    for r in res["optimizers"]:
        if r["optimizer"] == "sgd" and r["seed"] != SEEDS[0]:
            continue
        name = r["label"]
        if r["diverged"] or r["failed"]:
            what = "diverged" if r["diverged"] else f"failed ({r['failed']})"
            rows.append([name, f"{r['rate']:g}", how.get(name, "sweep"), what, "-", "-", "-"])
            continue
        rows.append([
            name, f"{r['rate']:g}", how.get(name, "sweep (val)"), _num(r["train_loss"]),
            pct(r["val_error"]), pct(r["test_error"]), _num(r["train_wall_s"]),
        ])  # fmt: skip
    mean, spread = _seed_noise(res)
    rows.append([
        f"SGD, seeds {SEEDS}", "", "", "", "", f"{pct(mean)} (range {pct(spread)})", "",
    ])  # fmt: skip
    header = ["optimizer", "rate", "rate chosen by", "final train loss", "val error (%)",
              "test error (%)", "train time (s)"]  # fmt: skip
    return ex.markdown_table(header, rows)


def batch_table(res: dict) -> str:
    """Batch GD / SGD (batch 1) / mini-batch at equal epochs and at equal wall time."""
    rows = []
    for label, r in res["batch"].items():
        batch = f"{r['n_train']} (micro {r['batch']})" if r["accumulate"] == 0 else r["batch"]
        rows.append([
            label, batch, f"{r['rate']:g}", _num(r["epochs"]), r["updates"],
            _num(r["train_loss"]), pct(r["test_error"]), _num(r["train_wall_s"]),
            r.get("note", "") or r["failed"] or ("diverged" if r["diverged"] else ""),
        ])  # fmt: skip
    header = ["method", "examples per update", "rate", "epochs", "updates",
              "final train loss", "test error (%)", "train time (s)", "note"]  # fmt: skip
    return ex.markdown_table(header, rows)


def sweep_table(res: dict) -> str:
    """Validation error (%) of every swept rate, one column per sweep."""
    names = list(res["sweeps"])
    rates = sorted({row["rate"] for t in res["sweeps"].values() for row in t}, reverse=True)
    cell = {
        (n, row["rate"]): "div." if row["diverged"] else pct(row["val_error"])
        for n, t in res["sweeps"].items()
        for row in t
    }
    rows = [[f"{lr:g}"] + [cell.get((n, lr), "") for n in names] for lr in rates]
    rows.append(["**chosen**"] + [f"**{res['rates'][n]:g}**" for n in names])
    return ex.markdown_table(["rate"] + names, rows)


def _curve(r: dict, key: str, x: str = "epoch"):
    pts = [(p[x], p[key]) for p in r["curve"] if key in p and isinstance(p[key], float)]
    if key == "val_accuracy":
        pts = [(a, 100 * (1 - b)) for a, b in pts]
    return ([a for a, _ in pts], [b for _, b in pts]) if pts else ([], [])


CURVES = (("train_loss", "train loss"), ("val_accuracy", "val error (%)"))


def plot_runs(runs: dict, path: Path, title: str, with_time: bool) -> Path:
    """Train loss and val error per epoch (and per second when ``with_time``)."""
    xs = ["epoch", "time"] if with_time else ["epoch"]
    fig, axes = new_figure(2, len(xs), figsize=(5.2 * len(xs), 6.4), squeeze=False)
    for j, x in enumerate(xs):
        for i, (key, name) in enumerate(CURVES):
            ax = axes[i][j]
            for label, r in runs.items():
                cx, cy = _curve(r, key, x)
                if cx:
                    ax.plot(cx, cy, label=label, lw=1.2, marker="o" if len(cx) < 12 else None, ms=3)
            ax.set_yscale("log")
            ax.set_xlabel("training time (s)" if x == "time" else "epoch")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path, dpi=80)


def plot_sweeps(res: dict, path: Path) -> Path:
    """Validation error against the rate for every sweep (log x); diverged rates left out."""
    fig, ax = new_figure(figsize=(6, 4))
    for name, table in res["sweeps"].items():
        ok = sorted((t["rate"], 100 * t["val_error"]) for t in table if not t["diverged"])
        if ok:
            ax.plot(*zip(*ok), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("val error (%)")
    ax.set_title(f"{res['title']}: rate sweeps")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=80)


def _compare(a: float, b: float, noise: float, percent: bool) -> str:
    """``yes``/``no``/``tie`` for "a < b" (errors or losses), with the numbers."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return "n/a"
    word = "tie" if abs(a - b) <= noise else ("yes" if a < b else "no")
    show = pct if percent else _num
    return f"{word} ({show(a)} vs {show(b)})"


def claims(results: dict) -> str:
    """The course's claims against the runs, one row per claim and a column per task."""
    rows = []
    checks = [
        ("Mini-batch beats batch GD at equal wall time (test error)",
         "mini-batch (128)", "batch GD, equal time", "batch", "test_error"),
        ("Mini-batch beats batch GD at equal epochs (test error)",
         "mini-batch (128)", "batch GD", "batch", "test_error"),
        ("Mini-batch beats SGD (batch 1) at equal wall time (test error)",
         "mini-batch (128)", "SGD (batch 1), equal time", "batch", "test_error"),
        ("Mini-batch beats SGD (batch 1) at equal epochs (test error)",
         "mini-batch (128)", "SGD (batch 1)", "batch", "test_error"),
        ("Momentum accelerates SGD (final train loss)",
         "momentum", "SGD", "opt", "train_loss"),
        ("Momentum beats SGD (test error)", "momentum", "SGD", "opt", "test_error"),
        ("Nesterov beats momentum (test error)", "Nesterov", "momentum", "opt", "test_error"),
        ("Adam beats Nesterov (test error)", "Adam", "Nesterov", "opt", "test_error"),
        ('"All together" beats Nesterov (test error)', "all together", "Nesterov", "opt",
         "test_error"),
        ('"All together (adaptive)" beats Adam (test error)', "all together (adaptive)",
         "Adam", "opt", "test_error"),
    ]  # fmt: skip
    for text, a, b, kind, key in checks:
        row = [text]
        for res in results.values():
            runs = res["batch"] if kind == "batch" else {
                r["label"]: r for r in res["optimizers"] if r["seed"] == SEEDS[0]
            }  # fmt: skip
            # Test errors: a difference within the SGD seeds' range is a tie.
            noise = _seed_noise(res, key)[1]
            ra, rb = runs.get(a), runs.get(b)
            ok = ra and rb
            row.append(_compare(ra[key], rb[key], noise, key != "train_loss") if ok else "n/a")
        rows.append(row)
    header = ["claim (course)"] + [res["title"] for res in results.values()]
    return ex.markdown_table(header, rows)


SKELETON = ex.skeleton(
    "Optimizers and batch sizes (COURSE.md section 2): what reproduces",
    "Regenerate everything below (tables, figures) with one command:\n\n"
    "    python -m train.experiments.optimizers --out docs",
)


def write_report(results: dict, info: dict, out: Path) -> Path:
    """Writes the figures and the generated section of ``out/optimizers.md``."""
    figs = out / "figures"
    parts = [
        f"Run: {info['minutes']:.1f} min on {info['device']} ({info['cpus']} CPU cores), "
        f"JAX {info['jax']}"
        + (
            f", 5-minute load average {info['load'][0]:.1f} at the start and "
            f"{info['load'][1]:.1f} at the end"
            if "load" in info
            else ""
        )
        + " (the machine was shared with other jobs: times are noisy); "
        f"{info['epochs']} epochs on the first {info['train_images']} "
        "training images, validation on train[55000:], test on the test split"
        + (" (QUICK smoke run: numbers meaningless)" if info["quick"] else "")
        + ". Errors in %. Train loss: mean of the last logged window of training-mode "
        "mini-batch losses (dropout on); for batch GD the full-batch loss of the last epoch.",
        "## The course's claims\n\n'tie': the difference is within the range of the same "
        "number (test error, or final train loss) of the SGD baseline over three seeds.\n\n"
        + claims(results),
    ]
    for task, res in results.items():
        f_opt = plot_runs(
            {r["label"]: r for r in res["optimizers"] if r["seed"] == SEEDS[0]},
            figs / f"opt_{task}_optimizers.png", f"{res['title']}: optimizers", False,
        )  # fmt: skip
        f_batch = plot_runs(
            {k: v for k, v in res["batch"].items() if "equal time" not in k},
            figs / f"opt_{task}_batch.png", f"{res['title']}: batch size", True,
        )  # fmt: skip
        f_sweep = plot_sweeps(res, figs / f"opt_{task}_sweeps.png")
        parts += [
            f"## {res['title']}",
            "### Optimizers at equal epochs\n\n" + optimizer_table(res),
            f"![optimizers](figures/{f_opt.name})",
            f"### Batch GD vs SGD vs mini-batch (plain SGD updates)\n\nEqual-time budget: "
            f"{res['budget_s']:.1f} s (the mini-batch run).\n\n" + batch_table(res),
            f"![batch sizes](figures/{f_batch.name})",
            "### Rate sweeps (validation error, %)\n\n" + sweep_table(res),
            f"![sweeps](figures/{f_sweep.name})",
        ]
    return ex.write_generated(out / "optimizers.md", "\n\n".join(parts), SKELETON)
