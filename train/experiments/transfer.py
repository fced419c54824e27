"""Transfer vs from-scratch with 1%, 10% and 100% of the target data (LeNet-5).

Two transfers: MNIST digits 0-4 -> digits 5-9, and MNIST (all digits) -> Fashion-MNIST.
A source run trains LeNet-5 on the source task; then, on each fraction of the target
training split and for each seed, four targets train for the same step budget S:

  scratch        LeNet-5 from random initialisation, 2 S steps (a two-phase total);
  frozen-F6      the source's C1-F6 frozen, a fresh output layer: S steps;
  frozen-C5      the source's convolutions C1-C5 frozen, fresh F6 + output: S steps
                 (Yosinski et al.: the last hidden layer is the most task-specific);
  fine-tuned     from frozen-C5: every layer, convolutions at 0.1 x the rate, S more.

S = max(2 epochs, ``--min_steps`` steps) of the target subset at batch 64. All runs go
through ``train.classification.run`` (configs: ``model.init_from``, ``transfer.*``,
``data.classes``); test accuracy on the target's whole test split (its classes).

  nice -n 10 python -m train.experiments.transfer   # ~50 min on 2 shared CPU cores

Writes the "transfer" section of ``docs/transfer.md`` from the runs in ``--workdir``
(``--pairs`` retrains some pairs; every pair found there is reported).

References:
  Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural
  networks? NeurIPS 2014.
"""

import argparse
import json
import math
from pathlib import Path

import ml_collections
import numpy as np

from train import build, experiment_dirs
from train import experiments as ex
from train.configs import mnist_lenet5

TRAIN_SIZE = 54_000  # train[:54000] / train[54000:] split the 60,000 training images
PAIRS = {
    "mnist 0-4 -> 5-9": (("mnist", (0, 1, 2, 3, 4)), ("mnist", (5, 6, 7, 8, 9))),
    "mnist -> fashion_mnist": (("mnist", ()), ("fashion_mnist", ())),
}
# method -> (epochs in units of S, init_from: 'source' | a method, head, trunk_lr_factor,
#            reinit_head)
METHODS = {
    "scratch": (2, None, "", 1.0, True),
    "frozen-F6": (1, "source", "output", 0.0, True),
    "frozen-C5": (1, "source", "F6,output", 0.0, True),
    "fine-tuned": (1, "frozen-C5", "F6,output", 0.1, False),
}


def config(dataset: tuple[str, tuple], n_train: int, epochs: int, seed: int, args):
    """LeNet-5 (no augmentation, Adam 2e-3 constant, batch 64) on ``n_train`` examples."""
    c = mnist_lenet5.base_config()
    c.data.name, c.data.classes = dataset
    c.data.data_dir = args.data_dir
    c.data.train_split = f"train[:{n_train}]"
    c.data.val_split = f"train[{args.train_size}:]"
    c.data.augment = ""
    c.optimizer.schedule = "constant"
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict()
    c.train.batch_size = 64
    c.train.num_epochs = epochs
    c.train.eval_every_epochs = epochs
    c.train.progress = False
    c.seed = seed
    return c


def budget_epochs(workdir_cfg, min_steps: int) -> int:
    """Epochs of S = max(2 epochs, ``min_steps``) on the target subset."""
    splits, _ = build.load_splits(workdir_cfg.data)
    spe = len(splits["train"]["label"]) // workdir_cfg.train.batch_size
    return max(2, math.ceil(min_steps / spe))


def pair_root(name: str, args: argparse.Namespace) -> Path:
    """The run directory of one transfer pair."""
    return Path(args.workdir) / name.replace(" ", "_").replace(">", "")


