"""``python -m train.doctor``: the course's best-practice checks on a training config.

    python -m train.doctor --config train/configs/mnist_lenet5.py [--workdir runs/x]

Prints one ``PASS``/``FAIL`` line per check, with its numbers, and exits with status 1
when a check fails (0 when all pass; 2 for a bad config or flag):

- data (``--skip=data`` to skip): NaN/inf, value range and label range of every split
  of the config; class balance and normalization statistics of the preprocessed
  training images; byte-identical images shared by train and val/test (SHA-1).
- overfit: the config's model and optimizer (built by ``train.classification``)
  trained on ``--overfit_examples`` training examples for ``--overfit_steps`` steps,
  without augmentation, penalty or label smoothing; the loss on those examples
  (evaluation mode) must fall below ``--overfit_threshold``.
- sweep: a short learning-rate range test through ``train.sweep.run_one``
  (``--sweep_steps`` steps per rate of ``--sweep_rates``); the config's rate must lie
  within the rates that learn (loss below chance) without diverging.
- history (only with ``--workdir``): divergence, a stuck loss and the train/val gap of
  the run's ``metrics.jsonl``.

Check functions live in ``jaxdl.training.doctor_checks``; see docs/doctor.md.
"""

import contextlib
import io
import math
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags, logging

from jaxdl.data import preprocess
from jaxdl.training import doctor_checks as dc
from jaxdl.training import steps
from jaxdl.training.metrics import compute_metrics
from jaxdl.training.state import TrainState
from jaxdl.training.writers import read_jsonl
from train import build, cli, sweep
from train.validate import validate

CHECKS = ("data", "overfit", "sweep", "history")


def data_checks(
    splits: dict[str, dict],
    num_classes: int,
    max_class_ratio: float = 10.0,
    max_overlap: float = 0.0,
    normalization_sample: int = 2000,
) -> list[dc.Verdict]:
    """Every data check on the loaded splits (``train.build.load_splits``)."""
    out = []
    for role, arrays in splits.items():
        out += [
            dc.check_finite(arrays["image"], f"{role} images"),
            dc.check_value_range(arrays["image"], name=f"{role} images"),
            dc.check_labels(arrays["label"], num_classes, f"{role} labels"),
        ]
    train = splits["train"]
    out.append(dc.check_class_balance(train["label"], num_classes, max_class_ratio))
    images = np.nan_to_num(np.asarray(train["image"], np.float64))
    pre = preprocess.image_preprocess(*preprocess.channel_stats(images))
    sample = np.random.default_rng(0).permutation(len(images))[:normalization_sample]
    x = pre({"image": jnp.asarray(images[sample], jnp.float32)}, jax.random.PRNGKey(0), False)
    out.append(dc.check_normalization(np.asarray(x["image"])))
    for role in ("val", "test"):
        if role in splits:
            out.append(dc.check_overlap(train["image"], splits[role]["image"], role, max_overlap))
    return out


def overfit_losses(
    config: ml_collections.ConfigDict,
    train: dict[str, np.ndarray],
    num_classes: int,
    num_steps: int = 200,
    examples: int = 20,
    eval_every: int = 10,
) -> tuple[list[int], list[float]]:
    """Evaluation-mode loss on ``examples`` training examples every ``eval_every`` steps.

    The model, optimizer (with the schedule of the real run's epoch length) and step
    functions are ``train.build``'s, as in ``train.classification``; the batch is the same tiny set
    at every step (a seeded random subset), without augmentation or penalties.

    Returns:
      ``(steps, losses)``, from step 0 (the initialization) to ``num_steps``.
    """
    n = len(train["label"])
    if examples > n:
        raise ValueError(f"--overfit_examples={examples} exceeds the training split's size.")
    dtype = jnp.dtype(config.model.dtype)
    pre = preprocess.image_preprocess(*preprocess.channel_stats(train["image"]), None, dtype)
    train_step, eval_step = steps.classification_steps(
        pre, aux_loss_weight=config.loss.aux_loss_weight
    )
    pick = np.random.default_rng(config.seed).permutation(n)[:examples]
    batch = {"image": jnp.asarray(train["image"][pick]), "label": jnp.asarray(train["label"][pick])}
    eval_batch = {**batch, "mask": jnp.ones(examples, jnp.float32)}
    state = TrainState.create(
        model=build.model(config, num_classes),
        tx=build.optimizer(config, build.steps_per_epoch(config, n), with_restarts=False),
        rng=jax.random.PRNGKey(config.seed),
        example_input=jnp.zeros((1, *batch["image"].shape[1:]), dtype),
    )
    jit_train, jit_eval = jax.jit(train_step), jax.jit(eval_step)

    def loss_now(s):
        return compute_metrics(jit_eval(s, eval_batch))["loss"]

    steps_at, losses = [0], [loss_now(state)]
    for i in range(1, num_steps + 1):
        state, _ = jit_train(state, batch)
        if i % eval_every == 0 or i == num_steps:
            steps_at.append(i)
            losses.append(loss_now(state))
    return steps_at, losses


