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
import time
import traceback
from pathlib import Path

import jax
from absl import logging

from jaxdl.training.writers import read_jsonl
from train import experiment_dirs
from train import experiments as ex
from train import sweep as sw
from train.configs import fashion_mnist_lenet5, mnist_mlp
from train.experiments.optimizers_report import SEEDS, write_report

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
#: What the experiment writes into --workdir besides its runs (experiment_dirs).
OUTPUTS = (
    "results.json",
    "info.json",
    "jax_cache",
    *(f"*/sweep_*/sweep.{ext}" for ext in ("md", "json", "png")),
)


def base_config(task: str, args: argparse.Namespace, n_train: int, batch: int, epochs: int):
    """The task config on ``train[:n_train]`` with batch ``batch`` for ``epochs`` epochs."""
    cfg = TASKS[task][1]()
    cfg.data.data_dir = args.data_dir
    cfg.data.train_split = f"train[:{n_train}]"
    cfg.data.val_split = args.val_split
    cfg.data.test_split = args.test_split
    cfg.data.augment = ""
    ex.short_run(cfg, batch_size=batch, num_epochs=epochs, eval_batch_size=1000)
    cfg.train.log_every_steps = max(1, n_train // batch // 20)  # ~20 loss points per epoch
    cfg.optimizer.name = "sgd"  # plain SGD unless `with_optimizer` says otherwise
    cfg.optimizer.kwargs = {}
    cfg.optimizer.schedule = "constant"
    cfg.optimizer.schedule_kwargs = {}
    return cfg


def with_optimizer(cfg, name: str, task: str):
    """Sets optimizer ``name`` (constant rate; "all together" keeps ``task``'s schedule)."""
    cfg.optimizer.name = name
    if name.startswith("all_together"):
        # The adaptive variant as all_together(adaptive=True): create("all_together_adaptive",
        # ...) fails in jaxdl.optim.alias (its re-signed wrapper gets rho positionally).
        cfg.optimizer.name = "all_together"
        cfg.optimizer.kwargs = {"key": 0, "rho": RHO, "adaptive": name.endswith("adaptive")}
        task_optimizer = TASKS[task][1]().optimizer
        cfg.optimizer.schedule = task_optimizer.schedule
        cfg.optimizer.schedule_kwargs = task_optimizer.schedule_kwargs.to_dict()
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
    res: dict = {"title": title, "sweeps": {}, "rates": {}, "optimizers": [], "batch": {}}

    # 1. Rates of the four base optimizers: one epoch per rate, validation error.
    for label, name in OPTIMIZERS[:4]:
        cfg = with_optimizer(base_config(task, args, N, 128, 1), name, task)
        rate, table = run_sweep(cfg, grid, work / f"sweep_{name}", f"{title}: {label}")
        res["rates"][label], res["sweeps"][label] = rate, table
    res["rates"]["all together"] = res["rates"]["Nesterov"]
    res["rates"]["all together (adaptive)"] = (1 - RHO) * res["rates"]["Adam"]

    # 2. The optimizers at equal epochs (SGD repeated over seeds: the noise level).
    for label, name in OPTIMIZERS:
        for seed in SEEDS if name == "sgd" else SEEDS[:1]:
            cfg = with_optimizer(base_config(task, args, N, 128, E), name, task)
            cfg.seed = seed
            tag = f"{name}_seed{seed}" if name == "sgd" else name
            warm = (name, seed) == ("sgd", SEEDS[0])  # the timed mini-batch reference
            out = run(cfg, res["rates"][label], work / f"opt_{tag}", label, warm)
            res["optimizers"].append(out)

    # 3. Batch GD / SGD (batch 1) / mini-batch, plain SGD at a constant rate.
    n_small = min(2000, N)
    cfg = with_optimizer(base_config(task, args, n_small, 1, 1), "sgd", task)
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


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (``--quick``: tiny subsets and grid, to check the pipeline)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs", help="docs folder (optimizers.md, figures/)")
    p.add_argument(
        "--workdir", default="runs/optimizers", help="run directory (its older runs deleted first)"
    )
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
        args.data_dir = ex.default_data_dir()
    unknown = set(args.tasks.split(",")) - set(TASKS)
    if unknown:
        p.error(f"unknown tasks {sorted(unknown)}; valid: {sorted(TASKS)}")
    return args


def rerun_failed(task: str, res: dict, args: argparse.Namespace) -> None:
    """Reruns the optimizer arms of ``res`` that failed (e.g. after a library fix)."""
    names = dict(OPTIMIZERS)
    for i, r in enumerate(res["optimizers"]):
        if not r["failed"]:
            continue
        name = names[r["label"]]
        cfg = with_optimizer(
            base_config(task, args, args.train_images, 128, args.epochs), name, task
        )
        cfg.seed = r["seed"]
        path = Path(args.workdir) / task / f"opt_{name}"
        experiment_dirs.clear_run(path)  # trains from scratch; files of yours there stay
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
            ex.compilation_cache(work / "jax_cache")
            for task, res in results.items():
                rerun_failed(task, res, args)
            (work / "results.json").write_text(json.dumps(results, indent=1, allow_nan=True))
        write_report(results, info, Path(args.out))
        return
    # Reused run folders would resume and report no time: the older runs go (only them).
    experiment_dirs.clear_experiment(work, "optimizers", OUTPUTS)
    ex.compilation_cache(work / "jax_cache")
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
