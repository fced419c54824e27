"""Multitask vs single-task learning, through the project's training path.

Every run is ``train.classification.run`` with ``multitask.tasks`` set (see
``train/multitask.py``): one shared trunk, one linear head per task, the loss
``sum_t w_t CE_t``. For each dataset three models are trained from the same
initialisation seed:

  - main task only (the plain classifier, ``multitask.tasks=''``),
  - main + auxiliary task (``'label:1.0,<aux>:0.5'``; the digit / class head is the
    one reported as ``accuracy``),
  - auxiliary task only (``'<aux>:1.0'``), for its own single-task baseline.

MNIST: LeNet-5 (softmax head, no distortions), digit + parity, on the first 5,000
training images for 5 epochs (the regime where an auxiliary task could act as a
regularizer), 3 seeds. CIFAR-10 (the JPEG copy of ``train/configs/cifar10_resnet20.py``):
class + animal/vehicle with LeNet-5 (3 input channels, the MNIST job's Adam recipe, no
augmentation) on the 45,000 training images for 3 epochs, 2 seeds. ResNet-20
(``--cifar-model resnet20``) costs about 4 s per step on the shared, loaded 2-core CPU,
so it is left to a machine with an accelerator. The last epoch's weights are tested;
nothing is selected on the test set.

  nice -n 10 python -m train.experiments.multitask                # ~22 min on 2 shared cores
  nice -n 10 python -m train.experiments.multitask --datasets mnist

It writes the generated sections of ``docs/multitask.md``.

References:
  Caruana. Multitask learning. Machine Learning 28, 1997.
"""

import argparse
import time
from pathlib import Path
from typing import NamedTuple

import ml_collections
import numpy as np

from train import experiment_dirs
from train import experiments as ex
from train.configs import cifar10_resnet20, mnist_lenet5


class Setup(NamedTuple):
    """One dataset's comparison: its base config and its auxiliary task."""

    base: ml_collections.ConfigDict
    main: str  # name of the main task in the table
    aux: str  # the derived task (jaxdl.data.derived_labels)


class Result(NamedTuple):
    """Test accuracies of one run (NaN where the run has no such head)."""

    variant: str
    seed: int
    main_accuracy: float
    aux_accuracy: float
    wall_s: float


def mnist_setup(num_train: int, num_epochs: int) -> Setup:
    """LeNet-5 (softmax head) on the first ``num_train`` MNIST images, Adam, no distortions."""
    c = mnist_lenet5.base_config()
    c.data.train_split = f"train[:{num_train}]"
    c.data.augment = ""
    c.train.num_epochs = num_epochs
    c.train.eval_every_epochs = num_epochs
    return Setup(ex.short_run(c, log_every_steps=50), "digit", "parity")


def cifar10_setup(num_train: int, num_epochs: int, model: str = "lenet5") -> Setup:
    """CIFAR-10 (JPEG copy) on its first ``num_train`` training images, no augmentation.

    ``lenet5``: LeNet-5 (softmax head, 3 input channels) with the MNIST main job's Adam
    recipe, fast enough for the shared CPU. ``resnet20``: He et al.'s recipe compressed
    to ``num_epochs`` (about 4 s per step on the loaded 2-core CPU: a GPU job).
    """
    c = cifar10_resnet20.get_config()
    c.data.augment = ""
    if model == "resnet20":
        c = cifar10_resnet20.cifar_recipe(c, num_epochs)
    else:
        lenet = mnist_lenet5.base_config()
        c.model, c.optimizer = lenet.model, lenet.optimizer
        c.model.name = model
        c.train.num_epochs = num_epochs
    c.data.train_split = f"train[:{num_train}]"
    c.train.eval_every_epochs = num_epochs
    return Setup(ex.short_run(c, log_every_steps=50), "class", "animal")


def variants(setup: Setup) -> dict[str, str]:
    """Variant name -> ``multitask.tasks``."""
    return {
        f"{setup.main} only": "",
        f"{setup.main} + {setup.aux} (1.0 / 0.5)": f"label:1.0,{setup.aux}:0.5",
        f"{setup.aux} only": f"{setup.aux}:1.0",
    }