def rate_sweep(
    config: ml_collections.ConfigDict,
    rates: list[float],
    num_steps: int,
    workdir: str | Path,
) -> list[sweep.RateResult]:
    """``train.sweep.run_one`` per rate, each run cut at ``num_steps`` steps (no test)."""
    cfg = config.copy_and_resolve_references()
    cfg.train.max_steps = num_steps
    cfg.train.log_every_steps = max(1, min(10, num_steps))
    cfg.train.progress = False
    cfg.data.test_split = ""
    with contextlib.redirect_stdout(io.StringIO()):  # the runs' summary lines
        return [
            sweep.run_one(cfg, rate, Path(workdir) / sweep.rate_dirname(rate), overwrite=True)
            for rate in rates
        ]


def run_doctor(
    config: ml_collections.ConfigDict,
    workdir: str | Path | None = None,
    skip: tuple[str, ...] = (),
    *,
    overfit_steps: int = 200,
    overfit_examples: int = 20,
    overfit_threshold: float = 0.05,
    sweep_rates: tuple[float, ...] = sweep.COURSE_RATES,
    sweep_steps: int = 30,
    max_class_ratio: float = 10.0,
    max_overlap: float = 0.0,
    echo: bool = True,
) -> list[dc.Verdict]:
    """Runs every check not in ``skip``; prints each verdict line when ``echo``.

    Example:
      >>> verdicts = run_doctor(mnist_lenet5.get_config(), skip=("sweep",))
      >>> all(v.passed for v in verdicts)
    """
    unknown = set(skip) - set(CHECKS)
    if unknown:
        raise ValueError(f"Unknown checks to skip {sorted(unknown)}; valid: {', '.join(CHECKS)}.")
    if config.task != "classification":
        raise ValueError(f"The doctor checks classification configs, got task={config.task!r}.")
    verdicts: list[dc.Verdict] = []

    def emit(vs):
        for v in vs if isinstance(vs, list) else [vs]:
            verdicts.append(v)
            if echo:
                print(v.line(), flush=True)

    if {"data", "overfit", "sweep"} - set(skip):
        splits, names = build.load_splits(config.data)
        num_classes = len(names)
    if "data" not in skip:
        emit(data_checks(splits, num_classes, max_class_ratio, max_overlap))
    if "overfit" not in skip:
        train = splits["train"]
        if not np.isfinite(train["image"]).all():
            emit(dc.Verdict("overfit tiny subset", False, "skipped: training images hold NaN/inf"))
        else:
            at, losses = overfit_losses(config, train, num_classes, overfit_steps, overfit_examples)
            emit(dc.check_overfit(losses, overfit_threshold, overfit_examples, at))
    if "sweep" not in skip:
        with tempfile.TemporaryDirectory(prefix="doctor_sweep_") as tmp:
            results = rate_sweep(config, list(sweep_rates), sweep_steps, tmp)
        chance = math.log(num_classes)
        emit(dc.check_rate_sweep(results, config.optimizer.learning_rate, chance))
    if "history" not in skip and workdir is not None:
        path = Path(workdir) / "metrics.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: --workdir must be a training run's folder.")
        emit(dc.check_history(read_jsonl(path)))
    return verdicts


def _define_flags() -> None:
    cli.define_config()
    flags.DEFINE_string("workdir", None, "A training run's folder: check its metrics history.")
    flags.DEFINE_list("skip", [], f"Checks to skip, among {', '.join(CHECKS)}.")
    flags.DEFINE_integer("overfit_steps", 200, "Training steps of the overfit check.")
    flags.DEFINE_integer("overfit_examples", 20, "Training examples of the overfit check.")
    flags.DEFINE_float("overfit_threshold", 0.05, "Loss the overfit check must fall below.")
    flags.DEFINE_list(
        "sweep_rates", [f"{r:g}" for r in sweep.COURSE_RATES], "Rates of the range test."
    )
    flags.DEFINE_integer("sweep_steps", 30, "Training steps per rate of the range test.")
    flags.DEFINE_float("max_class_ratio", 10.0, "Largest allowed max/min class count ratio.")
    flags.DEFINE_float("max_overlap", 0.0, "Largest allowed fraction of val/test images in train.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    cli.quiet_logging(logging.ERROR)  # Orbax warns about metric-less checkpoints
    with cli.user_errors(F.debug):
        validate(F.config)
        verdicts = run_doctor(
            F.config,
            F.workdir,
            tuple(F.skip),
            overfit_steps=F.overfit_steps,
            overfit_examples=F.overfit_examples,
            overfit_threshold=F.overfit_threshold,
            sweep_rates=tuple(sweep.parse_learning_rates(",".join(F.sweep_rates))),
            sweep_steps=F.sweep_steps,
            max_class_ratio=F.max_class_ratio,
            max_overlap=F.max_overlap,
        )
    failed = [v.name for v in verdicts if not v.passed]
    print(
        f"doctor: {len(verdicts) - len(failed)} of {len(verdicts)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli.parse_flags)
