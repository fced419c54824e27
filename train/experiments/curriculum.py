"""Curriculum vs random order on MNIST and Fashion-MNIST, difficulty from a reference model.

For each dataset, through the trainer's real path (``train.classification.run``):

1. A small reference model (MLP 1 x 64, one epoch, its own run directory) is trained on
   the training split; the difficulty of a training example is its cross-entropy under
   that model (``data.curriculum.score`` = the reference's run directory).
2. The same student (MLP 2 x 256 ReLU, Nesterov momentum, the ``mnist_mlp`` recipe
   without dropout) is trained with the same short budget in seven orders:

   - ``random order``: the baseline, a fresh permutation every epoch;
   - ``curriculum``: batches drawn from the easiest examples first, the pool growing
     by the pacing function (``data.curriculum.pacing``, default linear from 20% of the
     examples at step 0 to all of them at half of the training steps);
   - ``curriculum (root)``, ``curriculum (exponential)``: the same with the other two
     pacing functions (``jaxdl.data.curriculum``);
   - ``balanced curriculum``: the same, ranked by within-class difficulty quantile
     (``jaxdl.data.curriculum.class_balanced_scores``): every pool holds each class in
     proportion (the plain ranking's first pools miss whole classes);
   - ``anti-curriculum``: the same pacing over the reversed ranking (hardest first);
   - ``random ranking``: the same pacing over a random ranking: the control that
     separates "easy first" from the curriculum's sampling (smaller pools early, per-batch
     draws instead of epoch permutations).

   Each with several seeds (initialization and data order; the reference and the
   rankings stay fixed). The training split is the first ``--train`` images, so that an
   epoch is short and the validation accuracy (``train[55000:]``, 5,000 images) is
   measured often enough to draw curves; test accuracy on the 10,000 test images.

Run (about 8 minutes for 8 epochs and 5 minutes for 2, on 2 shared CPU cores)::

  nice -n 10 python -m train.experiments.curriculum              # 8 epochs
  nice -n 10 python -m train.experiments.curriculum --epochs 2   # a shorter budget

Each budget writes its own generated section of ``docs/curriculum.md`` and
``docs/figures/curriculum_*.png``; runs go to ``--workdir`` (each run's
older files deleted first; files of yours there stay).

References:
  Bengio, Louradour, Collobert, Weston. Curriculum learning. ICML 2009.
  Hacohen, Weinshall. On the power of curriculum learning in training deep networks.
  ICML 2019 (difficulty by transfer from another network; anti-curriculum and random
  controls).
  Platanios et al. Competence-based curriculum learning for neural machine translation.
  NAACL 2019.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import ml_collections
import numpy as np

from jaxdl.data import curriculum as cur
from jaxdl.viz.samples import save_grid
from train import build, experiment_dirs
from train import experiments as ex
from train.configs import mnist_mlp
from train.curriculum import SCORES_FILE

DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
ARMS = (
    "random order",
    "curriculum",
    "curriculum (root)",
    "curriculum (exponential)",
    "balanced curriculum",
    "anti-curriculum",
    "random ranking",
)
# Arms using the 'curriculum' arm's scores (saved as .npy), and the pacing of each arm
# that does not use --pacing.
DERIVED = ARMS[2:]
PACING = {"curriculum (root)": "root", "curriculum (exponential)": "exponential"}
RANKING_SEED = 1234  # the random-ranking control's scores
# What the experiment writes into --workdir besides its runs (experiment_dirs).
OUTPUTS = ("results.json", "jax_cache", "*/*.npy")


def base_config(dataset: str, data_dir: str, num_train: int, epochs: int, batch: int = 100):
    """The student: ``mnist_mlp``'s recipe, 2 x 256, no dropout, on ``train[:num_train]``."""
    c = mnist_mlp.get_config()
    c.data.name, c.data.data_dir = dataset, data_dir
    c.data.train_split, c.data.val_split, c.data.test_split = (
        f"train[:{num_train}]", "train[55000:]", "test"
    )  # fmt: skip
    c.model.kwargs = ml_collections.ConfigDict(
        {"depth": 2, "width": 256, "activation": "relu", "dropout_rate": 0.0}
    )
    c.optimizer.schedule_kwargs.kappa = 1.0 / epochs  # the rate falls by e^-1 over the run
    c.train.update(batch_size=batch, eval_batch_size=1000, num_epochs=epochs)
    return ex.short_run(c, log_every_steps=50)