def run_one(setup: Setup, variant: str, tasks: str, seed: int, workdir: Path) -> Result:
    """Trains one variant from scratch and reads its test accuracies."""
    cfg = ex.with_overrides(setup.base, {"multitask.tasks": tasks, "seed": seed})
    result, wall_s = ex.train_fresh(cfg, workdir)
    m = result.final_metrics
    if not tasks:
        main, aux = m["test_accuracy"], np.nan
    elif tasks.startswith("label"):
        main, aux = m["test_label_accuracy"], m[f"test_{setup.aux}_accuracy"]
    else:
        main, aux = np.nan, m["test_accuracy"]
    return Result(variant, seed, main, aux, wall_s)


def _cell(values: list[float]) -> str:
    v = 100 * np.array([x for x in values if not np.isnan(x)])
    if not len(v):
        return "-"
    return f"{v.mean():.2f}%" + (f" +- {v.std(ddof=1):.2f}" if len(v) > 1 else "")


def report(setup: Setup, results: list[Result], wall_s: float) -> str:
    """Markdown: settings, then mean +- std (over seeds) test accuracy of each head."""
    c = setup.base
    rows = []
    for variant in variants(setup):
        group = [r for r in results if r.variant == variant]
        main = [r.main_accuracy for r in group]
        per_seed = "-" if np.isnan(main[0]) else ", ".join(f"{100 * a:.2f}" for a in main)
        wall = f"{np.mean([r.wall_s for r in group]):.0f} s"
        rows.append([variant, _cell(main), _cell([r.aux_accuracy for r in group]), per_seed, wall])
    seeds = sorted({r.seed for r in results})
    settings = (
        f"`{c.model.name}` on `{c.data.name}` `{c.data.train_split}`, tested on "
        f"`{c.data.test_split}`; {c.optimizer.name} lr {c.optimizer.learning_rate}, "
        f"{c.optimizer.schedule} schedule, batch {c.train.batch_size}, "
        f"{c.train.num_epochs} epochs, augmentation `{c.data.augment or 'none'}`; seeds "
        f"{seeds} (initialisation and data order; each seed shared by the three variants). "
        f"Total wall time {wall_s / 60:.1f} min ({ex.machine()}, shared 2-core CPU under "
        "nice -n 10)."
    )
    header = ["tasks (loss weights)", f"{setup.main} test accuracy", f"{setup.aux} test accuracy"]
    header += [f"{setup.main} per seed", "wall / run"]
    return "\n\n".join(
        [
            settings,
            "Mean +- sample std over the seeds (no std with one seed); the last epoch's "
            "weights, nothing selected on test.",
            ex.markdown_table(header, rows),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Runs the comparisons and writes their sections of ``docs/multitask.md``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    p.add_argument("--mnist-train", type=int, default=5000)
    p.add_argument("--mnist-epochs", type=int, default=5)
    p.add_argument("--mnist-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cifar-model", default="lenet5", choices=["lenet5", "resnet20"])
    p.add_argument("--cifar-train", type=int, default=45000)
    p.add_argument("--cifar-epochs", type=int, default=3)
    p.add_argument("--cifar-seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/jaxdl_experiments/multitask"))
    p.add_argument("--doc", type=Path, default=Path("docs/multitask.md"))
    p.add_argument("--data_dir", help="the datasets' folder (default: each config's)")
    args = p.parse_args(argv)
    experiment_dirs.claim_experiment(args.workdir, "multitask")
    for name in args.datasets:
        if name == "mnist":
            setup, seeds = mnist_setup(args.mnist_train, args.mnist_epochs), args.mnist_seeds
        elif name == "cifar10":
            setup = cifar10_setup(args.cifar_train, args.cifar_epochs, args.cifar_model)
            seeds = args.cifar_seeds
        else:
            raise SystemExit(f"unknown dataset {name!r}: mnist or cifar10")
        if args.data_dir is not None:
            setup.base.data.data_dir = args.data_dir
        t0, results = time.perf_counter(), []
        for i, (variant, tasks) in enumerate(variants(setup).items()):
            for seed in seeds:
                r = run_one(setup, variant, tasks, seed, args.workdir / name / f"{i}_seed{seed}")
                results.append(r)
                print(f"{name} | {variant} | seed {seed}: {r}", flush=True)
        text = report(setup, results, time.perf_counter() - t0)
        title = f"{name}: {setup.main} + {setup.aux}"
        print(ex.write_section(args.doc, f"multitask-{name}", text, title))


if __name__ == "__main__":
    main()
