"""Time to a target test accuracy: MNIST to 99%, CIFAR-10 to 94% (airbench-class recipe).

Recipes (network, patch whitening, optimizer, augmentation) are in
``benchmarks/speed_recipes.py``. The data are read once with ``jaxdl.data.load``
(CIFAR-10: the binary release when present, else the JPEG re-encoded archive, e.g.
../shared/data/cifar10_jpeg) and copied to the devices once
(``jaxdl.data.loader.to_device``). One epoch is ONE jitted call: a ``lax.scan`` over
its steps, each gathering its batch from the device-resident arrays
(``loader.train_batch``), augmenting it on device (alternating flips, reflect-padded
translations) and running the project's ``classification_steps`` train step (label
smoothing); the state is donated. Evaluation is one jitted call too (a scan over
padded test batches, flip TTA with ``jaxdl.training.evaluation``). The host waits
only for the accuracy after an evaluated epoch.

Timing rule, per seed: the clock starts before the (jitted) initialisation, which
includes the patch-whitening statistics, and stops when the first evaluation at or
above the target returns; every evaluation before it is counted. Excluded: reading the
data and copying it to the devices (once per process) and compilation: initialisation,
epoch and evaluation are compiled ahead of time once (``compile_s``) and reused by
every seed. Evaluations run after every epoch from ``--eval_from`` on. A seed that
never reaches the target within the epoch budget reports ``time_to_target_s: null``
and its final accuracy.

Usage:
  python benchmarks/time_to_accuracy.py --task mnist --seeds 5
  python benchmarks/time_to_accuracy.py --task cifar10 --seeds 5 --dtype bfloat16
  python benchmarks/time_to_accuracy.py --task cifar10 --seeds 1 --epochs 1 \
      --train_subset 2048 --test_subset 1024 --widths 16,32,32   # CPU harness check

References:
  Jordan. 94% on CIFAR-10 in 3.29 seconds on a single GPU. arXiv:2404.00498, 2024.
"""

import argparse
import datetime
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


