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

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import app, flags, logging

from jaxdl.data import preprocess
from jaxdl.training.state import TrainState
from jaxdl.training.writers import read_jsonl
from jaxdl.viz import confusion, filters, plots
from train import build, cli, run_dir
from train.workdir import checkpoint_steps


class Variables(NamedTuple):
    """A model's variables at one step of a run."""

    params: dict
    model_state: dict


def initial_variables(config: ml_collections.ConfigDict, model, shape) -> Variables:
    """The step-0 variables of ``train.classification.run``: its model initialised with
    the run's init key (``train.build.start``'s first key); no optimizer is involved."""
    init_key = build.start_keys(config)[0]
    example = jnp.zeros((1, *shape), jnp.dtype(config.model.dtype))
    state = TrainState.create(model=model, tx=optax.identity(), rng=init_key, example_input=example)
    return Variables(state.params, state.model_state)


def checkpoint_variables(
    workdir: Path, initial: Variables | None, steps: Sequence[int] | None = None
) -> dict[int, Variables]:
    """Step -> variables read raw from the chosen (default: all) checkpoint steps.

    Step 0 is ``initial`` (the initialisation; required when ``steps`` includes 0 or is
    None).
    """
    available = checkpoint_steps(workdir)
    wanted = available if steps is None else [s for s in steps if s != 0]
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise ValueError(f"No checkpoint at steps {missing}; the workdir has {available}.")
    out = {0: initial} if steps is None or 0 in steps else {}
    out.update({s: Variables(*run_dir.read_variables(workdir, s)) for s in wanted})
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
    splits, names = build.load_splits(config.data)
    train = splits["train"]
    shape = train["image"].shape[1:]
    model = build.model(config, len(names))
    states = checkpoint_variables(workdir, initial_variables(config, model, shape), steps)
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
            model.apply,
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
    cli.define_config(help="Config file (default: workdir/config.json).", required=False)
    flags.DEFINE_string("workdir", None, "The run directory (pictures are written there).")
    flags.DEFINE_list("steps", None, "Checkpoint steps of the filter rows (default: all + 0).")
    flags.DEFINE_string("split", None, "Split of the confusion matrix (default: test, else val).")
    flags.DEFINE_string("filter_path", None, "Parameter path of the first layer's kernel.")
    flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    cli.quiet_logging(logging.ERROR)
    with cli.user_errors(F.debug):
        steps = [int(s) for s in F.steps] if F.steps else None
        paths = visualize(F.workdir, F.config, steps, F.split, F.filter_path)
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli.parse_flags)
