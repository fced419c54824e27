"""Optimizers and batch sizes on real data: SGD, momentum, Nesterov, Adam, "all together";
batch GD vs SGD vs mini-batch at equal epochs and at equal wall time.

Two tasks, each through the trainer's real path (``train.classification.run``, the
same as ``python -m train``): the MLP of ``train/configs/mnist_mlp.py`` on MNIST and the
LeNet-5 of ``train/configs/fashion_mnist_lenet5.py`` on Fashion-MNIST, each on the
first ``--train_images`` training images (CPU budget), validated on ``train[55000:]``
and tested on the 10,000 test images. Distortions (augmentation) are off so only the
optimizer changes.

Rates are chosen on the VALIDATION error of the course's grid
{0.3, 0.1, 0.03, 0.01, 0.003, 0.001} (``train.sweep``): one epoch per rate at batch
128 for SGD, momentum, Nesterov and Adam (constant rate); "all together" (Nesterov
look-ahead + the task config's exponential schedule + weight decay 5e-4 + annealed
gradient noise) reuses Nesterov's rate, and its adaptive variant uses ``(1 - rho)``
times Adam's rate (the same steady-state step, see ``jaxdl.optim.all_together``).
SGD with one example per update is swept over one pass of 2,000 images; batch GD
(``optimizer.accumulate_steps=0``: the mean gradient of the whole epoch, accumulated
over micro-batches of 1000 by ``optax.MultiSteps``) over ``--epochs`` full-batch steps
on 2,000 images, with 1.0 added to the grid. Batch-size runs use plain SGD (the
course's three algorithms, no momentum) at a constant rate.

Equal wall time: the budget is the measured training time of the mini-batch run; SGD
(batch 1) gets one pass over the first n images (n = budget x its measured steps/s),
or the nearest whole number of epochs when n exceeds the split; batch GD the nearest
whole number of epochs. Times include one compilation and the per-epoch validation.

Run (about 15-20 minutes on 2 CPU cores; ``--quick`` for a one-minute smoke run)::

  python -m train.experiments.optimizers --out docs

It writes ``docs/optimizers.md`` (the generated section) and
``docs/figures/opt_*.png``; runs go to ``--workdir`` (default ``runs/optimizers``).

References:
  Robbins, Monro. A stochastic approximation method. 1951 (SGD).
  Polyak. Some methods of speeding up the convergence of iteration methods. 1964.
  Sutskever, Martens, Dahl, Hinton. On the importance of initialization and momentum
  in deep learning. ICML 2013 (Nesterov).
  Kingma, Ba. Adam: a method for stochastic optimization. ICLR 2015.
  Neelakantan et al. Adding gradient noise improves learning for very deep networks. 2015.
"""

import argparse
import json
import math
import os
import shutil
import time
import traceback
from pathlib import Path

import jax
import numpy as np
from absl import logging

from jaxdl.training.writers import read_jsonl
from train import experiments as ex
from train import sweep as sw
from train.configs import fashion_mnist_lenet5, mnist_mlp

TASKS = {
    "mnist_mlp": ("MLP on MNIST", mnist_mlp.get_config),
    "fashion_lenet5": ("LeNet-5 on Fashion-MNIST", fashion_mnist_lenet5.get_config),
}
#: (label, jaxdl.optim.create name); the first four are swept, the last two derived.
OPTIMIZERS = (
    ("SGD", "sgd"),
    ("momentum", "momentum"),
    ("Nesterov", "nesterov_lookahead"),
    ("Adam", "adam"),
    ("all together", "all_together"),
    ("all together (adaptive)", "all_together_adaptive"),
)
RHO = 0.9  # the momentum of every momentum variant (the course's value)
GD_MICRO_BATCH = 1000  # batch GD accumulates the epoch's gradient over these
SEEDS = (0, 1, 2)  # the SGD baseline is repeated to measure seed-to-seed noise


