"""Degradation: plain-20/56 vs ResNet-20/56 on CIFAR-10 for the same short budget.

He et al. (fig. 1, fig. 6): a deeper PLAIN network reaches a higher TRAINING error
than a shallower one trained the same way -- an optimisation difficulty, not
overfitting -- while with identity shortcuts the deeper network trains at least as
well. This trains the four nets of ``train/configs/cifar10_{resnet20,plain56}.py``
(He et al.'s recipe: SGD momentum 0.9, weight decay 1e-4, pad-4 crop + flip) through
``train.classification.run`` on the same fixed training subset, in the same data order,
for the same number of steps, at a constant rate (the budget ends long before the
paper's first decay), and plots the minibatch training losses. The subset is the first
``steps * batch_size`` training images, passed over ``epochs`` times (reshuffled each
pass): degradation is a claim about TRAINING error, so a fixed subset trained for
several passes tests it in a CPU budget. The defaults (batch 32, rate
0.1 * 32 / 128 = 0.025 by the linear scaling rule, 150 steps, one pass) are a tenth of
an epoch; the runs in docs/ use ``--steps 100 --batch_size 128 --epochs 10``, at
He et al.'s rate 0.1 and at 0.01 (``--learning_rate 0.01 --section degradation_lr0.01``).

Run (CPU budget: about 20 minutes on 2 shared cores with the defaults)::

  nice -n 10 python -m train.experiments.degradation

It writes ``docs/figures/cnn_<section>.png`` and the ``--section`` (default
"degradation") of ``docs/cnn_zoo.md``; run directories go to ``--workdir/<model>``
(each cleared of its older run before its net is trained, your own files there kept,
so ``--models`` can rerun some nets and ``--report_only`` report all).

References:
  He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016.
"""

import argparse
import json
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxdl.training.writers import read_jsonl
from train import experiment_dirs
from train import experiments as ex
from train.configs import cifar10_resnet20

MODELS = ("plain20", "resnet20", "plain56", "resnet56")
SECTION = "degradation"


def config(model: str, args: argparse.Namespace) -> ml_collections.ConfigDict:
    """The CIFAR-10 recipe for ``model``, cut to ``args.steps`` steps at the initial rate."""
    c = cifar10_resnet20.get_config()
    c.data.data_dir = args.data_dir
    c.data.train_split = f"train[:{args.steps * args.batch_size}]"  # `steps` per epoch
    c.data.val_split = ""
    c.data.test_split = ""
    c.model.name = model
    c.optimizer.learning_rate = learning_rate(args)
    c.optimizer.schedule = "constant"
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict()
    c.optimizer.warmup_epochs = args.warmup_epochs  # the same warm-up for every net
    c.optimizer.warmup_learning_rate = warmup_rate(args)
    c.train.batch_size = args.batch_size
    c.train.num_epochs = args.epochs
    c.train.log_every_steps = args.log_every
    c.train.progress = False
    c.seed = args.seed
    return c


def learning_rate(args: argparse.Namespace) -> float:
    """``--learning_rate``, or He et al.'s 0.1 at batch 128 scaled linearly to the batch."""
    return args.learning_rate or 0.1 * args.batch_size / 128


def warmup_rate(args: argparse.Namespace) -> float:
    """The warm-up rate: a tenth of the rate, as He et al.'s 0.01 before 0.1."""
    return learning_rate(args) / 10


def smoothed_tail(curve: list[tuple[int, float]], fraction: float = 0.2) -> float:
    """Mean logged training loss over the last ``fraction`` of the logged windows."""
    losses = [v for _, v in curve]
    k = max(1, round(len(losses) * fraction))
    return float(np.mean(losses[-k:]))


def collect(root: Path, models: list[str]) -> dict[str, dict]:
    """{model: {curve, wall_s, params}} read back from the finished run directories."""
    out = {}
    for model in models:
        summary = json.loads((root / model / "summary.json").read_text())
        records = read_jsonl(root / model / "metrics.jsonl")
        curve = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
        out[model] = {
            "curve": curve,
            "wall_s": summary["total_wall_s"],
            "params": summary["params"],
        }
    return out


def run(args: argparse.Namespace) -> dict[str, dict]:
    """Trains every model of ``args.models`` (unless ``--report_only``); returns ``collect``."""
    root = Path(args.workdir)
    if not args.report_only:
        experiment_dirs.claim_experiment(root, "degradation")
        for model in args.models:  # only the nets named: the others' runs stay
            cfg = config(model, args)
            ex.train_fresh(cfg, root / model)
    out = collect(root, args.models)
    for model, r in out.items():
        print(f"{model}: final loss {smoothed_tail(r['curve']):.4f} in {r['wall_s']:.0f}s")
    return out


