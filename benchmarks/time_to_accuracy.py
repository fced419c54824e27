r"""Time to a target test accuracy: MNIST to 99%, CIFAR-10 to 94% (airbench-class recipe).

Recipes (network, patch whitening, optimizer, augmentation) are in
``benchmarks/speed_recipes.py``. The data are read once with ``jaxdl.data.load``
(CIFAR-10: the binary release when present, else the JPEG re-encoded archive, e.g.
../shared/data/cifar10_jpeg) and copied to the devices once
(``jaxdl.data.loader.to_device``). Each seed trains with the project's one loop,
``jaxdl.training.loop.fit``: ``classification_steps``' train step (label smoothing)
on batches gathered on device from the device-resident split, augmented on device
(alternating flips, reflect-padded translations), K steps per dispatch
(``--steps_per_dispatch``: K > 1 is a ``lax.scan`` over K batches; ``--epoch_mode
scan`` sets K = the steps of an epoch, one dispatch per epoch, ``loop`` K = 1,
``auto`` loop on CPU, where XLA runs a rolled scan of convolutions several times
slower (benchmarks/NOTES.md), scan elsewhere), and one host fetch of the training
losses per epoch. A hook (``TargetAccuracy``) evaluates the test split after every
epoch from ``--eval_from`` on and after the last (flip TTA with
``jaxdl.training.evaluation`` where the recipe says so) and stops the run at the
first evaluation at or above the target.

Timing rule, per seed: the clock starts before the jitted initialisation, which
includes the patch-whitening statistics, and stops when the first evaluation at or
above the target returns; compilation counts (each seed builds and compiles its own
initialisation, steps and evaluation) and so does every evaluation before it.
Excluded from ``time_to_target_s``: reading the data and copying it to the devices
(once per process); ``process_s_at_target`` is the same moment in seconds since the
process started (start-up, imports and data included). A seed that never reaches the
target within the epoch budget reports ``time_to_target_s: null`` and its final
accuracy.

Against PyTorch (``--peer torch``, MNIST only): for each seed, two whole processes
run one after the other (their order alternating from seed to seed): this script
with that one seed, and ``benchmarks/peers/torch_mnist_example.py`` (the recipe of
PyTorch's own MNIST example: Adadelta, batch 64, up to ``--peer_epochs`` epochs), to
the same target on the same test images. This process times each from spawn to exit
(``process_wall_s``, the time to the target when the side reached it); each side
also reports its own seconds from its process start to the target. The JSON records
both sides per seed, their medians, the ratio torch / jaxdl (above 1: jaxdl is
faster), and the machine (cores, load average, device).

Usage:
  python benchmarks/time_to_accuracy.py --task mnist --seeds 5
  python benchmarks/time_to_accuracy.py --task mnist --peer torch --seeds 3
  python benchmarks/time_to_accuracy.py --task cifar10 --seeds 5 --dtype bfloat16
  python benchmarks/time_to_accuracy.py --task cifar10 --seeds 1 --epochs 1 \
      --train_subset 2048 --test_subset 1024 --widths 16,32,32   # CPU harness check

References:
  Jordan. 94% on CIFAR-10 in 3.29 seconds on a single GPU. arXiv:2404.00498, 2024.
  pytorch/examples, mnist/main.py (the PyTorch peer's recipe).
"""

import argparse
import datetime
import math
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.speed_recipes import RECIPES, Recipe  # noqa: E402
from benchmarks.time_to_accuracy_report import summarize_seeds, table  # noqa: E402

DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"
from benchmarks.time_to_accuracy_peer import PEERS, compare_with_peer  # noqa: E402


def load_data(recipe: Recipe, data_dir, train_subset: int | None, test_subset: int | None):
    """Host arrays of the train and test splits (``[:n]`` subsets) and a note on the source."""
    from jaxdl.data import load

    def split(name, n):
        return load(recipe.dataset, f"{name}[:{n}]" if n else name, data_dir=data_dir).data

    note = f"jaxdl.data.load({recipe.dataset!r}, data_dir={str(data_dir)!r})"
    if recipe.dataset == "cifar10" and data_dir is not None:
        d = pathlib.Path(data_dir)
        originals = list(d.glob("cifar*/cifar-10-batches-*")) + list(d.glob("cifar-10-batches-*"))
        if not originals and (d / "cifar10_jpeg").is_dir():
            note += ": the JPEG re-encoded copy (quality ~75; accuracies a few points lower)"
    return split("train", train_subset), split("test", test_subset), note


