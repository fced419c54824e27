"""``python -m train.visualize --workdir runs/x``: pictures of a classification run.

Writes into the workdir:

- ``curves.png``: every loss/accuracy series of ``metrics.jsonl`` against step;
- ``filters.png``: the first-layer filters, one row per checkpoint step (step 0 is the
  initialization, rebuilt from the config's seed), each filter min-max normalized;
- ``confusion_<split>.png`` and ``.json``: the confusion matrix of the latest
  checkpoint on ``--split`` (default: test, else val).

The config is the workdir's ``config.json`` (written by ``python -m train``) unless
``--config`` is given. ``--steps=0,500,1000`` picks checkpoint steps (default: every
checkpoint kept in the workdir).
"""

import sys
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections

from jaxdl import models
from jaxdl.data import loader, preprocess
from jaxdl.training.checkpoint import Checkpointer
from jaxdl.training.state import TrainState
from jaxdl.training.writers import read_jsonl
from jaxdl.viz import confusion, filters, plots
from train import run_dir
from train.classification import build_optimizer, load_splits


def initial_state(config: ml_collections.ConfigDict, train_size: int, num_classes: int, shape):
    """The step-0 ``TrainState`` of ``train.classification.run`` (same seed, same tree)."""
    model = models.create(
        config.model.name,
        num_classes=num_classes,
        dtype=jnp.dtype(config.model.dtype),
        **config.model.kwargs.to_dict(),
    )
    spe = loader.steps_per_epoch(train_size, config.train.batch_size)
    tx = build_optimizer(config.optimizer, spe, with_restarts=config.train.restart_patience > 0)
    init_key, _ = jax.random.split(jax.random.PRNGKey(config.seed))
    example = jnp.zeros((1, *shape), jnp.dtype(config.model.dtype))
    return TrainState.create(model=model, tx=tx, rng=init_key, example_input=example)


def checkpoint_states(
    workdir: Path, template: TrainState, steps: Sequence[int] | None = None
) -> dict[int, TrainState]:
    """Step -> restored state for the chosen (default: all) checkpoint steps; 0 = template."""
    ckpt = Checkpointer(workdir / "checkpoints", async_save=False)
    try:
        available = ckpt.all_steps()
        wanted = available if steps is None else [s for s in steps if s != 0]
        missing = sorted(set(wanted) - set(available))
        if missing:
            raise ValueError(f"No checkpoint at steps {missing}; the workdir has {available}.")
        out = {0: template} if steps is None or 0 in steps else {}
        for s in wanted:
            out[s] = ckpt.restore(template, s)[0]
    finally:
        ckpt.close()
    return dict(sorted(out.items()))


def visualize(
    workdir: str | Path,
    config: ml_collections.ConfigDict | None = None,
    steps: Sequence[int] | None = None,
    split: str | None = None,
    filter_path: str | None = None,
) -> dict[str, Path]:
    """Writes the curves, filter-evolution and confusion pictures; returns their paths.

    Example:
      >>> visualize("runs/mnist_lenet5")["filters"]
    """
    workdir = Path(workdir)
    config = config or run_dir.read_config(workdir)
    if config.task != "classification":
        raise ValueError(
            f"train.visualize draws classification runs; {workdir} is a {config.task!r} run "
            "(its loop already writes curves.png; segmentation/GAN runs write their own pictures)."
        )
    out = {}
    records = read_jsonl(workdir / "metrics.jsonl")
    if records:
        out["curves"] = plots.plot_curves(records, workdir / "curves.png", title=workdir.name)
    splits, names = load_splits(config.data)
    train = splits["train"]
    template = initial_state(config, len(train["label"]), len(names), train["image"].shape[1:])
    states = checkpoint_states(workdir, template, steps)
    shape = train["image"].shape[1:]
    kernels = {
        s: filters.first_layer_kernel(st.params, shape, filter_path) for s, st in states.items()
    }
    layer = next(iter(kernels.values()))[0]
    out["filters"] = filters.save_filter_evolution(
        [k for _, k in kernels.values()],
        list(kernels),
        workdir / "filters.png",
        title=f"{config.model.name} first layer ({layer}), one row per step",
    )
    split = split or next((r for r in ("test", "val") if r in splits), None)
    if split is not None:
        if split not in splits:
            raise ValueError(f"--split={split!r} is not among the config's splits {list(splits)}.")
        last = states[max(states)]
        pre = preprocess.image_preprocess(*preprocess.channel_stats(train["image"]))
        key = jax.random.PRNGKey(0)
        matrix = confusion.predict_confusion(
            last.apply_fn,
            last.params,
            last.model_state,
            splits[split]["image"],
            splits[split]["label"],
            len(names),
            preprocess=lambda x: pre({"image": x}, key, False)["image"],
        )
        title = f"{config.model.name} step {max(states)}, {split}:"
        out["confusion"], out["confusion_json"] = confusion.save_confusion(
            matrix, names, workdir / f"confusion_{split}.png", title
        )
    return out


def _define_flags() -> None:
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "Config file (default: workdir/config.json).")
    flags.DEFINE_string("workdir", None, "The run directory (pictures are written there).")
    flags.DEFINE_list("steps", None, "Checkpoint steps of the filter rows (default: all + 0).")
    flags.DEFINE_string("split", None, "Split of the confusion matrix (default: test, else val).")
    flags.DEFINE_string("filter_path", None, "Parameter path of the first layer's kernel.")
    flags.DEFINE_bool("debug", False, "Show full tracebacks for errors.")
    flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
    from absl import app, flags, logging

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    logging.set_verbosity(logging.ERROR)
    try:
        steps = [int(s) for s in F.steps] if F.steps else None
        paths = visualize(F.workdir, F.config, steps, F.split, F.filter_path)
    except (ValueError, TypeError, KeyError, FileNotFoundError, RuntimeError) as err:
        if F.debug:
            raise
        print(
            f"error ({type(err).__name__}): {err}\n(--debug shows the traceback)", file=sys.stderr
        )
        sys.exit(2)
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