def report(results: dict[str, dict], args: argparse.Namespace) -> str:
    """The markdown section: setup, table, figure, and the verdict read from the numbers."""
    figure = Path(args.figures) / f"cnn_{args.section}.png"
    panels = {"training loss": [(m, *zip(*r["curve"])) for m, r in results.items()]}
    ex.plot_panels(panels, figure, xlabel="step", ylabel="minibatch loss", panel_width=6)
    rows = [
        [m, f"{r['params']:,}", f"{r['curve'][-1][1]:.3f}", f"{smoothed_tail(r['curve']):.3f}"]
        + [f"{r['wall_s']:.0f}"]
        for m, r in results.items()
    ]
    table = ex.markdown_table(
        ["model", "params", "last logged loss", "mean loss, last 20% of logs", "wall s"], rows
    )
    tail = {m: smoothed_tail(r["curve"]) for m, r in results.items()}
    flags = f"--steps {args.steps} --batch_size {args.batch_size} --epochs {args.epochs}"
    flags += f" --log_every {args.log_every}"
    for name in ("learning_rate", "warmup_epochs"):
        flags += f" --{name} {getattr(args, name):g}" if getattr(args, name) else ""
    flags += f" --section {args.section}" if args.section != SECTION else ""
    rate = f"constant lr {learning_rate(args):g}" + (
        " (as given)"
        if args.learning_rate
        else " (He et al.'s 0.1 for batch 128, scaled linearly with the batch size, "
        "Goyal et al. 2017)"
    )
    if args.warmup_epochs:
        rate = (
            f"a constant warm-up at {warmup_rate(args):g} for the first "
            f"{args.warmup_epochs * args.steps} steps (He et al.'s recipe for ResNet-110), "
            f"then {rate}"
        )
    lines = [
        f"Command: `nice -n 10 python -m train.experiments.degradation {flags}` "
        f"({jax.devices()[0].platform.upper()}, {len(jax.devices())} device(s)). Each net: "
        f"the first {args.steps * args.batch_size:,} CIFAR-10 training images of "
        f"`{args.data_dir}` (JPEG copy), {args.epochs} pass(es) of {args.steps} steps of "
        f"batch {args.batch_size} ({args.steps * args.epochs:,} steps), same data order "
        f"(seed {args.seed}), {rate}, momentum 0.9, weight decay 1e-4, pad-4 crop + flip. "
        "Loss logged as the mean minibatch loss of every window of "
        f"{args.log_every} steps. One seed per net (rerun with --seed for the spread). "
        "Wall seconds (data loading and compilation included) were measured on 2 CPU "
        "cores shared with other jobs.",
        table,
        f"![training loss]({figure.relative_to(Path(args.doc).parent)})",
    ]
    if {"plain20", "plain56", "resnet20", "resnet56"} <= set(tail):
        plain = "higher" if tail["plain56"] > tail["plain20"] else "not higher"
        res = "lower" if tail["resnet56"] < tail["resnet20"] else "not lower"
        lines.append(
            f"Measured: plain-56's training loss ends {plain} than plain-20's "
            f"({tail['plain56']:.3f} vs {tail['plain20']:.3f}); ResNet-56's ends {res} than "
            f"ResNet-20's ({tail['resnet56']:.3f} vs {tail['resnet20']:.3f})."
        )
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1, help="passes over the same subset")
    p.add_argument("--log_every", type=int, default=5)
    p.add_argument("--learning_rate", type=float, default=0.0, help="0: 0.1 * batch / 128")
    p.add_argument(
        "--warmup_epochs",
        type=int,
        default=0,
        help="passes at a tenth of the rate first (He et al.'s warm-up); 0: none",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--data_dir", default=cifar10_resnet20.CIFAR10_DIR)
    p.add_argument("--workdir", default="/tmp/jaxdl_degradation")
    p.add_argument("--doc", default="docs/cnn_zoo.md")
    p.add_argument("--figures", default="docs/figures")
    p.add_argument(
        "--section", default=SECTION, help="the section of --doc and the figure cnn_SECTION.png"
    )
    p.add_argument(
        "--report_only", action="store_true", help="rewrite the report from --workdir's runs"
    )
    args = p.parse_args(argv)
    results = run(args)
    ex.write_section(args.doc, args.section, report(results, args))
    return results


if __name__ == "__main__":
    main()