def build(recipe: Recipe, train_host: dict, test_host: dict, mesh) -> dict:
    """What every seed shares: the device splits, their statistics, steps per epoch."""
    from jaxdl.data import loader
    from jaxdl.data.preprocess import channel_stats

    train = loader.to_device(train_host, mesh)
    return {
        "train": train,
        "test": loader.to_device(test_host, mesh),
        "steps_per_epoch": loader.steps_per_epoch(train.size, recipe.batch_size),
        "stats": channel_stats(train_host["image"]),
        "num_classes": int(max(train_host["label"].max(), test_host["label"].max())) + 1,
    }


def seed_functions(recipe: Recipe, parts: dict, dtype, mesh) -> dict:
    """One seed's own (not yet compiled) initialisation, train step and eval step.

    Returns:
      dict with ``init(key, images) -> (state, flip_bits)`` (jitted, replicated output),
      ``train_step(state, batch)`` and ``eval_step(state, batch) -> {'accuracy': Average}``
      for ``fit``.
    """
    import jax
    import jax.numpy as jnp

    from benchmarks import speed_recipes as sr
    from jaxdl.training import evaluation, parallel
    from jaxdl.training.metrics import Average
    from jaxdl.training.state import TrainState
    from jaxdl.training.steps import apply_model, classification_steps

    B, spe = recipe.batch_size, parts["steps_per_epoch"]
    mean, std = (jnp.asarray(a, jnp.float32) for a in parts["stats"])
    model = sr.build_model(recipe, parts["num_classes"], dtype)
    tx = sr.optimizer(recipe, B, spe * recipe.epochs)

    def normalise(images):  # uint8 [B, H, W, C] -> standardised float32
        return (images.astype(jnp.float32) / 255.0 - mean) / std

    def preprocess(batch, key, train_mode):
        x = normalise(batch["image"])
        if train_mode:
            x = sr.augment(recipe, x, batch.get("flip"), key)
        return {**batch, "image": x.astype(dtype)}

    step, _ = classification_steps(preprocess, label_smoothing=recipe.label_smoothing)

    def train_step(state, batch):
        if "flip" in batch:  # alternating flip: example i mirrored in epoch e iff bit i xor e odd
            batch = {**batch, "flip": batch["flip"] ^ (state.step // spe % 2 == 1)}
        return step(state, batch)

    def init(key, images):
        k_model, k_flip = jax.random.split(key)
        state = TrainState.create(
            model=model, tx=tx, rng=k_model, example_input=jnp.zeros((1, *images.shape[1:]))
        )
        kernel, bias = sr.patch_whitening(
            normalise(images[: recipe.whiten_images]), recipe.whiten_kernel, recipe.whiten_eps
        )
        params = {**state.params, "whiten": {"kernel": kernel, "bias": bias}}
        flip_bits = jax.random.bernoulli(k_flip, 0.5, (images.shape[0],))
        return state.replace(params=params), flip_bits

    def eval_step(state, batch):
        def predict(x):
            return apply_model(state, state.params, x, False, state.rng)[0]

        x = normalise(batch["image"]).astype(dtype)
        if recipe.tta_flip:
            probs = evaluation.tta_probabilities(predict, evaluation.flip_views(x), vectorize=True)
        else:
            probs = predict(x)
        hit = (jnp.argmax(probs, -1) == batch["label"]).astype(jnp.float32)
        return {"accuracy": Average.from_model_output(hit, mask=batch["mask"])}

    images = parts["train"].arrays["image"]
    shapes = jax.eval_shape(init, jax.random.PRNGKey(0), images)
    rep = parallel.replicated(mesh)
    # Runs once: on CPU, unoptimised code compiles ~4x sooner (the parameters' threefry
    # draws dominate) and runs as fast as it matters (benchmarks/NOTES.md).
    cpu = mesh.devices.flat[0].platform == "cpu"
    init_jit = jax.jit(
        init,
        out_shardings=jax.tree.map(lambda _: rep, shapes),
        compiler_options={"xla_backend_optimization_level": 0} if cpu else None,
    )
    return {"init": init_jit, "train_step": train_step, "eval_step": eval_step}


def target_hook(test, target: float, eval_from: int, t0: float, seed: int):
    """A ``fit`` hook evaluating ``test`` after every epoch from ``eval_from`` on (and the
    last), timing each evaluation from ``t0`` and stopping the run at ``target``."""
    from jaxdl.training.run import Hook

    class TargetAccuracy(Hook):
        def __init__(self):
            self.history: list[dict] = []
            self.reached: dict | None = None
            self.last_loss = math.nan

        def on_log(self, run, logs):
            self.last_loss = float(run.window["values"]["loss"][-1])

        def on_eval(self, run, record):
            if run.epoch < eval_from and run.step < run.total_steps:
                return
            acc = run.evaluate(test, "test")["test_accuracy"]  # the host waits here only
            elapsed = time.perf_counter() - t0
            record["test_accuracy"] = acc
            self.history.append({
                "epoch": run.epoch, "elapsed_s": elapsed, "process_s": common.process_age_s(),
                "accuracy": acc, "last_loss": self.last_loss,
            })  # fmt: skip
            print(
                f"  seed {seed} epoch {run.epoch}: test accuracy {acc:.4f} at {elapsed:.2f} s",
                flush=True,
            )
            if acc >= target:
                self.reached = self.history[-1]
                run.stop, run.stop_reason = True, f"test accuracy {acc:.4f} >= {target}"

    return TargetAccuracy()


def run_seed(
    parts: dict,
    recipe: Recipe,
    seed: int,
    eval_from: int,
    steps_per_dispatch: int,
    eval_batch: int,
    mesh,
    dtype,
) -> dict:
    """Trains one seed with ``fit`` until the recipe's target (or its epochs); one row."""
    import jax
    import numpy as np

    from jaxdl.data.loader import DeviceSplit
    from jaxdl.training.loop import LoopOptions, fit

    train, spe = parts["train"], parts["steps_per_epoch"]
    k_init, k_data = jax.random.split(jax.random.PRNGKey(seed))
    t0 = time.perf_counter()
    fns = seed_functions(recipe, parts, dtype, mesh)
    state, flips = fns["init"](k_init, train.arrays["image"])
    if recipe.flip:
        train = DeviceSplit({**train.arrays, "flip": flips}, train.size)
    hook = target_hook(parts["test"], recipe.target, eval_from, t0, seed)
    options = LoopOptions(
        batch_size=recipe.batch_size,
        num_epochs=recipe.epochs,
        eval_batch_size=eval_batch,
        log_every_steps=spe,  # one host fetch of the losses per epoch
        steps_per_dispatch=steps_per_dispatch,
    )
    fit(
        state=state, train_step=fns["train_step"], eval_step=fns["eval_step"], train=train,
        options=options, hooks=[hook], data_key=k_data, mesh=mesh,
    )  # fmt: skip
    history, reached = hook.history, hook.reached
    last = history[-1]
    return {
        "seed": seed,
        "time_to_target_s": reached and reached["elapsed_s"],
        "process_s_at_target": reached and reached["process_s"],
        "reached": reached is not None,
        "epochs_run": last["epoch"],
        "final_accuracy": last["accuracy"],
        "best_accuracy": max(h["accuracy"] for h in history),
        "wall_s": last["elapsed_s"],
        "train_images_per_s": last["epoch"] * spe * recipe.batch_size / last["elapsed_s"],
        "params": int(sum(np.size(x) for x in jax.tree.leaves(state.params))),
        "history": history,
    }


def steps_per_dispatch(args, platform_name: str, spe: int) -> tuple[str, int]:
    """``(epoch_mode, K)``: ``--steps_per_dispatch`` when given, else the epoch mode's K
    (scan: ``spe``, loop: 1; auto: loop on CPU, scan elsewhere), at most ``spe``."""
    mode = args.epoch_mode
    if mode == "auto":
        mode = "loop" if platform_name == "cpu" else "scan"
    k = args.steps_per_dispatch or (spe if mode == "scan" else 1)
    return mode, min(k, spe)


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", choices=sorted(RECIPES), default="mnist")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (0 .. N-1)")
    p.add_argument("--first_seed", type=int, default=0, help="seeds first_seed .. + N-1")
    p.add_argument("--epochs", type=int, help="epoch budget (default: the recipe's)")
    p.add_argument("--eval_from", type=int, default=1, help="first epoch evaluated")
    p.add_argument("--target", type=float, help="test accuracy to reach (default: recipe's)")
    p.add_argument("--dtype", default=None, help="float32 or bfloat16 (default: bf16 on GPU)")
    p.add_argument("--batch_size", type=int, help="override the recipe's batch")
    p.add_argument("--widths", help="override the conv widths, e.g. 16,32,32 (CPU checks)")
    p.add_argument("--eval_batch", type=int, default=1000)
    p.add_argument(
        "--epoch_mode",
        choices=["auto", "scan", "loop"],
        default="auto",
        help="scan: one dispatch (a lax.scan) per epoch; loop: one per step; auto: loop on "
        "CPU, scan elsewhere",
    )
    p.add_argument(
        "--steps_per_dispatch",
        type=int,
        help="fit's K steps per dispatch (overrides --epoch_mode; at most an epoch's steps)",
    )
    p.add_argument("--train_subset", type=int, help="use train[:N] only (harness checks)")
    p.add_argument("--test_subset", type=int, help="use test[:N] only (harness checks)")
    p.add_argument(
        "--data_dir", default=str(DEFAULT_DATA_DIR) if DEFAULT_DATA_DIR.is_dir() else None
    )
    p.add_argument("--devices", type=int, default=1, help="first N devices (0: all)")
    p.add_argument(
        "--peer",
        choices=sorted(PEERS),
        help="also time PyTorch's MNIST example recipe; each seed of each side is a whole "
        "process (MNIST only)",
    )
    p.add_argument("--peer_epochs", type=int, default=14, help="the peer's epoch budget")
    p.add_argument("--peer_threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--timeout", type=float, default=7200, help="seconds per process (--peer)")
    p.add_argument("--out", type=pathlib.Path, help="JSON path (default benchmarks/results/...)")
    args = p.parse_args(argv)
    if args.seeds < 1 or (args.epochs is not None and args.epochs < 1):
        p.error("--seeds and --epochs must be >= 1")
    if args.steps_per_dispatch is not None and args.steps_per_dispatch < 1:
        p.error("--steps_per_dispatch must be >= 1")
    if args.dtype not in (None, "float32", "bfloat16"):
        p.error(f"--dtype must be float32 or bfloat16, got {args.dtype!r}")
    if args.peer and args.task != "mnist":
        p.error(f"--peer {args.peer} runs PyTorch's MNIST example: use --task mnist")
    return args


def main(argv=None) -> dict:
    """Runs the suite; returns the result (also written as JSON + markdown)."""
    args = parse_args(argv)
    if args.peer:
        return compare_with_peer(args)
    import jax
    import jax.numpy as jnp

    from jaxdl.training import parallel

    recipe = RECIPES[args.task]
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "target": args.target}
    if args.widths:
        overrides["widths"] = tuple(int(w) for w in args.widths.split(","))
    recipe = recipe._replace(**{k: v for k, v in overrides.items() if v is not None})
    devices = jax.devices()[: args.devices] if args.devices else jax.devices()
    mesh = parallel.make_mesh(devices)
    dtype_name = args.dtype or ("float32" if devices[0].platform == "cpu" else "bfloat16")
    t0 = time.perf_counter()
    train_host, test_host, note = load_data(
        recipe, args.data_dir, args.train_subset, args.test_subset
    )
    parts = build(recipe, train_host, test_host, mesh)
    load_s = time.perf_counter() - t0
    spe = parts["steps_per_epoch"]
    mode, k = steps_per_dispatch(args, devices[0].platform, spe)
    print(f"{spe} steps/epoch, {k} per dispatch", flush=True)
    result = {
        "benchmark": "time_to_accuracy",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": common.command_line(),
        "git_sha": common.git_sha(),
        "versions": common.package_versions(),
        "device": common.jax_device_info(devices),
        "config": {
            "task": args.task,
            "target": recipe.target,
            "dtype": dtype_name,
            "eval_from": args.eval_from,
            "epoch_mode": mode,
            "steps_per_dispatch": k,
            "loop": "jaxdl.training.loop.fit",
            "recipe": recipe._asdict(),
            "timing": "init (whitening included) + compilation + epochs + every evaluation "
            "until the first one at/above target; data loading and the copy to the devices "
            "excluded (process_s_at_target: since the process started, all included)",
        },
        "data": {
            "note": note,
            "train_size": parts["train"].size,
            "test_size": parts["test"].size,
            "load_s": load_s,
        },
        "steps_per_epoch": spe,
        "rows": [],
    }
    out = args.out or ROOT / "benchmarks" / "results" / (
        f"tta-{args.task}-{common.today()}-{common.slug(devices[0].device_kind)}.json"
    )
    dtype = jnp.dtype(dtype_name)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        row = run_seed(parts, recipe, seed, args.eval_from, k, args.eval_batch, mesh, dtype)
        result["params"] = row.pop("params")
        result["rows"].append(row)
        result["summary"] = summarize_seeds(result["rows"])
        common.write_results(out, result, table(result))
    print("\n" + table(result) + f"\n\nwritten: {out}", flush=True)
    return result


if __name__ == "__main__":
    main()