def build(
    recipe: Recipe, train_host: dict, test_host: dict, dtype, eval_batch: int, mesh, epoch_mode: str
):
    """Compiles the timed pieces for one recipe; returns them with their compile time.

    ``epoch_mode``: 'scan' (one jitted call per epoch, a ``lax.scan`` over its steps)
    or 'loop' (a Python loop of jitted steps, dispatched asynchronously: XLA:CPU runs
    a rolled scan of convolutions several times slower, see benchmarks/NOTES.md).

    Returns:
      dict with ``init(key, arrays) -> state``, ``epoch(state, arrays, key, e) ->
      (state, losses)``, ``evaluate(state, arrays) -> correct``, the device splits,
      ``steps_per_epoch``, ``compile_s``.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks import speed_recipes as sr
    from jaxdl.data import loader
    from jaxdl.data.preprocess import channel_stats
    from jaxdl.training import evaluation, parallel
    from jaxdl.training.state import TrainState
    from jaxdl.training.steps import apply_model, classification_steps

    B = recipe.batch_size
    parallel.check_batch_size(B, mesh)
    parallel.check_batch_size(eval_batch, mesh)
    train = loader.to_device(train_host, mesh)
    test = loader.to_device(test_host, mesh)
    spe = loader.steps_per_epoch(train.size, B)
    n_eval = loader.num_eval_batches(test.size, eval_batch)
    mean, std = (jnp.asarray(a, jnp.float32) for a in channel_stats(train_host["image"]))
    num_classes = int(max(train_host["label"].max(), test_host["label"].max())) + 1
    model = sr.build_model(recipe, num_classes, dtype)
    tx = sr.optimizer(recipe, B, spe * recipe.epochs)

    def normalise(images):  # uint8 [B, H, W, C] -> standardised float32
        return (images.astype(jnp.float32) / 255.0 - mean) / std

    def preprocess(batch, key, train_mode):
        x = normalise(batch["image"])
        if train_mode:
            x = sr.augment(recipe, x, batch.get("flip"), key)
        return {**batch, "image": x.astype(dtype)}

    train_step, _ = classification_steps(preprocess, label_smoothing=recipe.label_smoothing)

    def init(key, arrays):
        k_model, k_flip = jax.random.split(key)
        state = TrainState.create(
            model=model,
            tx=tx,
            rng=k_model,
            example_input=jnp.zeros((1, *arrays["image"].shape[1:])),
        )
        kernel, bias = sr.patch_whitening(
            normalise(arrays["image"][: recipe.whiten_images]),
            recipe.whiten_kernel,
            recipe.whiten_eps,
        )
        params = {**state.params, "whiten": {"kernel": kernel, "bias": bias}}
        # Alternating flip: example i is mirrored in epoch e iff flip_bit[i] xor (e odd).
        flip_bits = jax.random.bernoulli(k_flip, 0.5, (arrays["image"].shape[0],))
        return state.replace(params=params), flip_bits

    def one_step(state, arrays, flip_bits, perm, i, e):
        batch = loader.train_batch({**arrays, "flip": flip_bits}, perm, i, B, mesh)
        batch["flip"] = batch["flip"] ^ (e % 2 == 1)
        state, metrics = train_step(state, batch)
        return state, metrics["loss"]

    def epoch(state, arrays, flip_bits, data_key, e):
        perm = loader.epoch_permutation(data_key, e, train.size)  # [N] on device
        return jax.lax.scan(
            lambda s, i: one_step(s, arrays, flip_bits, perm, i, e), state, jnp.arange(spe)
        )

    def correct(state, arrays, i):  # correct predictions in evaluation batch i
        def predict(x):
            return apply_model(state, state.params, x, False, state.rng)[0]

        batch = loader.eval_batch(arrays, i, eval_batch, test.size, mesh)
        x = normalise(batch["image"]).astype(dtype)
        if recipe.tta_flip:
            probs = evaluation.tta_probabilities(predict, evaluation.flip_views(x), vectorize=True)
        else:
            probs = predict(x)
        hit = (jnp.argmax(probs, -1) == batch["label"]).astype(jnp.float32)
        return jnp.sum(hit * batch["mask"])

    def evaluate(state, arrays):
        def body(total, i):
            return total + correct(state, arrays, i), None

        return jax.lax.scan(body, jnp.zeros(()), jnp.arange(n_eval))[0]

    key = jax.random.PRNGKey(0)
    rep = parallel.replicated(mesh)
    t0 = time.perf_counter()
    init_shapes = jax.eval_shape(init, key, train.arrays)
    init_c = (
        jax.jit(init, out_shardings=jax.tree.map(lambda _: rep, init_shapes))
        .lower(key, train.arrays)
        .compile()
    )
    state, flips = init_c(key, train.arrays)
    e0 = jnp.asarray(0, jnp.int32)
    if epoch_mode == "scan":
        epoch_c = (
            jax.jit(epoch, donate_argnums=0).lower(state, train.arrays, flips, key, e0).compile()
        )
    else:
        perm = loader.epoch_permutation(key, e0, train.size)
        step_c = (
            jax.jit(one_step, donate_argnums=0)
            .lower(state, train.arrays, flips, perm, e0, e0)
            .compile()
        )

        def epoch_c(state, arrays, flip_bits, data_key, e):
            perm = loader.epoch_permutation(data_key, e, train.size)
            losses = []
            for i in range(spe):  # asynchronous dispatches, no host sync
                state, loss = step_c(state, arrays, flip_bits, perm, jnp.asarray(i, jnp.int32), e)
                losses.append(loss)
            return state, jnp.stack(losses)

    if epoch_mode == "scan":
        eval_c = jax.jit(evaluate).lower(state, test.arrays).compile()
    else:
        batch_c = jax.jit(correct).lower(state, test.arrays, e0).compile()

        def eval_c(state, arrays):
            return sum(batch_c(state, arrays, jnp.asarray(i, jnp.int32)) for i in range(n_eval))

    compile_s = time.perf_counter() - t0  # includes one untimed init execution
    return {
        "init": init_c,
        "epoch": epoch_c,
        "evaluate": eval_c,
        "train": train,
        "test": test,
        "steps_per_epoch": spe,
        "compile_s": compile_s,
        "params": int(sum(np.size(x) for x in jax.tree.leaves(state.params))),
    }


def run_seed(parts: dict, recipe: Recipe, seed: int, target: float, epochs: int, eval_from: int):
    """Trains one seed until ``target`` test accuracy (or ``epochs``); see the timing rule."""
    import jax
    import jax.numpy as jnp

    train, test = parts["train"], parts["test"]
    key = jax.random.PRNGKey(seed)
    k_init, k_data = jax.random.split(key)
    history, reached = [], None
    t0 = time.perf_counter()
    state, flips = parts["init"](k_init, train.arrays)
    for e in range(epochs):
        state, losses = parts["epoch"](
            state, train.arrays, flips, k_data, jnp.asarray(e, jnp.int32)
        )
        if e + 1 < eval_from and e + 1 < epochs:
            continue
        correct = float(parts["evaluate"](state, test.arrays))  # the only host sync
        elapsed = time.perf_counter() - t0
        acc = correct / test.size
        history.append(
            {"epoch": e + 1, "elapsed_s": elapsed, "accuracy": acc, "last_loss": float(losses[-1])}
        )
        print(
            f"  seed {seed} epoch {e + 1}: test accuracy {acc:.4f} at {elapsed:.2f} s", flush=True
        )
        if acc >= target:
            reached = elapsed
            break
    epochs_run = history[-1]["epoch"]
    return {
        "seed": seed,
        "time_to_target_s": reached,
        "reached": reached is not None,
        "epochs_run": epochs_run,
        "final_accuracy": history[-1]["accuracy"],
        "best_accuracy": max(h["accuracy"] for h in history),
        "wall_s": history[-1]["elapsed_s"],
        "train_images_per_s": epochs_run
        * parts["steps_per_epoch"]
        * recipe.batch_size
        / history[-1]["elapsed_s"],
        "history": history,
    }


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=sorted(RECIPES), default="mnist")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (0 .. N-1)")
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
        help="scan: one jitted call per epoch; loop: jitted steps (auto: loop on CPU)",
    )
    p.add_argument("--train_subset", type=int, help="use train[:N] only (harness checks)")
    p.add_argument("--test_subset", type=int, help="use test[:N] only (harness checks)")
    p.add_argument(
        "--data_dir", default=str(DEFAULT_DATA_DIR) if DEFAULT_DATA_DIR.is_dir() else None
    )
    p.add_argument("--devices", type=int, default=1, help="first N devices (0: all)")
    p.add_argument("--out", type=pathlib.Path, help="JSON path (default benchmarks/results/...)")
    args = p.parse_args(argv)
    if args.seeds < 1 or (args.epochs is not None and args.epochs < 1):
        p.error("--seeds and --epochs must be >= 1")
    if args.dtype not in (None, "float32", "bfloat16"):
        p.error(f"--dtype must be float32 or bfloat16, got {args.dtype!r}")
    return args


def main(argv=None) -> dict:
    """Runs the suite; returns the result (also written as JSON + markdown)."""
    args = parse_args(argv)
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
    load_s = time.perf_counter() - t0
    mode = args.epoch_mode
    if mode == "auto":
        mode = "loop" if devices[0].platform == "cpu" else "scan"
    parts = build(recipe, train_host, test_host, jnp.dtype(dtype_name), args.eval_batch, mesh, mode)
    print(
        f"compiled in {parts['compile_s']:.1f} s; {parts['steps_per_epoch']} steps/epoch",
        flush=True,
    )
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
            "recipe": recipe._asdict(),
            "timing": "init (whitening included) + epochs + every evaluation until the "
            "first one at/above target; data loading and AOT compilation excluded",
        },
        "data": {
            "note": note,
            "train_size": parts["train"].size,
            "test_size": parts["test"].size,
            "load_s": load_s,
        },
        "params": parts["params"],
        "compile_s": parts["compile_s"],
        "steps_per_epoch": parts["steps_per_epoch"],
        "rows": [],
    }
    out = args.out or ROOT / "benchmarks" / "results" / (
        f"tta-{args.task}-{common.today()}-{common.slug(devices[0].device_kind)}.json"
    )
    for seed in range(args.seeds):
        row = run_seed(parts, recipe, seed, recipe.target, recipe.epochs, args.eval_from)
        result["rows"].append(row)
        result["summary"] = summarize_seeds(result["rows"])
        common.write_results(out, result, table(result))
    print("\n" + table(result) + f"\n\nwritten: {out}", flush=True)
    return result


if __name__ == "__main__":
    main()