def reference_config(base: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The reference model: MLP 1 x 64 trained one epoch on the same split."""
    c = ml_collections.ConfigDict(base.to_dict())
    c.seed = 100
    c.model.kwargs.depth, c.model.kwargs.width = 1, 64
    c.train.num_epochs = 1
    c.optimizer.schedule = "constant"
    c.optimizer.schedule_kwargs = ml_collections.ConfigDict()
    return c


def train_run(config: ml_collections.ConfigDict, path: Path) -> dict:
    """Trains ``config`` from scratch in ``path``: its val curve and test accuracy."""
    result, wall_s = ex.train_fresh(config, path)  # config.json: a reusable run directory
    return {
        "steps": [r["step"] for r in result.history],
        "val_accuracy": [r["val_accuracy"] for r in result.history],
        "test_accuracy": result.final_metrics["test_accuracy"],
        "wall_s": wall_s,
    }


def slug(arm: str) -> str:
    """A file name for an arm: 'curriculum (root)' -> 'curriculum_root'."""
    return arm.replace(" (", "_").replace(")", "").replace(" ", "_")


def run_dataset(dataset: str, args: argparse.Namespace, out: Path) -> dict:
    """The reference, the arms x seeds of one dataset; figures of its easiest/hardest images."""
    root = args.workdir / dataset
    base = base_config(dataset, args.data_dir, args.train, args.epochs, args.batch)
    base.data.curriculum.pacing = args.pacing
    ref_dir = root / "reference"
    reference = train_run(reference_config(base), ref_dir)
    runs: dict[str, list[dict]] = {arm: [] for arm in args.arms}
    splits, names = build.load_splits(reference_config(base).data)
    labels, images = splits["train"]["label"], splits["train"]["image"]
    scores = None
    for seed in args.seeds:
        for arm in args.arms:
            cfg = ex.with_overrides(base, {"seed": seed})
            if arm == "curriculum":
                cfg.data.curriculum.score = str(ref_dir)
            elif arm != "random order":
                cfg.data.curriculum.score = str(root / f"{slug(arm)}.npy")
            if arm in DERIVED and scores is None:
                raise ValueError("run the 'curriculum' arm first: it computes the scores")
            cfg.data.curriculum.pacing = PACING.get(arm, args.pacing)
            if arm in PACING:
                np.save(cfg.data.curriculum.score, scores)
            elif arm == "anti-curriculum":
                np.save(cfg.data.curriculum.score, -scores)
            elif arm == "balanced curriculum":
                np.save(cfg.data.curriculum.score, cur.class_balanced_scores(scores, labels))
            elif arm == "random ranking":
                rng = np.random.default_rng(RANKING_SEED)
                np.save(cfg.data.curriculum.score, rng.random(len(scores)))
            path = root / f"{slug(arm)}_seed{seed}"
            runs[arm].append(train_run(cfg, path))
            if arm == "curriculum":
                scores = np.load(path / SCORES_FILE)
            r = runs[arm][-1]
            print(
                f"{dataset} {arm} seed {seed}: test {r['test_accuracy']:.4f} ({r['wall_s']:.0f} s)",
                flush=True,
            )
    if scores is None:  # no curriculum arm: no ranking to show
        return {"runs": runs, "reference_test_accuracy": reference["test_accuracy"]}
    ranking = cur.difficulty_ranks(scores)
    save_grid(
        np.concatenate([images[ranking[:16]], images[ranking[-16:]]]),
        out / "figures" / f"curriculum_{dataset}_easy_hard.png",
        ncols=16,
    )
    pool = labels[ranking[: int(round(base.data.curriculum.start * len(ranking)))]]
    return {
        "runs": runs,
        "reference_test_accuracy": reference["test_accuracy"],
        "score_mean": float(scores.mean()),
        "first_pool_classes": {names[k]: float(np.mean(pool == k)) for k in range(len(names))},
        "hardest_labels": [names[k] for k in labels[ranking[-16:]]],
    }


def summary_rows(dataset: str, result: dict, epochs: int) -> list[list[str]]:
    """Table rows: mean +- std over seeds of the test and some validation accuracies."""
    early = sorted({1, max(1, epochs // 4), epochs // 2})
    rows = []
    for arm, runs in result["runs"].items():
        test = 100 * np.array([r["test_accuracy"] for r in runs])
        val = 100 * np.array([r["val_accuracy"] for r in runs])  # [seeds, epochs]
        dof = 1 if len(runs) > 1 else 0  # sample std; 0 for a single seed
        cells = [f"{val[:, e - 1].mean():.2f} +- {val[:, e - 1].std(ddof=dof):.2f}" for e in early]
        rows.append(
            [DATASETS[dataset], arm, f"**{test.mean():.2f} +- {test.std(ddof=dof):.2f}**"]
            + cells
            + [f"{test.min():.2f} to {test.max():.2f}"]
        )
    return rows


def plot(results: dict, path: Path) -> Path:
    """Panels per dataset: mean validation accuracy vs step for every arm."""
    panels = {}
    for dataset, result in results.items():
        series = []
        for arm, runs in result["runs"].items():
            val = 100 * np.mean([r["val_accuracy"] for r in runs], axis=0)
            series.append((arm, runs[0]["steps"], list(val)))
        panels[DATASETS[dataset]] = series
    return ex.plot_panels(panels, path, xlabel="step", ylabel="val accuracy (%)", panel_width=4.5)


def plot_pacing(start: float, full_at: float, path: Path, total: int = 1000) -> Path:
    """The three pacing functions g(t) of ``jaxdl.data.curriculum`` vs the training fraction."""
    t = np.arange(total + 1)
    series = [(p, list(t / total), list(cur.pacing_fraction(p, t, total, start, full_at)))
              for p in cur.PACINGS]  # fmt: skip
    return ex.plot_panels(
        {f"start {start}, full at {full_at}": series}, path, xlabel="fraction of the steps",
        ylabel="fraction available g(t)", panel_width=4.5,
    )  # fmt: skip


def report(results: dict, args: argparse.Namespace, wall_s: float) -> str:
    """The generated markdown section."""
    epochs = args.epochs
    early = sorted({1, max(1, epochs // 4), epochs // 2})
    header = ["dataset", "order", "test acc. % (mean +- std)"]
    header += [f"val acc. % after epoch {e}" for e in early] + ["test acc. min to max"]
    rows = [row for d, r in results.items() for row in summary_rows(d, r, epochs)]
    spe = args.train // args.batch
    lines = [
        f"Student: MLP 2 x 256 ReLU, Nesterov (lr 0.05, exponential decay to e^-1), batch "
        f"{args.batch}, {epochs} epochs of the first {args.train:,} training images ({spe} steps "
        f"each, {epochs * spe} in all); validation `train[55000:]`, test: the 10,000 test "
        f"images. Reference: MLP 1 x 64, one epoch, constant rate. Curricula: pacing "
        f"`{args.pacing}` (unless named) from 20% of the examples at step 0 to all of them "
        f"at half of the steps. Seeds {args.seeds} (initialization and order; std with "
        f"ddof=1). Total wall time {wall_s / 60:.1f} min ({ex.machine()}).",
        "",
        f"Command: `{args.command}`",
        "",
        ex.markdown_table(header, rows),
        "",
        f"![validation accuracy vs step](figures/curriculum_curves_{epochs}ep.png)",
        "",
        "![pacing functions](figures/curriculum_pacing.png)",
        "",
    ]
    for dataset, result in results.items():
        if "score_mean" not in result:
            continue
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in result["first_pool_classes"].items())
        lines += [
            f"**{DATASETS[dataset]}**: reference test accuracy "
            f"{100 * result['reference_test_accuracy']:.2f}%, its mean loss on the training "
            f"split {result['score_mean']:.3f}. Classes of the easiest 20% (the pool at step 0): "
            f"{shares}. Labels of the 16 hardest: {', '.join(result['hardest_labels'])}.",
            "",
            f"![16 easiest (top) and 16 hardest (bottom)](figures/curriculum_{dataset}"
            "_easy_hard.png)",
            "",
        ]
    return "\n".join(lines)


SKELETON = """# Curriculum learning: easy examples first

Command: `nice -n 10 python -m train.experiments.curriculum [--epochs E]` (one generated
section per budget).
"""


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--train", type=int, default=10000, help="training images (first N)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--pacing", default="linear", choices=cur.PACINGS)
    p.add_argument("--data_dir", default=None, help="dataset root (default: ../shared/data)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/jaxdl_experiments/curriculum"))
    p.add_argument("--docs", type=Path, default=Path("docs"))
    p.add_argument(
        "--compile_cache",
        default=None,
        help="JAX compilation cache ('' = off; default: in --workdir)",
    )
    args = p.parse_args(argv)
    args.command = " ".join(
        ["nice -n 10 python -m train.experiments.curriculum", *(argv or sys.argv[1:])]
    )
    if "curriculum" not in args.arms and set(args.arms) & set(DERIVED):
        p.error(f"the arms {DERIVED} need the 'curriculum' arm (its reference scores)")
    args.arms = [a for a in ARMS if a in args.arms]  # curriculum before the arms it feeds
    if args.data_dir is None:  # $JAXDL_DATA_DIR first, else the shared folder beside the repo
        args.data_dir = ex.default_data_dir()
    experiment_dirs.claim_experiment(args.workdir, "curriculum", OUTPUTS)
    if args.compile_cache != "":  # process-wide: off when called from tests
        ex.compilation_cache(args.compile_cache or args.workdir / "jax_cache")
    t0 = time.perf_counter()
    results = {d: run_dataset(d, args, args.docs) for d in args.datasets}
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1))
    spe = args.train // args.batch
    plot(results, args.docs / "figures" / f"curriculum_curves_{args.epochs}ep.png")
    plot_pacing(0.2, 0.5, args.docs / "figures" / "curriculum_pacing.png")
    text = report(results, args, time.perf_counter() - t0)
    doc = args.docs / "curriculum.md"
    if not doc.exists():
        doc.write_text(SKELETON)
    title = f"{args.epochs} epochs of {args.train:,} images ({args.epochs * spe} steps)"
    ex.write_section(doc, f"curriculum_{args.epochs}ep", text, title)
    print(text)
    return results


if __name__ == "__main__":
    main()