def train_pair(name: str, args: argparse.Namespace) -> None:
    """Trains the source run and every target run of one transfer pair."""
    source, target = PAIRS[name]
    root = pair_root(name, args)
    src = root / "source"
    experiment_dirs.clear_experiment(root, "transfer")  # the pair's older runs; other files stay
    c = config(source, args.train_size, args.source_epochs, 0, args)
    ex.train_fresh(c, src)
    for fraction in args.fractions:
        n = round(args.train_size * fraction)
        epochs = budget_epochs(config(target, n, 1, 0, args), args.min_steps)
        for seed in range(args.seeds):
            d = root / f"{fraction:g}_s{seed}"
            for method, (units, start, head, factor, fresh) in METHODS.items():
                c = config(target, n, units * epochs, seed, args)
                if start is not None:
                    c.model.init_from = str(src if start == "source" else d / start)
                c.transfer.head, c.transfer.trunk_lr_factor = head, factor
                c.transfer.reinit_head = fresh
                ex.train_fresh(c, d / method)


def collect_pair(name: str, args: argparse.Namespace) -> dict:
    """{fraction: {'n', 'epochs', method: [test accuracy per seed]}} read from the runs."""
    root = pair_root(name, args)
    out = {}
    for fraction in args.fractions:
        runs = sorted(root.glob(f"{fraction:g}_s*"))
        if not runs:
            continue
        frozen = json.loads((runs[0] / "frozen-F6" / "summary.json").read_text())
        row = {"n": round(args.train_size * fraction), "steps": frozen["steps"]}  # S
        for method in METHODS:
            summaries = [json.loads((d / method / "summary.json").read_text()) for d in runs]
            row[method] = [s["test_accuracy"] for s in summaries]
        out[f"{fraction:g}"] = row
        print(name, fraction, {m: np.round(row[m], 4).tolist() for m in METHODS}, flush=True)
    return out


def report(results: dict, args: argparse.Namespace) -> str:
    """The markdown section: setup and one table per transfer pair."""
    lines = [
        "Command: `nice -n 10 python -m train.experiments.transfer "
        f"--seeds {args.seeds} --min_steps {args.min_steps}` (CPU). LeNet-5 "
        "(softmax head), Adam 2e-3 constant, batch 64, no augmentation; source runs: "
        f"{args.source_epochs} epochs on the source's {args.train_size:,} training images "
        f"(their classes). Target subsets: the first n of the {args.train_size:,} training "
        "images, then the target's classes. S = max(2 epochs, "
        f"{args.min_steps} steps); scratch trains 2 S steps; frozen-F6 trains a fresh "
        "output layer on the frozen C1-F6 for S steps, frozen-C5 fresh F6 + output on the "
        "frozen convolutions for S steps; fine-tuned continues frozen-C5 for S more steps "
        "with every layer trained (convolutions at 0.1 x the rate). Test accuracy on the whole "
        f"target test split; mean +- std over {args.seeds} seeds (seed = init of the new "
        "head or net, and the data order).",
    ]
    for name, per_fraction in results.items():
        rows = []
        for fraction, r in per_fraction.items():
            cells = [f"{100 * np.mean(r[m]):.2f} +- {100 * np.std(r[m]):.2f}" for m in METHODS]
            rows.append([f"{float(fraction):.0%}", f"{r['n']:,}", f"{r['steps']:,}", *cells])
        header = ["data", "n (before class filter)", "S (steps)", *[f"{m} %" for m in METHODS]]
        lines += [f"**{name}**", ex.markdown_table(header, rows)]
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", default="runs/transfer")
    p.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--fractions", nargs="+", type=float, default=[0.01, 0.1, 1.0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--min_steps", type=int, default=200)
    p.add_argument("--source_epochs", type=int, default=2)
    p.add_argument("--data_dir", default="../shared/data", help="MNIST and Fashion-MNIST")
    p.add_argument("--train_size", type=int, default=TRAIN_SIZE, help="train[:N]; val: the rest")
    p.add_argument("--doc", default="docs/transfer.md")
    p.add_argument("--report_only", action="store_true")
    args = p.parse_args(argv)
    if not args.report_only:
        experiment_dirs.claim_experiment(args.workdir, "transfer")
        for name in args.pairs:
            train_pair(name, args)
    results = {name: collect_pair(name, args) for name in PAIRS}
    results = {name: rows for name, rows in results.items() if rows}
    ex.write_section(args.doc, "transfer", report(results, args), "Transfer vs from scratch")
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