def base_config(task: str, args: argparse.Namespace, n_train: int, batch: int, epochs: int):
    """The task config on ``train[:n_train]`` with batch ``batch`` for ``epochs`` epochs."""
    cfg = TASKS[task][1]()
    cfg.data.data_dir = args.data_dir
    cfg.data.train_split = f"train[:{n_train}]"
    cfg.data.val_split = args.val_split
    cfg.data.test_split = args.test_split
    cfg.data.augment = ""
    cfg.train.batch_size = batch
    cfg.train.num_epochs = epochs
    cfg.train.eval_batch_size = 1000
    cfg.train.progress = False
    cfg.train.max_to_keep = 1
    spe = n_train // batch
    cfg.train.log_every_steps = max(1, spe // 20)  # ~20 loss points per epoch
    cfg.optimizer.name = "sgd"  # plain SGD unless `with_optimizer` says otherwise
    cfg.optimizer.kwargs = {}
    cfg.optimizer.schedule = "constant"
    cfg.optimizer.schedule_kwargs = {}
    return cfg


def with_optimizer(cfg, name: str, task_schedule):
    """Sets optimizer ``name`` (constant rate; "all together" keeps the task's schedule)."""
    cfg.optimizer.name = name
    if name.startswith("all_together"):
        # The adaptive variant as all_together(adaptive=True): create("all_together_adaptive",
        # ...) fails in jaxdl.optim.alias (its re-signed wrapper gets rho positionally).
        cfg.optimizer.name = "all_together"
        cfg.optimizer.kwargs = {"key": 0, "rho": RHO, "adaptive": name.endswith("adaptive")}
        cfg.optimizer.schedule = task_schedule.schedule
        cfg.optimizer.schedule_kwargs = task_schedule.schedule_kwargs.to_dict()
    elif name in ("momentum", "nesterov_lookahead"):
        cfg.optimizer.kwargs = {"rho": RHO}
    return cfg


def batch_gd(cfg):
    """Full-batch gradient descent: one update per epoch (accumulated micro-batches)."""
    cfg.optimizer.accumulate_steps = 0
    cfg.train.log_every_steps = _n_train(cfg) // cfg.train.batch_size  # one point per update
    return cfg


def _n_train(cfg) -> int:
    return int(cfg.data.train_split.split(":")[1].rstrip("]"))  # "train[:N]"


def run(cfg, rate: float, workdir: Path, label: str, warm: bool = False) -> dict:
    """Trains ``cfg`` at ``rate`` in ``workdir``; returns the numbers and curves of the run.

    ``warm``: first run one step of the same config elsewhere, so the timed run loads
    its compiled step from the persistent cache (timings then exclude compilation).
    """
    t0 = time.perf_counter()
    if warm:
        one = cfg.copy_and_resolve_references()
        one.train.max_steps = 1
        sw.run_one(one, rate, workdir.parent / f"{workdir.name}_warmup")
    nan, failed = math.nan, ""
    try:
        r = sw.run_one(cfg, rate, workdir)
    except (TypeError, ValueError, RuntimeError) as err:
        # A failure of one arm is reported in the table, not hidden, and the others run.
        traceback.print_exc()
        failed = f"{type(err).__name__}: {str(err).splitlines()[0][:60]}..."
        r = sw.RateResult(rate, str(workdir), False, nan, nan, nan, nan, failed)
    n_train = _n_train(cfg)
    spe = n_train // cfg.train.batch_size
    out = {
        "label": label,
        "optimizer": cfg.optimizer.name,
        "rate": rate,
        "batch": cfg.train.batch_size,
        "accumulate": cfg.optimizer.accumulate_steps,
        "n_train": n_train,
        "seed": cfg.seed,
        "diverged": r.diverged,
        "failed": failed,
        "train_loss": r.train_loss,
        "val_error": r.val_error,
        "test_error": r.test_error,
        "steps": 0,
        "epochs": 0.0,
        "updates": 0,
        "train_wall_s": nan,
        "curve": [],
    }
    summary_path = workdir / "summary.json"
    if not r.diverged and summary_path.exists():
        summary = json.loads(summary_path.read_text())
        steps, wall = summary["steps"], summary["train_wall_s"]
        updates = steps // spe if cfg.optimizer.accumulate_steps == 0 else steps
        out.update(steps=steps, epochs=steps / spe, updates=updates, train_wall_s=wall)
        out["curve"] = [
            {
                "epoch": rec["step"] / spe,
                "time": wall * rec["step"] / max(steps, 1),
                **{k: rec[k] for k in ("train_loss", "val_accuracy") if k in rec},
            }
            for rec in read_jsonl(workdir / "metrics.jsonl")
            if "train_loss" in rec or "val_accuracy" in rec
        ]
    print(
        f"[{time.strftime('%H:%M:%S')}] {label}: lr={rate:g} test_error={out['test_error']:.4f} "
        f"train_wall={out['train_wall_s']}s ({time.perf_counter() - t0:.0f}s)",
        flush=True,
    )
    return out


def run_stable(cfg, rate: float, grid, workdir: Path, label: str) -> dict:
    """`run` at ``rate``, retried at the next lower rate of ``grid`` while it diverges.

    The short sweep can pick a rate that diverges over the longer run (SGD with one
    example per update); the lowered rate is recorded in the run's ``note``.
    """
    tried = []
    for r in [rate] + sorted((g for g in grid if g < rate), reverse=True):
        out = run(cfg, r, workdir / sw.rate_dirname(r), label, warm=True)
        if not out["diverged"]:
            break
        tried.append(r)
    out["note"] = f"diverged at {', '.join(f'{t:g}' for t in tried)}" if tried else ""
    return out


def run_sweep(cfg, rates, workdir: Path, title: str) -> tuple[float, list]:
    """Sweeps ``rates`` (``train.sweep``) and returns the best rate by validation error."""
    results = sw.sweep(cfg, rates, workdir, title=title)
    top = sw.best(results)
    if top is None:
        raise FloatingPointError(f"Every rate of {rates} diverged in {workdir}.")
    return top.learning_rate, [
        {"rate": r.learning_rate, "diverged": r.diverged, "val_error": r.val_error} for r in results
    ]


def run_task(task: str, args: argparse.Namespace) -> dict:
    """Every run of one task: sweeps, optimizer comparison, batch-size comparison."""
    work = Path(args.workdir) / task
    N, E, grid = args.train_images, args.epochs, args.rates
    title = TASKS[task][0]
    task_schedule = TASKS[task][1]().optimizer
    res: dict = {"title": title, "sweeps": {}, "rates": {}, "optimizers": [], "batch": {}}

    # 1. Rates of the four base optimizers: one epoch per rate, validation error.
    for label, name in OPTIMIZERS[:4]:
        cfg = with_optimizer(base_config(task, args, N, 128, 1), name, task_schedule)
        rate, table = run_sweep(cfg, grid, work / f"sweep_{name}", f"{title}: {label}")
        res["rates"][label], res["sweeps"][label] = rate, table
    res["rates"]["all together"] = res["rates"]["Nesterov"]
    res["rates"]["all together (adaptive)"] = (1 - RHO) * res["rates"]["Adam"]

    # 2. The optimizers at equal epochs (SGD repeated over seeds: the noise level).
    for label, name in OPTIMIZERS:
        for seed in SEEDS if name == "sgd" else SEEDS[:1]:
            cfg = with_optimizer(base_config(task, args, N, 128, E), name, task_schedule)
            cfg.seed = seed
            tag = f"{name}_seed{seed}" if name == "sgd" else name
            warm = (name, seed) == ("sgd", SEEDS[0])  # the timed mini-batch reference
            out = run(cfg, res["rates"][label], work / f"opt_{tag}", label, warm)
            res["optimizers"].append(out)

    # 3. Batch GD / SGD (batch 1) / mini-batch, plain SGD at a constant rate.
    n_small = min(2000, N)
    cfg = with_optimizer(base_config(task, args, n_small, 1, 1), "sgd", task_schedule)
    rate_sgd1, res["sweeps"]["SGD, batch 1"] = run_sweep(
        cfg, grid, work / "sweep_sgd_batch1", f"{title}: SGD batch 1"
    )
    cfg = batch_gd(base_config(task, args, n_small, min(GD_MICRO_BATCH, n_small), E))
    rate_gd, res["sweeps"]["batch GD"] = run_sweep(
        cfg, (1.0, *grid), work / "sweep_batch_gd", f"{title}: batch GD"
    )
    res["rates"]["SGD, batch 1"], res["rates"]["batch GD"] = rate_sgd1, rate_gd
    mini = res["optimizers"][0]  # SGD, batch 128, seed 0
    budget = mini["train_wall_s"]
    b = res["batch"]
    b["mini-batch (128)"] = mini
    cfg = batch_gd(base_config(task, args, N, min(GD_MICRO_BATCH, N), E))
    b["batch GD"] = run_stable(cfg, rate_gd, grid, work / "gd_epochs", "batch GD")
    cfg = base_config(task, args, N, 1, E)
    b["SGD (batch 1)"] = run_stable(cfg, rate_sgd1, grid, work / "sgd1_epochs", "SGD, batch 1")

    # Equal wall time: the mini-batch run's training time for every method.
    gd = b["batch GD"]
    if math.isfinite(gd["train_wall_s"]):
        gd_epochs = max(1, round(budget * gd["epochs"] / gd["train_wall_s"]))
        cfg = batch_gd(base_config(task, args, N, min(GD_MICRO_BATCH, N), gd_epochs))
        b["batch GD, equal time"] = out = run(cfg, gd["rate"], work / "gd_time", "batch GD", True)
        out["note"] = f"{gd_epochs} epochs fit the budget"
    sgd1 = b["SGD (batch 1)"]
    if math.isfinite(sgd1["train_wall_s"]):
        n_sgd = int(budget * sgd1["steps"] / sgd1["train_wall_s"])
        if n_sgd < N:  # a fraction of an epoch: one pass over the first n images
            cfg, note = base_config(task, args, max(n_sgd, 2), 1, 1), f"one pass over {n_sgd}"
        else:
            k = max(1, round(n_sgd / N))
            cfg, note = base_config(task, args, N, 1, k), f"{k} epochs (nearest to {n_sgd} steps)"
        out = run(cfg, sgd1["rate"], work / "sgd1_time", "SGD (batch 1), equal time", True)
        b["SGD (batch 1), equal time"] = out
        out["note"] = note
    res["budget_s"] = budget
    return res


# --- report: tables, figures, verdicts -------------------------------------------------


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.2f}"


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
            _pct(r["val_error"]), _pct(r["test_error"]), _num(r["train_wall_s"]),
        ])  # fmt: skip
    mean, spread = _seed_noise(res)
    rows.append([
        f"SGD, seeds {SEEDS}", "", "", "", "", f"{_pct(mean)} (range {_pct(spread)})", "",
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
            _num(r["train_loss"]), _pct(r["test_error"]), _num(r["train_wall_s"]),
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
        (n, row["rate"]): "div." if row["diverged"] else _pct(row["val_error"])
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = ["epoch", "time"] if with_time else ["epoch"]
    fig, axes = plt.subplots(2, len(xs), figsize=(5.2 * len(xs), 6.4), squeeze=False)
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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_sweeps(res: dict, path: Path) -> Path:
    """Validation error against the rate for every sweep (log x); diverged rates left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
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
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _compare(a: float, b: float, noise: float, percent: bool) -> str:
    """``yes``/``no``/``tie`` for "a < b" (errors or losses), with the numbers."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return "n/a"
    word = "tie" if abs(a - b) <= noise else ("yes" if a < b else "no")
    show = _pct if percent else _num
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


SKELETON = f"""# Optimizers and batch sizes (COURSE.md section 2): what reproduces

Regenerate everything below (tables, figures) with one command:

    python -m train.experiments.optimizers --out docs

{ex.BEGIN}
{ex.END}
"""


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


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (``--quick``: tiny subsets and grid, to check the pipeline)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs", help="docs folder (optimizers.md, figures/)")
    p.add_argument("--workdir", default="runs/optimizers", help="run directory (deleted first)")
    p.add_argument("--data_dir", default=None, help="dataset root (default: see below)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train_images", type=int, default=10000)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report_only", action="store_true", help="redo docs from --workdir")
    p.add_argument("--rerun_failed", action="store_true", help="rerun failed arms, redo docs")
    args = p.parse_args(argv)
    args.rates = sw.COURSE_RATES
    args.val_split, args.test_split = "train[55000:]", "test"
    if args.quick:
        args.epochs, args.train_images, args.rates = 1, 512, (0.1, 0.01)
        args.val_split, args.test_split = "train[55000:55500]", "test[:500]"
    if args.data_dir is None:
        # $JAXDL_DATA_DIR first (the registry's look-up order), else the shared folder
        # next to the repository that holds Fashion-MNIST on these machines.
        shared = Path(__file__).resolve().parents[3] / "shared" / "data"
        env = os.environ.get("JAXDL_DATA_DIR")
        args.data_dir = "" if env or not shared.is_dir() else str(shared)
    unknown = set(args.tasks.split(",")) - set(TASKS)
    if unknown:
        p.error(f"unknown tasks {sorted(unknown)}; valid: {sorted(TASKS)}")
    return args


def _compilation_cache(work: Path) -> None:
    # Identical computations (model init, evaluation, a rate's step) compile once.
    jax.config.update("jax_compilation_cache_dir", str(work / "jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def rerun_failed(task: str, res: dict, args: argparse.Namespace) -> None:
    """Reruns the optimizer arms of ``res`` that failed (e.g. after a library fix)."""
    names = dict(OPTIMIZERS)
    for i, r in enumerate(res["optimizers"]):
        if not r["failed"]:
            continue
        name = names[r["label"]]
        cfg = base_config(task, args, args.train_images, 128, args.epochs)
        cfg = with_optimizer(cfg, name, TASKS[task][1]().optimizer)
        cfg.seed = r["seed"]
        path = Path(args.workdir) / task / f"opt_{name}"
        shutil.rmtree(path, ignore_errors=True)
        res["optimizers"][i] = run(cfg, r["rate"], path, r["label"])


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.set_verbosity(logging.WARNING)  # Orbax logs every file it writes at INFO
    work = Path(args.workdir)
    if args.report_only or args.rerun_failed:  # from the last run's results
        results = json.loads((work / "results.json").read_text())
        info = json.loads((work / "info.json").read_text())
        if args.rerun_failed:
            args.epochs, args.train_images = info["epochs"], info["train_images"]
            _compilation_cache(work)
            for task, res in results.items():
                rerun_failed(task, res, args)
            (work / "results.json").write_text(json.dumps(results, indent=1, allow_nan=True))
        write_report(results, info, Path(args.out))
        return
    if work.exists():
        shutil.rmtree(work)  # reused run folders would resume and report no time
    work.mkdir(parents=True)
    _compilation_cache(work)
    t0, load0 = time.perf_counter(), os.getloadavg()[1]
    results = {task: run_task(task, args) for task in args.tasks.split(",")}
    info = {
        "epochs": args.epochs,
        "train_images": args.train_images,
        "minutes": (time.perf_counter() - t0) / 60,
        "device": f"{jax.devices()[0].device_kind} x{jax.device_count()}",
        "jax": jax.__version__,
        "cpus": os.cpu_count(),
        "load": (load0, os.getloadavg()[1]),  # 5-minute load averages, start and end
        "quick": args.quick,
    }
    (work / "results.json").write_text(json.dumps(results, indent=1, allow_nan=True))
    (work / "info.json").write_text(json.dumps(info, indent=1))
    write_report(results, info, Path(args.out))
    print(f"done in {info['minutes']:.1f} min; wrote {Path(args.out) / 'optimizers.md'}")


if __name__ == "__main__":
    main()
